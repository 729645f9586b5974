"""A city's volume on PostgreSQL: console lists, an agent's search, caller history, the annual report,
the board and intake, measured at growing order counts, each against a baseline in the same run.

    .venv/bin/python bench/city_volume.py --postgres postgresql://postgres@127.0.0.1:5432/city_bench
                                          [--stages 2000000,5000000,10000000] [--base 100000]
                                          [--samples 40] [--intake-seconds 10]

The database is the benchmark's own and is never emptied: a later run continues from the orders
already there, so the stages can be measured in several sittings. Filling:

- ``--base`` orders through the bulk path (``huying demo``'s generator and writer: orders, their
  events and their search documents over two years), its rate printed;
- then copies of those orders in SQL up to each stage, each copy shifted by minutes and numbered
  apart, with its events and search document (the copies are found by ``q=`` like the originals), and
  the report facts derived again; the time is printed.

At each stage:

- pages: the application in one uvicorn process, console pages requested as each role with a signed-in
  session, interleaved with a bare page (one order read by id and rendered) so both see the same
  machine; p50 and p95 per page, the ratio to the bare page's p95, and the 100 ms target;
- reports: the annual report of the last full year and the board, each the best of three, against
  ``SELECT count(*) FROM orders``; targets 5 s and 1 s;
- intake: four client processes posting to ``/api/channels/hotline/orders`` for ``--intake-seconds``;
  requests per second and p95, to compare between stages (a day's intake unaffected by the history).

The last lines give each measure at every stage, the growth curve.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import console as console_bench  # noqa: E402  (bench/console.py: the bare page and the sign-in)
import intake as intake_bench  # noqa: E402  (bench/intake.py: the closed-loop intake clients)

PAGE_TARGET_MS = 100
REPORT_TARGET_S = 5.0
BOARD_TARGET_S = 1.0
COPY_MINUTES = 7  # each copy of the history is this many minutes later than the one before


async def _open(url: str):
    os.environ["HUYING_DATABASE_URL"] = url
    from core.platform import Platform

    platform = Platform()
    await platform.migrate()
    await platform.start()
    return platform


async def fill_base(url: str, base: int) -> None:
    """An empty database gets ``base`` orders of history through the bulk path."""
    from core.demo import seed
    from core.tables import Order

    platform = await _open(url)
    try:
        if await Order.count():
            return
        started = time.perf_counter()
        await seed(platform, base)
        seconds = time.perf_counter() - started
        print(f"bulk path: {base:,} orders with events and search documents in {seconds:.0f} s "
              f"({base / seconds:,.0f} orders/s, report facts included)", flush=True)
    finally:
        await platform.stop()


async def replicate(url: str, target: int) -> None:
    """Copy the generated history (orders, events, search documents) until there are ``target``
    orders, then derive the report facts again."""
    from core.reports import facts
    from core.tables import Order, OrderEvent

    platform = await _open(url)
    try:
        have = await Order.count()
        if have >= target:
            return
        started = time.perf_counter()
        columns = [c._meta.db_column_name for c in Order._meta.columns]
        event_columns = [c._meta.db_column_name for c in OrderEvent._meta.columns if c._meta.db_column_name != "id"]
        # the generated history is the orders before the first copy (intakes measured later come after)
        first_copy = (await Order.raw("SELECT MIN(id) AS m FROM orders WHERE number LIKE '%-%'"))[0]["m"]
        top = first_copy - 1 if first_copy else (await Order.raw("SELECT MAX(id) AS m FROM orders"))[0]["m"]
        originals = await Order.count().where(Order.id <= top)
        while have < target:
            latest = (await Order.raw("SELECT MAX(id) AS m, MAX(CASE WHEN number LIKE '%-%' THEN "
                                      "CAST(split_part(number, '-', 2) AS INTEGER) END) AS k FROM orders"))[0]
            copy, shift = (latest["k"] or 0) + 1, latest["m"]  # numbered and placed after everything there
            take = min(originals, target - have)
            last = (await Order.raw(f"SELECT MAX(id) AS m FROM (SELECT id FROM orders WHERE id <= {top} "
                                    f"ORDER BY id LIMIT {take}) AS t"))[0]["m"]
            minutes = f"INTERVAL '{COPY_MINUTES * copy} minutes'"
            values = [f"id + {shift}" if c == "id" else f"number || '-{copy}'" if c == "number" else
                      f"{c} + {minutes}" if c in ("received_at", "created_at", "updated_at") else c for c in columns]
            events = [f"order_id + {shift}" if c == "order_id" else f"created_at + {minutes}" if c == "created_at"
                      else c for c in event_columns]
            await Order.raw(f"INSERT INTO orders ({', '.join(columns)}) SELECT {', '.join(values)} FROM orders "
                            f"WHERE id <= {last}")
            await OrderEvent.raw(f"INSERT INTO order_events ({', '.join(event_columns)}) SELECT {', '.join(events)} "
                                 f"FROM order_events WHERE order_id <= {last}")
            await Order.raw(f"INSERT INTO order_search (id, document) SELECT id + {shift}, document FROM order_search "
                            f"WHERE id <= {last}")
            have += take
            print(f"  copied to {have:,} orders ({time.perf_counter() - started:.0f} s)", flush=True)
        for table in ("orders", "order_events"):
            await Order.raw(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
        await Order.raw("ANALYZE")
        await facts.refresh(full=True)
        await Order.raw("ANALYZE")
        print(f"copies with events and search documents, then the report facts: {time.perf_counter() - started:.0f} s",
              flush=True)
    finally:
        await platform.stop()


async def reports(url: str) -> dict[str, float]:
    """Best of three: the baseline count, last year's annual report and the board, in seconds."""
    from core.reports import board
    from core.reports.build import build_report
    from core.reports.periods import today
    from core.tables import Order

    platform = await _open(url)

    async def best(run) -> float:
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await run()
            times.append(time.perf_counter() - started)
        return min(times)

    try:
        year = dt.date(today().year - 1, 1, 1)
        return {"count(*)": await best(lambda: Order.raw("SELECT count(*) FROM orders")),
                "annual": await best(lambda: build_report(platform, "annual", year, {})),
                "board": await best(lambda: board.snapshot(platform))}
    finally:
        await platform.stop()


