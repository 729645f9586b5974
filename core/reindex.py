"""Rebuilding the order search index (``huying reindex``) and finding orders missing from it.

Orders written before bulk writers indexed what they wrote (the demo generator of earlier
releases), restored from a partial copy, or touched by hand in the database may have no search
document. ``reindex`` rewrites the documents of all orders, or of those received since a day, in
batches of their own short transactions, so the platform keeps serving (and taking intakes) while it
runs; each document is built exactly as the service builds it at intake.
"""

from __future__ import annotations

import datetime as dt

import orjson

from core.calendar import SHANGHAI

BATCH = 2000
COLUMNS = ("id", "number", "channel", "subject", "content", "address", "area", "category", "citizen_name",
           "citizen_phone", "citizen_sealed", "details", "department", "legacy_number")


def _missing_sql(postgres: bool) -> str:
    if postgres:
        return "SELECT count(*) AS n FROM orders o WHERE NOT EXISTS (SELECT 1 FROM order_search s WHERE s.id = o.id)"
    return "SELECT count(*) AS n FROM orders WHERE id NOT IN (SELECT rowid FROM order_search)"


async def missing_count(platform) -> int:
    """How many orders have no search document (they cannot be found by ``q=``)."""
    from piccolo.engine.postgres import PostgresEngine

    from core.tables import Order

    rows = await Order.raw(_missing_sql(isinstance(platform.engine, PostgresEngine)))
    return int(rows[0]["n"])


def _order(row: dict) -> dict:
    details = row["details"]
    if isinstance(details, str):
        details = orjson.loads(details) if details else {}
    return {**row, "details": details or {}}


async def reindex(platform, since: dt.date | None = None, *, progress: bool = True, batch: int = BATCH) -> int:
    """Write again the search document of every order (received on or after ``since``, a local day);
    returns how many were written."""
    import sqlite3

    from piccolo.engine.postgres import PostgresEngine

    from core.demo_writer import document, postgres_documents, sqlite_documents
    from core.history_import import Progress

    index = platform.orders.index
    start = dt.datetime.combine(since, dt.time(), SHANGHAI) if since else None
    written = 0
    if isinstance(platform.engine, PostgresEngine):
        conn = await platform.engine.get_new_connection()
        try:
            where = "WHERE received_at >= $1" if start else ""
            args = (start,) if start else ()
            total = await conn.fetchval(f"SELECT count(*) FROM orders {where}", *args)
            bar = Progress(total, "重建搜索索引") if progress and total else None
            last = 0
            while True:
                cond = f"id > ${len(args) + 1}" + (" AND received_at >= $1" if start else "")
                rows = await conn.fetch(f"SELECT {', '.join(COLUMNS)} FROM orders WHERE {cond} ORDER BY id "
                                        f"LIMIT {int(batch)}", *args, last)
                if not rows:
                    break
                docs = [(r["id"], document(index, _order(dict(r)))) for r in rows]
                async with conn.transaction():
                    await postgres_documents(conn, docs)
                written += len(docs)
                last = rows[-1]["id"]
                if bar:
                    bar.update(written)
        finally:
            await conn.close()
    else:
        db = sqlite3.connect(platform.engine.path, timeout=60, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            when = start.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S") if start else None
            where, args = ("WHERE received_at >= ?", (when,)) if start else ("", ())
            total = db.execute(f"SELECT count(*) FROM orders {where}", args).fetchone()[0]
            bar = Progress(total, "重建搜索索引") if progress and total else None
            last = 0
            while True:
                cond = "id > ?" + (" AND received_at >= ?" if start else "")
                rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM orders WHERE {cond} ORDER BY id "
                                  f"LIMIT {int(batch)}", (last, *args)).fetchall()
                if not rows:
                    break
                docs = [(r["id"], document(index, _order(dict(r)))) for r in rows]
                db.execute("BEGIN IMMEDIATE")
                try:
                    sqlite_documents(db, docs, replace=True)
                    db.execute("COMMIT")
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                written += len(docs)
                last = rows[-1]["id"]
                if bar:
                    bar.update(written)
        finally:
            db.close()
    if progress and written:
        bar.update(written, final=True)
    return written
