"""The lifecycle table, exhaustively: every status × every action is allowed or refused with the
right status code, every role is checked, and two concurrent actions on one order never both win."""

from __future__ import annotations

import asyncio
import datetime as dt

import msgspec
import pytest

from core import clock
from core.errors import Conflict, Forbidden, HuyingError, NotFound
from core.lifecycle import STATUSES
from core.model import Actor
from core.orders import ActionResult, IntakeRequest
from core.tables import Order, OrderEvent
from tests.helpers import intake_body

# What the lifecycle table in docs/architecture.md allows, written out independently of core/lifecycle.py.
OPEN = {"received", "dispatched", "returned", "accepted", "replied", "completed", "completed_rated",
        "appealing", "suspended"}
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
    "callback_attempt": {"completed"},
    "archive": {"completed_rated"},
    "resolve_at_intake": {"received"},
    "merge": {"received"},
    "suspend": {"received", "accepted"},
    "resume": {"suspended"},
    "request_extension": {"accepted"},
    "approve_extension": {"accepted", "suspended"},
    "reject_extension": {"accepted", "suspended"},
    "rework": {"completed_rated"},
    "appeal": {"completed_rated"},
    "uphold_appeal": {"appealing"},
    "reject_appeal": {"appealing"},
    "supervise": OPEN,
    "answer_supervision": OPEN - {"received"},  # a handler never sees an undispatched order
    "caller_follow_up": OPEN,
    "comment": OPEN,
    "reveal_contact": OPEN | {"archived", "merged"},
}
SAME = None  # a side step: the status does not change
LEADS_TO = {
    "dispatch": "dispatched", "redispatch": "dispatched", "accept": "accepted", "return": "returned",
    "uphold_return": "received", "reject_return": "dispatched", "reply": "replied", "approve": "completed",
    "reject_reply": "accepted", "callback": "archived", "callback_attempt": "archived", "archive": "archived",
    "resolve_at_intake": "completed", "merge": "merged", "suspend": "suspended", "resume": "accepted",
    "request_extension": SAME, "approve_extension": SAME, "reject_extension": SAME, "rework": "accepted",
    "appeal": "appealing", "uphold_appeal": "archived", "reject_appeal": "completed",
    "supervise": SAME, "answer_supervision": SAME, "caller_follow_up": SAME, "comment": SAME, "reveal_contact": SAME,
}
CENTRE = {"agent", "dispatcher", "supervisor", "admin"}
ROLES_ALLOWED = {
    "dispatch": {"dispatcher", "admin"}, "redispatch": {"dispatcher", "admin"},
    "accept": {"handler"}, "return": {"handler"}, "reply": {"handler"},
    "uphold_return": {"dispatcher", "admin"}, "reject_return": {"dispatcher", "admin"},
    "approve": {"dispatcher", "admin"}, "reject_reply": {"dispatcher", "admin"},
    "callback": {"agent", "admin"}, "callback_attempt": {"agent", "admin"}, "archive": {"dispatcher", "supervisor", "admin"},
    "resolve_at_intake": {"agent", "admin"}, "merge": {"dispatcher", "admin"},
    "suspend": {"dispatcher", "supervisor", "admin"}, "resume": {"dispatcher", "supervisor", "admin"},
    "request_extension": {"handler"},
    "approve_extension": {"dispatcher", "supervisor", "admin"},
    "reject_extension": {"dispatcher", "supervisor", "admin"},
    "rework": {"dispatcher", "admin"}, "appeal": {"handler"},
    "uphold_appeal": {"supervisor", "admin"}, "reject_appeal": {"supervisor", "admin"},
    "supervise": {"supervisor", "admin"}, "answer_supervision": {"handler"}, "caller_follow_up": CENTRE,
    "comment": CENTRE | {"handler"}, "reveal_contact": CENTRE | {"handler"},
}
PAYLOADS = {
    "dispatch": {"department": "eco_env"}, "redispatch": {"department": "housing"},
    "return": {"reason": "不属于本单位职责"}, "reject_return": {"reason": "属于本单位职责，请办理"},
    "reply": {"reply": "已现场处理"}, "reject_reply": {"reason": "答复不完整"},
    "callback": {"satisfaction": "satisfied", "resolved": True}, "callback_attempt": {"outcome": "refused"},
    "resolve_at_intake": {"reply": "已按知识库解答"}, "suspend": {"reason": "等待市民补充材料"},
    "request_extension": {"days": 3, "reason": "需协调多个部门"}, "rework": {"reason": "市民反映问题仍在"},
    "appeal": {"reason": "已按规定处理", "evidence": "现场照片"}, "reject_appeal": {"reason": "证据不足"},
    "supervise": {"note": "请加快办理"}, "answer_supervision": {"supervision": 1, "answer": "正在处理"},
    "caller_follow_up": {"text": "市民再次来电：噪音仍在，希望尽快处理"},
    "comment": {"text": "市民再次来电催问"}, "reveal_contact": {"reason": "电话联系市民核实情况"},
}
# "completed_rated": completed, called back with a bad rating (archive, rework and appeal are open)
STATES = [*STATUSES, "completed_rated"]
ROLES = ["agent", "dispatcher", "handler", "supervisor", "admin"]


def actor(role: str, department: str | None = "eco_env") -> Actor:
    return Actor(name=f"{role}1", role=role, department=department if role == "handler" else None)