def samples_from(url: str) -> dict[str, list]:
    """Order ids, numbers and phones to request, read once per stage."""
    import asyncpg

    async def read():
        conn = await asyncpg.connect(url)
        try:
            pick = "ORDER BY random() LIMIT 200"
            return {
                "ids": [r[0] for r in await conn.fetch(f"SELECT id FROM orders TABLESAMPLE SYSTEM (1) {pick}")],
                "numbers": [r[0] for r in await conn.fetch(
                    f"SELECT number FROM orders WHERE number NOT LIKE '%-%' {pick}")],
                "housing": [r[0] for r in await conn.fetch(
                    f"SELECT number FROM orders WHERE department = 'housing' AND number NOT LIKE '%-%' {pick}")],
                "phones": [r[0] for r in await conn.fetch(
                    f"SELECT citizen_phone FROM orders TABLESAMPLE SYSTEM (1) WHERE citizen_phone <> '' {pick}")],
            }
        finally:
            await conn.close()

    return asyncio.run(read())


def pages(base_env: dict, url: str, samples: int) -> dict[str, tuple[float, float]]:
    """p50 and p95 (ms) of each console page, and of the bare page (key ``bare``)."""
    sample = samples_from(url)
    pick = random.Random(7).choice
    words = ["施工 噪音", "物业 停车", "拖欠 工资", "垃圾", "路灯", "学校", "违建", "积水"]
    month = console_bench.kpi_month()
    wanted = {  # page: (who, path maker)
        "工单列表": ("agent", lambda: "/console/orders"),
        "工单列表 第50页": ("agent", lambda: "/console/orders?page=50"),
        "超期（督办员）": ("supervisor", lambda: "/console/orders?deadline=overdue&open_only=1&sort=due"),
        "派单队列": ("dispatcher", lambda: "/console/dispatch"),
        "签收队列": ("h_housing", lambda: "/console/accept"),
        "承办人在办": ("h_housing", lambda: "/console/orders?status=accepted&sort=due"),
        "搜索 关键词（话务员）": ("agent", lambda: f"/console/orders?q={pick(words)}"),
        "搜索 电话（话务员）": ("agent", lambda: f"/console/orders?q={pick(sample['phones'])}"),
        "搜索 编号": ("agent", lambda: f"/console/orders?q={pick(sample['numbers'])}"),
        "来电历史": ("agent", lambda: f"/console/caller-history?phone={pick(sample['phones'])}"),
        "工单详情": ("dispatcher", lambda: f"/console/orders/{pick(sample['numbers'])}"),
        "承办人工单详情": ("h_housing", lambda: f"/console/orders/{pick(sample['housing'])}"),
        "指标 办结量": ("supervisor", lambda: f"/console/orders?kpi=completed&{month[2]}"),
        "统计指标（本月）": ("supervisor", lambda: "/console/kpis"),
        "实时看板": ("supervisor", lambda: "/console/board"),
    }
    env = {**base_env, "HUYING_DATABASE_URL": url}
    log = open(Path(env["HUYING_VAR_DIR"], "servers.log"), "ab")  # a pipe nobody reads would stall them
    servers, bare_base, full_base = console_bench.start_servers(env, Path(env["HUYING_VAR_DIR"]), sample["ids"][0], log)
    try:
        import httpx

        people = {who: console_bench.sign_in(full_base, who) for who in {w for w, _ in wanted.values()}}
        bare = httpx.Client(base_url=bare_base, timeout=60)
        for who, path in wanted.values():  # warm up
            people[who].get(path())
        times: dict[str, list[float]] = {name: [] for name in ["bare", *wanted]}
        for _ in range(samples):
            for name, (who, path) in wanted.items():
                started = time.perf_counter()
                bare.get(f"/bare/{pick(sample['ids'])}").raise_for_status()
                times["bare"].append((time.perf_counter() - started) * 1000)
                address = path()
                started = time.perf_counter()
                answer = people[who].get(address)
                times[name].append((time.perf_counter() - started) * 1000)
                if answer.status_code != 200:
                    raise SystemExit(f"{name} {address}: HTTP {answer.status_code}")
    finally:
        for server in servers:
            server.terminate()
            server.wait()
        log.close()
    return {name: (statistics.median(t), console_bench.p95(t)) for name, t in times.items()}


