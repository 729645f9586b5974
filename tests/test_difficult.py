"""疑难工单: the centre marks an order difficult with a reason, or a department asks and the centre
approves or declines; a difficult order's handling deadline moves on by the channel's 疑难工单延长时限
(a time limit the centre sets with the others), audited on the timeline and filterable in lists."""

from __future__ import annotations

import datetime as dt

import pytest

from core.clock import SHANGHAI
from tests.helpers import intake_body

MONDAY = "2026-11-16T09:00:00+08:00"  # an ordinary working week (no holiday until 2027)


def _due(order: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(next(d["due"] for d in order["deadlines"] if d["name"] == "handle")).astimezone(SHANGHAI)


async def _act(client, headers, number, action, payload=None, status=200) -> dict:
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)
    assert response.status_code == status, (action, response.text)
    return response.json()


async def _dispatched(client, tokens, **overrides) -> dict:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    return await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": "eco_env"})


@pytest.mark.clock(MONDAY)
async def test_the_centre_marks_an_order_difficult_and_its_handling_deadline_moves_on_by_the_rule(client, tokens):
    order = await _dispatched(client, tokens, kind="consult")
    before = _due(order)
    marked = await _act(client, tokens["supervisor1"], order["number"], "mark_difficult",
                        {"reason": "涉及三个部门，历史遗留问题"})
    assert _due(marked) == client.platform.calendar.add_working_days(before, 10) > before
    event = marked["events"][-1]
    assert (event["action"], event["reason"], event["payload"]["extended_days"]) == (
        "mark_difficult", "涉及三个部门，历史遗留问题", 10)
    assert ("difficult" in marked["flags"], "疑难工单" in marked["flag_labels"]) == (True, True)
    await _act(client, tokens["supervisor1"], order["number"], "mark_difficult", {"reason": "再次"}, status=409)
    await _act(client, tokens["eco_handler"], order["number"], "mark_difficult", {"reason": "x"}, status=403)
    listed = await client.get("/api/orders?flag=difficult", headers=tokens["supervisor1"])
    assert [o["number"] for o in listed.json()["items"]] == [order["number"]]


@pytest.mark.clock(MONDAY)
async def test_a_department_asks_for_difficult_and_the_centre_approves_or_declines(client, tokens):
    first = await _dispatched(client, tokens)
    second = await _dispatched(client, tokens)
    for order in (first, second):
        await _act(client, tokens["eco_handler"], order["number"], "accept")
        await _act(client, tokens["eco_handler"], order["number"], "request_difficult", {"reason": "需多部门协调"})
    await _act(client, tokens["eco_handler"], first["number"], "request_difficult", {"reason": "再申请"}, status=409)
    await _act(client, tokens["eco_handler"], first["number"], "request_difficult", {}, status=400)
    waiting = await client.get("/api/orders?flag=difficult_requested", headers=tokens["dispatcher1"])
    assert {o["number"] for o in waiting.json()["items"]} == {first["number"], second["number"]}
    approved = await _act(client, tokens["dispatcher1"], first["number"], "approve_difficult", {"reason": "同意"})
    assert _due(approved) > _due(first)
    declined = await _act(client, tokens["dispatcher1"], second["number"], "decline_difficult", {"reason": "可单独办理"})
    assert _due(declined) == _due(second)
    assert not (await client.get("/api/orders?flag=difficult_requested", headers=tokens["dispatcher1"])).json()["items"]
    difficult = await client.get("/api/orders?flag=difficult", headers=tokens["dispatcher1"])
    assert [o["number"] for o in difficult.json()["items"]] == [first["number"]]


@pytest.mark.clock(MONDAY)
async def test_the_extension_is_a_time_limit_the_admin_sets_per_channel(client, tokens):
    change = {"changes": [{"channel": "hotline", "rule": "difficult_days", "value": 5, "reason": "市里新规定"}]}
    response = await client.put("/api/sla-rules", json=change, headers=tokens["admin1"])
    assert response.status_code == 200, response.text
    rule = next(r for r in response.json()["rules"] if r["channel"] == "hotline" and r["rule"] == "difficult_days")
    assert (rule["label"], rule["value"], rule["default"], rule["unit_label"]) == ("疑难工单延长时限", 5, 10, "工作日")
    order = await _dispatched(client, tokens, kind="consult")
    marked = await _act(client, tokens["supervisor1"], order["number"], "mark_difficult", {"reason": "复杂"})
    assert _due(marked) == client.platform.calendar.add_working_days(_due(order), 5)
