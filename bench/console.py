"""Console page latency on a large SQLite database: p95 of each page, beside a bare baseline.

The database is made with ``huying demo --orders N`` (default 410,000; ``--db FILE`` reuses one made
before). Two uvicorn servers, one process each, on that same file:
- bare: a litestar endpoint that reads one order by id and renders a small Jinja page;
- full: the application, its console pages requested with a signed-in session for each role.
Pages are requested one at a time (latency, not throughput), bare and console interleaved, so both
see the same machine load; each page's p95 is printed in milliseconds, against the 50 ms target and
as a ratio to the bare page's p95.  Usage: ``python bench/console.py [--orders N] [--db FILE]``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 50
PASSWORD = "huying-demo"

BARE_APP = """
import os

from jinja2 import Environment
from litestar import Litestar, get
from litestar.response import Response
from piccolo.querystring import QueryString

from core.db import make_engine, read_transaction

ENGINE = make_engine(os.environ["HUYING_DATABASE_URL"])
PAGE = Environment(autoescape=True).from_string(
    "<!doctype html><html lang=zh-CN><title>{{ o.number }}</title><h1>{{ o.number }} {{ o.subject }}</h1>"
    "<p>{{ o.status }}</p><p>{{ o.content }}</p></html>")


@get("/bare/{order_id:int}")
async def bare(order_id: int) -> Response:
    async with read_transaction(ENGINE):
        rows = await ENGINE.run_querystring(QueryString(
            "SELECT number, subject, status, content FROM orders WHERE id = {}", order_id))
    return Response(PAGE.render(o=rows[0]), media_type="text/html")


app = Litestar([bare])
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


def start_servers(env: dict, workdir: Path, order_id: int, log=None) -> tuple[list, str, str]:
    """The bare page's server and the application's, one uvicorn process each, once both answer;
    ``workdir`` is on the bare server's path (it holds bench_console_bare.py)."""
    (workdir / "bench_console_bare.py").write_text(BARE_APP)
    bare_port, full_port = free_port(), free_port()
    quiet = ["--log-level", "warning", "--no-access-log"]
    servers = [
        subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_console_bare:app", "--port", str(bare_port), *quiet],
                         env=env, cwd=workdir, stdout=log, stderr=log),
        subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port",
                          str(full_port), *quiet], env=env, cwd=ROOT, stdout=log, stderr=log),
    ]
    bare_base, full_base = f"http://127.0.0.1:{bare_port}", f"http://127.0.0.1:{full_port}"
    wait_until_up(f"{bare_base}/bare/{order_id}", servers[0])
    wait_until_up(f"{full_base}/console/login", servers[1])
    return servers, bare_base, full_base


def sign_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    page = client.get("/console/login")
    token = re.search(r'name="_csrf_token" value="([^"]+)"', page.text).group(1)
    answer = client.post("/console/login", data={"username": username, "password": PASSWORD, "_csrf_token": token})
    if answer.status_code != 200 or "/console/login" in str(answer.url):
        raise SystemExit(f"could not sign in as {username}: {answer.status_code}")
    return client


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1] if len(samples) >= 20 else max(samples)


def make_database(path: Path, orders: int, env: dict) -> None:
    started = time.perf_counter()
    for command in (["migrate"], ["demo", "--orders", str(orders)]):
        done = subprocess.run([sys.executable, "-m", "api.cli", *command], env=env, cwd=ROOT,
                              capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-2000:])
    print(f"huying demo --orders {orders}: {time.perf_counter() - started:.0f} s", flush=True)


