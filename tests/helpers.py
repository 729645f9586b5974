"""Test data shared by the suite: staff of each role, departments, a valid intake body."""

from __future__ import annotations

from core.tables import Department

PASSWORD = "correct-horse-9"
DEPARTMENTS = [
    ("hotline_center", "12345热线事务中心", None),
    ("general_office", "管委会办公室", None),
    ("eco_env", "生态环境分局", None),
    ("housing", "住房和城乡建设局", None),
    ("urban_mgmt", "城市管理和综合执法局", None),
    ("natural_resources", "自然资源和规划局", None),
    ("development", "经济发展局", None),
    ("emergency", "应急管理局", None),
    ("hrss", "人力资源和社会保障局", None),
    ("market", "市场监督管理局", None),
    ("market_meixihu", "市场监督管理局梅溪湖所", "market"),
    ("market_lugu", "市场监督管理局麓谷所", "market"),
    ("market_gaotangling", "市场监督管理局高塘岭所", "market"),
    ("education", "教育局", None),
    ("transport", "交通运输局", None),
    ("health", "卫生健康局", None),
    ("commerce", "商务局", None),
]
# username: (role, department)
STAFF = {
    "agent1": ("agent", None),
    "dispatcher1": ("dispatcher", None),
    "supervisor1": ("supervisor", None),
    "admin1": ("admin", None),
    "eco_handler": ("handler", "eco_env"),
    "housing_handler": ("handler", "housing"),
    "hrss_handler": ("handler", "hrss"),
    "development_handler": ("handler", "development"),
    "emergency_handler": ("handler", "emergency"),
    "market_handler": ("handler", "market"),
    "market_meixihu_handler": ("handler", "market_meixihu"),
    "education_handler": ("handler", "education"),
    "urban_handler": ("handler", "urban_mgmt"),
}


async def clean(platform) -> None:
    from core.auth import recent

    from core.migrations import app_configs
    from core.plugins import get_plugin_manager

    recent.clear()
    for app in app_configs(get_plugin_manager()):  # the core's tables and every installed plugin's
        for table in app.table_classes:
            await table.delete(force=True)
    from core.search import KNOWLEDGE_INDEX, ORDER_INDEX

    for index in (ORDER_INDEX, KNOWLEDGE_INDEX):
        await index.clear(platform.engine)
    platform.orders.forget_reference_data()


async def seed_staff() -> None:
    from core.users import add_user

    await Department.insert(*[Department(code=c, name=n, parent=p) for c, n, p in DEPARTMENTS])
    for username, (role, department) in STAFF.items():
        await add_user(username, role=role, department=department, password=PASSWORD, trained=True)


async def reset_postgres(url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    finally:
        await conn.close()


def intake_body(**overrides) -> dict:
    body = {
        "kind": "complaint",
        "subject": "小区旁工地夜间施工噪音扰民",
        "content": "梅溪湖街道某小区旁工地每晚十一点后仍在施工，噪音很大，影响休息，希望尽快处理。",
        "source": "phone",
        "citizen": {"name": "李女士", "phone": "13912345678"},
        "address": "岳麓区梅溪湖街道",
        "area": "梅溪湖街道",
    }
    body.update(overrides)
    return body


async def login(client, username: str) -> dict[str, str]:
    response = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def png(width: int = 4, height: int = 4) -> bytes:
    """A real PNG image (uploads are decoded, so a bare signature is refused)."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def big_png(width: int, height: int) -> bytes:
    """A real, complete grey PNG of ``width``×``height`` that compresses to almost nothing (7000×7000:
    about 48 KB), made row by row: the kind of file that costs a server seconds to decode."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    squeeze = zlib.compressobj(9)
    row = b"\x00" * (width + 1)  # filter byte, then one grey byte a pixel
    body = b"".join(squeeze.compress(row) for _ in range(height)) + squeeze.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def jpeg(width: int = 4, height: int = 4) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 30, 200)).save(out, format="JPEG")
    return out.getvalue()


PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_in_thread(app, **options):
    """Run ``app`` on a real uvicorn server on 127.0.0.1 (a free port) until the block ends; ``options``
    go to ``uvicorn.Config`` (``api.cli.server_options()`` for the server ``huying serve`` runs)."""
    import contextlib
    import threading
    import time

    import uvicorn

    @contextlib.contextmanager
    def running():
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                                                  **options))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            thread.join(10)

    return running()


async def city_transfer(platform, **overrides):
    """An order the city transferred, filed as the city's signed push files it (its numbers are
    reserved to the city: staff and API keys may not claim one)."""
    import msgspec

    from core.city import CITY
    from core.orders import IntakeRequest

    request = msgspec.convert(intake_body(source="city_transfer", **overrides), IntakeRequest)
    return (await platform.orders.intake("hotline", request, CITY))[1]


async def undelivered_due() -> int:
    """Outbox messages that are due and not delivered: a held message (the phone receipt waits a few
    minutes for a completion on the spot) is not yet due, so it never counts as left behind."""
    from core import clock
    from core.tables import OutboxMessage

    return await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()
                                             & (OutboxMessage.next_attempt_at <= clock.now()))


def clock_env() -> dict[str, str]:
    """The environment that starts a child process's clock where this test's clock is now: under
    ``HUYING_CLOCK`` a child would otherwise start at that instant again, minutes behind the test, and
    find nothing due that the test wrote."""
    from core import clock

    return {"HUYING_CLOCK": clock.now().isoformat()}


def bundled_channels(platform) -> list:
    """The channels shipped with Huying (the core's built-ins and ``plugins/``): core tests that walk
    channels walk these. A channel installed from elsewhere is checked by ``huying check-channel``
    (``tests/test_conformance.py``), which tells its author what failed instead of a core assertion."""
    return [c for c in platform.channels
            if platform.channels.plugin_name(c.code).startswith(("core.builtins.", "plugins."))]
