"""The embedded default's write path: one writer per process, group commit, nothing acknowledged lost."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from piccolo.querystring import QueryString

from core.db import make_engine, prepare, read_transaction, write_transaction


@pytest.fixture
async def engine(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'writer.sqlite3'}")
    prepare(engine)
    await engine.run_ddl("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT UNIQUE)")
    yield engine
    await engine.close_idle()


async def insert(engine, text: str, *, pause: float = 0) -> None:
    async with write_transaction(engine):
        await engine.run_querystring(QueryString("INSERT INTO notes (text) VALUES ({})", text))
        if pause:
            await asyncio.sleep(pause)


def stored(engine) -> list[str]:
    """What another connection (another process, after a crash) finds in the file."""
    with sqlite3.connect(engine.path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT text FROM notes"))


async def test_concurrent_writers_of_one_process_never_wait_in_sqlite_busy_handler(engine):
    """Fifty concurrent write transactions all succeed, each queued in the process instead of
    racing for the file lock (which would fail with "database is locked" or sleep)."""
    commits = []
    engine.writer().connection.raw.set_trace_callback(
        lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    await asyncio.gather(*(insert(engine, f"n{i}", pause=0.001) for i in range(50)))
    assert len(stored(engine)) == 50
    assert len(commits) < 50, "transactions that queued together are committed together"


async def test_an_acknowledged_write_is_already_in_the_file(engine):
    """When a write transaction returns to its caller, its row is committed: a crash right after
    the answer loses nothing."""
    results = []

    async def write_then_look(i: int) -> None:
        await insert(engine, f"n{i}")
        results.append(f"n{i}" in stored(engine))

    await asyncio.gather(*(write_then_look(i) for i in range(20)))
    assert results == [True] * 20


async def test_a_failed_transaction_in_a_batch_leaves_its_neighbours_committed(engine):
    """One transaction breaking a constraint is rolled back alone; the others of its batch stay."""
    await insert(engine, "taken")
    outcomes = await asyncio.gather(insert(engine, "a", pause=0.001), insert(engine, "taken"),
                                    insert(engine, "b"), return_exceptions=True)
    assert isinstance(outcomes[1], sqlite3.IntegrityError)
    assert outcomes[0] is None and outcomes[2] is None
    assert stored(engine) == ["a", "b", "taken"]


async def test_an_exception_inside_a_transaction_undoes_only_that_transaction(engine):
    class Refused(Exception):
        pass

    async def refused() -> None:
        async with write_transaction(engine):
            await engine.run_querystring(QueryString("INSERT INTO notes (text) VALUES ({})", "no"))
            raise Refused

    outcomes = await asyncio.gather(insert(engine, "yes", pause=0.001), refused(), return_exceptions=True)
    assert isinstance(outcomes[1], Refused)
    assert stored(engine) == ["yes"]


async def test_reads_run_beside_an_open_write(engine):
    """A reader is never blocked by the writer (WAL) and sees only committed rows."""
    await insert(engine, "old")
    started = asyncio.Event()

    async def slow_write() -> None:
        async with write_transaction(engine):
            await engine.run_querystring(QueryString("INSERT INTO notes (text) VALUES ({})", "new"))
            started.set()
            await asyncio.sleep(0.05)

    task = asyncio.create_task(slow_write())
    await started.wait()
    async with read_transaction(engine):
        rows = await engine.run_querystring(QueryString("SELECT text FROM notes"))
    assert [r["text"] for r in rows] == ["old"]
    await task
    assert stored(engine) == ["new", "old"]


async def test_another_process_holding_the_lock_is_waited_for_without_blocking_the_loop(engine):
    """A second process (here a plain connection) holds the write lock for a while: the write waits
    for it asynchronously, and the event loop keeps running meanwhile."""
    other = sqlite3.connect(engine.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    tick_task = asyncio.create_task(ticker())
    write = asyncio.create_task(insert(engine, "after"))
    await asyncio.sleep(0.1)
    assert not write.done()
    other.execute("COMMIT")
    other.close()
    await write
    tick_task.cancel()
    assert ticks >= 3  # a loop blocked in SQLite's busy handler would not have ticked at all
    assert stored(engine) == ["after"]


async def test_a_cancelled_waiter_does_not_stall_the_queue(engine):
    async def hold() -> None:
        async with write_transaction(engine):
            await asyncio.sleep(0.02)

    holder = asyncio.create_task(hold())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(insert(engine, "cancelled"))
    await asyncio.sleep(0.001)
    waiter.cancel()
    await holder
    await asyncio.wait_for(insert(engine, "next"), 2)
    assert stored(engine) == ["next"]