def scale(db: Path, target: int) -> None:
    """Copy the demo's orders back in time, a day further per copy, until ``target`` orders: copies
    older than 30 days are archived (nothing due), as a year of a real centre's orders would be.
    Events and attachments are not copied (detail pages are measured on the demo's own orders)."""
    started = time.perf_counter()
    with sqlite3.connect(db) as conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(orders)") if r[1] != "id"]
        originals = conn.execute("SELECT count(*), max(id) FROM orders WHERE number LIKE 'XJ%'").fetchone()
        count, copy = conn.execute("SELECT count(*) FROM orders").fetchone()[0], 0

        def shifted(column: str, days: int) -> str:
            return (f"CASE WHEN {column} IS NULL THEN NULL ELSE "
                    f"strftime('%Y-%m-%d %H:%M:%f', substr({column}, 1, 26), '-{days} days') || '+00:00' END")

        while count < target:
            copy += 1
            archived = copy > 30
            exprs = {c: c for c in columns}
            for c in ("received_at", "created_at", "updated_at", "due_at", "at_risk_at"):
                exprs[c] = shifted(c, copy)
            exprs["number"] = f"printf('XC%04d%08d', {copy}, id)"
            exprs["external_id"] = "NULL"
            if archived:
                exprs["status"] = "CASE WHEN status IN ('archived', 'merged') THEN status ELSE 'archived' END"
                exprs["due_at"] = exprs["at_risk_at"] = "NULL"
            batch = min(originals[0], target - count)
            conn.execute(f"INSERT INTO orders ({', '.join(columns)}) SELECT {', '.join(exprs[c] for c in columns)} "
                         f"FROM orders WHERE number LIKE 'XJ%' ORDER BY id LIMIT {batch}")
            count += batch
        conn.commit()
        conn.execute("ANALYZE")
    print(f"scaled to {target:,} orders by copying the demo's back in time: {time.perf_counter() - started:.0f} s",
          flush=True)