async def api_key(url: str) -> str:
    from core.auth import create_api_key

    platform = await _open(url)
    try:
        return await create_api_key("city-volume-bench", [])
    finally:
        await platform.stop()


def intake(base_env: dict, url: str, seconds: float) -> dict:
    """Four closed-loop clients posting hotline orders through the API."""
    key = asyncio.run(api_key(url))
    server = intake_bench.huying_server({**base_env, "HUYING_DATABASE_URL": url})
    try:
        headers = {"X-API-Key": key}
        return intake_bench.load(server.port, "/api/channels/hotline/orders", headers, 4, seconds)
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", required=True, help="postgresql://… (the benchmark's own database)")
    parser.add_argument("--stages", default="2000000,5000000,10000000")
    parser.add_argument("--base", type=int, default=100_000, help="orders written through the bulk path")
    parser.add_argument("--samples", type=int, default=40, help="requests per page per stage")
    parser.add_argument("--intake-seconds", type=float, default=10)
    args = parser.parse_args()
    var = Path(os.environ.get("HUYING_VAR_DIR") or Path.home() / "huying-city-bench")
    var.mkdir(parents=True, exist_ok=True)
    base_env = {**os.environ, "HUYING_VAR_DIR": str(var), "PYTHONPATH": f"{var}{os.pathsep}{ROOT}",
                "PICCOLO_CONF": "core.piccolo_conf",
                "HUYING_SECRET_KEY": os.environ.get("HUYING_SECRET_KEY") or "bench-secret"}  # the one the data was sealed with
    os.environ.update({k: base_env[k] for k in ("HUYING_VAR_DIR", "HUYING_SECRET_KEY", "PICCOLO_CONF")})
    asyncio.run(fill_base(args.postgres, args.base))
    curve: dict[int, dict] = {}
    for stage in [int(s) for s in args.stages.split(",")]:
        started = time.perf_counter()
        asyncio.run(replicate(args.postgres, stage))
        print(f"\n== {stage:,} orders (filled in {time.perf_counter() - started:.0f} s) ==", flush=True)
        measured = {"pages": pages(base_env, args.postgres, args.samples), "reports": asyncio.run(reports(args.postgres)),
                    "intake": intake(base_env, args.postgres, args.intake_seconds)}
        curve[stage] = measured
        bare = measured["pages"]["bare"][1]
        print(f"bare page p95 {bare:.1f} ms; pages (target {PAGE_TARGET_MS} ms at p95):")
        for name, (p50, p95) in measured["pages"].items():
            if name != "bare":
                print(f"  {name:<22} p50 {p50:7.1f}  p95 {p95:7.1f} ms  {p95 / bare:6.1f}× bare  "
                      f"{'ok' if p95 <= PAGE_TARGET_MS else 'SLOW'}")
        r = measured["reports"]
        print(f"annual report {r['annual']:.2f} s (target {REPORT_TARGET_S:.0f} s), board {r['board'] * 1000:.0f} ms "
              f"(target {BOARD_TARGET_S * 1000:.0f} ms); count(*) {r['count(*)'] * 1000:.0f} ms "
              f"({r['annual'] / r['count(*)']:.1f}× and {r['board'] / r['count(*)']:.1f}×)")
        i = measured["intake"]
        print(f"intake: {i['rps']:.0f} orders/s, p95 {i['p95']:.1f} ms (4 clients, {i['n']} orders)", flush=True)
    stages = sorted(curve)
    print("\ngrowth (p95 ms for pages; seconds for reports; orders/s for intake):")
    print(f"  {'':<22}" + "".join(f"{s:>14,}" for s in stages))
    for name in curve[stages[0]]["pages"]:
        print(f"  {name:<22}" + "".join(f"{curve[s]['pages'][name][1]:>14.1f}" for s in stages))
    for name in ("annual", "board"):
        print(f"  {name:<22}" + "".join(f"{curve[s]['reports'][name]:>14.2f}" for s in stages))
    print(f"  {'intake orders/s':<22}" + "".join(f"{curve[s]['intake']['rps']:>14.0f}" for s in stages))


if __name__ == "__main__":
    main()
