"""Callbacks at queue speed: outcomes besides a rating (未接通 tried again, then 无法回访; 拒访 and
号码错误 close at once), orders resolved at intake called back by a setting (sampled by default), one
text message for a call answered on the spot, and the agent's callback desk in the console."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.callbacks import CallbackPolicy, needs_callback, parse_resolved_setting
from core.clock import SHANGHAI
from core.intake import IntakeRequest
from core.model import Actor
from core.settings import load_settings
from core.tables import AccessEvent, Order, OrderEvent, TextMessage
from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (fixture)

AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HANDLER = Actor(name="housing_handler", role="handler", department="housing")
MONDAY = dt.datetime(2031, 3, 17, 9, 0, tzinfo=SHANGHAI)  # a working Monday


async def _intake(platform, **overrides) -> str:
    request = msgspec.convert(intake_body(**overrides), IntakeRequest)
    _, made = await platform.orders.intake("hotline", request, AGENT)
    return made.number


async def _completed(platform) -> str:
    number = await _intake(platform)
    act = platform.orders.act
    await act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await act(number, "accept", {}, HANDLER)
    await act(number, "reply", {"reply": "经核查，路灯已于今日修复。"}, HANDLER)
    await act(number, "approve", {}, DISPATCHER)
    return number


async def _events(number: str, action: str) -> list[dict]:
    order = await Order.select(Order.id).where(Order.number == number).first()
    return await (OrderEvent.select().where((OrderEvent.order_id == order["id"]) & (OrderEvent.action == action))
                  .order_by(OrderEvent.id).output(load_json=True))


async def test_no_answer_is_tried_again_then_closed_as_unreachable(platform, frozen_clock):
    frozen_clock.freeze(MONDAY)
    number = await _completed(platform)
    due = dt.datetime.fromisoformat((await platform.orders.get(number, AGENT)).deadlines["callback"]["due"])
    first = await platform.orders.act(number, "callback_attempt", {"outcome": "no_answer"}, AGENT)
    callback = first.order.deadlines["callback"]
    assert first.order.status == "completed" and callback["attempts"] == 1 and not callback.get("done")
    retry = dt.datetime.fromisoformat(callback["retry_at"])
    assert retry == platform.calendar.add_working_hours(MONDAY, 4)  # four working hours later
    assert dt.datetime.fromisoformat(callback["due"]) >= max(due, retry)  # the deadline follows the retries
    frozen_clock.freeze(retry)
    await platform.orders.act(number, "callback_attempt", {"outcome": "no_answer", "note": "关机"}, AGENT)
    frozen_clock.freeze(dt.datetime.fromisoformat((await platform.orders.get(number, AGENT)).deadlines["callback"]["retry_at"]))
    last = await platform.orders.act(number, "callback_attempt", {"outcome": "no_answer"}, AGENT)
    assert last.order.status == "archived" and last.order.rating is None  # no rating: not counted as one
    assert last.order.deadlines["callback"]["outcome"] == "unreachable" and last.order.deadlines["callback"]["done"]
    assert (last.order.deadlines["callback"]["done"] <= (MONDAY + dt.timedelta(days=2)).isoformat())  # two working days
    events = await _events(number, "callback_attempt")
    assert [(e["payload"]["outcome"], e["payload"]["attempt"], e["payload"]["closed"]) for e in events] == [
        ("no_answer", 1, False), ("no_answer", 2, False), ("no_answer", 3, True)]
    assert events[-1]["payload"]["closed_as"] == "unreachable" and events[-1]["to_status"] == "archived"
    assert "关机" in events[1]["reason"] and "无法回访" in events[-1]["reason"]


@pytest.mark.parametrize("outcome", ["refused", "wrong_number"])
async def test_a_refusal_or_a_wrong_number_closes_the_callback_at_once(platform, frozen_clock, outcome):
    frozen_clock.freeze(MONDAY)
    number = await _completed(platform)
    done = await platform.orders.act(number, "callback_attempt", {"outcome": outcome}, AGENT)
    assert done.order.status == "archived" and done.order.rating is None
    assert done.order.deadlines["callback"]["outcome"] == outcome
    [event] = await _events(number, "callback_attempt")
    assert event["payload"]["closed"] is True and event["payload"]["attempt"] == 1


async def test_a_rating_after_a_missed_call_and_the_number_of_tries_is_a_setting(platform, frozen_clock):
    frozen_clock.freeze(MONDAY)
    platform.orders.callbacks = CallbackPolicy(tries=1)
    number = await _completed(platform)
    closed = await platform.orders.act(number, "callback_attempt", {"outcome": "no_answer"}, AGENT)
    assert closed.order.status == "archived"
    platform.orders.callbacks = CallbackPolicy()
    other = await _completed(platform)
    await platform.orders.act(other, "callback_attempt", {"outcome": "no_answer"}, AGENT)
    rated = await platform.orders.act(other, "callback", {"satisfaction": "satisfied", "resolved": True}, AGENT)
    assert rated.order.status == "archived" and rated.order.rating["satisfaction"] == "satisfied"
    from core.errors import Conflict

    with pytest.raises(Conflict):  # rated: no attempt to record any more
        await platform.orders.act(number, "callback_attempt", {"outcome": "refused"}, AGENT)
    assert load_settings({"HUYING_CALLBACK_TRIES": "5", "HUYING_SECRET_KEY": "x"}).callback_tries == 5
    with pytest.raises(ValueError):
        load_settings({"HUYING_CALLBACK_TRIES": "0", "HUYING_SECRET_KEY": "x"})


def test_the_resolved_at_intake_setting_is_all_none_or_a_stable_sample():
    assert load_settings({"HUYING_SECRET_KEY": "x"}).resolved_at_intake_callback == "sample:0.2"  # the default
    for bad in ("some", "sample:2", "sample:x"):
        with pytest.raises(ValueError):
            parse_resolved_setting(bad)
    numbers = [f"XJ20310317{i:06d}" for i in range(1000)]
    picked = [n for n in numbers if needs_callback(n, "sample:0.2")]
    assert 150 < len(picked) < 250  # about one in five
    assert picked == [n for n in numbers if needs_callback(n, "sample:0.2")]  # the same every time
    assert all(needs_callback(n, "all") for n in numbers) and not any(needs_callback(n, "none") for n in numbers)


async def test_orders_resolved_at_intake_wait_for_a_callback_only_when_picked(platform, frozen_clock):
    frozen_clock.freeze(MONDAY)
    platform.orders.callbacks = CallbackPolicy(resolved_at_intake="none")
    number = await _intake(platform, kind="consult")
    done = await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
    assert done.order.status == "archived" and "callback" not in done.order.deadlines
    platform.orders.callbacks = CallbackPolicy(resolved_at_intake="sample:0.5")
    for _ in range(6):
        number = await _intake(platform, kind="consult")
        done = await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
        expected = needs_callback(number, "sample:0.5")
        assert done.order.status == ("completed" if expected else "archived")
        assert ("callback" in done.order.deadlines) is expected
        [event] = await _events(number, "resolve_at_intake")
        assert event["payload"]["callback"] is expected


async def _texts(number: str) -> list[dict]:
    return await TextMessage.select().where((TextMessage.order_number == number) & (TextMessage.kind == "sms")).order_by(
        TextMessage.id)


async def test_a_call_answered_on_the_spot_gets_one_text_message_not_two(platform, frozen_clock):
    """Before: the receipt at intake and the 已办结 notice a few seconds later. Now: one message that
    says both and carries the query code."""
    from core.jobs import deliver_outbox

    frozen_clock.freeze(MONDAY)
    number = await _intake(platform, kind="consult")
    frozen_clock.freeze(MONDAY + dt.timedelta(seconds=20))
    await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
    frozen_clock.freeze(MONDAY + dt.timedelta(minutes=10))
    await deliver_outbox(platform)
    texts = await _texts(number)
    order = await platform.orders.get(number, AGENT)
    assert [t["template"] for t in texts] == ["resolved"]
    assert order.query_code in texts[0]["text"] and "受理并当场答复办结" in texts[0]["text"]


async def test_a_receipt_waits_a_moment_and_the_completion_notice_repeats_the_query_code(platform, frozen_clock):
    from core.jobs import deliver_outbox

    frozen_clock.freeze(MONDAY)
    number = await _intake(platform)
    await deliver_outbox(platform)
    assert await _texts(number) == []  # the call may still be answered on the spot
    frozen_clock.freeze(MONDAY + dt.timedelta(minutes=4))
    await deliver_outbox(platform)
    assert [t["template"] for t in await _texts(number)] == ["receipt"]
    web = await _intake(platform, source="api")  # not a call: recorded at once
    assert [t["template"] for t in await _texts(web)] == ["receipt"]
    await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, AGENT)
    texts = await _texts(number)
    order = await platform.orders.get(number, AGENT)
    assert [t["template"] for t in texts] == ["receipt", "completed"] and order.query_code in texts[1]["text"]


async def test_the_callback_desk_one_click_to_call_and_one_to_record(client, people, platform, frozen_clock):
    frozen_clock.freeze(MONDAY)
    number = await _completed(platform)
    agent = await people("agent1")
    home = await agent.get("/console")
    assert 'href="/console/callbacks" data-queue="callback"' in home.text
    queue = await agent.get("/console/callbacks")
    assert number in queue.text and "经核查，路灯已于今日修复。" in queue.text and "13912345678" not in queue.text
    opened = await agent.post(f"/console/callbacks/{number}/call")  # one click: number shown, form beside the reply
    assert opened.status_code == 200 and "13912345678" in opened.text
    assert 'id="callback-reply"' in opened.text and "经核查，路灯已于今日修复。" in opened.text
    assert "住房和城乡建设局" in opened.text and 'id="attempt-no_answer"' in opened.text
    [reveal] = await _events(number, "reveal_contact")
    assert reveal["reason"] == "回访" and reveal["actor"] == "agent1"
    assert await AccessEvent.count().where((AccessEvent.target == number) & (AccessEvent.action == "view_order")) >= 1
    missed = await agent.post(f"/console/orders/{number}/act/callback_attempt",
                              {"outcome": "no_answer", "back": "callbacks"}, follow_redirects=False)
    assert missed.status_code == 303 and missed.headers["location"].startswith("/console/callbacks?")
    queue = await agent.get(missed.headers["location"])
    assert "已完成：回访未成功" in queue.text and "未接通 1/3" in queue.text
    await agent.post(f"/console/callbacks/{number}/call")
    rated = await agent.post(f"/console/orders/{number}/act/callback",
                             {"satisfaction": "basically_satisfied", "resolved": "yes", "back": "callbacks"},
                             follow_redirects=False)
    assert rated.status_code == 303
    order = await platform.orders.get(number, AGENT)
    assert order.status == "archived" and order.rating["satisfaction"] == "basically_satisfied"
    assert number not in (await agent.get("/console/callbacks")).text.split("<tbody>")[-1]
    handler = await people("housing_handler")
    assert (await handler.get("/console/callbacks")).status_code == 403
