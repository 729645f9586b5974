"""外呼 from the callback desk (回访): the PBX rings the agent's extension and then the citizen; the
outbound call's events find the order through the originate request's reference (or the number and
the extension), and its outcome lands in the callback: not answered is an attempt 未接通 with a retry,
a number that does not exist is 号码错误, an answered call leaves the rating to the agent and shows
beside the form. Every step is on the order's timeline in Chinese."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.clock import SHANGHAI
from core.intake import IntakeRequest
from core.model import Actor
from core.tables import AccessEvent, CallDial, Order, OrderEvent, OutboxMessage
from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (fixture)

MONDAY = dt.datetime(2031, 3, 17, 9, 0, tzinfo=SHANGHAI)  # a working Monday
AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HANDLER = Actor(name="housing_handler", role="handler", department="housing")
PHONE = "13912345678"  # intake_body's caller

pytestmark = pytest.mark.clock("2031-03-17T09:00:00+08:00")


def at(seconds: float) -> str:
    return (MONDAY + dt.timedelta(seconds=seconds)).isoformat()


async def _completed(platform) -> str:
    _, made = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest), AGENT)
    act = platform.orders.act
    await act(made.number, "dispatch", {"department": "housing"}, DISPATCHER)
    await act(made.number, "accept", {}, HANDLER)
    await act(made.number, "reply", {"reply": "经核查，路灯已于今日修复。"}, HANDLER)
    await act(made.number, "approve", {}, DISPATCHER)
    return made.number


@pytest.fixture
def originate(platform):
    """A PBX whose originate interface is configured (HUYING_CTI_ORIGINATE_URL)."""
    platform.settings = msgspec.structs.replace(platform.settings, cti_originate_url="http://pbx.example/originate")
    platform.telephony.settings = platform.settings
    return platform.settings


@pytest.fixture
async def pbx(client, tokens):
    made = (await client.post("/api/cti/connections", json={"name": "中心交换机"}, headers=tokens["admin1"])).json()
    await client.put("/api/users/agent1/extension", json={"extension": "8001"}, headers=tokens["admin1"])

    async def send(**event):
        response = await client.post(f"/api/cti/{made['token']}", json=event)
        assert response.status_code == 200, response.text
        return response.json()

    return send


async def _events(number: str) -> list[dict]:
    order = await Order.select(Order.id).where(Order.number == number).first()
    return await (OrderEvent.select().where(OrderEvent.order_id == order["id"]).order_by(OrderEvent.id)
                  .output(load_json=True))


async def _dial(client, tokens, number: str) -> dict:
    response = await client.post(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])
    assert response.status_code == 202, response.text
    return response.json()


async def test_dialling_asks_the_pbx_with_a_reference_and_audits_it(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    assert placed["extension"] == "8001" and placed["reference"].startswith("cb-")
    [message] = await OutboxMessage.select().where(OutboxMessage.topic == "cti.originate").output(load_json=True)
    assert message["payload"] == {"number": PHONE, "extension": "8001", "agent": "agent1",
                                  "reference": placed["reference"], "order": number}
    [dialled] = [e for e in await _events(number) if e["action"] == "callback_dial"]
    assert dialled["actor"] == "agent1" and dialled["payload"] == {"extension": "8001"}
    assert dialled["reason"] == "经电话系统外呼市民"  # no number on the timeline
    assert await AccessEvent.count().where((AccessEvent.action == "originate") & (AccessEvent.target == number)) == 1


async def test_an_unanswered_outbound_call_is_a_callback_attempt_with_its_retry(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    out = {"callId": "o1", "direction": "out", "from": "8001", "to": PHONE, "reference": placed["reference"]}
    await pbx(event="newCall", timestamp=at(5), **out)
    assert (await platform.orders.get(number, AGENT)).deadlines["callback"].get("attempts") is None  # still ringing
    await pbx(event="hangup", cause="noAnswer", timestamp=at(35), callId="o1")
    order = await platform.orders.get(number, AGENT)
    callback = order.deadlines["callback"]
    assert order.status == "completed" and callback["attempts"] == 1 and callback["retry_at"]  # stays for a retry
    [attempt] = [e for e in await _events(number) if e["action"] == "callback_attempt"]
    assert attempt["actor"] == "agent1" and attempt["payload"]["outcome"] == "no_answer"
    assert "无人接听" in attempt["reason"] and "响铃 30 秒" in attempt["reason"]
    dials = (await client.get(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])).json()["items"]
    assert [(d["result"], d["result_label"], d["call"]["outcome_label"]) for d in dials] == [("no_answer", "未接通", "未接")]
    assert dials[0]["call"]["orders"] == [number]  # the call is linked to the order
    # the same hang-up again (a PBX retry) records nothing more
    await pbx(event="hangup", cause="noAnswer", timestamp=at(35), callId="o1")
    assert (await platform.orders.get(number, AGENT)).deadlines["callback"]["attempts"] == 1


@pytest.mark.parametrize("cause", ["busy", "congestion", "cancel"])
async def test_busy_congested_or_cancelled_are_not_reached(client, tokens, platform, pbx, originate, cause):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    await pbx(event="newCall", callId="o2", direction="out", to=PHONE, reference=placed["reference"], timestamp=at(5))
    await pbx(event="hangup", callId="o2", cause=cause, timestamp=at(9))
    [attempt] = [e for e in await _events(number) if e["action"] == "callback_attempt"]
    assert attempt["payload"]["outcome"] == "no_answer" and attempt["payload"]["closed"] is False


async def test_a_number_that_does_not_exist_closes_the_callback_as_a_wrong_number(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    await pbx(event="newCall", callId="o3", direction="out", to=PHONE, reference=placed["reference"], timestamp=at(5))
    await pbx(event="hangup", callId="o3", cause="notFound", timestamp=at(6))
    order = await platform.orders.get(number, AGENT)
    assert order.status == "archived" and order.rating is None
    assert order.deadlines["callback"]["outcome"] == "wrong_number"


async def test_an_answered_call_is_noted_and_leaves_the_rating_to_the_agent(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    # this PBX does not echo the reference: the call is recognised by the number and the extension
    out = {"callId": "o4", "direction": "out", "from": "8001", "to": PHONE}
    events = platform.live.events(["user:agent1"], keepalive=5)
    import asyncio

    heard = asyncio.ensure_future(asyncio.wait_for(anext(events), 5))
    await asyncio.sleep(0.01)
    await pbx(event="newCall", timestamp=at(5), **out)
    assert (await heard).kind == "callback.call"  # the desk refreshes its table; no intake page pops
    await events.aclose()
    await pbx(event="answer", answeringNumber="8001", timestamp=at(15), **out)
    await pbx(event="hangup", cause="normalClearing", timestamp=at(140), **out)
    order = await platform.orders.get(number, AGENT)
    assert order.status == "completed" and order.rating is None and not order.deadlines["callback"].get("attempts")
    [noted] = [e for e in await _events(number) if e["action"] == "callback_call"]
    assert noted["payload"] == {"wait_seconds": 10, "talk_seconds": 125} and "2 分 5 秒" in noted["reason"]
    [dial] = (await client.get(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])).json()["items"]
    assert dial["reference"] == placed["reference"] and dial["result"] == "answered"
    assert (dial["call"]["talk_seconds"], dial["call"]["wait_seconds"], dial["call"]["outcome"]) == (125, 10, "answered")
    # the agent rates it on the desk, which shows the call beside the form
    agent = await client_staff(client)
    page = (await agent.post(f"/console/callbacks/{number}/call")).text
    assert 'id="callback-calls"' in page and "125 秒" in page and "已接通" in page and 'id="rate-satisfied"' in page
    timeline = page.split('id="timeline"')[-1] if 'id="timeline"' in page else page
    assert "外呼回访" in timeline and "回访外呼接通" in timeline and "callback_call" not in page.replace('"callback_call"', "")
    rated = await client.post(f"/api/orders/{number}/actions/callback", json={"satisfaction": "satisfied", "resolved": True},
                              headers=tokens["agent1"])
    assert rated.status_code == 200 and rated.json()["status"] == "archived"


async def client_staff(client):
    from tests.test_console import Staff

    staff = Staff(client)
    await staff.login("agent1")
    return staff


async def test_the_agent_recording_first_is_not_recorded_twice(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    await pbx(event="newCall", callId="o5", direction="out", to=PHONE, reference=placed["reference"], timestamp=at(5))
    done = await client.post(f"/api/orders/{number}/actions/callback_attempt", json={"outcome": "refused"},
                             headers=tokens["agent1"])
    assert done.status_code == 200
    await pbx(event="hangup", callId="o5", cause="normalClearing", timestamp=at(30))
    assert len([e for e in await _events(number) if e["action"] == "callback_attempt"]) == 1
    [dial] = await CallDial.select().where(CallDial.order_number == number)
    assert dial["result"] == "manual"


async def test_an_unrelated_outbound_call_links_to_nothing(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    await _dial(client, tokens, number)
    await pbx(event="newCall", callId="o6", direction="out", to="13700000000", timestamp=at(5))
    await pbx(event="hangup", callId="o6", cause="noAnswer", timestamp=at(30))
    await pbx(event="newCall", callId="o7", direction="out", to=PHONE, reference="cb-unknown", timestamp=at(40))
    await pbx(event="hangup", callId="o7", cause="noAnswer", timestamp=at(60))
    assert not [e for e in await _events(number) if e["action"] == "callback_attempt"]


async def test_refusals_name_the_reason(client, tokens, platform, pbx):
    number = await _completed(platform)
    unset = await client.post(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])
    assert unset.status_code == 409 and "手动拨打" in unset.json()["detail"]  # no originate interface: tel: link
    platform.settings = msgspec.structs.replace(platform.settings, cti_originate_url="http://pbx.example/originate")
    platform.telephony.settings = platform.settings
    assert (await client.post(f"/api/orders/{number}/callback/dials", headers=tokens["dispatcher1"])).status_code == 403
    assert (await client.post("/api/orders/XJ-nope/callback/dials", headers=tokens["agent1"])).status_code == 404
    await client.put("/api/users/agent1/extension", json={"extension": ""}, headers=tokens["admin1"])
    none = await client.post(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])
    assert none.status_code == 400 and none.json()["extra"][0]["key"] == "extension"
    await client.put("/api/users/agent1/extension", json={"extension": "8001"}, headers=tokens["admin1"])
    await client.post(f"/api/orders/{number}/actions/callback", json={"satisfaction": "satisfied", "resolved": True},
                      headers=tokens["agent1"])
    closed = await client.post(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])
    assert closed.status_code == 409  # rated: no callback to dial for
    assert (await client.get(f"/api/orders/{number}/callback/dials", headers=tokens["housing_handler"])).status_code == 403


async def test_the_api_records_an_attempt_outcome_and_refuses_a_bad_one(client, tokens, platform):
    number = await _completed(platform)
    bad = await client.post(f"/api/orders/{number}/actions/callback_attempt", json={"outcome": "gone"},
                            headers=tokens["agent1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "outcome"
    done = await client.post(f"/api/orders/{number}/actions/callback_attempt", json={"outcome": "no_answer"},
                             headers=tokens["agent1"])
    assert done.status_code == 200 and done.json()["status"] == "completed"


async def test_the_desk_offers_the_pbx_or_a_tel_link(client, tokens, platform, pbx, people):
    number = await _completed(platform)
    agent = await people("agent1")
    page = (await agent.post(f"/console/callbacks/{number}/call")).text  # the number revealed for the callback
    assert f'href="tel:{PHONE}"' in page and 'id="callback-originate"' not in page
    platform.settings = msgspec.structs.replace(platform.settings, cti_originate_url="http://pbx.example/originate")
    platform.telephony.settings = platform.settings
    page = (await agent.get(f"/console/orders/{number}")).text
    assert 'id="callback-originate"' in page
    placed = await agent.post(f"/console/callbacks/{number}/dial", follow_redirects=False)
    assert placed.status_code == 303  # back to the order by GET: reloading it never dials again
    shown = await agent.get(placed.headers["location"])
    assert "电话系统先振铃分机 8001 再呼叫市民" in shown.text and "等待电话系统接通" in shown.text
    assert 'name="back" value="callbacks"' in shown.text  # recording the outcome lands back in the queue
    assert await OutboxMessage.count().where(OutboxMessage.topic == "cti.originate") == 1
    fragment = await agent.get(f"/console/callbacks/{number}/dials")
    assert fragment.status_code == 200 and 'data-order="' + number + '"' in fragment.text
    handler = await people("housing_handler")
    assert (await handler.post(f"/console/callbacks/{number}/dial")).status_code == 403


async def test_a_rating_given_during_the_call_keeps_the_call_noted_beside_it(client, tokens, platform, pbx, originate):
    number = await _completed(platform)
    placed = await _dial(client, tokens, number)
    out = {"callId": "o8", "direction": "out", "to": PHONE, "reference": placed["reference"]}
    await pbx(event="newCall", timestamp=at(5), **out)
    await pbx(event="answer", answeringNumber="8001", timestamp=at(12), **out)
    rated = await client.post(f"/api/orders/{number}/actions/callback", json={"satisfaction": "satisfied", "resolved": True},
                              headers=tokens["agent1"])
    assert rated.status_code == 200
    await pbx(event="hangup", cause="normalClearing", timestamp=at(72), callId="o8")
    order = await platform.orders.get(number, AGENT)
    assert order.status == "archived" and order.rating["satisfaction"] == "satisfied"
    [noted] = [e for e in await _events(number) if e["action"] == "callback_call"]
    assert noted["payload"]["talk_seconds"] == 60 and not [e for e in await _events(number)
                                                           if e["action"] == "callback_attempt"]


async def test_the_originate_request_reaches_the_pbx_or_is_given_up_never_dialled_late(client, tokens, platform, pbx,
                                                                                          originate, frozen_clock):
    from litestar import Litestar, Request, post

    from core.outbox import deliver_due
    from core.tables import OutboxEvent
    from tests.helpers import serve_in_thread

    number = await _completed(platform)
    first = await _dial(client, tokens, number)
    received = []

    @post("/originate", status_code=200, signature_namespace={"Request": Request})
    async def take(request: Request) -> None:
        received.append(msgspec.json.decode(await request.body()))

    with serve_in_thread(Litestar([take])) as pbx_url:
        settings = msgspec.structs.replace(platform.settings, cti_originate_url=f"{pbx_url}/originate")
        assert (await deliver_due(platform.deliverers, settings))["delivered"] == 1
    assert received == [{"number": PHONE, "extension": "8001", "agent": "agent1", "reference": first["reference"],
                         "order": number}]
    # the PBX is down: the next request waits, and after ten minutes it is given up
    second = await _dial(client, tokens, number)
    down = msgspec.structs.replace(platform.settings, cti_originate_url="http://127.0.0.1:9/originate")
    assert (await deliver_due(platform.deliverers, down))["failed"] == 1
    frozen_clock.freeze(MONDAY + dt.timedelta(minutes=11))
    await deliver_due(platform.deliverers, down)
    message = await OutboxMessage.select().where(OutboxMessage.topic == "cti.originate").order_by(
        OutboxMessage.id, ascending=False).first()
    assert message["abandoned_at"] is not None and "不再拨打" in message["abandon_reason"]
    assert await OutboxEvent.count().where((OutboxEvent.message_id == message["id"]) & (OutboxEvent.action == "abandon")) == 1
    dials = (await client.get(f"/api/orders/{number}/callback/dials", headers=tokens["agent1"])).json()["items"]
    assert [(d["reference"], d["result_label"]) for d in dials] == [(second["reference"], "外呼未送达电话系统"),
                                                                    (first["reference"], "等待通话结果")]


async def test_a_call_back_to_a_missed_caller_that_reaches_nobody_is_unreachable(client, tokens, pbx):
    await pbx(event="newCall", callId="in1", direction="in", **{"from": "13800001234"}, timestamp=at(0))
    await pbx(event="hangup", callId="in1", cause="noAnswer", timestamp=at(20))
    await pbx(event="newCall", callId="back1", direction="out", **{"from": "8001", "to": "13800001234"}, timestamp=at(60))
    await pbx(event="hangup", callId="back1", cause="busy", timestamp=at(70))
    [missed] = (await client.get("/api/calls/missed", headers=tokens["agent1"])).json()["items"]
    assert (missed["pbx_call_id"], missed["callback_label"]) == ("in1", "回拨未接通")  # still to be called back
    await pbx(event="newCall", callId="back2", direction="out", **{"from": "8001", "to": "13800001234"}, timestamp=at(90))
    await pbx(event="answer", callId="back2", answeringNumber="8001", timestamp=at(95))
    await pbx(event="hangup", callId="back2", cause="normalClearing", timestamp=at(150))
    assert (await client.get("/api/calls/missed", headers=tokens["agent1"])).json()["items"] == []
