"""Latency of the probes (`/health`, `/ready`) against a bare litestar endpoint, in one command.

Both run as real uvicorn servers on loopback: a bare app answering ``{"ok": true}``, and Huying on a
fresh migrated SQLite file (the readiness probe then checks the database, its migrations and the
outbox backlog). Requests are sequential and interleaved (bare, health, ready, bare, …), so the
figures are per-request latency under the same load, printed with the ratio to the bare endpoint. Usage: ``python bench/probes.py [--requests N]``.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BARE_APP = """
from litestar import Litestar, get


@get("/bare")
async def bare() -> dict:
    return {"ok": True}


app = Litestar([bare])
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(args: list[str], env: dict, port: int) -> subprocess.Popen:
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return process
        except httpx.HTTPError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("server did not start")


def measure(urls: dict[str, str], n: int) -> dict[str, list[float]]:
    """Round-robin over the endpoints, so a change in the machine's load hits each alike."""
    times: dict[str, list[float]] = {name: [] for name in urls}
    with httpx.Client(timeout=10) as client:
        for round_ in range(n + 20):
            for name, url in urls.items():
                started = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, response.text
                if round_ >= 20:  # the first rounds warm both servers up
                    times[name].append(elapsed)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    n = parser.parse_args().requests
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HUYING_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "HUYING_VAR_DIR": tmp,
               "PICCOLO_CONF": "core.piccolo_conf", "PYTHONPATH": str(ROOT)}
        env.pop("HUYING_REDIS_URL", None)
        (Path(tmp) / "bare_app.py").write_text(BARE_APP)
        bare_port, full_port = free_port(), free_port()
        bare = start([sys.executable, "-m", "uvicorn", "--app-dir", tmp, "bare_app:app", "--port", str(bare_port),
                      "--log-level", "warning"], env, bare_port)
        full = start([sys.executable, "-m", "api.cli", "serve", "--port", str(full_port)],
                     {**env, "HUYING_LOG_FORMAT": "json"}, full_port)
        try:
            results = measure({"bare": f"http://127.0.0.1:{bare_port}/bare",
                               "health": f"http://127.0.0.1:{full_port}/health",
                               "ready": f"http://127.0.0.1:{full_port}/ready"}, n)
        finally:
            for process in (bare, full):
                process.terminate()
                process.wait(10)
    base = statistics.median(results["bare"])
    for name, times in results.items():
        times.sort()
        p50, p99 = statistics.median(times), times[int(len(times) * 0.99) - 1]
        print(f"{name:7s} p50={p50 * 1000:.2f}ms p99={p99 * 1000:.2f}ms ratio_p50={p50 / base:.2f}")


if __name__ == "__main__":
    main()
