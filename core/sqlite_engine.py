"""SQLite for the embedded default: one writer per process with group commit, readers on a pool.

Why not piccolo's ``SQLiteEngine`` as it is: it opens an aiosqlite connection (and a thread) for every
transaction, and concurrent write transactions of one process then compete for SQLite's write lock in
its busy handler, which sleeps in growing steps (p99 of 130 ms at 8 clients for 1.9 ms at one). Here:

- **One writer per event loop.** Every transaction (``engine.transaction()``) and every write outside
  one runs on a single ``sqlite3`` connection, used inline on the event loop: a write statement takes
  tens of microseconds, far less than a hop to a thread. Transactions wait their turn in a FIFO queue
  of our own, so no request of this process ever sleeps in SQLite's busy handler.
- **Group commit.** Each transaction runs inside ``SAVEPOINT``s of one open ``BEGIN IMMEDIATE``; the
  ``COMMIT`` (whose fsync costs milliseconds) runs on a thread while the transactions that queued up
  meanwhile wait, and they are committed together by the next ``COMMIT``. A transaction's caller is
  answered only after the ``COMMIT`` that holds its work: an acknowledged write is durable, and a
  failed one rolls back to its savepoint without touching its neighbours.
- **Readers** (``engine.reading()`` and reads outside a transaction) use pooled aiosqlite connections
  on their threads, so a long report query never blocks the loop; WAL lets them read while the writer
  writes.
- **Several processes** on one file still work: the writer takes the file's lock with
  ``BEGIN IMMEDIATE`` without SQLite's busy handler and, when another process holds it, retries with
  short asynchronous sleeps, so the event loop keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import collections
import re
import sqlite3
import time

import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, SQLiteTransaction, TransactionType, dict_factory

READ_STATEMENT = re.compile(r"^\s*(SELECT|WITH|EXPLAIN)\b", re.IGNORECASE)
BATCH_LIMIT = 64  # transactions committed together at most; bounds the latency a batch can add


class Turn:
    """A first-come, first-served turn at the writer that can tell whether anyone is waiting."""

    def __init__(self) -> None:
        self._held = False
        self._waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def contended(self) -> bool:
        return any(not f.done() for f in self._waiters)

    async def acquire(self) -> None:
        if not self._held and not self._waiters:
            self._held = True
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the turn was handed to us as we were cancelled: pass it on
            raise
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the turn passes directly; ``_held`` stays True
                return
        self._held = False


class InlineConnection:
    """The writer's ``sqlite3`` connection behind the small async surface piccolo uses."""

    def __init__(self, raw: sqlite3.Connection):
        self.raw = raw

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def execute(self, sql: str, args=()):
        return self.raw.execute(sql, args or ())

    async def execute_fetchall(self, sql: str, args=()):
        return self.raw.execute(sql, args or ()).fetchall()

    async def commit(self) -> None:
        """Commits belong to the writer's batch; a transaction never commits on its own."""

    async def close(self) -> None:
        """The writer connection lives as long as its engine."""


class Writer:
    """The single writing connection of one event loop and its open batch."""

    def __init__(self, connection_kwargs: dict):
        self.timeout = connection_kwargs.get("timeout", 30)
        raw = sqlite3.connect(**{**connection_kwargs, "isolation_level": None, "timeout": 0,
                                 "check_same_thread": False})
        raw.row_factory = dict_factory
        raw.execute("PRAGMA foreign_keys = 1")
        self.connection = InlineConnection(raw)
        self.turn = Turn()
        self.batch: asyncio.Future | None = None  # resolved when the open batch is committed
        self.batch_size = 0

    async def open_batch(self) -> None:
        """``BEGIN IMMEDIATE`` without the busy handler: another process holding the lock is waited
        for with asynchronous sleeps."""
        deadline, pause = time.monotonic() + self.timeout, 0.0005
        while True:
            try:
                self.connection.raw.execute("BEGIN IMMEDIATE")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.02)
        self.batch = asyncio.get_running_loop().create_future()
        self.batch_size = 0

    async def finish(self, succeeded: bool) -> None:
        """End one transaction's turn: hand the open batch to the next waiter, or commit it."""
        batch = self.batch
        if self.turn.contended and self.batch_size < BATCH_LIMIT:
            self.turn.release()
            if succeeded:
                await asyncio.shield(batch)  # answered only once its work is committed
            return
        self.batch = None
        commit = asyncio.ensure_future(asyncio.to_thread(self.connection.raw.execute, "COMMIT"))
        cancelled = False
        while not commit.done():  # a cancelled request must not leave the connection mid-commit
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                cancelled = True
            except Exception:
                break
        try:
            if commit.exception() is not None:
                if self.connection.raw.in_transaction:
                    self.connection.raw.execute("ROLLBACK")
                batch.set_exception(commit.exception())
                batch.exception()  # marked as retrieved: the waiters re-raise it themselves
                raise commit.exception()
            batch.set_result(None)
        finally:
            self.turn.release()
        if cancelled:
            raise asyncio.CancelledError

    def close(self) -> None:
        self.connection.raw.close()


