"""Database engines and transactions for both backends.

SQLite serialises writers: every write transaction is opened IMMEDIATE (taking the write lock up
front) and the file runs in WAL mode, so concurrent read-then-write requests queue instead of failing
with "database is locked". PostgreSQL relies on the optimistic ``version`` check in each update.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
from pathlib import Path

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

PICCOLO_CONF = "core.piccolo_conf"


def make_engine(database_url: str) -> Engine:
    if database_url.startswith("sqlite"):
        path = Path(database_url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        _enable_wal(path)
        return SQLiteEngine(path=str(path), timeout=30)
    if database_url.startswith(("postgres://", "postgresql://")):
        return PostgresEngine(config={"dsn": database_url}, log_queries=False)
    raise ValueError(f"unsupported HUYING_DATABASE_URL: {database_url!r}")


def _enable_wal(path: Path) -> None:
    """WAL persists in the file: readers never block the writer and the writer never blocks readers."""
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
