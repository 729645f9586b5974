"""The CTI push under a call centre's load: 20 calls at once for 2 minutes from the PBX simulator.

    .venv/bin/python bench/cti.py [--seconds 120] [--lines 20] [--rate 2] [--speed 10] [--postgres URL]

One uvicorn process on a fresh SQLite file (or a fresh PostgreSQL database with ``--postgres``),
four agents with extensions 8001–8004 and one CTI connection. The simulator (``api/cti_simulator.py``)
keeps ``--lines`` calls going for ``--seconds`` (ring and talk played ``--speed`` times faster, the
events stamped with the simulated times), 2 % of events sent twice, 30 % of answered calls with a
recording the server fetches from the benchmark's own small MP3 server, after 20 warm-up calls that
are not measured. Meanwhile, in the same client
process, a baseline request (``GET /health`` of the same server) is timed every 50 ms, and the
client's own event loop lag and CPU share are measured: when those stay small, the client is not
what limits the figures. At the end the server's call log is read from the database and compared
with what was simulated: every call there exactly once, with the outcome and the talk and wait seconds
of its events. Prints p50/p95 of the event endpoint (target: p95 under 20 ms) beside the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api.cti_simulator import Simulator, percentile  # noqa: E402
from intake import fresh_postgres  # noqa: E402

TARGET_MS = 20.0
EXTENSIONS = ["8001", "8002", "8003", "8004"]


async def prepare(database_url: str) -> str:
    """Migrate, add the agents with their extensions and an admin, open a connection: its token."""
    from core.model import Actor
    from core.platform import Platform
    from core.settings import Settings
    from core.users import add_user

    platform = Platform(Settings(database_url=database_url, secret_key="bench"))
    await platform.migrate()
    await platform.start()
    admin = Actor(name="bench_admin", role="admin")
    await add_user("bench_admin", role="admin", password="bench-password")
    for n, extension in enumerate(EXTENSIONS, 1):
        await add_user(f"bench_agent{n}", role="agent", password="bench-password")
        await platform.telephony.set_extension(f"bench_agent{n}", extension, admin)
    made = await platform.telephony.create_connection("压测交换机", admin)
    await platform.stop()
    return made["token"]


async def logged(database_url: str) -> list[dict]:
    from piccolo.querystring import QueryString

    from core.db import make_engine

    engine = make_engine(database_url)
    return await engine.run_querystring(QueryString(
        "SELECT call_id, outcome, talk_seconds, wait_seconds, number, recording_url, recording_key FROM calls"))


MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 4096  # 16 KB: an ID3 tag and MPEG frames
_recordings: list[int] = []


def recordings_port() -> int:
    """The PBX's recording store: any path answers a small MP3 (started once, in a thread)."""
    if not _recordings:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Recording(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("content-type", "audio/mpeg")
                self.send_header("content-length", str(len(MP3)))
                self.end_headers()
                self.wfile.write(MP3)

            def log_message(self, *args):
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Recording)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _recordings.append(server.server_address[1])
    return _recordings[0]


async def baseline(url: str, until: float, out: list[float]) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        while time.monotonic() < until:
            began = time.perf_counter()
            response = await client.get(f"{url}/health")
            out.append(time.perf_counter() - began)
            assert response.status_code == 200
            await asyncio.sleep(0.05)


async def loop_lag(until: float, out: list[float]) -> None:
    """How late the client's event loop wakes a 10 ms sleeper: a busy client shows here first."""
    while time.monotonic() < until:
        began = time.perf_counter()
        await asyncio.sleep(0.01)
        out.append(time.perf_counter() - began - 0.01)


