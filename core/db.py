"""Database engines and transactions for both backends.

SQLite runs in WAL mode with one writer connection per process and group commit
(``core.sqlite_engine``); PostgreSQL relies on the optimistic ``version`` check in each update.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import sqlite3
from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.querystring import QueryString
from piccolo.utils.sql_values import convert_to_sql_value

from core.sqlite_engine import HuyingSQLiteEngine

PICCOLO_CONF = "core.piccolo_conf"


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
        return HuyingSQLiteEngine(path=str(path), timeout=30)
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url}, log_queries=False)
    raise ValueError(f"unsupported HUYING_DATABASE_URL: {database_url!r}")


def _enable_wal(path: Path) -> None:
    """WAL persists in the file: readers never block the writer and the writer never blocks readers."""
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


def current_engine() -> Engine:
    from core.tables import Order

    return Order._meta.db


def bind_engine(engine: Engine, tables) -> None:
    """Point every table at one engine (the one piccolo's configuration built from the settings)."""
    for table in tables:
        table._meta.db = engine


async def migrate(engine: Engine | None = None, verbose: bool = False) -> None:
    """Apply every app's migrations (the core's and any plugin's), the same on both backends.

    Piccolo finds its engine in ``core.piccolo_conf``; given ``engine``, migrations run on that one."""
    os.environ.setdefault("PICCOLO_CONF", PICCOLO_CONF)
    from piccolo.apps.migrations.commands.forwards import run_forwards
    from piccolo.apps.migrations.tables import Migration

    import core.piccolo_conf

    if engine is not None:
        core.piccolo_conf.DB = engine
        Migration._meta.db = engine
    out = io.StringIO()
    with contextlib.nullcontext() if verbose else contextlib.redirect_stdout(out):
        result = await run_forwards(app_name="all")
    if not result.success:
        raise RuntimeError(f"migration failed: {result.message}\n{out.getvalue()}")
