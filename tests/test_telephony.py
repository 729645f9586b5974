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

from core.clock import SHANGHAI

pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")

T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)


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


async def test_an_order_linked_to_its_call_shows_the_call_masked_as_the_order_is(client, tokens, pbx):
    from core.model import Actor

    await pbx(event="newCall", callId="l1", direction="in", **{"from": "13800009999"})
    [call] = await _calls(client, tokens, number="13800009999")
    telephony = client.platform.telephony
    agent = Actor(name="agent1", role="agent")
    assert await telephony.link_order(call["call_id"], "20261207-0001", agent)
    [linked] = await _calls(client, tokens, number="13800009999")
    assert linked["orders"] == ["20261207-0001"]
    [seen] = await telephony.calls_of_order("20261207-0001")
    assert seen["number"] == "138****9999"


async def test_the_board_shows_lines_in_use_against_the_plan_and_todays_answering(client, tokens, pbx):
    for n in (1, 2):  # two calls still being talked
        await pbx(event="newCall", callId=f"t{n}", direction="in", **{"from": f"1380000100{n}"}, timestamp=at(-60))
        await pbx(event="answer", callId=f"t{n}", answeringNumber="8001", timestamp=at(-50))
    await pbx(event="newCall", callId="w1", direction="in", queue="热线", **{"from": "13800001003"}, timestamp=at(-20))
    for call_id, wait in (("q1", 8), ("q2", 30)):  # answered within and after 20 s
        await pbx(event="newCall", callId=call_id, direction="in", **{"from": "13800001004"}, timestamp=at(-600))
        await pbx(event="answer", callId=call_id, answeringNumber="8001", timestamp=at(-600 + wait))
        await pbx(event="hangup", callId=call_id, cause="normalClearing", timestamp=at(-300))
    await pbx(event="newCall", callId="x1", direction="in", **{"from": "13800001005"}, timestamp=at(-400))
    await pbx(event="hangup", callId="x1", cause="noAnswer", timestamp=at(-370))
    phone = (await client.get("/api/board", headers=tokens["supervisor1"])).json()["phone"]
    assert (phone["lines_in_use"], phone["plan_lines"], phone["plan_label"], phone["waiting"]) == (2, 4, "高峰", 1)
    assert (phone["offered_today"], phone["answer_rate"], phone["service_level"]) == (3, 0.6667, 0.3333)
    from tests.test_console import Staff

    supervisor = Staff(client)
    await supervisor.login("supervisor1")
    page = (await supervisor.get("/console/board")).text
    assert "2 / 4" in page and "66.7%" in page and "33.3%" in page


async def test_the_forecast_uses_the_measured_talk_times_and_says_so(client, tokens, pbx):
    for n in range(5):
        call = {"callId": f"a{n}", "direction": "in", "from": f"1390000000{n}"}
        await pbx(event="newCall", **call, timestamp=at(-3600))
        await pbx(event="answer", **call, answeringNumber="8001", timestamp=at(-3590))
        await pbx(event="hangup", **call, cause="normalClearing", timestamp=at(-3590 + 100 + n * 10))
    plan = (await client.get("/api/forecast", headers=tokens["supervisor1"])).json()
    assert plan["aht_measured"] and "电话系统记录" in plan["aht_source"]
    assert plan["handling_seconds_by_hour"] == {"9": 120.0} and plan["average_handling_seconds"] == 120.0
    nine = [r for r in plan["hours"] if r["hour"] == 9]
    assert {(r["handling_seconds"], r["handling_from"]) for r in nine} == {(120.0, "hour")}


MP3 = b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x00" * 256


async def test_a_recording_plays_in_the_centre_audited_and_in_a_department_only_when_shared(client, tokens, pbx, platform):
    from core.model import Actor
    from core.tables import AccessEvent
    from tests.helpers import intake_body
    from tests.test_console import Staff
    import msgspec
    from core.intake import IntakeRequest

    await pbx(event="newCall", callId="r1", direction="in", **{"from": "13800002345"})
    [call] = await _calls(client, tokens, number="13800002345")
    uploaded = await client.post(f"/api/cti/{pbx.token}/recordings/r1", files={"file": ("r1.mp3", MP3, "audio/mpeg")})
    assert uploaded.status_code == 200 and uploaded.json()["type"] == "audio/mpeg"
    refused = await client.post(f"/api/cti/{pbx.token}/recordings/r1", files={"file": ("r1.mp3", b"not audio", "audio/mpeg")})
    assert refused.status_code == 400
    agent = Actor(name="agent1", role="agent")
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest), agent)
    await platform.orders.act(order.number, "dispatch", {"department": "eco_env"}, Actor(name="dispatcher1", role="dispatcher"))
    await platform.telephony.link_order(call["call_id"], order.number, agent)
    me = Staff(client)
    await me.login("agent1")
    page = (await me.get(f"/console/orders/{order.number}")).text
    assert f'src="/console/calls/{call["call_id"]}/recording"' in page
    played = await me.get(f"/console/calls/{call['call_id']}/recording")
    assert played.status_code == 200 and played.content == MP3 and played.headers["content-type"] == "audio/mpeg"
    assert await AccessEvent.count().where((AccessEvent.action == "play_recording") & (AccessEvent.actor == "agent1")) == 1
    handler = Staff(client)
    await handler.login("eco_handler")
    assert "recording" not in (await handler.get(f"/console/orders/{order.number}")).text.split("附件")[0]
    assert (await handler.get(f"/console/calls/{call['call_id']}/recording")).status_code == 404
    shared = await client.post(f"/api/calls/{call['call_id']}/share", json={"shared": True}, headers=tokens["supervisor1"])
    assert shared.status_code == 200
    assert (await handler.get(f"/console/calls/{call['call_id']}/recording")).content == MP3
    other = Staff(client)
    await other.login("housing_handler")
    assert (await other.get(f"/console/calls/{call['call_id']}/recording")).status_code == 404


