"""Database engines and transactions for both backends.

SQLite serialises writers: every write transaction is opened IMMEDIATE (taking the write lock up
front) and the file runs in WAL mode, so concurrent read-then-write requests queue instead of failing
with "database is locked". PostgreSQL relies on the optimistic ``version`` check in each update.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
import aiosqlite
from piccolo.engine.sqlite import SQLiteEngine, TransactionType, dict_factory
from piccolo.querystring import QueryString
from piccolo.utils.sql_values import convert_to_sql_value

class _PooledConnection:
    """An aiosqlite connection whose ``close()`` hands it back to the engine's idle list."""

    def __init__(self, engine: ReusingSQLiteEngine, connection):
        object.__setattr__(self, "_engine", engine)
        object.__setattr__(self, "_connection", connection)

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def __setattr__(self, name, value):
        setattr(self._connection, name, value)

    async def close(self) -> None:
        await self._engine.release(self._connection)


class ReusingSQLiteEngine(SQLiteEngine):
    """SQLite with idle connections kept for reuse.

    Piccolo opens a new aiosqlite connection (and its thread) for every transaction and every query
    outside one, re-sends ``PRAGMA foreign_keys`` before each query and takes three round trips to
    the connection's thread per query; on the embedded default that costs more than the queries. Connections are kept per event loop, and one left inside
    a transaction (after a failed rollback) is closed rather than reused.
    """

    MAX_IDLE = 8

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._idle: dict[int, list] = {}

    async def _connect(self):
        loop_id = id(asyncio.get_running_loop())
        idle = self._idle.get(loop_id)
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
        for connection in self._idle.pop(id(asyncio.get_running_loop()), []):
            await connection.close()

    async def _run_in_existing_connection(self, connection, query, args=None, query_type="generic", table=None):
        # one round trip to the connection's thread instead of three (execute, fetch, close)
        return await connection.execute_fetchall(query, args or [])

    async def _run_in_new_connection(self, query, args=None, query_type="generic", table=None):
        connection = await self._connect()
        try:
            rows = await connection.execute_fetchall(query, args or [])
            await connection.commit()
            return rows
        finally:
            await self.release(connection)


def make_engine(database_url: str) -> Engine:
    """The engine for a URL. Nothing is touched on disk until ``prepare`` (or the first query)."""
    if database_url.startswith("sqlite"):
        return ReusingSQLiteEngine(path=database_url.removeprefix("sqlite:///"), timeout=30)
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url}, log_queries=False)
    raise ValueError(f"unsupported HUYING_DATABASE_URL: {database_url!r}")


def prepare(engine: Engine) -> None:
    """Make a SQLite file's folder and switch the file to WAL (it persists in the file): readers
    never block the writer and the writer never blocks readers. Nothing to do for PostgreSQL."""
    if isinstance(engine, SQLiteEngine):
        path = Path(engine.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")


def write_transaction(engine: Engine):
    """A transaction that will write: IMMEDIATE on SQLite so the lock is taken before the first read."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


def read_transaction(engine: Engine):
    """One connection for all of a request's reads (SQLite otherwise opens one per query)."""
    return engine.transaction()


@functools.lru_cache(maxsize=64)
def _insert_template(table, columns: tuple[str, ...]) -> tuple[str, tuple]:
    placeholders = ", ".join("{}" for _ in columns)
    sql = f"INSERT INTO {table._meta.tablename} ({', '.join(columns)}) VALUES ({placeholders}) RETURNING id"
    return sql, tuple(table._meta.get_column_by_name(c) for c in columns)


async def insert_row(table, row: dict) -> int:
    """Insert one row and return its id, skipping the ORM's per-row object building (the intake
    hot path writes two rows per request; the values are converted exactly as the ORM would)."""
    sql, columns = _insert_template(table, tuple(row))
    values = [convert_to_sql_value(value=row[c._meta.name], column=c) for c in columns]
    rows = await table._meta.db.run_querystring(QueryString(sql, *values))
    return rows[0]["id"]


def bind_engine(engine: Engine, tables) -> None:
    """Point every table at one engine (the platform's own)."""
    for table in tables:
        table._meta.db = engine
