"""Status changes of orders the city platform transferred flow back to it over HTTP, through the
outbox: delivered once, retried while the city side is down, never lost."""

from __future__ import annotations

import asyncio
import datetime as dt
import socket

import msgspec
import pytest
import uvicorn
from litestar import Litestar, Request, post
from litestar.params import JSONBody

from core.outbox import deliver_due
from core.tables import OutboxMessage
from tests.helpers import intake_body


@pytest.fixture
async def city_platform():
    """A stand-in for the city 12345 platform on loopback: records what it is sent, can be made to fail."""
    received: list[tuple[dict, str]] = []
    state = {"fail": False}

    @post("/status", status_code=200)
    async def status(request: Request, data: JSONBody[dict]) -> dict:
        if state["fail"]:
            from litestar.exceptions import HTTPException

            raise HTTPException(status_code=503, detail="维护中")
        received.append((data, request.headers.get("idempotency-key", "")))
        return {"ok": True}

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(Litestar([status]), host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"http://127.0.0.1:{port}/status", received, state
    server.should_exit = True
    await task


async def test_status_changes_reach_the_city_platform_once(client, tokens, city_platform):
    url, received, state = city_platform
    body = intake_body(source="city_transfer", external_id="CS-2026-77")
    number = (await client.post("/api/channels/hotline/orders", json=body, headers=tokens["agent1"])).json()["number"]
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                      headers=tokens["dispatcher1"])
    settings = msgspec.structs.replace(client.platform.settings, city_platform_url=url)

    state["fail"] = True
    assert await deliver_due(client.platform.deliverers, settings) == {"delivered": 0, "failed": 2}
    assert received == []
    pending = await OutboxMessage.select().where(OutboxMessage.delivered_at.is_null())
    assert len(pending) == 2 and all("503" in m["last_error"] for m in pending)

    state["fail"] = False
    later = pending[0]["next_attempt_at"] + dt.timedelta(hours=2)
    assert await deliver_due(client.platform.deliverers, settings, now=later) == {"delivered": 2, "failed": 0}
    assert [(p["external_id"], p["status"]) for p, _ in received] == [("CS-2026-77", "received"),
                                                                        ("CS-2026-77", "dispatched")]
    assert all(key.startswith("huying-outbox-") for _, key in received)
    assert await deliver_due(client.platform.deliverers, settings, now=later) == {"delivered": 0, "failed": 0}


async def test_without_a_configured_city_url_messages_wait(client, tokens):
    body = intake_body(source="city_transfer", external_id="CS-2026-78")
    await client.post("/api/channels/hotline/orders", json=body, headers=tokens["agent1"])
    assert await deliver_due(client.platform.deliverers, client.platform.settings) == {"delivered": 0, "failed": 1}
    message = await OutboxMessage.select().first()
    assert "HUYING_CITY_PLATFORM_URL" in message["last_error"] and message["delivered_at"] is None