async def drive(url: str, token: str, args) -> tuple:
    # warm-up, not measured: the server's start-up jobs finish and its connections open
    await Simulator(url, token, extensions=EXTENSIONS, speed=100, duplicates=0, prefix="warmup").run(
        20, 10, lines=args.lines)
    await asyncio.sleep(2)
    simulator = Simulator(url, token, extensions=EXTENSIONS, speed=args.speed, duplicates=0.02, seed=args.seed,
                          recordings=args.recordings, prefix="bench",
                          recording_url=f"http://127.0.0.1:{recordings_port()}/{{call_id}}.mp3")
    until = time.monotonic() + args.seconds
    base, lag = [], []
    side = [asyncio.create_task(baseline(url, until, base)), asyncio.create_task(loop_lag(until, lag))]
    cpu0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
    result = await simulator.run(10 ** 9, args.rate, lines=args.lines, seconds=args.seconds)
    await asyncio.gather(*side)
    cpu1, wall = resource.getrusage(resource.RUSAGE_SELF), time.monotonic() - wall0
    cpu_share = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / wall
    return result, base, lag, cpu_share, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--lines", type=int, default=20)
    parser.add_argument("--rate", type=float, default=2.0, help="new calls a second (more than the lines take: they stay full)")
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--recordings", type=float, default=0.3,
                        help="share of answered calls with a recording event (fetched by the server's outbox job "
                             "from a small MP3 server of the benchmark's own)")
    parser.add_argument("--postgres", help="a PostgreSQL server URL: the run uses a fresh database on it")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="huying-cti-bench-"))
    database_url = fresh_postgres(args.postgres) if args.postgres else f"sqlite:///{tmp / 'bench.sqlite3'}"
    if database_url is None:
        raise SystemExit("PostgreSQL is not reachable")
    token = asyncio.run(prepare(database_url))
    port = 18600 + os.getpid() % 1000
    env = {**os.environ, "HUYING_DATABASE_URL": database_url, "HUYING_VAR_DIR": str(tmp), "HUYING_SECRET_KEY": "bench",
           "PICCOLO_CONF": "core.piccolo_conf"}
    env.pop("HUYING_REDIS_URL", None)
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--port", str(port),
                               "--log-level", "warning", "--no-access-log", "--http", "h11"], env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        result, base, lag, cpu_share, wall = asyncio.run(drive(url, token, args))
        rows = asyncio.run(logged(database_url))
    finally:
        server.terminate()
        server.wait(10)
    by_id: dict[str, list[dict]] = {}
    for row in rows:
        if not row["call_id"].startswith("warmup-"):
            by_id.setdefault(row["call_id"], []).append(row)
    missing = [c for c in result.calls if c not in by_id]
    twice = [c for c, found in by_id.items() if len(found) != 1]
    extra = [c for c in by_id if c not in result.calls]
    wrong = [(c, want, by_id[c][0]) for c, want in result.calls.items() if c in by_id and (
        by_id[c][0]["outcome"], by_id[c][0]["talk_seconds"], by_id[c][0]["wait_seconds"])
        != (want["outcome"], want["talk_seconds"], want["wait_seconds"])]
    events = [x * 1000 for x in result.latencies]
    base_ms = [x * 1000 for x in base]
    lag_ms = [x * 1000 for x in lag]
    backend = "PostgreSQL" if args.postgres else "SQLite"
    p95 = percentile(events, 0.95)
    print(f"CTI push on {backend}, one server process, {args.lines} lines for {args.seconds:.0f} s (speed ×{args.speed:g}); "
          f"wall {wall:.0f} s")
    print(f"  calls simulated {len(result.calls)}, in the log {len(by_id)}: missing {len(missing)}, more than once "
          f"{len(twice)}, unknown {len(extra)}, outcome/talk/wait differing {len(wrong)}")
    print(f"  events {result.events} ({result.duplicates} sent twice), errors {len(result.errors)}; recordings "
          f"fetched into the store {sum(1 for r in by_id.values() if r[0]['recording_key'])} of "
          f"{sum(1 for r in by_id.values() if r[0]['recording_url'])} announced")
    print(f"  event endpoint     p50 {percentile(events, 0.5):6.2f} ms  p95 {p95:6.2f} ms  p99 {percentile(events, 0.99):6.2f} ms"
          f"   (target p95 < {TARGET_MS:.0f} ms: {'met' if p95 < TARGET_MS else 'NOT met'})")
    print(f"  baseline /health   p50 {percentile(base_ms, 0.5):6.2f} ms  p95 {percentile(base_ms, 0.95):6.2f} ms  "
          f"({len(base_ms)} requests in the same run)")
    print(f"  client: CPU {cpu_share * 100:.0f} % of one core, event loop lag p95 {percentile(lag_ms, 0.95):.2f} ms "
          f"(a client that was the bottleneck would show a busy core and a late loop)")
    for c, want, got in wrong[:5]:
        print(f"    {c}: simulated {want}, logged {got}")
    for error in result.errors[:5]:
        print(f"    error: {error}")
    if missing or twice or extra or wrong or result.errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
