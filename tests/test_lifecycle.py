"""The lifecycle table, exhaustively: every status × every action is allowed or refused with the
right status code, every role is checked, and two concurrent actions on one order never both win."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from core.errors import Conflict, Forbidden, HuyingError, NotFound
from core.lifecycle import STATUSES
from core.model import Actor
from core.orders import IntakeRequest
from core.tables import Order, OrderEvent
from tests.helpers import intake_body

# What DESIGN.md's table allows, written out independently of core/lifecycle.py.
ALLOWED_FROM = {
    "dispatch": {"received"},
    "redispatch": {"dispatched"},
    "accept": {"dispatched"},
    "return": {"dispatched"},
    "uphold_return": {"returned"},
    "reject_return": {"returned"},
    "reply": {"accepted"},
    "approve": {"replied"},
    "reject_reply": {"replied"},
    "callback": {"completed"},
    "archive": {"completed_rated"},
}
LEADS_TO = {
    "dispatch": "dispatched", "redispatch": "dispatched", "accept": "accepted", "return": "returned",
    "uphold_return": "received", "reject_return": "dispatched", "reply": "replied", "approve": "completed",
    "reject_reply": "accepted", "callback": "archived", "archive": "archived",
}
ROLES_ALLOWED = {
    "dispatch": {"dispatcher", "admin"}, "redispatch": {"dispatcher", "admin"},
    "accept": {"handler"}, "return": {"handler"}, "reply": {"handler"},
    "uphold_return": {"dispatcher", "admin"}, "reject_return": {"dispatcher", "admin"},
    "approve": {"dispatcher", "admin"}, "reject_reply": {"dispatcher", "admin"},
    "callback": {"agent", "admin"}, "archive": {"dispatcher", "supervisor", "admin"},
}
PAYLOADS = {
    "dispatch": {"department": "eco_env"}, "redispatch": {"department": "housing"},
    "return": {"reason": "不属于本单位职责"}, "reject_return": {"reason": "属于本单位职责，请办理"},
    "reply": {"reply": "已现场处理"}, "reject_reply": {"reason": "答复不完整"},
    "callback": {"satisfaction": "satisfied", "resolved": True},
}
# "completed_rated": completed, called back with a bad rating (so archive is open, callback is not)
STATES = [*STATUSES, "completed_rated"]
ROLES = ["agent", "dispatcher", "handler", "supervisor", "admin"]


def actor(role: str, department: str | None = "eco_env") -> Actor:
    return Actor(name=f"{role}1", role=role, department=department if role == "handler" else None)


async def order_in(platform, state: str) -> str:
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest), actor("agent"))
    status, rating = state, None
    if state == "completed_rated":
        status, rating = "completed", {"satisfaction": "unsatisfied", "resolved": False, "valid": True}
    department = None if state == "received" else "eco_env"
    await Order.update({Order.status: status, Order.department: department, Order.rating: rating}).where(
        Order.number == order["number"])
    return order["number"]


@pytest.mark.parametrize("action", sorted(ALLOWED_FROM))
async def test_each_action_from_each_status(platform, action):
    role = sorted(ROLES_ALLOWED[action])[0]
    for state in STATES:
        number = await order_in(platform, state)
        call = platform.orders.act(number, action, PAYLOADS.get(action), actor(role))
        if state in ALLOWED_FROM[action]:
            after = await call
            assert after["status"] == LEADS_TO[action], (state, action)
            assert after["events"][-1]["action"] == action
        else:
            # a handler cannot even see an order not yet dispatched to its department
            hidden = role == "handler" and state == "received"
            with pytest.raises(NotFound if hidden else Conflict):
                await call
            row = await Order.select(Order.status, Order.version).where(Order.number == number).first()
            assert row["version"] == 1, "a refused action must not change the order"


@pytest.mark.parametrize("action", sorted(ALLOWED_FROM))
async def test_each_action_by_each_role(platform, action):
    state = next(iter(ALLOWED_FROM[action]))
    for role in ROLES:
        number = await order_in(platform, state)
        call = platform.orders.act(number, action, PAYLOADS.get(action), actor(role))
        if role in ROLES_ALLOWED[action]:
            assert (await call)["status"] == LEADS_TO[action]
        else:
            with pytest.raises(NotFound if role == "handler" and state == "received" else Forbidden):
                await call


async def test_a_handler_of_another_department_may_not_act(platform):
    number = await order_in(platform, "dispatched")
    with pytest.raises(HuyingError) as refused:
        await platform.orders.act(number, "accept", {}, actor("handler", "housing"))
    assert refused.value.status_code == 404  # the order is not visible to them at all
    assert (await platform.orders.act(number, "accept", {}, actor("handler", "eco_env")))["status"] == "accepted"


async def test_over_the_api_a_refusal_says_why_with_the_right_status(client, tokens):
    number = (await client.post("/api/channels/hotline/orders", json=intake_body(),
                                headers=tokens["agent1"])).json()["number"]
    wrong_state = await client.post(f"/api/orders/{number}/actions/approve", headers=tokens["dispatcher1"])
    assert wrong_state.status_code == 409
    assert wrong_state.json()["detail"] == "工单当前状态为「待派单」，不能执行「审核通过」"
    wrong_role = await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                                   headers=tokens["agent1"])
    assert wrong_role.status_code == 403 and "派单" in wrong_role.json()["detail"]
    bad_payload = await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": ""},
                                    headers=tokens["dispatcher1"])
    assert bad_payload.status_code == 400 and bad_payload.json()["extra"][0]["key"] == "department"
    unknown_department = await client.post(f"/api/orders/{number}/actions/dispatch",
                                           json={"department": "nowhere"}, headers=tokens["dispatcher1"])
    assert unknown_department.status_code == 400
    assert unknown_department.json()["extra"] == [{"key": "department", "message": "承办单位不存在", "source": "body"}]
    unknown_action = await client.post(f"/api/orders/{number}/actions/teleport", headers=tokens["dispatcher1"])
    assert unknown_action.status_code == 404
    missing = await client.post("/api/orders/XJ20990101000001/actions/dispatch", json={"department": "eco_env"},
                                headers=tokens["dispatcher1"])
    assert missing.status_code == 404
    events = (await client.get(f"/api/orders/{number}", headers=tokens["dispatcher1"])).json()["events"]
    assert [e["action"] for e in events] == ["intake"]


async def test_concurrent_dispatches_of_one_order_exactly_one_wins(platform):
    number = await order_in(platform, "received")
    departments = ["eco_env", "housing", "urban_mgmt", "emergency", "hrss", "eco_env", "housing", "general_office"]
    results = await asyncio.gather(
        *(platform.orders.act(number, "dispatch", {"department": d}, actor("dispatcher")) for d in departments),
        return_exceptions=True)
    winners = [r for r in results if isinstance(r, dict)]
    losers = [r for r in results if isinstance(r, HuyingError)]
    assert len(winners) == 1 and len(losers) == len(departments) - 1, results
    assert all(r.status_code == 409 for r in losers)
    row = await Order.select().where(Order.number == number).first()
    assert row["department"] == winners[0]["department"] and row["version"] == 2
    assert await OrderEvent.count().where(OrderEvent.action == "dispatch") == 1


async def test_concurrent_different_actions_on_one_order_exactly_one_wins(platform):
    number = await order_in(platform, "dispatched")
    results = await asyncio.gather(
        platform.orders.act(number, "accept", {}, actor("handler")),
        platform.orders.act(number, "return", {"reason": "非本单位职责"}, actor("handler")),
        platform.orders.act(number, "redispatch", {"department": "housing"}, actor("dispatcher")),
        return_exceptions=True)
    assert sum(isinstance(r, dict) for r in results) == 1, results
    assert all(r.status_code == 409 for r in results if isinstance(r, HuyingError))
