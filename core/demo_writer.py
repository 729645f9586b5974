"""Bulk writers for demo history: stdlib ``sqlite3`` ``executemany`` on SQLite, ``COPY`` on PostgreSQL.

Orders get explicit ids (after the largest existing one) so their events can name them; order numbers
continue each day's counter, which is moved on afterwards so later intakes never collide. Each batch
writes the orders' search documents with them (``core.search``), so bulk history is found by ``q=``
like any order taken through the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
import types
from collections.abc import Iterator

import orjson

from piccolo.engine.postgres import PostgresEngine

from core.calendar import SHANGHAI
from core.tables import Order

BATCH = 5000
ORDER_COLUMNS = tuple(c._meta.db_column_name for c in Order._meta.columns)
EVENT_COLUMNS = ("order_id", "action", "actor", "role", "department", "from_status", "to_status", "reason",
                 "payload", "created_at")
JSON_COLUMNS = frozenset(c._meta.db_column_name for c in Order._meta.columns if type(c).__name__ in ("JSON", "JSONB"))


def _dumps(value) -> str:
    """Compact JSON as piccolo (with orjson) writes it; instants as ISO 8601 text."""
    return orjson.dumps(value).decode()


class Numbers:
    """Order numbers XJ<local day><6-digit sequence>, continuing the counters already in the database."""

    def __init__(self, counters: dict[str, int]):
        self.counters = counters

    def __call__(self, received: dt.datetime) -> str:
        day = received.astimezone(SHANGHAI).strftime("%Y%m%d")
        key = f"order:{day}"
        value = self.counters.get(key, 0) + 1
        self.counters[key] = value
        return f"XJ{day}{value:06d}"


def document(index, order: dict) -> str:
    """An order row's search document as the service writes it at intake (``index``: the platform's
    ``OrderSearch``; ``order``: column name → value)."""
    return " ".join([order["number"].lower(), *index.words(types.SimpleNamespace(**order))])


def sqlite_documents(db: sqlite3.Connection, docs: list[tuple[int, str]], *, replace: bool = False) -> None:
    """Write (order id, document) pairs into the FTS5 table, inside the caller's transaction."""
    if replace:
        db.executemany("DELETE FROM order_search WHERE rowid = ?", [(d[0],) for d in docs])
    db.executemany("INSERT INTO order_search (rowid, tokens) VALUES (?, ?)", docs)


async def postgres_documents(conn, docs: list[tuple[int, str]]) -> None:
    """Write (order id, document) pairs into the tsvector table by COPY, inside the caller's
    transaction (a document already there is replaced)."""
    await conn.execute("CREATE TEMP TABLE IF NOT EXISTS order_search_load (id BIGINT, words TEXT) "
                       "ON COMMIT DELETE ROWS")
    await conn.copy_records_to_table("order_search_load", records=docs, columns=["id", "words"])
    await conn.execute("INSERT INTO order_search (id, document) SELECT id, to_tsvector('simple', words) "
                       "FROM order_search_load ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document")


class Writer:
    index = None  # the platform's OrderSearch: documents are written when it is set

    async def write(self, generator, count: int, bar) -> int:
        """Write ``count`` orders in batches. The next batch is built in a thread while the database
        takes the last one, so the generator and the database work at once (on PostgreSQL the
        server's indexing, not Python, is the slower of the two)."""
        first_id, counters = await self.start()
        numbers = Numbers(counters)
        batches = self.batches(generator.orders(count, numbers, first_id))
        made, pending = 0, None
        try:
            while True:
                batch = await asyncio.to_thread(next, batches, None)
                if pending is not None:
                    await pending
                    pending = None
                    if bar:
                        bar.update(made)
                if batch is None:
                    break
                made += len(batch[0])
                pending = asyncio.ensure_future(self.flush(*batch))
        finally:
            if pending is not None:
                await asyncio.gather(pending, return_exceptions=True)
        await self.finish(numbers.counters)
        if bar:
            bar.update(count)
        return made

    def batches(self, orders: Iterator[tuple[dict, list]]) -> Iterator[tuple[list, list, list]]:
        """(order rows, event rows, search documents) per ``BATCH`` orders."""
        rows, events, docs = [], [], []
        for order, order_events in orders:
            rows.append(self.order_row(order))
            events.extend(self.event_row(order["id"], e) for e in order_events)
            if self.index is not None:
                docs.append((order["id"], document(self.index, order)))
            if len(rows) >= BATCH:
                yield rows, events, docs
                rows, events, docs = [], [], []
        if rows:
            yield rows, events, docs

    def order_row(self, order: dict) -> tuple:
        row = [order[c] for c in ORDER_COLUMNS]
        for index, convert in self.converters:
            if row[index] is not None:
                row[index] = convert(row[index])
        return row

    def event_row(self, order_id: int, e: tuple) -> tuple:
        action, actor, role, department, before, after, reason, payload, at = e
        return (order_id, action, actor, role, department, before, after, reason, self.value("payload", payload),
                self.value("created_at", at))


