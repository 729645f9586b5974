"""Database engines and transactions for both backends.

SQLite runs in WAL mode with one writer connection per process and group commit
(``core.sqlite_engine``); PostgreSQL relies on the optimistic ``version`` check in each update.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.querystring import QueryString
from piccolo.utils.sql_values import convert_to_sql_value

from core.sqlite_engine import HuyingSQLiteEngine


def make_engine(database_url: str) -> Engine:
    """The engine for a URL. Nothing is touched on disk until ``prepare`` (or the first query)."""
    if database_url.startswith("sqlite"):
        return HuyingSQLiteEngine(path=database_url.removeprefix("sqlite:///"), timeout=30)
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
    """A transaction that will write: on SQLite it queues for the process's one writer connection
    (``core.sqlite_engine``), on PostgreSQL it is an ordinary transaction."""
    return engine.transaction()


def read_transaction(engine: Engine):
    """One connection and one snapshot for all of a request's reads; on SQLite a pooled reader, so
    reads never queue behind writes."""
    if isinstance(engine, HuyingSQLiteEngine):
        return engine.reading()
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
