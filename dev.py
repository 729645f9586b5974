#!/usr/bin/env python3
"""Set-up on a fresh machine with only Python 3.11: ``python3 dev.py serve`` or ``python3 dev.py test``.

Creates ``.venv`` and installs the project into it (again only when pyproject.toml changes), then
either serves the platform on the embedded default (SQLite under ./var/, jobs in-process, demo data
on first run) or runs the whole test suite: against SQLite, and against PostgreSQL and Redis when
they are reachable on this machine (or named by HUYING_TEST_POSTGRES_URL / HUYING_TEST_REDIS_URL).
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def ensure_venv() -> None:
    if not (BIN / "python").exists():
        print("创建虚拟环境 .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = VENV / ".huying-installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    print("安装依赖 …", flush=True)
    pip = [str(BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "-e", f"{ROOT}[test]"], check=True)
    stamp.write_text(wanted)


def reachable(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def serve(args: list[str]) -> int:
    os.chdir(ROOT)
    print("演示账号（密码 huying-demo）：agent、dispatcher、supervisor、admin、h_eco_env 等承办人", flush=True)
    return subprocess.call([str(BIN / "huying"), "serve", "--demo", *args])


def test(args: list[str]) -> int:
    env = dict(os.environ)
    if not env.get("HUYING_TEST_POSTGRES_URL") and reachable(5432):
        env["HUYING_TEST_POSTGRES_URL"] = "postgresql://postgres@127.0.0.1:5432/test"
    if not env.get("HUYING_TEST_REDIS_URL") and reachable(6379):
        env["HUYING_TEST_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    return subprocess.call([str(BIN / "python"), "-m", "pytest", *args], cwd=ROOT, env=env)


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("serve", "test"):
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = sys.argv[1], sys.argv[2:]
    return serve(rest) if command == "serve" else test(rest)


if __name__ == "__main__":
    sys.exit(main())