class WriterTransaction(SQLiteTransaction):
    """A transaction on the loop's writer: a savepoint inside the open batch."""

    SAVEPOINT = "huying_tx"

    async def __aenter__(self) -> WriterTransaction:
        if self._parent is not None:
            return self._parent
        writer = self.engine.writer()
        await writer.turn.acquire()
        try:
            if writer.batch is None:
                await writer.open_batch()
            writer.connection.raw.execute(f"SAVEPOINT {self.SAVEPOINT}")
        except BaseException:
            writer.turn.release()
            raise
        writer.batch_size += 1
        self._writer = writer
        self.connection = writer.connection
        self.context = self.engine.current_transaction.set(self)
        return self

    async def commit(self) -> None:
        self._committed = True

    async def rollback(self) -> None:
        self._rolled_back = True

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        self.engine.current_transaction.reset(self.context)
        raw = self._writer.connection.raw
        succeeded = exception is None and not self._rolled_back
        if not succeeded:
            raw.execute(f"ROLLBACK TO {self.SAVEPOINT}")
        raw.execute(f"RELEASE {self.SAVEPOINT}")
        await self._writer.finish(succeeded)
        return exception is None


class _PooledConnection:
    """A reader connection whose ``close()`` hands it back to the engine's idle list."""

    def __init__(self, engine: HuyingSQLiteEngine, connection):
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_connection", connection)

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __setattr__(self, name, value):
        setattr(self._connection, name, value)

    async def close(self) -> None:
        await self._engine.release(self._connection)


class HuyingSQLiteEngine(SQLiteEngine):
    """piccolo's SQLite engine with one inline writer per event loop and pooled readers."""

    MAX_IDLE = 8

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._idle: dict[int, list] = {}
        self._writers: dict[int, Writer] = {}

    # -- writing ------------------------------------------------------------------------------------

    def writer(self) -> Writer:
        loop_id = id(asyncio.get_running_loop())
        writer = self._writers.get(loop_id)
        if writer is None:
            writer = self._writers[loop_id] = Writer(self.connection_kwargs)
        return writer

    def transaction(self, transaction_type: TransactionType = TransactionType.immediate,
                    allow_nested: bool = True) -> WriterTransaction:
        """Every transaction may write, so every transaction runs on the writer."""
        return WriterTransaction(engine=self, transaction_type=TransactionType.immediate,
                                 allow_nested=allow_nested)

    def reading(self) -> SQLiteTransaction:
        """A read-only transaction on a pooled reader: one connection and one snapshot for all of a
        request's reads, off the event loop."""
        return SQLiteTransaction(engine=self, transaction_type=TransactionType.deferred)

    # -- reading ------------------------------------------------------------------------------------

    async def _connect(self):
        idle = self._idle.get(id(asyncio.get_running_loop()))
        if idle:
            return idle.pop()
        connection = aiosqlite.connect(**self.connection_kwargs)
        connection._thread.daemon = True  # an idle connection must not keep the process alive at exit
        connection = await connection
        connection.row_factory = dict_factory
        await connection.execute("PRAGMA foreign_keys = 1")
        return connection

    async def get_connection(self):
        return _PooledConnection(self, await self._connect())

    async def release(self, connection) -> None:
        idle = self._idle.setdefault(id(asyncio.get_running_loop()), [])
        if connection.in_transaction or len(idle) >= self.MAX_IDLE:
            await connection.close()
        else:
            idle.append(connection)

    async def close_idle(self) -> None:
        loop_id = id(asyncio.get_running_loop())
        for connection in self._idle.pop(loop_id, []):
            await connection.close()
        writer = self._writers.pop(loop_id, None)
        if writer is not None:
            writer.close()

    # -- running queries ----------------------------------------------------------------------------

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        return await connection.execute_fetchall(query, args or [])  # one trip, not three

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        if not READ_STATEMENT.match(query):
            async with self.transaction():  # a write outside a transaction still takes its turn
                return await self.writer().connection.execute_fetchall(query, args or [])
        connection = await self._connect()
        try:
            return await connection.execute_fetchall(query, args or [])
        finally:
            await self.release(connection)
