"""Each periodic report over years of history, against a plain ``SELECT count(*)`` in the same run.

    .venv/bin/python bench/reports.py [--sqlite FILE] [--orders 410000]
                                      [--postgres URL] [--pg-orders 2000000] [--repeat 3]

A database with fewer orders than asked for is first filled with demo history (``huying demo``'s
bulk generator; the time it took is printed). Then, per backend, the best of ``--repeat`` runs of:

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


async def bench(url: str, orders: int, repeat: int, label: str) -> bool:
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
    if have < orders:
        started = time.perf_counter()
        await seed(platform, orders - have)
        print(f"[{label}] demo history: {orders - have:,} orders written in {time.perf_counter() - started:.1f} s")
    await facts.refresh()
    count = await Order.count()
    day = today()
    baseline = await _best(repeat, lambda: Order.raw("SELECT count(*) FROM orders"))
    print(f"[{label}] {count:,} orders; baseline SELECT count(*): {baseline * 1000:.1f} ms")
    rows = [("daily", day, {}), ("weekly", day, {}), ("monthly", day, {}), ("quarterly", day, {}),
            ("annual", dt.date(day.year - 1, 1, 1), {}), ("annual", dt.date(day.year - 1, 1, 1), {"department": "housing"})]
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
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("HUYING_VAR_DIR", str(Path(args.sqlite).parent))
    ok = True
    if not args.skip_sqlite:
        ok &= asyncio.run(bench(f"sqlite:///{args.sqlite}", args.orders, args.repeat, "sqlite"))
    if args.postgres:
        ok &= asyncio.run(bench(args.postgres, args.pg_orders, args.repeat, "postgres"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