async def test_a_recording_url_is_fetched_by_the_delivery_job_with_a_size_limit(client, tokens, pbx, platform):
    from litestar import Litestar, get

    from core.builtins.telephony import fetch_recording
    from core.tables import Call, OutboxMessage
    from tests.helpers import serve_in_thread

    @get("/rec.mp3", media_type="audio/mpeg", signature_namespace={"bytes": bytes})
    async def recording() -> bytes:
        return MP3

    await pbx(event="newCall", callId="u1", direction="in", **{"from": "13800003456"})
    with serve_in_thread(Litestar([recording])) as pbx_url:
        assert (await pbx(event="recording", callId="u1", url=f"{pbx_url}/rec.mp3")).status_code == 200
        [message] = await OutboxMessage.select().where(OutboxMessage.topic == "cti.recording").output(load_json=True)
        await fetch_recording(message, platform.settings)
    row = await Call.select(Call.recording_key, Call.recording_type).where(Call.call_id == "u1").first()
    assert row["recording_type"] == "audio/mpeg" and platform.attachments.open(row["recording_key"]) == MP3


async def test_click_to_call_asks_the_pbx_to_ring_the_missed_caller_from_my_extension(client, tokens, pbx, platform):
    import msgspec as _msgspec
    from litestar import Litestar, Request, post

    from core.builtins.telephony import originate
    from core.settings import Settings
    from core.tables import OutboxMessage
    from tests.helpers import serve_in_thread

    await pbx(event="newCall", callId="d1", direction="in", **{"from": "13800004567"})
    await pbx(event="hangup", callId="d1", cause="noAnswer")
    [missed] = (await client.get("/api/calls/missed", headers=tokens["agent1"])).json()["items"]
    nobody = await client.post(f"/api/calls/{missed['call_id']}/dial", headers=tokens["dispatcher1"])
    assert nobody.status_code == 400 and nobody.json()["extra"][0]["key"] == "extension"
    placed = await client.post(f"/api/calls/{missed['call_id']}/dial", headers=tokens["agent1"])
    assert placed.status_code == 202 and placed.json() == {"number": "13800004567", "extension": "8001"}
    [message] = await OutboxMessage.select().where(OutboxMessage.topic == "cti.originate").output(load_json=True)
    received = []

    @post("/originate", status_code=200, signature_namespace={"Request": Request})
    async def take(request: Request) -> None:
        received.append((_msgspec.json.decode(await request.body()), request.headers.get("idempotency-key")))

    with serve_in_thread(Litestar([take])) as pbx_url:
        settings = Settings(database_url=platform.settings.database_url, cti_originate_url=f"{pbx_url}/originate")
        await originate(message, settings)
    assert received == [({"number": "13800004567", "extension": "8001", "agent": "agent1",
                          "reference": missed["call_id"]}, f"huying-outbox-{message['id']}")]


async def test_the_demo_has_a_call_log_and_its_forecast_measures_talk_times(client, tokens):
    from core.demo import seed_calls, seed_orders

    platform = client.platform
    await seed_orders(platform, 600, progress=False)
    made = await seed_calls(platform)
    assert made > 0
    answered = await _calls(client, tokens, outcome="answered", limit=200)
    assert answered and all(len(c["orders"]) == 1 and c["talk_seconds"] >= 10 for c in answered)
    plan = (await client.get("/api/forecast", headers=tokens["supervisor1"])).json()
    assert plan["aht_measured"] and plan["aht_source"].startswith("电话系统记录")
    assert "phone" in (await client.get("/api/board", headers=tokens["supervisor1"])).json()


async def test_an_admin_sets_an_agents_extension_on_the_users_page(client, tokens):
    from core.tables import User
    from tests.test_console import Staff

    admin = Staff(client)
    await admin.login("admin1")
    user = await User.select(User.id).where(User.username == "agent1").first()
    page = await admin.post(f"/console/admin/users/{user['id']}", {"op": "extension", "extension": "8009"})
    assert page.status_code == 200 and "agent1 的分机号为 8009" in page.text
    assert (await User.select(User.extension).where(User.id == user["id"]).first())["extension"] == "8009"
    other = await User.select(User.id).where(User.username == "dispatcher1").first()
    taken = await admin.post(f"/console/admin/users/{other['id']}", {"op": "extension", "extension": "8009"})
    assert taken.status_code == 400 and "分机号已被占用" in taken.text
    bad = await client.put("/api/users/agent1/extension", json={"extension": "80a"}, headers=tokens["admin1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "extension"


async def test_an_admin_connects_a_pbx_and_blocks_a_number_in_the_console(client):
    import re

    from tests.test_console import Staff

    admin = Staff(client)
    await admin.login("admin1")
    made = await admin.post("/console/admin/telephony", {"op": "connect", "name": "中心交换机"})
    assert made.status_code == 200 and "只显示这一次" in made.text
    token = re.search(r"/api/cti/([A-Za-z0-9_-]+)", made.text).group(1)
    blocked = await admin.post("/console/admin/telephony", {"op": "block", "number": "13900001111", "note": "骚扰"})
    assert blocked.status_code == 200 and "已屏蔽 13900001111" in blocked.text
    answer = await client.post(f"/api/cti/{token}", json={"event": "newCall", "callId": "k", "direction": "in",
                                                           "from": "13900001111"})
    assert answer.json()["action"] == "reject"
    bad = await admin.post("/console/admin/telephony", {"op": "block", "number": "abc"})
    assert bad.status_code == 400
