"""A citizen's request from intake to archive over the API, every step audited."""

from __future__ import annotations

from tests.helpers import intake_body


async def _intake(client, tokens, channel="hotline", **overrides):
    response = await client.post(f"/api/channels/{channel}/orders", json=intake_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def _act(client, headers, number, action, payload=None):
    return await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)


async def test_request_travels_from_intake_to_archive_with_each_step_audited(client, tokens):
    order = await _intake(client, tokens)
    number = order["number"]
    assert number.startswith("XJ") and len(number) == 16
    assert order["status"] == "received" and order["status_label"] == "待派单"
    assert order["suggested_department"] == "eco_env"
    assert order["suggestion_reason"]

    steps = [
        ("dispatcher1", "dispatch", {"department": "eco_env"}, "dispatched"),
        ("eco_handler", "accept", {}, "accepted"),
        ("eco_handler", "reply", {"reply": "已责令工地22时后停止施工，并安排夜间巡查。"}, "replied"),
        ("dispatcher1", "approve", {}, "completed"),
        ("agent1", "callback", {"satisfaction": "satisfied", "resolved": True}, "archived"),
    ]
    for user, action, payload, expected in steps:
        response = await _act(client, tokens[user], number, action, payload)
        assert response.status_code == 200, (action, response.text)
        assert response.json()["status"] == expected

    detail = (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()
    assert [e["action"] for e in detail["events"]] == ["intake", "dispatch", "accept", "reply", "approve", "callback"]
    assert detail["events"][1] | {"created_at": None} == detail["events"][1] | {
        "actor": "dispatcher1", "role": "dispatcher", "from_status": "received", "to_status": "dispatched",
        "created_at": None}
    assert detail["rating"]["satisfaction"] == "satisfied"
    assert {d["name"] for d in detail["deadlines"]} >= {"dispatch", "accept", "handle", "callback"}


async def test_bad_rating_keeps_the_order_open_until_archived(client, tokens):
    number = (await _intake(client, tokens))["number"]
    for user, action, payload in [("dispatcher1", "dispatch", {"department": "eco_env"}),
                                  ("eco_handler", "accept", {}),
                                  ("eco_handler", "reply", {"reply": "已处理"}),
                                  ("dispatcher1", "approve", {})]:
        assert (await _act(client, tokens[user], number, action, payload)).status_code == 200
    rated = await _act(client, tokens["agent1"], number, "callback", {"satisfaction": "unsatisfied", "resolved": False})
    assert rated.json()["status"] == "completed"
    assert any(d["name"] == "appeal" for d in rated.json()["deadlines"])
    again = await _act(client, tokens["agent1"], number, "callback", {"satisfaction": "satisfied", "resolved": True})
    assert again.status_code == 409 and "重复回访" in again.json()["detail"]
    archived = await _act(client, tokens["supervisor1"], number, "archive")
    assert archived.json()["status"] == "archived"


async def test_a_handler_sees_only_its_own_departments_orders(client, tokens):
    number = (await _intake(client, tokens))["number"]
    await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": "eco_env"})
    own = await client.get("/api/orders", headers=tokens["eco_handler"])
    other = await client.get("/api/orders", headers=tokens["housing_handler"])
    assert [o["number"] for o in own.json()["items"]] == [number]
    assert other.json()["items"] == []
    assert (await client.get(f"/api/orders/{number}", headers=tokens["housing_handler"])).status_code == 404
    refused = await _act(client, tokens["housing_handler"], number, "accept")
    assert refused.status_code == 404


async def test_phone_is_masked_and_revealed_only_on_the_record(client, tokens):
    """Masked everywhere; the centre, or the handler of the order's own department stating why,
    reveals it with an audited action (see also tests/test_found_by_hand.py)."""
    number = (await _intake(client, tokens))["number"]
    await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": "eco_env"})
    centre = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    department = (await client.get(f"/api/orders/{number}", headers=tokens["eco_handler"])).json()
    listed = (await client.get("/api/orders", headers=tokens["agent1"])).json()["items"][0]
    assert centre["citizen"]["phone"] == department["citizen"]["phone"] == listed["citizen"]["phone"] == "139****5678"
    assert "query_code" not in department
    revealed = await _act(client, tokens["agent1"], number, "reveal_contact", {"reason": "回访需要"})
    assert revealed.status_code == 200 and revealed.json()["citizen"]["phone"] == "13912345678"
    assert revealed.json()["events"][-1] | {"created_at": None} == {
        "action": "reveal_contact", "actor": "agent1", "actor_label": "agent1（话务员）", "role": "agent", "department": None,
        "from_status": "dispatched", "to_status": "dispatched", "reason": "回访需要",
        "payload": {"reason": "回访需要"}, "created_at": None}
    unexplained = await _act(client, tokens["eco_handler"], number, "reveal_contact", {})
    assert unexplained.status_code == 400 and unexplained.json()["extra"][0]["key"] == "reason"
    other = await _act(client, tokens["housing_handler"], number, "reveal_contact", {"reason": "回访"})
    assert other.status_code == 404


async def test_a_note_from_plugin_code_shows_on_the_timeline_and_commits_with_its_work(client, tokens):
    """``OrderService.note`` audits a side record on an order without changing it, and joins the
    caller's transaction: when the work it records fails, the note is gone too."""
    from core.model import Actor
    from core.tables import Order

    order = await _intake(client, tokens)
    service = client.platform.orders
    dispatcher = Actor(name="dispatcher1", role="dispatcher")
    try:
        async with service.transaction():
            await service.note(order["number"], "recheck", dispatcher, reason="市级回访不满意", payload={"n": 1})
            raise RuntimeError("the import failed after the note")
    except RuntimeError:
        pass
    await service.note(order["number"], "recheck", dispatcher, reason="市级回访不满意", payload={"n": 2})
    detail = (await client.get(f"/api/orders/{order['number']}", headers=tokens["supervisor1"])).json()
    assert [(e["action"], e["payload"]) for e in detail["events"]] == [("intake", detail["events"][0]["payload"]),
                                                                       ("recheck", {"n": 2})]
    assert detail["events"][1]["reason"] == "市级回访不满意" and detail["events"][1]["actor"] == "dispatcher1"
    assert detail["status"] == "received" and detail["version"] == order["version"]
    found = await service.find(number=order["number"])
    assert found.citizen_phone == "13912345678"
    assert await service.find(external_id="no-such-id", source="city_transfer") is None
    assert await Order.count() == 1
