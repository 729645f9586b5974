"""Message boards (区红网, 区人民网) and special-line API clients: channel-scoped keys, their own message
ids make re-sends idempotent, and the reply the centre approves flows back to them through the outbox."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from core.outbox import deliver_due
from core.tables import OutboxMessage
from tests.city_server import CityServer
from tests.helpers import intake_body


@pytest.fixture
async def board():
    server = CityServer()  # the same loopback stand-in: records what it is sent, by message id
    await server.start()
    yield server
    await server.stop()


async def _key(client, tokens, name, channels, reply_url=None):
    response = await client.post("/api/api-keys", json={"name": name, "channels": channels, "reply_url": reply_url},
                                 headers=tokens["admin1"])
    assert response.status_code == 201, response.text
    return {"X-API-Key": response.json()["key"]}


async def _drain(platform):
    later = clock.now()
    for _ in range(5):
        later += dt.timedelta(hours=2)
        await deliver_due(platform.deliverers, platform.settings, now=later)


async def test_a_boards_message_is_taken_once_and_the_approved_reply_goes_back(client, tokens, board):
    hongwang = await _key(client, tokens, "区红网", ["hotline"], board.url)
    body = intake_body(source="netboard", external_id="HW-1001")
    first = await client.post("/api/channels/hotline/orders", json=body, headers=hongwang)
    again = await client.post("/api/channels/hotline/orders", json=body, headers=hongwang)
    assert first.status_code == 201 and again.status_code == 200
    number = first.json()["number"]
    assert again.json()["number"] == number
    elsewhere = await client.post("/api/channels/mayor_mailbox/orders", json=body, headers=hongwang)
    assert elsewhere.status_code == 403  # the key is scoped to its channels
    for action, who, payload in (("dispatch", "dispatcher1", {"department": "eco_env"}),
                                 ("accept", "eco_handler", {}),
                                 ("reply", "eco_handler", {"reply": "经核查已责令停工并处罚", "public_reply": "已责令停工"})):
        assert (await client.post(f"/api/orders/{number}/actions/{action}", json=payload,
                                  headers=tokens[who])).status_code == 200
    await _drain(client.platform)
    assert board.received == []  # nothing before the centre approves
    await client.post(f"/api/orders/{number}/actions/approve", headers=tokens["dispatcher1"])
    await _drain(client.platform)
    [(payload, key)] = board.received
    assert payload["external_id"] == "HW-1001" and payload["number"] == number and payload["reply"] == "已责令停工"
    message = await OutboxMessage.select().where(OutboxMessage.topic == "board.reply").first()
    assert key == f"huying-outbox-{message['id']}"


async def test_a_key_without_a_reply_address_keeps_the_reply_waiting_with_the_reason(client, tokens):
    renmin = await _key(client, tokens, "区人民网", ["hotline"])
    body = intake_body(source="netboard", external_id="RM-77")
    number = (await client.post("/api/channels/hotline/orders", json=body, headers=renmin)).json()["number"]
    await client.post(f"/api/orders/{number}/actions/resolve_at_intake", json={"reply": "已答复"},
                      headers=tokens["agent1"])
    await _drain(client.platform)
    message = await OutboxMessage.select().where(OutboxMessage.topic == "board.reply").first()
    assert message["delivered_at"] is None and "reply_url" in message["last_error"]


async def test_a_bad_reply_address_is_refused(client, tokens):
    response = await client.post("/api/api-keys", json={"name": "x", "channels": [], "reply_url": "ftp://x"},
                                 headers=tokens["admin1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "reply_url"
