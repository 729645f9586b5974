"""Each periodic report over years of history, against a plain ``SELECT count(*)`` in the same run.

    .venv/bin/python bench/reports.py [--sqlite FILE] [--orders 410000]
                                      [--postgres URL] [--pg-orders 2000000] [--repeat 3]

A database with fewer orders than asked for is first filled with demo history (``huying demo``'s
bulk generator; the time it took is printed). On an empty PostgreSQL database ``--pg-base`` orders
are generated over two years and then copied in SQL (each copy shifted by minutes) up to
``--pg-orders``: the reports then read two million orders of the same shape. Then, per backend, the best of ``--repeat`` runs of:

- baseline: ``SELECT count(*) FROM orders`` (every order, the same rows the reports read);
- each report kind (daily, weekly, monthly, quarterly for the current period; annual for last year,
  a full year), with totals, 环比/同比, six breakdowns, the ranking, top issues and channel sections;
- the annual report limited to one department (a handler's view), the board and the warnings scan.

Targets (issue: reports): the annual report under 1 s over 410,000 orders on SQLite, and under 3 s
over 2,000,000 on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TARGETS = {"sqlite": 1.0, "postgres": 3.0}


async def _best(repeat: int, run) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        await run()
        best = min(best, time.perf_counter() - started)
    return best


async def replicate(platform, orders: int) -> None:
    """PostgreSQL only: copy the generated history (orders and their events) until there are
    ``orders`` orders, each copy shifted by some minutes and numbered apart, then rebuild the facts.
    Generating two million orders one by one in Python takes longer than the database needs to copy."""
    from core.reports import facts
    from core.tables import Order, OrderEvent

    columns = [c._meta.db_column_name for c in Order._meta.columns]
    event_columns = [c._meta.db_column_name for c in OrderEvent._meta.columns]
    base = (await Order.raw("SELECT MAX(id) AS m, COUNT(*) AS n FROM orders"))[0]
    top, have = base["m"], base["n"]
    shifted = {"received_at", "created_at", "updated_at"}
    count, k = have, 0
    while count < orders:
        k += 1
        take = min(have, orders - count)  # copies of the first ``take`` orders there were at the start
        values = []
        for c in columns:
            if c == "id":
                values.append(f"id + {k * top}")
            elif c == "number":
                values.append(f"number || '-{k}'")
            elif c in shifted:
                values.append(f"{c} + INTERVAL '{k * 7} minutes'")
            else:
                values.append(c)
        limit = (await Order.raw(f"SELECT MAX(id) AS m FROM (SELECT id FROM orders WHERE id <= {top} "
                                 f"ORDER BY id LIMIT {take}) AS t"))[0]["m"]
        await Order.raw(f"INSERT INTO orders ({', '.join(columns)}) SELECT {', '.join(values)} FROM orders "
                        f"WHERE id <= {limit}")
        event_values = [f"order_id + {k * top}" if c == "order_id" else
                        f"created_at + INTERVAL '{k * 7} minutes'" if c == "created_at" else c
                        for c in event_columns if c != "id"]
        await OrderEvent.raw(f"INSERT INTO order_events ({', '.join(c for c in event_columns if c != 'id')}) "
                             f"SELECT {', '.join(event_values)} FROM order_events WHERE order_id <= {limit}")
        count += take
    for table in ("orders", "order_events"):
        await Order.raw(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
    await Order.raw("ANALYZE")
    await facts.refresh(full=True)
    await Order.raw("ANALYZE")


async def bench(url: str, orders: int, repeat: int, label: str, base: int = 0) -> bool:
    os.environ["HUYING_DATABASE_URL"] = url
    from core.demo import seed
    from core.platform import Platform
    from core.reports import board, facts, warnings
    from core.reports.build import build_report
    from core.reports.periods import today
    from core.tables import Order

    platform = Platform()
    await platform.migrate()
    await platform.start()
    have = await Order.count()
    if have < orders and base:
        started = time.perf_counter()
        if not have:
            from core.demo import seed_orders, seed_reference

            await seed_reference()
            await seed_orders(platform, base, days=730, progress=True)
            print(f"[{label}] demo history: {base:,} orders over 730 days written in "
                  f"{time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        await replicate(platform, orders)
        print(f"[{label}] replicated to {orders:,} orders (copies shifted by minutes) and derived the report "
              f"facts in {time.perf_counter() - started:.1f} s")
    elif have < orders:
        started = time.perf_counter()
        await seed(platform, orders - have)
        print(f"[{label}] demo history: {orders - have:,} orders written in {time.perf_counter() - started:.1f} s")
    await facts.refresh()
    count = await Order.count()
    day = today()
    baseline = await _best(repeat, lambda: Order.raw("SELECT count(*) FROM orders"))
    print(f"[{label}] {count:,} orders; baseline SELECT count(*): {baseline * 1000:.1f} ms")
    rows = [("daily", day, {}), ("weekly", day, {}), ("monthly", day, {}), ("quarterly", day, {}),
            ("annual", dt.date(day.year - 1, 1, 1), {}), ("annual", day, {}),
            ("annual", dt.date(day.year - 1, 1, 1), {"department": "housing"})]
    ok = True
    for kind, start, filters in rows:
        seconds = await _best(repeat, lambda: build_report(platform, kind, start, filters))
        name = f"{kind} {start}" + (f" {filters}" if filters else "")
        target = TARGETS[label] if kind == "annual" and not filters else None
        verdict = "" if target is None else (" (target < %.0f s: %s)" % (target, "met" if seconds < target else "MISSED"))
        ok &= target is None or seconds < target
        print(f"[{label}] {name:<40} {seconds * 1000:8.1f} ms  {seconds / baseline:7.1f}× count(*){verdict}")
    for name, run in (("board", lambda: board.snapshot(platform)), ("warnings scan", lambda: warnings.scan(platform))):
        seconds = await _best(repeat, run)
        print(f"[{label}] {name:<40} {seconds * 1000:8.1f} ms  {seconds / baseline:7.1f}× count(*)")
    await platform.stop()
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", default=str(Path(tempfile.gettempdir()) / "huying-bench-reports.sqlite3"))
    parser.add_argument("--orders", type=int, default=410_000)
    parser.add_argument("--postgres", default=None, help="postgresql://… (its own database: it is filled with demo data)")
    parser.add_argument("--pg-orders", type=int, default=2_000_000)
    parser.add_argument("--pg-base", type=int, default=100_000,
                        help="orders generated on an empty PostgreSQL database before copying up to --pg-orders "
                             "(0: generate them all)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HUYING_VAR_DIR", str(Path(args.sqlite).parent))
    ok = True
    if not args.skip_sqlite:
        ok &= asyncio.run(bench(f"sqlite:///{args.sqlite}", args.orders, args.repeat, "sqlite"))
    if args.postgres:
        ok &= asyncio.run(bench(args.postgres, args.pg_orders, args.repeat, "postgres", args.pg_base))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
