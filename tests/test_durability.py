"""Nothing acknowledged is lost: a server killed mid-load, a database that goes away and comes back.

These run the real ``huying serve`` in a subprocess against the suite's database (both backends)
and talk to it over loopback, as a citizen's or a board's client would.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from core.auth import create_api_key
from core.tables import Order, OrderEvent
from tests.helpers import clock_env, intake_body

ROOT = Path(__file__).resolve().parents[1]
INTAKE = "/api/channels/hotline/orders"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``huying serve`` in a subprocess on a free loopback port."""

    def __init__(self, database_url: str, tmp: Path):
        self.port = free_port()
        env = {**os.environ, "HUYING_DATABASE_URL": database_url, "HUYING_VAR_DIR": str(tmp),
               "HUYING_SECRET_KEY": "test-secret", "PYTHONPATH": str(ROOT), **clock_env()}
        env.pop("HUYING_REDIS_URL", None)
        self.proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(self.port)],
                                     env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for _ in range(600):
            if self.proc.poll() is not None:
                raise AssertionError(self.proc.stderr.read().decode()[-2000:])
            try:
                self.request("GET", "/api/channels", timeout=1)
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("the server did not start")

    def request(self, method: str, path: str, body: dict | None = None, headers: dict | None = None,
                timeout: float = 10) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
            conn.request(method, path, data, {"Content-Type": "application/json", **(headers or {})})
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
async def api_key(platform) -> str:
    return await create_api_key("load-client", [])


async def test_a_server_killed_mid_load_has_stored_every_order_it_acknowledged(
        platform, api_key, database_url, tmp_path):
    """``kill -9`` while eight clients file orders: every order number a client was given is in the
    database, each with its intake event."""
    server = Served(database_url, tmp_path)
    acknowledged: list[str] = []
    stop = threading.Event()

    def client(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                status, body = server.request("POST", INTAKE, intake_body(subject=f"夜间施工 {n}-{i}"),
                                              {"X-API-Key": api_key}, timeout=5)
            except (OSError, http.client.HTTPException, json.JSONDecodeError):
                return  # the server is gone
            if status == 201:
                acknowledged.append(body["number"])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        server.stop()
    assert len(acknowledged) >= 40
    stored = {r["number"]: r["id"] for r in await Order.select(Order.number, Order.id)}
    missing = [n for n in acknowledged if n not in stored]
    assert missing == []
    with_intake = {r["order_id"] for r in await OrderEvent.select(OrderEvent.order_id).where(
        OrderEvent.action == "intake")}
    assert all(stored[n] in with_intake for n in acknowledged)


class Outage:
    """A loopback TCP relay in front of PostgreSQL that can drop every connection and refuse new ones
    for a while, as a database restart does, without touching the shared server."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()
        self.up()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            listener, self.listener = self.listener, None
            if listener:
                listener.close()
            for s in self.sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                if self.listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


async def test_postgres_going_away_gives_clean_503s_and_service_resumes_without_a_restart(
        platform, api_key, database_url, tmp_path):
    """While PostgreSQL is away every request fails promptly with a 503 in the error shape; within
    seconds of its return intake works again, with the same Huying process."""
    if not database_url.startswith("postgres"):
        pytest.skip("the database going away is a PostgreSQL matter; SQLite is a file in the process")
    from urllib.parse import urlsplit

    url = urlsplit(database_url)
    relay = Outage(url.hostname or "127.0.0.1", url.port or 5432)
    relayed = database_url.replace(f"{url.hostname}:{url.port or 5432}", f"127.0.0.1:{relay.port}")
    if relayed == database_url:
        relayed = database_url.replace(f"@{url.hostname}/", f"@127.0.0.1:{relay.port}/")
    server = Served(relayed, tmp_path)
    headers = {"X-API-Key": api_key}
    try:
        status, _ = server.request("POST", INTAKE, intake_body(), headers)
        assert status == 201
        relay.down()
        for _ in range(3):
            started = time.monotonic()
            status, body = server.request("POST", INTAKE, intake_body(), headers, timeout=30)
            assert status == 503, body
            assert body["status_code"] == 503 and body["detail"]
            assert time.monotonic() - started < 10
        relay.up()
        deadline = time.monotonic() + 15
        while True:
            status, body = server.request("POST", INTAKE, intake_body(), headers, timeout=30)
            if status == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert status == 201, body
        assert server.proc.poll() is None
    finally:
        server.stop()
        relay.down()


async def test_a_terminated_postgres_backend_is_a_retry_or_a_503_never_a_500(platform):
    """``pg_terminate_backend`` on the app's connections (a failover, an operator) once surfaced as 500
    ("another operation is in progress", 6 of 2,334 requests) and leaked the pool's connections. Now a
    statement that never reached the server is retried on a fresh connection, anything else answers
    503 with Retry-After; the pool keeps its size, and the outbox delivery carries on."""
    import asyncio

    import asyncpg
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from core import clock
    from core.jobs import InProcessJobs
    from core.notices import staff_notice
    from core.outbox import Outbox
    from core.tables import OutboxMessage, TextMessage
    from tests import helpers

    if platform.settings.is_sqlite:
        pytest.skip("PostgreSQL only")
    admin = await asyncpg.connect(platform.settings.database_url)

    async def terminate():
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    statuses = []
    try:
        async with AsyncTestClient(create_app(platform, pool=True, run_jobs=False)) as client:
            agent = await helpers.login(client, "agent1")
            for _ in range(6):
                for _ in range(4):
                    for response in (await client.post("/api/channels/hotline/orders", json=intake_body(),
                                                       headers=agent),
                                     await client.get("/api/orders", headers=agent)):
                        statuses.append(response.status_code)
                        if response.status_code == 503:
                            assert response.headers["retry-after"] and "数据库" in response.json()["detail"]
                await terminate()
            assert set(statuses) <= {200, 201, 503}, statuses
            assert statuses.count(503) <= 6  # at most the first request after each termination
            # no connection leaked: more requests in a row than the pool holds all succeed
            for _ in range(platform.settings.db_pool_size + 2):
                assert (await client.get("/api/orders", headers=agent)).status_code == 200

        await platform.engine.start_connection_pool(min_size=2, max_size=4)  # on this test's event loop
        try:
            jobs = InProcessJobs(platform)
            await jobs.start()
            try:
                outbox = Outbox()
                staff_notice(outbox, "role:dispatcher", "sla", number="X", subject="测试", note="临期")
                await outbox.write(clock.now())
                await terminate()  # under the delivery loop's feet
                jobs.kick()
                for _ in range(200):
                    if await helpers.undelivered_due() == 0:
                        break
                    await asyncio.sleep(0.1)
                    jobs.kick()
                assert await helpers.undelivered_due() == 0
                assert await TextMessage.count().where(TextMessage.kind == "staff") == 1
            finally:
                await jobs.stop()
        finally:
            await platform.engine.close_connection_pool()
    finally:
        await admin.close()
