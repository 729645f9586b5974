"""Order search latency (``GET /api/orders?q=`` through the order service) on both backends.

    .venv/bin/python bench/search.py [--sqlite-orders 410000] [--postgres-orders 2000000]
                                     [--postgres postgresql://postgres@127.0.0.1:5432/test_e]
                                     [--queries 200] [--sqlite-file FILE] [--postgres-filled]

Fills a fresh database with bulk inserts (orders and their index documents, written the way intake
writes them), then runs two-word queries drawn from real citizens' words through
``OrderQueries.search`` (count and first page of 20, newest first) as an agent and as a department's
handler, and prints p50/p95/max. The baseline, measured in the same run on the same data, is what the
search did before the index: ``LIKE '%word%'`` on subject and content, for a handful of the queries.

Documents are built from the real messages under ``core/demo_data`` recombined sentence by sentence,
so word frequencies look like the hotline's; each sentence is segmented once and its tokens reused
(the same jieba search-mode tokens the intake path stores).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import json
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.search import Sealed, department_token, tokens  # noqa: E402

DATA = ROOT / "core" / "demo_data"
DEPARTMENTS = ["eco_env", "housing", "urban_mgmt", "natural_resources", "development", "emergency", "hrss",
               "market", "transport", "education", "health"]
AREAS = ["梅溪湖街道", "望城坡街道", "观沙岭街道", "桔子洲街道", "岳麓街道", "西湖街道", "天顶街道", "咸嘉湖街道",
         "银盆岭街道", "含浦街道", "坪塘街道", "洋湖街道"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红"
QUERY_WORDS = ["施工", "噪音", "夜间", "小区", "物业", "工资", "拖欠", "学校", "道路", "垃圾", "停车", "医院",
               "补偿", "拆迁", "公交", "污染", "违建", "开发商", "业主", "社保", "房屋", "安全", "投诉", "环境"]
SECRET = "bench-secret"


def corpus() -> tuple[list[str], list[str]]:
    subjects, sentences = [], []
    for name in ("labelled-messages.csv", "messages-with-replies.csv"):
        with open(DATA / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                subjects.append(row.get("subject") or "")
                text = row.get("detail") or row.get("content") or ""
                sentences.extend(s for s in re.split(r"(?<=[。！？!?])", text) if 4 <= len(s) <= 200)
    return [s for s in subjects if s], sentences


class Generator:
    """Orders recombined from real sentences; each piece segmented once."""

    def __init__(self, seed: int = 7):
        self.rng = random.Random(seed)
        self.subjects, self.sentences = corpus()
        self._tokens: dict[str, list[str]] = {}
        self.sealed = Sealed(SECRET)

    def _words(self, text: str) -> list[str]:
        found = self._tokens.get(text)
        if found is None:
            found = self._tokens[text] = tokens(text)
        return found

    def order(self, i: int, day: dt.date) -> tuple[tuple, str]:
        rng = self.rng
        subject = rng.choice(self.subjects)
        parts = rng.sample(self.sentences, rng.randint(1, 3))
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.randint(1, 2)))
        phone = f"1{rng.choice('3456789')}{rng.randrange(10 ** 9):09d}"
        area = rng.choice(AREAS)
        department = rng.choice(DEPARTMENTS) if rng.random() < 0.9 else None
        number = f"XJ{day:%Y%m%d}{i:06d}"
        words: dict[str, None] = {number.lower(): None}
        for piece in (subject, *parts, area, name):
            words.update(dict.fromkeys(self._words(piece)))
        document = list(words) + [self.sealed.phone(phone)]
        if department:
            document.append(department_token(department))
        received = dt.datetime.combine(day, dt.time(9), tzinfo=dt.timezone.utc)
        row = (number, "hotline", "complaint", "phone", subject[:200], "".join(parts), name, phone, area + "某小区",
               area, department, "dispatched" if department else "received", received)
        return row, " ".join(document)


COLUMNS = ("number", "channel", "kind", "source", "subject", "content", "citizen_name", "citizen_phone",
           "address", "area", "department", "status", "received_at")


def fill_sqlite(path: Path, count: int) -> None:
    gen = Generator()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    insert = (f"INSERT INTO orders ({', '.join(COLUMNS)}, query_code, citizen_sealed, anonymous, category, details, "
              "deadlines, flags, extensions, supervisions, suggestion_reason, priority, version, rework_count, "
              "created_at, updated_at) VALUES (" + ", ".join("?" for _ in COLUMNS)
              + ", '', '', 0, '', '{}', '{}', '[]', '[]', '[]', '', 'normal', 1, 0, ?, ?)")
    start = dt.date(2024, 1, 1)
    batch, docs = [], []
    for i in range(count):
        day = start + dt.timedelta(days=i // 600)
        row, document = gen.order(i % 600 + 1, day)
        stamp = row[-1].isoformat()
        batch.append((*row[:-1], stamp, stamp, stamp))
        docs.append(document)
        if len(batch) == 20000 or i == count - 1:
            first = conn.execute("SELECT COALESCE(MAX(id), 0) FROM orders").fetchone()[0] + 1
            conn.executemany(insert, batch)
            conn.executemany("INSERT INTO order_search (rowid, tokens) VALUES (?, ?)",
                             list(zip(range(first, first + len(docs)), docs)))
            conn.commit()
            batch, docs = [], []
    conn.execute("INSERT INTO order_search(order_search) VALUES ('optimize')")
    conn.commit()
    conn.close()


async def fill_postgres(url: str, count: int) -> None:
    import asyncpg

    gen = Generator()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP INDEX IF EXISTS order_search_document")
        await conn.execute("CREATE TEMP TABLE staging (id BIGINT, tokens TEXT)")
        start = dt.date(2024, 1, 1)
        now = dt.datetime.now(dt.timezone.utc)
        next_id = 1
        for offset in range(0, count, 50000):
            rows, docs = [], []
            for i in range(offset, min(offset + 50000, count)):
                row, document = gen.order(i % 600 + 1, start + dt.timedelta(days=i // 600))
                rows.append((next_id, *row, "", "", False, "", "{}", "{}", "[]", "[]", "[]", "", "normal", 1, 0,
                             now, now))
                docs.append((next_id, document))
                next_id += 1
            await conn.copy_records_to_table(
                "orders", records=rows,
                columns=["id", *COLUMNS, "query_code", "citizen_sealed", "anonymous", "category", "details",
                         "deadlines", "flags", "extensions", "supervisions", "suggestion_reason", "priority",
                         "version", "rework_count", "created_at", "updated_at"])
            await conn.copy_records_to_table("staging", records=docs, columns=["id", "tokens"])
        await conn.execute("INSERT INTO order_search (id, document) "
                           "SELECT id, to_tsvector('simple', tokens) FROM staging")
        await conn.execute("SELECT setval(pg_get_serial_sequence('orders', 'id'), (SELECT MAX(id) FROM orders))")
        await conn.execute("CREATE INDEX order_search_document ON order_search USING gin (document)")
        await conn.execute("VACUUM ANALYZE orders")
        await conn.execute("VACUUM ANALYZE order_search")
    finally:
        await conn.close()


def queries(n: int, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.sample(QUERY_WORDS, 2)) for _ in range(n)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(database_url: str, n: int) -> dict:
    from core.model import Actor
    from core.platform import Platform
    from core.settings import Settings

    platform = Platform(Settings(database_url=database_url, secret_key=SECRET, var_dir=tempfile.mkdtemp()))
    await platform.start(pool=True)
    agent = Actor(name="agent", role="agent")
    handler = Actor(name="h", role="handler", department="housing")
    results = {}
    try:
        for label, actor in (("agent", agent), ("handler", handler)):
            timings, totals = [], []
            for q in queries(n):
                started = time.perf_counter()
                page = await platform.orders.search(actor, q=q, page_size=20)
                timings.append((time.perf_counter() - started) * 1000)
                totals.append(page.total)
            results[label] = (timings, statistics.median(totals))
        phone_timings = []
        for q in ("13912345678", "13800001111", "15011112222"):
            started = time.perf_counter()
            await platform.orders.search(agent, q=q)
            phone_timings.append((time.perf_counter() - started) * 1000)
        results["phone"] = (phone_timings, 0)
        baseline = []
        from core.tables import Order

        for q in queries(5):
            a, b = q.split()
            started = time.perf_counter()
            clause = ((Order.subject.like(f"%{a}%") | Order.content.like(f"%{a}%"))
                      & (Order.subject.like(f"%{b}%") | Order.content.like(f"%{b}%")))
            await Order.count().where(clause)
            await Order.select().where(clause).order_by(Order.id, ascending=False).limit(20)
            baseline.append((time.perf_counter() - started) * 1000)
        results["like"] = (baseline, 0)
    finally:
        await platform.stop()
    return results


def report(name: str, count: int, results: dict) -> None:
    like = statistics.median(results["like"][0])
    print(f"\n{name}: {count:,} orders")
    for label in ("agent", "handler", "phone", "like"):
        timings, total = results[label]
        what = {"agent": "两词检索（话务员，全部工单）", "handler": "两词检索（承办单位，仅本单位）",
                "phone": "按完整电话检索（中心）", "like": "基线：LIKE 全表扫描"}[label]
        print(f"  {what:<24} n={len(timings):<4} p50={statistics.median(timings):8.1f} ms  "
              f"p95={percentile(timings, 95):8.1f} ms  max={max(timings):8.1f} ms  "
              f"p50 ÷ LIKE p50 = {statistics.median(timings) / like:.4f}"
              + (f"  (matches per query, median {total:,.0f})" if total else ""))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite-orders", type=int, default=410_000)
    parser.add_argument("--postgres-orders", type=int, default=2_000_000)
    parser.add_argument("--postgres", default=os.environ.get("HUYING_BENCH_POSTGRES_URL"))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sqlite-file", type=Path, help="measure a database a previous run filled (no filling)")
    parser.add_argument("--postgres-filled", action="store_true",
                        help="measure the PostgreSQL database a previous run filled (no filling)")
    args = parser.parse_args()
    from core.db import make_engine
    from core.migrations import migrate

    if args.sqlite_file:
        url = f"sqlite:///{args.sqlite_file}"
        await migrate(make_engine(url))
        count = sqlite3.connect(args.sqlite_file).execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        report("SQLite (FTS5)", count, await measure(url, args.queries))
    elif args.sqlite_orders:
        path = Path(tempfile.mkdtemp(prefix="huying-search-")) / "bench.sqlite3"
        url = f"sqlite:///{path}"
        await migrate(make_engine(url))
        started = time.perf_counter()
        fill_sqlite(path, args.sqlite_orders)
        print(f"SQLite filled in {time.perf_counter() - started:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
        report("SQLite (FTS5)", args.sqlite_orders, await measure(url, args.queries))
    if args.postgres and args.postgres_filled:
        import asyncpg

        conn = await asyncpg.connect(args.postgres)
        count = await conn.fetchval("SELECT COUNT(*) FROM orders")
        await conn.close()
        report("PostgreSQL (tsvector + GIN)", count, await measure(args.postgres, args.queries))
    elif args.postgres and args.postgres_orders:
        import asyncpg

        conn = await asyncpg.connect(args.postgres)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        await conn.close()
        await migrate(make_engine(args.postgres))
        started = time.perf_counter()
        await fill_postgres(args.postgres, args.postgres_orders)
        print(f"PostgreSQL filled in {time.perf_counter() - started:.0f} s")
        report("PostgreSQL (tsvector + GIN)", args.postgres_orders, await measure(args.postgres, args.queries))


if __name__ == "__main__":
    asyncio.run(main())
