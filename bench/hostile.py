"""How much longer an ordinary request waits while hostile requests hit the same server, in one command.

    .venv/bin/python bench/hostile.py [--seconds 5]

One uvicorn process on SQLite (a temporary file), production password hashing. A victim client
sends intakes one after another (``POST /api/channels/hotline/orders``); first alone, then while
attacker processes send, as fast as the server answers them, one kind of hostile request each run:

- far date: an intake claiming to be received in year 1 (once 15 s of day-by-day deadline counting);
- big body: a 1 MB JSON intake whose text is full of brackets and quotes (the guard judges its nesting);
- deep JSON: 1,000 nested arrays;
- login: wrong passwords for an unknown user (a scrypt hash each, off the event loop; the login
  throttle is opened wide for the run so every attempt really hashes).

Each row prints the victim's p50 and p99 and how much the p99 grew over the victim alone in the
same run (the issue's bar: no request may make another wait more than 50 ms longer).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake import ROOT, huying_env, huying_server, load  # noqa: E402

ATTACKS = {
    "far date": ("/api/channels/hotline/orders", "api", json.dumps({
        "kind": "complaint", "subject": "s", "content": "c", "anonymous": True,
        "received_at": "0001-01-02T00:00:00Z"}).encode()),
    "big body": ("/api/channels/hotline/orders", "api", json.dumps({
        "kind": "complaint", "subject": "s", "anonymous": True,
        "content": '[\\"' * 110_000}).encode()),
    "deep JSON": ("/api/channels/hotline/orders", "api", b"[" * 1000 + b"]" * 1000),
    "login": ("/api/auth/token", None, json.dumps({"username": "nobody", "password": "guess"}).encode()),
}


def _attacker(port: int, path: str, headers: dict, body: bytes, until: float) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    while time.perf_counter() < until:
        conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
        conn.getresponse().read()
    conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--attackers", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="huying-bench-hostile-"))
    env = huying_env({**os.environ, "HUYING_VAR_DIR": str(tmp), "HUYING_SECRET_KEY": "bench",
                      "HUYING_LOGIN_LIMIT_ADDRESS": "100000000/1", "HUYING_LOGIN_LIMIT_ACCOUNT": "100000000/1",
                      "HUYING_MAX_BODY_BYTES": str(2 << 20)},
                     f"sqlite:///{tmp / 'bench.sqlite3'}")
    key = {"X-API-Key": env["BENCH_API_KEY"]}
    server = huying_server(env)
    try:
        path = "/api/channels/hotline/orders"
        alone = load(server.port, path, key, 1, args.seconds)
        print(f"{'victim alone':<14} p50 {alone['p50']:6.2f} ms   p99 {alone['p99']:7.2f} ms   ({alone['n']} intakes)")
        ctx = multiprocessing.get_context("fork")
        for name, (attack_path, auth, body) in ATTACKS.items():
            until = time.perf_counter() + args.seconds + 1
            attackers = [ctx.Process(target=_attacker, args=(server.port, attack_path, key if auth else {}, body, until))
                         for _ in range(args.attackers)]
            for p in attackers:
                p.start()
            time.sleep(0.5)
            under = load(server.port, path, key, 1, args.seconds)
            for p in attackers:
                p.join()
            print(f"{name:<14} p50 {under['p50']:6.2f} ms   p99 {under['p99']:7.2f} ms   "
                  f"p99 +{under['p99'] - alone['p99']:6.2f} ms over alone")
    finally:
        server.stop()


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
