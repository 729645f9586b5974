"""Intake throughput through the whole stack against a bare endpoint, side by side, as a ratio.

Both run as real uvicorn servers on loopback, on fresh SQLite files with the same engine settings:
- bare: a litestar endpoint that decodes the JSON body and inserts one row with raw SQL;
- full: ``POST /api/channels/hotline/orders`` with validation, routing, SLA deadlines, numbering,
  the audit event and the transaction around them, authenticated with an API key.
The same client sends the same bodies to each with the same concurrency, bare first, full second,
then both again; the best of each is compared.  Usage: ``python bench/intake.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BODY = {
    "kind": "complaint", "subject": "小区旁工地夜间施工噪音扰民",
    "content": "梅溪湖街道某小区旁工地每晚十一点后仍在施工，噪音很大，影响休息，希望尽快处理。",
    "source": "api", "citizen": {"name": "李女士", "phone": "13912345678"},
    "address": "岳麓区梅溪湖街道", "area": "梅溪湖街道",
}

BARE_APP = """
import json
import os

from litestar import Litestar, post
from piccolo.querystring import QueryString

from core.db import make_engine, write_transaction

ENGINE = make_engine(os.environ["HUYING_DATABASE_URL"])
INSERT = "INSERT INTO bare_orders (body, created_at) VALUES ({}, datetime('now'))"


@post("/bare", status_code=201)
async def bare(data: dict) -> dict:
    async with write_transaction(ENGINE):
        await ENGINE.run_querystring(QueryString(INSERT, json.dumps(data, ensure_ascii=False)))
    return {"ok": True}


app = Litestar([bare])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


async def load(url: str, headers: dict, n: int, concurrency: int) -> float:
    """Requests per second for n POSTs with `concurrency` in flight."""
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as client:
        queue = iter(range(n))
        failures = []

        async def worker():
            for i in queue:
                response = await client.post(url, json={**BODY, "subject": f"{BODY['subject']} {i}"}, headers=headers)
                if response.status_code != 201:
                    failures.append(response.text)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} requests to {url} failed, e.g. {failures[0][:300]}")
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="huying-bench-"))
    (tmp / "bench_bare.py").write_text(BARE_APP)
    base_env = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}", "HUYING_VAR_DIR": str(tmp),
                "PICCOLO_CONF": "core.piccolo_conf"}
    bare_env = {**base_env, "HUYING_DATABASE_URL": f"sqlite:///{tmp / 'bare.sqlite3'}"}
    full_env = {**base_env, "HUYING_DATABASE_URL": f"sqlite:///{tmp / 'full.sqlite3'}"}

    # The full stack's database: migrated, with departments and an API key for the client.
    setup = subprocess.run([sys.executable, "-c", (
        "import asyncio\n"
        "from core.platform import Platform\nfrom core.migrations import migrate\nfrom core.demo import seed_reference\n"
        "from core.auth import create_api_key\n"
        "async def go():\n"
        "    p = Platform(); await migrate(p.engine); await p.start(); await seed_reference()\n"
        "    print(await create_api_key('bench', []))\n"
        "asyncio.run(go())\n")], env=full_env, capture_output=True, text=True, cwd=ROOT)
    if setup.returncode:
        raise SystemExit(setup.stderr)
    api_key = setup.stdout.strip().splitlines()[-1]
    import sqlite3

    with sqlite3.connect(tmp / "bare.sqlite3") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE bare_orders (id INTEGER PRIMARY KEY, body TEXT, created_at TEXT)")

    bare_port, full_port = free_port(), free_port()
    servers = [
        subprocess.Popen([sys.executable, "-m", "uvicorn", "bench_bare:app", "--port", str(bare_port),
                          "--log-level", "warning", "--no-access-log"], env=bare_env, cwd=tmp),
        subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port",
                          str(full_port), "--log-level", "warning", "--no-access-log"], env=full_env, cwd=ROOT),
    ]
    try:
        wait_until_up(f"http://127.0.0.1:{bare_port}/", servers[0])
        wait_until_up(f"http://127.0.0.1:{full_port}/api/channels", servers[1])
        bare_url = f"http://127.0.0.1:{bare_port}/bare"
        full_url = f"http://127.0.0.1:{full_port}/api/channels/hotline/orders"
        full_headers = {"X-API-Key": api_key}
        asyncio.run(load(bare_url, {}, 100, args.concurrency))  # warm up both
        asyncio.run(load(full_url, full_headers, 100, args.concurrency))
        bare_rates, full_rates = [], []
        for _ in range(2):
            bare_rates.append(asyncio.run(load(bare_url, {}, args.requests, args.concurrency)))
            full_rates.append(asyncio.run(load(full_url, full_headers, args.requests, args.concurrency)))
    finally:
        for server in servers:
            server.terminate()
            server.wait()
    bare, full = max(bare_rates), max(full_rates)
    print(json.dumps({"requests": args.requests, "concurrency": args.concurrency,
                      "bare_rps": round(bare, 1), "full_rps": round(full, 1)}))
    print(f"full stack / bare insert = {full / bare:.2f}  (target >= 0.60)")


if __name__ == "__main__":
    main()