async def order_in(platform, state: str, action: str = "") -> str:
    """An order put straight into ``state``, with what that state implies (a rating, a pending
    extension, an open supervision) so that only the status decides what is allowed."""
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest), actor("agent"))
    now = clock.now()
    soon = (now + dt.timedelta(days=2)).isoformat()
    status, rating = state, None
    pending = action in ("approve_extension", "reject_extension")
    changes = {Order.department: None if state == "received" else "eco_env",
               Order.extensions: [] if not pending else [{"id": 1, "days": 2, "reason": "协调", "status": "requested",
                                   "requested_by": "handler1", "requested_at": now.isoformat()}],
               Order.supervisions: [{"id": 1, "kind": "urge", "note": "催办", "department": "eco_env",
                                     "issued_by": "supervisor1", "issued_at": now.isoformat(), "due": soon,
                                     "answer": None, "answered_by": None, "answered_at": None}]}
    if state == "completed_rated":
        status, rating = "completed", {"satisfaction": "unsatisfied", "resolved": False, "valid": True}
    if state == "appealing":
        rating = {"satisfaction": "unsatisfied", "resolved": False, "valid": True,
                  "appeal": {"reason": "已处理", "by": "handler1"}}
    if state == "suspended":
        changes[Order.status_before_suspend] = "accepted"
        changes[Order.suspended_at] = now
    row = await Order.select(Order.deadlines).where(Order.number == order.number).output(load_json=True).first()
    deadlines = row["deadlines"]
    deadlines["appeal"] = {"start": now.isoformat(), "due": soon, "done": None}
    if status == "completed":  # a completed order waits for its callback
        deadlines["callback"] = {"start": now.isoformat(), "due": soon, "done": None}
    changes.update({Order.status: status, Order.rating: rating, Order.deadlines: deadlines})
    await Order.update(changes).where(Order.number == order.number)
    return order.number


async def payload_for(platform, action: str) -> dict | None:
    if action == "merge":
        _, survivor = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest),
                                                   actor("agent"))
        return {"into": survivor.number, "reason": "同一事项重复来电"}
    return PAYLOADS.get(action)


def expected_status(state: str, action: str) -> str:
    return LEADS_TO[action] or ("completed" if state == "completed_rated" else state)


def test_the_table_covers_every_declared_action():
    from core.lifecycle import CORE_ACTIONS

    assert {a.name for a in CORE_ACTIONS} == set(ALLOWED_FROM)


@pytest.mark.parametrize("action", sorted(ALLOWED_FROM))
async def test_each_action_from_each_status(platform, action):
    role = sorted(ROLES_ALLOWED[action])[0]
    for state in STATES:
        number = await order_in(platform, state, action)
        call = platform.orders.act(number, action, await payload_for(platform, action), actor(role))
        if state in ALLOWED_FROM[action]:
            after = await call
            assert after.order.status == expected_status(state, action), (state, action)
            assert after.events[-1].action == action
        else:
            # a handler cannot even see an order not yet dispatched to its department
            hidden = role == "handler" and state == "received"
            with pytest.raises(NotFound if hidden else Conflict):
                await call
            row = await Order.select(Order.id, Order.version).where(Order.number == number).first()
            assert row["version"] == 1, "a refused action must not change the order"
            assert await OrderEvent.count().where(OrderEvent.order_id == row["id"]) == 1, "only the intake"


@pytest.mark.parametrize("action", sorted(ALLOWED_FROM))
async def test_each_action_by_each_role_of_own_and_other_department(platform, action):
    """Five roles × own and other department: centre roles are not bound to a department; a handler
    acts only on its own department's orders and cannot even see another's (404)."""
    state = sorted(ALLOWED_FROM[action] - {"received"} or ALLOWED_FROM[action])[0]
    for role in ROLES:
        for department in ("eco_env", "housing"):
            number = await order_in(platform, state, action)
            call = platform.orders.act(number, action, await payload_for(platform, action), actor(role, department))
            if role == "handler" and (department != "eco_env" or state == "received"):
                with pytest.raises(NotFound):
                    await call
            elif role in ROLES_ALLOWED[action]:
                assert (await call).order.status == expected_status(state, action), (role, department)
            else:
                with pytest.raises(Forbidden):
                    await call


async def test_a_handler_of_another_department_may_not_act(platform):
    number = await order_in(platform, "dispatched")
    with pytest.raises(HuyingError) as refused:
        await platform.orders.act(number, "accept", {}, actor("handler", "housing"))
    assert refused.value.status_code == 404  # the order is not visible to them at all
    assert (await platform.orders.act(number, "accept", {}, actor("handler", "eco_env"))).order.status == "accepted"


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
    winners = [r.order for r in results if isinstance(r, ActionResult)]
    losers = [r for r in results if isinstance(r, HuyingError)]
    assert len(winners) == 1 and len(losers) == len(departments) - 1, results
    assert all(r.status_code == 409 for r in losers)
    row = await Order.select().where(Order.number == number).first()
    assert row["department"] == winners[0].department and row["version"] == 2
    assert await OrderEvent.count().where(OrderEvent.action == "dispatch") == 1


async def test_concurrent_different_actions_on_one_order_exactly_one_wins(platform):
    number = await order_in(platform, "dispatched")
    results = await asyncio.gather(
        platform.orders.act(number, "accept", {}, actor("handler")),
        platform.orders.act(number, "return", {"reason": "非本单位职责"}, actor("handler")),
        platform.orders.act(number, "redispatch", {"department": "housing"}, actor("dispatcher")),
        return_exceptions=True)
    assert sum(isinstance(r, ActionResult) for r in results) == 1, results
    assert all(r.status_code == 409 for r in results if isinstance(r, HuyingError))