def kpi_month() -> tuple[str, str, str]:
    """This month's first and last day (the KPI page's default period) and its KPI list parameters."""
    import datetime as dt
    from core.clock import SHANGHAI

    today = dt.datetime.now(SHANGHAI).date()
    start = today.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    first, last = start.isoformat(), (following - dt.timedelta(days=1)).isoformat()
    return first, last, f"kpi_from={first}&kpi_to={last}&sort=received_desc"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=410_000)
    parser.add_argument("--db", type=Path, help="reuse a database made by `huying demo` (skips seeding)")
    parser.add_argument("--samples", type=int, default=60, help="requests per page")
    parser.add_argument("--scale-to", type=int, default=0,
                        help="after seeding, copy the demo's orders back in time up to this many (see scale())")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="huying-bench-console-"))
    db = args.db or tmp / "console.sqlite3"
    env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}", "HUYING_VAR_DIR": str(tmp),
           "PICCOLO_CONF": "core.piccolo_conf", "HUYING_DATABASE_URL": f"sqlite:///{db}",
           "HUYING_SECRET_KEY": "bench-secret"}
    if args.db is None:
        make_database(db, args.orders, env)
    else:  # an older file gets the console's columns and indexes first
        subprocess.run([sys.executable, "-m", "api.cli", "migrate"], env=env, cwd=ROOT, check=True,
                       capture_output=True)
    if args.scale_to:
        scale(db, args.scale_to)
    with sqlite3.connect(db) as conn:
        total = conn.execute("SELECT count(*) FROM orders").fetchone()[0]
        ids = [r[0] for r in conn.execute("SELECT id FROM orders ORDER BY random() LIMIT 500")]
        demo = "number LIKE 'XJ%'"  # the demo's own orders, with their events
        numbers = [r[0] for r in conn.execute(
            f"SELECT number FROM orders WHERE department = 'housing' AND {demo} ORDER BY random() LIMIT 200")]
        phones = [r[0] for r in conn.execute(
            "SELECT citizen_phone FROM orders WHERE citizen_phone <> '' ORDER BY random() LIMIT 200")]
        any_numbers = [r[0] for r in conn.execute(f"SELECT number FROM orders WHERE {demo} ORDER BY random() LIMIT 200")]

    servers, bare_base, full_base = start_servers(env, tmp, ids[0])
    try:
        people = {name: sign_in(full_base, name) for name in ("agent", "dispatcher", "h_housing", "supervisor", "admin")}
        pick = random.Random(7).choice
        month = kpi_month()
        pages = {  # page: (who, path maker)
            "登录页": ("agent", lambda: "/console/login"),
            "话务员首页": ("agent", lambda: "/console"),
            "派单员首页": ("dispatcher", lambda: "/console"),
            "承办人首页": ("h_housing", lambda: "/console"),
            "督办员首页": ("supervisor", lambda: "/console"),
            "管理员首页": ("admin", lambda: "/console"),
            "工单列表": ("agent", lambda: "/console/orders"),
            "工单列表 第50页": ("agent", lambda: "/console/orders?page=50"),
            "筛选 超期": ("supervisor", lambda: "/console/orders?deadline=overdue&open_only=1&sort=due"),
            "筛选 渠道+类型+街道": ("dispatcher", lambda: "/console/orders?channel=hotline&kind=complaint&area=梅溪湖街道"),
            "搜索 电话": ("agent", lambda: f"/console/orders?q={pick(phones)}"),
            "搜索 编号": ("agent", lambda: f"/console/orders?q={pick(any_numbers)}"),
            "工单详情": ("dispatcher", lambda: f"/console/orders/{pick(any_numbers)}"),
            "承办人工单详情": ("h_housing", lambda: f"/console/orders/{pick(numbers)}"),
            "承办人列表": ("h_housing", lambda: "/console/orders?status=accepted&sort=due"),
            "派单队列": ("dispatcher", lambda: "/console/dispatch"),
            "签收队列": ("h_housing", lambda: "/console/accept"),
            "受理来电": ("agent", lambda: "/console/intake"),
            "来电历史": ("agent", lambda: f"/console/caller-history?phone={pick(phones)}"),
            "统计指标（本月）": ("supervisor", lambda: "/console/kpis"),
            # the lists the KPI page's numbers open (this month, as its links give them)
            "指标 受理量": ("supervisor", lambda: f"/console/orders?received_from={month[0]}&received_to={month[1]}"),
            "指标 派单工单数": ("supervisor", lambda: f"/console/orders?kpi=dispatched&{month[2]}"),
            "指标 办结量": ("supervisor", lambda: f"/console/orders?kpi=completed&{month[2]}"),
            "指标 办结量 单位": ("supervisor", lambda: f"/console/orders?kpi=completed&{month[2]}&department=housing"),
            "指标 回访量 街道": ("supervisor", lambda: f"/console/orders?kpi=callbacks&{month[2]}&area=梅溪湖街道"),
            "指标 超期未办结": ("supervisor", lambda: f"/console/orders?kpi=open_overdue&kpi_to={month[1]}"),
            "指标 办结量 第5页": ("supervisor", lambda: f"/console/orders?kpi=completed&{month[2]}&page=5"),
            "承办人 指标办结量": ("h_housing", lambda: f"/console/orders?kpi=completed&{month[2]}"),
            "预警": ("supervisor", lambda: "/console/warnings"),
            "实时看板": ("supervisor", lambda: "/console/board"),
            "知识库": ("supervisor", lambda: "/console/knowledge"),
            "市级对账": ("admin", lambda: "/console/admin/reconciliation"),
            "外发消息": ("admin", lambda: "/console/admin/outbox"),
            "派单规则": ("admin", lambda: "/console/admin/rules"),
            "用户管理": ("admin", lambda: "/console/admin/users"),
        }
        bare_client = httpx.Client(base_url=bare_base, timeout=60)
        for who, path in pages.values():  # warm up
            people[who].get(path())
        bare_times: list[float] = []
        times: dict[str, list[float]] = {name: [] for name in pages}
        for _ in range(args.samples):
            for name, (who, path) in pages.items():
                started = time.perf_counter()
                bare_client.get(f"/bare/{pick(ids)}").raise_for_status()
                bare_times.append((time.perf_counter() - started) * 1000)
                url = path()
                started = time.perf_counter()
                response = people[who].get(url)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name} {url}: HTTP {response.status_code}")
                times[name].append(elapsed)
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    bare = p95(bare_times)
    print(f"\n{total:,} orders in SQLite, {args.samples} requests per page, one process; "
          f"bare page p95 {bare:.1f} ms")
    print(f"{'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'÷ bare':>8}  target {TARGET_MS} ms")
    slow = []
    for name, samples in times.items():
        value = p95(samples)
        if value > TARGET_MS:
            slow.append(name)
        print(f"{name:<20} {statistics.median(samples):>8.1f} {value:>8.1f} {value / bare:>8.1f}  "
              f"{'ok' if value <= TARGET_MS else 'SLOW'}")
    print(f"\n{len(times) - len(slow)} of {len(times)} pages within {TARGET_MS} ms at p95"
          + (f"; over: {'、'.join(slow)}" if slow else ""))


if __name__ == "__main__":
    main()
