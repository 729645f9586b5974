"""Intake throughput and latency through the whole stack, against a bare insert, in one command.

    .venv/bin/python bench/intake.py [--seconds 10] [--memory-intakes 100000] [--postgres URL]

Servers are real uvicorn processes on loopback; the client is a set of processes, each a closed loop
of keep-alive ``http.client`` requests (no asyncio client: one of those capped the bare endpoint near
1,850 req/s). Rows printed:

- bare: a litestar endpoint that decodes the JSON body and inserts one row in one transaction, with
  8 and with 16 client processes: when 16 give no more than 8, the bare server is at its own limit and
  the client is not the bottleneck;
- Huying on SQLite, ``POST /api/channels/hotline/orders`` with an API key, 1 and 8 clients;
- Huying on PostgreSQL, one and two server processes, 8 clients (skipped when no PostgreSQL answers;
  it uses a database of its own, ``huying_bench``, created afresh);
- the SQLite server's resident memory after 10,000 and after N intakes.

Ratios are against the bare endpoint at its limit (the better of its 8- and 16-client rows), measured
in the same run.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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

SETUP = """
import asyncio
from core.auth import create_api_key
from core.migrations import migrate
from core.demo import seed_reference
from core.platform import Platform
async def go():
    platform = Platform()
    await migrate(platform.engine)
    await platform.start()
    await seed_reference()
    print(await create_api_key('bench', []))
    await platform.stop()
asyncio.run(go())
"""


# -- the client ----------------------------------------------------------------------------------------

def _client(port: int, path: str, headers: dict, until: float, out) -> None:
    """One closed-loop client: a request, wait for the answer, the next; latencies in seconds."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": "application/json", **headers}
    latencies, failures, i = [], 0, 0
    pid = os.getpid()
    while time.perf_counter() < until:
        i += 1
        body = json.dumps({**BODY, "subject": f"{BODY['subject']} {pid}-{i}"}, ensure_ascii=False).encode()
        start = time.perf_counter()
        conn.request("POST", path, body, headers)
        response = conn.getresponse()
        response.read()
        latencies.append(time.perf_counter() - start)
        if response.status != 201:
            failures += 1
    conn.close()
    out.put((latencies, failures))


def load(port: int, path: str, headers: dict, clients: int, seconds: float) -> dict:
    """Drive the server with ``clients`` processes for ``seconds``; req/s, p50 and p99 in ms."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    until = time.perf_counter() + seconds
    procs = [ctx.Process(target=_client, args=(port, path, headers, until, out)) for _ in range(clients)]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    latencies = sorted(x for lat, _ in results for x in lat)
    failures = sum(f for _, f in results)
    if failures:
        raise SystemExit(f"{failures} requests to {path} failed")
    return {"rps": len(latencies) / seconds,
            "p50": latencies[len(latencies) // 2] * 1000,
            "p95": latencies[int(len(latencies) * 0.95)] * 1000,
            "p99": latencies[int(len(latencies) * 0.99)] * 1000, "n": len(latencies)}


def fill(port: int, path: str, headers: dict, total: int, clients: int = 8) -> None:
    """Send exactly ``total`` intakes (for the memory rows)."""
    ctx = multiprocessing.get_context("fork")
    share = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]

    def send(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        for i in range(n):
            body = json.dumps({**BODY, "subject": f"{BODY['subject']} m{os.getpid()}-{i}"},
                              ensure_ascii=False).encode()
            conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
            conn.getresponse().read()
        conn.close()

    procs = [ctx.Process(target=send, args=(n,)) for n in share]
    for p in procs:
        p.start()
    for p in procs:
        p.join()


# -- the servers ---------------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(port: int, path: str, proc: subprocess.Popen) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start")


class Server:
    def __init__(self, argv: list[str], env: dict, cwd: Path, probe: str):
        self.port = free_port()
        # the server's log goes to a file: a pipe nobody reads fills up and stalls the server mid-run
        self.log = tempfile.NamedTemporaryFile(prefix="huying-bench-server-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([*argv, "--host", "127.0.0.1", "--port", str(self.port)],
                                     env=env, cwd=cwd, stdout=self.log, stderr=subprocess.STDOUT)
        wait_until_up(self.port, probe, self.proc)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def huying_env(base: dict, database_url: str) -> dict:
    env = {**base, "HUYING_DATABASE_URL": database_url}
    setup = subprocess.run([sys.executable, "-c", SETUP], env=env, capture_output=True, text=True, cwd=ROOT)
    if setup.returncode:
        raise SystemExit(setup.stderr)
    env["BENCH_API_KEY"] = setup.stdout.strip().splitlines()[-1]
    return env


def huying_server(env: dict, workers: int = 1) -> Server:
    uvicorn = [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--log-level", "warning",
               "--no-access-log", "--workers", str(workers)]
    return Server(uvicorn, env, ROOT, "/api/channels")


def fresh_postgres(url: str) -> str | None:
    """A database of the benchmark's own on the server named by ``url``; None when none answers."""
    try:
        import asyncpg
        import asyncio

        async def make() -> str:
            conn = await asyncpg.connect(url, timeout=3)
            try:
                await conn.execute("DROP DATABASE IF EXISTS huying_bench WITH (FORCE)")
                await conn.execute("CREATE DATABASE huying_bench")
            finally:
                await conn.close()
            return url.rsplit("/", 1)[0] + "/huying_bench"

        return asyncio.run(make())
    except (OSError, ImportError, Exception) as exc:  # noqa: BLE001 - any failure means "no PostgreSQL"
        print(f"PostgreSQL rows skipped: {exc}", file=sys.stderr)
        return None


