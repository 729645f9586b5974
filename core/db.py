"""Database engines and transactions for both backends.

SQLite runs in WAL mode with one writer connection per process and group commit
(``core.sqlite_engine``); PostgreSQL relies on the optimistic ``version`` check in each update.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from piccolo.columns.column_types import JSON, JSONB
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine, PostgresTransaction
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.querystring import QueryString
from piccolo.utils.encoding import dump_json
from piccolo.utils.sql_values import convert_to_sql_value

from core.sqlite_engine import HuyingSQLiteEngine


def _lost_connection_errors() -> tuple[type[BaseException], ...]:
    import asyncpg

    return (OSError, asyncpg.InterfaceError, asyncpg.exceptions.InternalClientError,
            asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError)


class RetryingPostgresTransaction(PostgresTransaction):
    """A transaction that survives a backend terminated while its connection sat in the pool
    (``pg_terminate_backend``, a failover): if BEGIN fails on a dead connection, nothing was written,
    so the pool's connections are renewed and BEGIN is tried once more on a fresh one. On the way
    out a dead connection is dropped, never leaked: piccolo's own exit skipped the release when the
    rollback failed, and the next request got the half-dead connection ("another operation is in
    progress", a 500)."""

    async def __aenter__(self) -> PostgresTransaction:
        if self._parent is not None:
            return self._parent
        lost = _lost_connection_errors()
        for attempt in (1, 2):
            self.connection = await self.get_connection()
            self.transaction = self.connection.transaction()
            try:
                await self.begin()
                break
            except lost:
                await self._drop_connection()
                if attempt == 2:
                    raise
                if self.engine.pool:
                    await self.engine.pool.expire_connections()  # its other connections died too
        self.context = self.engine.current_transaction.set(self)
        return self

    async def _drop_connection(self) -> None:
        with contextlib.suppress(Exception):  # already closed, or already back in the pool
            self.connection.terminate()
        if self.engine.pool:
            with contextlib.suppress(Exception):
                await self.engine.pool.release(self.connection)

    async def __aexit__(self, exception_type, exception, traceback) -> bool:
        if self._parent:
            return exception is None
        lost = _lost_connection_errors()
        try:
            if exception:
                if not self._rolled_back:
                    try:
                        await self.rollback()
                    except lost:  # the server rolled it back when it dropped us
                        with contextlib.suppress(Exception):
                            self.connection.terminate()
            elif not self._committed and not self._rolled_back:
                await self.commit()
        finally:
            if self.engine.pool:
                try:
                    await self.engine.pool.release(self.connection)
                except Exception:
                    with contextlib.suppress(Exception):
                        self.connection.terminate()
            else:
                with contextlib.suppress(Exception):
                    await self.connection.close()
            self.engine.current_transaction.reset(self.context)
        return exception is None


class RetryingPostgresEngine(PostgresEngine):
    """piccolo's engine with ``RetryingPostgresTransaction``; a lone statement outside a transaction
    that meets a dead pooled connection is run once more on a fresh one when nothing was written: a
    SELECT, or any statement asyncpg refused to send (its "another operation is in progress" comes
    before a byte leaves: the connection's state machine was left mid-operation by the dead backend)."""

    def transaction(self, allow_nested: bool = True) -> PostgresTransaction:
        return RetryingPostgresTransaction(engine=self, allow_nested=allow_nested)

    async def _run_in_pool(self, query: str, args=None):
        try:
            return await super()._run_in_pool(query, args)
        except _lost_connection_errors() as lost:
            import asyncpg

            unsent = isinstance(lost, asyncpg.exceptions.InternalClientError)
            if not (unsent or query.lstrip()[:6].upper() == "SELECT") or not self.pool:
                raise
            await self.pool.expire_connections()
            return await super()._run_in_pool(query, args)


def make_engine(database_url: str) -> Engine:
    """The engine for a URL. Nothing is touched on disk until ``prepare`` (or the first query)."""
    if database_url.startswith("sqlite"):
        return HuyingSQLiteEngine(path=database_url.removeprefix("sqlite:///"), timeout=30)
    if database_url.startswith(("postgres://", "postgresql://")):
        return RetryingPostgresEngine(config={"dsn": database_url}, log_queries=False)
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
    """A transaction that will write: on SQLite it queues for the process's one writer connection
    (``core.sqlite_engine``), on PostgreSQL it is an ordinary transaction."""
    return engine.transaction()


def read_transaction(engine: Engine):
    """One connection and one snapshot for all of a request's reads; on SQLite a pooled reader, so
    reads never queue behind writes."""
    if isinstance(engine, HuyingSQLiteEngine):
        return engine.reading()
    return engine.transaction()


_PLAIN = (str, int, float, bool, type(None), dt.datetime, dt.date)


def _converter(column) -> Callable[[Any], Any]:
    """How one column's value goes to the driver, decided once per column instead of per value."""
    if isinstance(column, (JSON, JSONB)):
        return lambda value: value if value is None or isinstance(value, str) else dump_json(value)
    return lambda value: value if isinstance(value, _PLAIN) else convert_to_sql_value(value, column)


@functools.lru_cache(maxsize=256)
def _compiled(template: str, arity: int, engine_type: str) -> str:
    """A piccolo template (``{}`` placeholders) compiled once for the engine's driver."""
    return QueryString(template, *([None] * arity)).compile_string(engine_type=engine_type)[0]


async def run(engine: Engine, template: str, *args) -> list:
    """A statement of the write path with plain values (text, numbers, instants): compiled once per
    template and, inside a transaction, sent straight to its connection (piccolo would build and
    compile it again for every request)."""
    transaction = engine.current_transaction.get()
    if transaction is None:
        return await engine.run_querystring(QueryString(template, *args))
    sql = _compiled(template, len(args), engine.engine_type)
    if engine.engine_type == "sqlite":
        return await transaction.connection.execute_fetchall(sql, args)
    return await transaction.connection.fetch(sql, *args)


@functools.lru_cache(maxsize=64)
def _insert_plan(table, columns: tuple[str, ...]) -> tuple[str, tuple]:
    """The INSERT's template and each column's converter."""
    template = (f"INSERT INTO {table._meta.tablename} ({', '.join(columns)}) "
                f"VALUES ({', '.join('{}' for _ in columns)}) RETURNING id")
    return template, tuple(_converter(table._meta.get_column_by_name(c)) for c in columns)


async def insert_row(table, row: dict) -> int:
    """Insert one row and return its id, skipping the ORM's per-row object building and query
    compilation (the intake hot path writes several rows per request; the values are converted as
    the ORM would)."""
    template, converters = _insert_plan(table, tuple(row))
    values = [convert(value) for convert, value in zip(converters, row.values())]
    return (await run(table._meta.db, template, *values))[0]["id"]


def bind_engine(engine: Engine, tables) -> None:
    """Point every table at one engine (the platform's own)."""
    for table in tables:
        table._meta.db = engine
