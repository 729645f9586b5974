"""Intake and the rest of the public contract: bad input gets a 4xx naming the field and writes nothing."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.errors import InvalidInput
from core.model import Actor
from core.orders import IntakeRequest, OrderService
from core.platform import Platform
from core.plugins import Channels, get_plugin_manager
from core.tables import IdempotencyKey, Order, OrderEvent, OutboxMessage
from tests import sample_plugin
from tests.helpers import city_transfer, intake_body


async def _post(client, headers, body, channel="hotline", **kw):
    return await client.post(f"/api/channels/{channel}/orders", json=body, headers=headers, **kw)


async def _nothing_written():
    assert await Order.count() == 0 and await OrderEvent.count() == 0


@pytest.mark.parametrize("change, key", [
    ({"subject": ""}, "subject"),
    ({"kind": "gossip"}, "kind"),
    ({"citizen": {"name": "李", "phone": 13912345678}}, "citizen.phone"),
    ({"citizen": {"name": "李", "phone": "12345"}}, "citizen.phone"),
    ({"citizen": {"name": "李", "phone": ""}}, "citizen.phone"),
    ({"received_at": "2026-11-28T09:00:00"}, "received_at"),
    ({"received_at": "2099-01-01T09:00:00+08:00"}, "received_at"),
    ({"priority": "asap"}, "priority"),
    ({"colour": "red"}, "colour"),
    ({"details": {"anything": 1}}, "details"),
])
async def test_bad_intake_names_the_field_and_writes_nothing(client, tokens, change, key):
    body = intake_body(**change)
    if "colour" in change:
        body = intake_body() | {"colour": "red"}
    response = await _post(client, tokens["agent1"], body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["status_code"] == 400 and payload["detail"]
    assert key in [e["key"] for e in payload["extra"]], payload
    await _nothing_written()


async def test_missing_required_fields_are_named(client, tokens):
    response = await _post(client, tokens["agent1"], {"subject": "只有标题"})
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] in ("kind", "content")


async def test_channel_fields_are_validated_with_their_path(client, tokens):
    response = await _post(client, tokens["agent1"], intake_body(kind="suggestion", details={"topic": "weather"}),
                           channel="mayor_mailbox")
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "details.topic"
    missing = await _post(client, tokens["agent1"], intake_body(kind="suggestion", details={}), channel="mayor_mailbox")
    assert missing.json()["extra"][0]["key"] == "details.topic"
    await _nothing_written()


def test_a_channel_refuses_kinds_it_does_not_take():
    channels = Channels(get_plugin_manager(extra=[sample_plugin]))
    service = OrderService(channels, sla=None, sealer=None, engine=None)
    with pytest.raises(InvalidInput) as refused:
        service.check_intake("parking", msgspec.convert(intake_body(kind="praise", details={"plate": "湘A12345"}), IntakeRequest),
                             Actor(name="a", role="agent"))
    assert refused.value.errors[0].key == "kind" and "投诉" in refused.value.errors[0].message


async def test_malformed_and_oversized_bodies_are_refused(client, tokens):
    garbage = await client.post("/api/channels/hotline/orders", content=b"{not json",
                                headers={**tokens["agent1"], "Content-Type": "application/json"})
    assert garbage.status_code == 400
    huge = await _post(client, tokens["agent1"], intake_body(content="很" * 40000))
    assert huge.status_code == 413
    await _nothing_written()


async def test_unknown_channel_is_404(client, tokens):
    assert (await _post(client, tokens["agent1"], intake_body(), channel="nope")).status_code == 404
    assert (await client.get("/api/channels/nope")).status_code == 404


async def test_who_may_take_requests_in(client, tokens):
    assert (await _post(client, {}, intake_body())).status_code == 401
    assert (await _post(client, {"Authorization": "Bearer 1.2.3"}, intake_body())).status_code == 401
    assert (await _post(client, tokens["eco_handler"], intake_body())).status_code == 403
    await _nothing_written()


async def test_api_keys_are_scoped_to_channels(client, tokens):
    created = await client.post("/api/api-keys", json={"name": "区红网", "channels": ["hotline"]},
                                headers=tokens["admin1"])
    assert created.status_code == 201
    key = {"X-API-Key": created.json()["key"]}
    assert (await _post(client, key, intake_body(source="netboard"))).status_code == 201
    refused = await _post(client, key, intake_body(kind="suggestion", details={"topic": "other"}),
                          channel="mayor_mailbox")
    assert refused.status_code == 403
    assert (await _post(client, {"X-API-Key": "hy_0000_wrong"}, intake_body())).status_code == 401
    assert (await client.post("/api/api-keys", json={"name": "x"}, headers=tokens["agent1"])).status_code == 403
    bad = await client.post("/api/api-keys", json={"name": "x", "channels": ["nope"]}, headers=tokens["admin1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "channels"


async def test_an_idempotency_key_makes_a_repeat_return_the_first_order(client, tokens):
    headers = {**tokens["agent1"], "Idempotency-Key": "call-20261128-0001"}
    first = await _post(client, headers, intake_body())
    again = await _post(client, headers, intake_body())
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"]
    assert await Order.count() == 1 and await IdempotencyKey.count() == 1
    reused = await _post(client, headers, intake_body(subject="另一件事"))
    assert reused.status_code == 409 and await Order.count() == 1


@pytest.mark.clock("2026-11-28T09:00:00+08:00")
async def test_a_repeat_from_the_same_source_returns_the_first_order(client, tokens):
    body = intake_body(source="netboard", external_id="WZ12345-2026-0001",
                       received_at="2026-11-27T10:00:00+08:00")
    first = await _post(client, tokens["agent1"], body)
    again = await _post(client, tokens["agent1"], body)
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["number"] == again.json()["number"] and await Order.count() == 1
    assert first.json()["received_at"] == "2026-11-27T10:00:00+08:00"  # the centre's zone
    assert first.json()["deadlines"][0]["start"] == "2026-11-27T10:00:00+08:00"


async def test_status_changes_of_city_orders_go_to_the_outbox(client, tokens):
    number = (await city_transfer(client.platform, external_id="CS-9")).number
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                      headers=tokens["dispatcher1"])
    city = OutboxMessage.topic == "city_platform.status"
    messages = await OutboxMessage.select().where(city).order_by(OutboxMessage.id).output(load_json=True)
    assert [m["payload"]["status"] for m in messages] == ["received", "dispatched"]
    assert all(m["payload"]["external_id"] == "CS-9" for m in messages)
    await _post(client, tokens["agent1"], intake_body())  # the district's own call: nothing to push
    assert await OutboxMessage.count().where(city) == 2


async def test_orders_list_filters_and_pages(client, tokens):
    for i in range(3):
        await _post(client, tokens["agent1"], intake_body(subject=f"路灯不亮 {i}", content="小区门口路灯坏了", kind="help"))
    await _post(client, tokens["agent1"], intake_body(subject="噪音扰民"))
    listing = (await client.get("/api/orders", params={"kind": "help", "page_size": 2},
                                headers=tokens["agent1"])).json()
    assert listing["total"] == 3 and len(listing["items"]) == 2
    found = (await client.get("/api/orders", params={"q": "噪音"}, headers=tokens["agent1"])).json()
    assert [o["subject"] for o in found["items"]] == ["噪音扰民"]
    window = (await client.get("/api/orders", params={"received_from": "2000-01-01T00:00:00Z",
                                                      "received_to": "2000-01-02T00:00:00Z"},
                               headers=tokens["agent1"])).json()
    assert window["total"] == 0
    bad = await client.get("/api/orders", params={"page_size": 1000}, headers=tokens["agent1"])
    assert bad.status_code == 400


async def test_login_refuses_a_wrong_password(client):
    response = await client.post("/api/auth/token", json={"username": "agent1", "password": "wrong"})
    assert response.status_code == 401 and response.json()["detail"] == "用户名或密码错误"
    assert (await client.post("/api/auth/token", json={"username": "agent1"})).status_code == 400


async def test_departments_and_openapi_are_served(client, tokens):
    departments = (await client.get("/api/departments", headers=tokens["agent1"])).json()
    eco = next(d for d in departments if d["code"] == "eco_env")
    assert (eco["name"], eco["parent"]) == ("生态环境分局", None)
    schema = (await client.get("/schema/openapi.json")).json()
    assert "/api/channels/{code}/orders" in schema["paths"]
    assert (await client.get("/schema/swagger")).status_code == 200


async def test_an_order_survives_a_restart(client, tokens, migrated):
    number = (await _post(client, tokens["agent1"], intake_body())).json()["number"]
    restarted = Platform(migrated)
    await restarted.start()
    order, events = await restarted.orders.detail(number, Actor(name="s", role="supervisor"))
    assert order.number == number and events[0].action == "intake"
    await restarted.stop()


def test_query_codes_are_eight_readable_letters_and_do_not_repeat():
    """The code a citizen reads out to track an order: no I, O, 0 or 1, and effectively unguessable."""
    from core.intake import QUERY_CODE_ALPHABET, query_code

    codes = {query_code() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(len(c) == 8 and set(c) <= set(QUERY_CODE_ALPHABET) for c in codes)
    assert set("".join(codes)) == set(QUERY_CODE_ALPHABET)  # every letter is used


async def test_on_postgresql_an_intake_never_waits_for_another_ones_transaction(platform, database_url,
                                                                              monkeypatch):
    """Two calls taken at once on PostgreSQL: the second is recorded while the first is still writing
    (the day's number counter is not held for a whole intake; on SQLite the one writer takes them in
    turn by design)."""
    import asyncio

    if not database_url.startswith("postgres"):
        pytest.skip("on SQLite one writer per process takes transactions in turn by design")
    agent = Actor(name="a", role="agent")
    paused, release = asyncio.Event(), asyncio.Event()
    record_event = platform.orders.record_event

    async def slow_first(order, *args, **kwargs):
        if order.subject == "先到的来电":
            paused.set()
            await release.wait()
        return await record_event(order, *args, **kwargs)

    monkeypatch.setattr(platform.orders, "record_event", slow_first)
    first = asyncio.create_task(platform.orders.intake(
        "hotline", msgspec.convert(intake_body(subject="先到的来电"), IntakeRequest), agent))
    await asyncio.wait_for(paused.wait(), 10)
    try:
        _, second = await asyncio.wait_for(platform.orders.intake(
            "hotline", msgspec.convert(intake_body(subject="后到的来电"), IntakeRequest), agent), 10)
    finally:
        release.set()
    _, earlier = await first
    assert earlier.number < second.number
    assert await Order.count() == 2