# -- the run -------------------------------------------------------------------------------------------

def row(name: str, result: dict, bare: float | None) -> str:
    ratio = f"{result['rps'] / bare:5.2f}" if bare else "    -"
    return (f"{name:<36} {result['rps']:8.0f} req/s   p50 {result['p50']:6.2f} ms   "
            f"p99 {result['p99']:7.2f} ms   ratio {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--memory-intakes", type=int, default=100_000,
                        help="intakes before the second memory reading (0 skips the memory rows)")
    parser.add_argument("--postgres", default=os.environ.get(
        "HUYING_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where the database huying_bench may be created")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="huying-bench-"))
    (tmp / "bench_bare.py").write_text(BARE_APP)
    base = {**os.environ, "PYTHONPATH": f"{tmp}{os.pathsep}{ROOT}", "HUYING_VAR_DIR": str(tmp),
            "PICCOLO_CONF": "core.piccolo_conf", "HUYING_SECRET_KEY": "bench"}
    base.pop("HUYING_REDIS_URL", None)
    with sqlite3.connect(tmp / "bare.sqlite3") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE bare_orders (id INTEGER PRIMARY KEY, body TEXT, created_at TEXT)")
    path = "/api/channels/hotline/orders"
    lines = []

    def show(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    bare_server = Server([sys.executable, "-m", "uvicorn", "bench_bare:app", "--log-level", "warning",
                          "--no-access-log"], {**base, "HUYING_DATABASE_URL": f"sqlite:///{tmp / 'bare.sqlite3'}"},
                         tmp, "/")
    try:
        load(bare_server.port, "/bare", {}, 8, 1)  # warm-up
        bare8 = load(bare_server.port, "/bare", {}, 8, args.seconds)
        bare16 = load(bare_server.port, "/bare", {}, 16, args.seconds)
    finally:
        bare_server.stop()
    # the baseline is the bare endpoint at its own limit: the better of 8 and 16 clients (when 16 give
    # clearly more, 8 did not reach it, and a ratio against 8 would flatter the full stack)
    bare = max(bare8["rps"], bare16["rps"])
    show(row("bare insert, 8 clients", bare8, bare))
    show(row("bare insert, 16 clients (2nd client)", bare16, bare))

    env = huying_env(base, f"sqlite:///{tmp / 'huying.sqlite3'}")
    headers = {"X-API-Key": env["BENCH_API_KEY"]}
    server = huying_server(env)
    try:
        load(server.port, path, headers, 8, 1)
        show(row("Huying SQLite, 1 client", load(server.port, path, headers, 1, args.seconds), bare))
        show(row("Huying SQLite, 8 clients", load(server.port, path, headers, 8, args.seconds), bare))
        if args.memory_intakes:
            done = sum(1 for _ in sqlite3.connect(tmp / "huying.sqlite3").execute("SELECT id FROM orders"))
            fill(server.port, path, headers, max(0, 10_000 - done))
            rss10 = server.rss_mib()
            fill(server.port, path, headers, max(0, args.memory_intakes - 10_000))
            rss_n = server.rss_mib()
            show(f"{'Huying SQLite RSS':<36} {rss10:8.1f} MiB after 10,000 intakes, {rss_n:.1f} MiB after "
                 f"{args.memory_intakes:,} ({(rss_n / rss10 - 1) * 100:+.1f} %)")
    finally:
        server.stop()

    for workers in (1, 2):
        pg_url = fresh_postgres(args.postgres) if args.postgres else None  # each row on a fresh database
        if pg_url:
            env = huying_env(base, pg_url)
            server = huying_server(env, workers)
            try:
                headers = {"X-API-Key": env["BENCH_API_KEY"]}
                load(server.port, path, headers, 8, 1)
                label = f"Huying PostgreSQL, {workers} process{'es' if workers > 1 else ''}, 8 cl."
                show(row(label, load(server.port, path, headers, 8, args.seconds), bare))
            finally:
                server.stop()
    print(f"\n(cores: {os.cpu_count()}; {args.seconds:g} s per row; ratio = req/s ÷ bare insert at its limit, "
          f"the better of 8 and 16 clients)")


if __name__ == "__main__":
    main()