def _sqlite_instant(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def _converters(instant) -> list:
    out = []
    for index, column in enumerate(Order._meta.columns):
        kind = type(column).__name__
        if kind in ("JSON", "JSONB"):
            out.append((index, _dumps))
        elif kind == "Timestamptz" and instant:
            out.append((index, instant))
        elif kind == "Boolean" and instant:
            out.append((index, int))
    return out


class SQLiteWriter(Writer):
    def __init__(self, path: str):
        self.path = path
        self.db = sqlite3.connect(path, timeout=60)
        self.converters = _converters(_sqlite_instant)

    def value(self, column: str, value):
        if isinstance(value, dt.datetime):
            return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f+00:00")
        if column in JSON_COLUMNS or column == "payload":
            return None if value is None else _dumps(value)
        if isinstance(value, bool):
            return int(value)
        return value

    async def start(self):
        first = self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM orders").fetchone()[0]
        counters = dict(self.db.execute("SELECT key, value FROM counters WHERE key LIKE 'order:%'").fetchall())
        return first, counters

    async def flush(self, orders, events, docs=()) -> None:
        with self.db:
            self.db.executemany(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES "
                                f"({', '.join('?' for _ in ORDER_COLUMNS)})", orders)
            self.db.executemany(f"INSERT INTO order_events ({', '.join(EVENT_COLUMNS)}) VALUES "
                                f"({', '.join('?' for _ in EVENT_COLUMNS)})", events)
            if docs:
                sqlite_documents(self.db, docs)

    async def finish(self, counters: dict[str, int]) -> None:
        with self.db:
            self.db.executemany("INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE "
                                "SET value = MAX(counters.value, excluded.value)", list(counters.items()))
        self.db.close()


class PostgresWriter(Writer):
    def __init__(self, engine: PostgresEngine):
        self.engine = engine
        self.conn = None
        self.converters = _converters(None)

    def value(self, column: str, value):
        if column in JSON_COLUMNS or column == "payload":
            return None if value is None else _dumps(value)
        return value

    async def start(self):
        self.conn = await self.engine.get_new_connection()
        first = await self.conn.fetchval("SELECT COALESCE(MAX(id), 0) + 1 FROM orders")
        counters = {r["key"]: r["value"] for r in
                    await self.conn.fetch("SELECT key, value FROM counters WHERE key LIKE 'order:%'")}
        return first, counters

    async def flush(self, orders, events, docs=()) -> None:
        async with self.conn.transaction():
            await self.conn.copy_records_to_table("orders", records=orders, columns=list(ORDER_COLUMNS))
            await self.conn.copy_records_to_table("order_events", records=events, columns=list(EVENT_COLUMNS))
            if docs:
                await postgres_documents(self.conn, docs)

    async def finish(self, counters: dict[str, int]) -> None:
        try:
            await self.conn.executemany(
                "INSERT INTO counters (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                "SET value = GREATEST(counters.value, excluded.value)", list(counters.items()))
            await self.conn.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), "
                                    "(SELECT COALESCE(MAX(id), 1) FROM orders))")
        finally:
            with contextlib.suppress(Exception):
                await self.conn.close()


async def writer_for(platform) -> Writer:
    engine = platform.engine
    writer = PostgresWriter(engine) if isinstance(engine, PostgresEngine) else SQLiteWriter(engine.path)
    writer.index = platform.orders.index
    return writer
