"""Telephony: a PBX pushes call events to its connection's address; the centre reads the call log,
the 未接来电 to call back, and the calls an order was recorded from; an answered call pops on the
agent's screen (a live event); a blocked caller is rejected."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import hmac
import json

import pytest

pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))


def at(seconds: float) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).isoformat()


@pytest.fixture
async def pbx(client, tokens):
    response = await client.post("/api/cti/connections", json={"name": "中心交换机"}, headers=tokens["admin1"])
    assert response.status_code == 201, response.text
    made = response.json()
    await client.put("/api/users/agent1/extension", json={"extension": "8001"}, headers=tokens["admin1"])

    async def send(**event):
        return await client.post(f"/api/cti/{made['token']}", json=event)

    send.token, send.secret = made["token"], made["secret"]
    return send


async def _calls(client, tokens, **query):
    response = await client.get("/api/calls", params=query, headers=tokens["agent1"])
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_an_answered_call_is_logged_with_its_wait_and_talk_time(client, tokens, pbx):
    base = {"callId": "c1", "from": "13800001111", "to": "12345", "direction": "in", "queue": "热线"}
    assert (await pbx(event="newCall", timestamp=at(0), **base)).json() == {"call_id": "c1", "duplicate": False}
    await pbx(event="answer", answeringNumber="8001", timestamp=at(12), **base)
    await pbx(event="hangup", cause="normalClearing", timestamp=at(192), **base)
    [call] = await _calls(client, tokens, number="13800001111")
    assert (call["direction"], call["outcome"], call["outcome_label"]) == ("in", "answered", "已接听")
    assert (call["wait_seconds"], call["talk_seconds"], call["agent"], call["queue"]) == (12, 180, "agent1", "热线")
    assert call["number"] == "13800001111" and call["orders"] == [] and call["callback"] == ""


async def test_repeated_and_out_of_order_events_count_once(client, tokens, pbx):
    base = {"callId": "c2", "from": "13800002222", "to": "12345", "direction": "in"}
    await pbx(event="hangup", cause="normalClearing", timestamp=at(70), **base)  # hang-up first
    await pbx(event="answer", answeringNumber="8001", timestamp=at(10), **base)
    again = await pbx(event="answer", answeringNumber="8001", timestamp=at(11), **base)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    await pbx(event="newCall", timestamp=at(0), **base)
    await pbx(event="newCall", timestamp=at(0), **base)
    [call] = await _calls(client, tokens, number="13800002222")
    assert (call["outcome"], call["wait_seconds"], call["talk_seconds"]) == ("answered", 10, 60)


async def test_unanswered_calls_are_missed_or_abandoned_and_wait_for_a_callback(client, tokens, pbx):
    await pbx(event="newCall", callId="m1", direction="in", **{"from": "13800003333"}, timestamp=at(0))
    await pbx(event="hangup", callId="m1", cause="noAnswer", timestamp=at(30))
    await pbx(event="newCall", callId="m2", direction="in", queue="热线", **{"from": "13800004444"}, timestamp=at(0))
    await pbx(event="hangup", callId="m2", cause="cancel", timestamp=at(45))
    await pbx(event="newCall", callId="s1", direction="in", **{"from": "13800005555"}, timestamp=at(0))
    await pbx(event="answer", callId="s1", answeringNumber="8001", timestamp=at(3))
    await pbx(event="hangup", callId="s1", cause="normalClearing", timestamp=at(6))
    outcomes = {c["pbx_call_id"]: c["outcome"] for c in await _calls(client, tokens)}
    assert outcomes == {"m1": "missed", "m2": "abandoned", "s1": "short"}
    missed = (await client.get("/api/calls/missed", headers=tokens["agent1"])).json()["items"]
    assert [(c["pbx_call_id"], c["callback_label"]) for c in missed] == [("m1", "待回拨"), ("m2", "待回拨")]
    done = await client.post(f"/api/calls/{missed[0]['call_id']}/callback", json={"outcome": "unreachable"},
                             headers=tokens["agent1"])
    assert done.status_code == 200 and done.json()["callback_label"] == "回拨未接通"
    # an answered outbound call to the number settles its callback
    await pbx(event="newCall", callId="o1", direction="out", **{"from": "8001", "to": "13800003333"}, timestamp=at(100))
    await pbx(event="answer", callId="o1", answeringNumber="8001", timestamp=at(110))
    await pbx(event="hangup", callId="o1", cause="normalClearing", timestamp=at(200))
    left = (await client.get("/api/calls/missed", headers=tokens["agent1"])).json()["items"]
    assert [c["pbx_call_id"] for c in left] == ["m2"]
    [m1] = await _calls(client, tokens, number="13800003333", outcome="missed")
    assert m1["callback"] == "called_back" and m1["callback_by"] == "agent1"


async def test_form_encoded_events_as_zammad_sends_them(client, tokens, pbx):
    form = "event=newCall&from=13800006666&to=12345&direction=in&callId=f1&user%5B%5D=agent1"
    response = await client.post(f"/api/cti/{pbx.token}", content=form,
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200, response.text
    [call] = await _calls(client, tokens, number="13800006666")
    assert call["outcome"] == "ringing" and call["direction_label"] == "呼入"


async def test_bad_bodies_are_refused_naming_the_field(client, pbx):
    cases = [({"event": "ring", "callId": "x"}, "event"), ({"event": "newCall", "direction": "in"}, "callId"),
             ({"event": "newCall", "callId": "x"}, "direction"), ({"event": "hangup", "callId": "x"}, "cause"),
             ({"event": "hangup", "callId": "x", "cause": "gone"}, "cause"),
             ({"event": "newCall", "callId": "x", "direction": "in", "from": "1" * 40}, "from"),
             ({"event": "newCall", "callId": "x", "direction": "in", "timestamp": "2026-12-07T10:00:00"}, "timestamp"),
             ({"event": "newCall", "callId": "x", "direction": "in", "timestamp": "2019-01-01T10:00:00+08:00"}, "timestamp"),
             ({"event": "recording", "callId": "x", "url": "file:///etc/passwd"}, "url")]
    for body, field in cases:
        response = await pbx(**body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["extra"][0]["key"] == field, (body, response.text)


async def test_an_unknown_token_is_404_and_writes_nothing(client, tokens, pbx):
    from core.tables import Call, CallEvent

    response = await client.post("/api/cti/not-a-token", json={"event": "newCall", "callId": "z", "direction": "in"})
    assert response.status_code == 404
    assert await Call.count() == 0 and await CallEvent.count() == 0


async def test_a_signed_connection_refuses_an_unsigned_or_forged_push(client, tokens):
    made = (await client.post("/api/cti/connections", json={"name": "签名交换机", "signed": True},
                              headers=tokens["admin1"])).json()
    body = json.dumps({"event": "newCall", "callId": "s", "direction": "in", "from": "13800007777"}).encode()
    url = f"/api/cti/{made['token']}"
    assert (await client.post(url, content=body, headers={"content-type": "application/json"})).status_code == 401
    forged = {"content-type": "application/json", "x-huying-signature": "sha256=" + "0" * 64}
    assert (await client.post(url, content=body, headers=forged)).status_code == 401
    good = "sha256=" + hmac.new(made["secret"].encode(), body, hashlib.sha256).hexdigest()
    signed = await client.post(url, content=body, headers={"content-type": "application/json", "x-huying-signature": good})
    assert signed.status_code == 200, signed.text


async def test_only_admins_create_connections_and_only_the_centre_reads_calls(client, tokens, pbx):
    assert (await client.post("/api/cti/connections", json={"name": "x"}, headers=tokens["agent1"])).status_code == 403
    assert (await client.get("/api/calls", headers=tokens["eco_handler"])).status_code == 403
    assert (await client.get("/api/calls?limit=100000", headers=tokens["agent1"])).status_code == 400


async def test_a_blocked_number_is_rejected_as_zammad_does(client, tokens, pbx):
    made = await client.post("/api/cti/blocked-numbers", json={"number": "13900000000", "note": "骚扰电话"},
                             headers=tokens["admin1"])
    assert made.status_code == 201
    answer = await pbx(event="newCall", callId="b1", direction="in", **{"from": "13900000000"})
    assert answer.json() == {"call_id": "b1", "duplicate": False, "action": "reject", "reason": "busy"}
    await pbx(event="hangup", callId="b1", cause="busy")
    [call] = await _calls(client, tokens, number="13900000000")
    assert call["outcome_label"] == "已拦截" and call["callback"] == ""
    assert (await client.delete("/api/cti/blocked-numbers/13900000000", headers=tokens["admin1"])).status_code == 204
    assert (await pbx(event="newCall", callId="b2", direction="in", **{"from": "13900000000"})).json().get("action") is None


async def test_an_answered_call_pops_on_the_agents_screen(client, tokens, pbx):
    platform = client.platform
    events = platform.live.events(["user:agent1"], keepalive=5)
    waiting = asyncio.ensure_future(asyncio.wait_for(anext(events), 5))
    await asyncio.sleep(0.01)
    await pbx(event="newCall", callId="p1", direction="in", **{"from": "13800008888"})
    await pbx(event="answer", callId="p1", answeringNumber="8001")
    event = await waiting
    assert event.kind == "call.answered" and event.data["number"] == "13800008888"
    await events.aclose()


async def test_an_order_linked_to_its_call_shows_the_call_masked_outside_the_centre(client, tokens, pbx):
    from core.model import Actor

    await pbx(event="newCall", callId="l1", direction="in", **{"from": "13800009999"})
    [call] = await _calls(client, tokens, number="13800009999")
    telephony = client.platform.telephony
    agent = Actor(name="agent1", role="agent")
    assert await telephony.link_order(call["call_id"], "20261207-0001", agent)
    [linked] = await _calls(client, tokens, number="13800009999")
    assert linked["orders"] == ["20261207-0001"]
    handler = Actor(name="eco_handler", role="handler", department="eco_env")
    [seen] = await telephony.calls_of_order("20261207-0001", handler)
    assert seen["number"] == "138****9999"
