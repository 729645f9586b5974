"""联合办理: one lead (主办) and several assisting (协办) departments on one order, over the API."""

from __future__ import annotations

import pytest

from tests.helpers import intake_body, png


async def _intake(client, tokens, channel="hotline", **overrides):
    response = await client.post(f"/api/channels/{channel}/orders", json=intake_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def _act(client, headers, number, action, payload=None):
    return await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)


async def _ok(client, headers, number, action, payload=None) -> dict:
    response = await _act(client, headers, number, action, payload)
    assert response.status_code == 200, (action, response.text)
    return response.json()


def _part(order: dict, department: str) -> dict:
    return next(p for p in order["assisting"] if p["department"] == department)


async def _joint(client, tokens) -> str:
    number = await _intake(client, tokens)
    order = await _ok(client, tokens["dispatcher1"], number, "dispatch",
                      {"department": "eco_env", "assisting": ["housing", "urban_mgmt"]})
    assert order["department"] == "eco_env"
    assert [(p["department"], p["status"], p["status_label"]) for p in order["assisting"]] == [
        ("housing", "pending", "待签收"), ("urban_mgmt", "pending", "待签收")]
    return number


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_lead_replies_once_with_every_assisting_opinion_in_hand(client, tokens):
    number = await _joint(client, tokens)
    await _ok(client, tokens["eco_handler"], number, "accept")

    # the lead may not answer while a part is open: the reply is neither offered nor taken
    lead_view = (await client.get(f"/api/orders/{number}", headers=tokens["eco_handler"])).json()
    assert "reply" not in {a["name"] for a in lead_view["actions"]}
    early = await _act(client, tokens["eco_handler"], number, "reply", {"reply": "已处理"})
    assert early.status_code == 409 and "协办单位未提交意见" in early.json()["detail"]

    # each assisting department sees its own actions only
    housing_view = (await client.get(f"/api/orders/{number}", headers=tokens["housing_handler"])).json()
    assert {a["name"] for a in housing_view["actions"]} == {"accept_part", "return_part"}
    assert (await _act(client, tokens["housing_handler"], number, "accept")).status_code == 403
    assert (await _act(client, tokens["housing_handler"], number, "submit_opinion",
                       {"opinion": "未签收先提交"})).status_code == 403

    await _ok(client, tokens["housing_handler"], number, "accept_part")
    upload = await client.post(f"/api/orders/{number}/attachments", headers=tokens["housing_handler"],
                               files={"data": ("现场.png", png(), "image/png")})
    assert upload.status_code == 201, upload.text
    key = upload.json()["key"]
    order = await _ok(client, tokens["housing_handler"], number, "submit_opinion",
                      {"opinion": "工地施工许可证载明夜间不得施工，已约谈施工单位。", "attachments": [key]})
    housing = _part(order, "housing")
    assert housing["status"] == "submitted" and housing["opinion"].startswith("工地施工许可证")
    assert housing["attachments"] == [key] and housing["state"] == "normal"

    order = await _ok(client, tokens["urban_handler"], number, "return_part", {"reason": "不属于本单位职责"})
    assert _part(order, "urban_mgmt")["status"] == "returned"
    assert _part(order, "urban_mgmt")["reason"] == "不属于本单位职责"

    order = await _ok(client, tokens["eco_handler"], number, "reply", {"reply": "会同住建局约谈施工单位，夜间已停工。"})
    assert order["status"] == "replied"
    await _ok(client, tokens["dispatcher1"], number, "approve")
    order = await _ok(client, tokens["agent1"], number, "callback", {"satisfaction": "satisfied", "resolved": True})
    assert order["status"] == "archived"

    events = [(e["action"], e["department"]) for e in order["events"]]
    assert events[1:6] == [("dispatch", None), ("accept", "eco_env"), ("accept_part", "housing"),
                           ("attach", "housing"), ("submit_opinion", "housing")] or \
        [e for e, _ in events].count("submit_opinion") == 1
    assert ("return_part", "urban_mgmt") in events
    assert order["events"][1]["payload"]["assisting"] == ["housing", "urban_mgmt"]


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_assisting_department_reads_the_order_while_taking_part_and_after(client, tokens):
    number = await _joint(client, tokens)
    for user in ("eco_handler", "housing_handler", "urban_handler"):
        assert (await client.get(f"/api/orders/{number}", headers=tokens[user])).status_code == 200
    assert (await client.get(f"/api/orders/{number}", headers=tokens["hrss_handler"])).status_code == 404
    assert (await _act(client, tokens["hrss_handler"], number, "accept_part")).status_code == 404

    await _ok(client, tokens["urban_handler"], number, "return_part", {"reason": "不属于本单位职责"})
    assert (await client.get(f"/api/orders/{number}", headers=tokens["urban_handler"])).status_code == 200

    # the assisting department's lists find it; its lead queues do not
    mine = (await client.get("/api/orders", headers=tokens["housing_handler"])).json()
    assert number in {o["number"] for o in mine["items"]}
    other = (await client.get("/api/orders", headers=tokens["hrss_handler"])).json()
    assert number not in {o["number"] for o in other["items"]}


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_centre_adds_and_withdraws_assisting_departments(client, tokens):
    number = await _joint(client, tokens)
    order = await _ok(client, tokens["supervisor1"], number, "add_assisting", {"assisting": ["market"], "note": "涉及商户"})
    assert _part(order, "market")["status"] == "pending"
    again = await _act(client, tokens["dispatcher1"], number, "add_assisting", {"assisting": ["market"]})
    assert again.status_code == 400 and again.json()["extra"][0]["key"] == "assisting"
    lead = await _act(client, tokens["dispatcher1"], number, "add_assisting", {"assisting": ["eco_env"]})
    assert lead.status_code == 400 and "主办单位" in lead.json()["detail"]
    assert (await _act(client, tokens["housing_handler"], number, "add_assisting",
                       {"assisting": ["hrss"]})).status_code == 403

    order = await _ok(client, tokens["dispatcher1"], number, "withdraw_assisting",
                      {"department": "market", "reason": "商户已自行整改"})
    assert _part(order, "market")["status"] == "withdrawn"
    stale = await _act(client, tokens["dispatcher1"], number, "withdraw_assisting",
                       {"department": "market", "reason": "再撤一次"})
    assert stale.status_code == 400 and stale.json()["extra"][0]["key"] == "department"
    # the withdrawn department still reads the order it took part in, and can no longer act on it
    view = (await client.get(f"/api/orders/{number}", headers=tokens["market_handler"])).json()
    assert view["actions"] == []
    assert [e["action"] for e in order["events"]][-2:] == ["add_assisting", "withdraw_assisting"]
    assert order["events"][-1]["reason"] == "商户已自行整改"


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_each_part_has_its_own_deadline_before_the_leads(client, tokens):
    number = await _joint(client, tokens)
    order = (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()
    handle = next(d for d in order["deadlines"] if d["name"] == "handle")
    part = _part(order, "housing")
    # a complaint has 13 working days; a part half of them, rounded up: 7 working days
    assert part["due"] == "2026-12-16T18:00:00+08:00"  # the end of the seventh working day
    assert part["due"] < handle["due"] and part["state"] == "normal" and part["state_label"] == "正常"


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_bad_assisting_input_is_refused_naming_the_field(client, tokens):
    number = await _intake(client, tokens)
    for payload, key in (({"department": "eco_env", "assisting": ["nowhere"]}, "assisting"),
                         ({"department": "eco_env", "assisting": ["eco_env"]}, "assisting"),
                         ({"department": "eco_env", "assisting": ["housing", "housing"]}, "assisting"),
                         ({"department": "eco_env", "assisting": ["x"] * 11}, "assisting"),
                         ({"department": "eco_env", "assisting": "housing"}, "assisting")):
        response = await _act(client, tokens["dispatcher1"], number, "dispatch", payload)
        assert response.status_code == 400, payload
        assert response.json()["extra"][0]["key"] == key
    assert (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()["status"] == "received"
    opinion = await _joint(client, tokens)
    await _ok(client, tokens["housing_handler"], opinion, "accept_part")
    bad = await _act(client, tokens["housing_handler"], opinion, "submit_opinion",
                     {"opinion": "见附件", "attachments": ["not-a-file"]})
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "attachments"
    empty = await _act(client, tokens["housing_handler"], opinion, "submit_opinion", {"opinion": ""})
    assert empty.status_code == 400 and empty.json()["extra"][0]["key"] == "opinion"


def _channel_plugin(code: str, joint_handling: str):
    from core.plugin_api import Channel, hookimpl

    channel = Channel(code=code, name="联办测试", description="测试渠道", joint_handling=joint_handling)
    return type(f"{code}_plugin", (), {"register_channel": staticmethod(hookimpl(lambda: channel))})()


def test_a_wrong_joint_handling_declaration_stops_start_up_naming_the_plugin():
    from core.plugins import Channels, DeclarationError, get_plugin_manager

    pm = get_plugin_manager(entry_points=False)
    pm.register(_channel_plugin("joint_sometimes", "sometimes"), name="joint_sometimes_plugin")
    with pytest.raises(DeclarationError) as refused:
        Channels(pm)
    assert str(refused.value).startswith("插件 joint_sometimes_plugin：") and "joint_handling" in str(refused.value)


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_a_channel_can_require_or_forbid_joint_handling(with_plugins):
    client = await with_plugins(_channel_plugin("joint_required", "required"), _channel_plugin("joint_forbidden", "forbidden"))
    tokens = {}
    for user in ("agent1", "dispatcher1", "housing_handler"):
        response = await client.post("/api/auth/token", json={"username": user, "password": "correct-horse-9"})
        tokens[user] = {"Authorization": f"Bearer {response.json()['access_token']}"}

    required = await _intake(client, tokens, "joint_required")
    alone = await _act(client, tokens["dispatcher1"], required, "dispatch", {"department": "eco_env"})
    assert alone.status_code == 400 and alone.json()["extra"][0]["key"] == "assisting"
    assert "须联合办理" in alone.json()["detail"]
    await _ok(client, tokens["dispatcher1"], required, "dispatch", {"department": "eco_env", "assisting": ["housing"]})

    forbidden = await _intake(client, tokens, "joint_forbidden")
    joint = await _act(client, tokens["dispatcher1"], forbidden, "dispatch",
                       {"department": "eco_env", "assisting": ["housing"]})
    assert joint.status_code == 400 and joint.json()["extra"][0]["key"] == "assisting"
    order = await _ok(client, tokens["dispatcher1"], forbidden, "dispatch", {"department": "eco_env"})
    assert order["assisting"] == [] and "add_assisting" not in {a["name"] for a in order["actions"]}


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_each_department_counts_its_own_timeliness_in_the_kpis(client, tokens, frozen_clock):
    import datetime as dt

    number = await _joint(client, tokens)
    await _ok(client, tokens["eco_handler"], number, "accept")
    await _ok(client, tokens["housing_handler"], number, "accept_part")
    await _ok(client, tokens["housing_handler"], number, "submit_opinion", {"opinion": "已约谈施工单位。"})
    other = await _joint(client, tokens)  # urban_mgmt lets its part on this one run late
    await _ok(client, tokens["urban_handler"], number, "return_part", {"reason": "不属于本单位职责"})
    frozen_clock.advance(dt.timedelta(days=12))  # past the parts' 7 working days, before the month ends
    await _ok(client, tokens["housing_handler"], other, "accept_part")
    await _ok(client, tokens["housing_handler"], other, "submit_opinion", {"opinion": "迟到的意见。"})

    report = (await client.get("/api/reports/monthly", params={"start": "2026-12-01"},
                               headers=tokens["supervisor1"])).json()
    rows = {r["value"]: r for r in report["assisting"]["rows"]}
    assert rows["housing"]["counts"] == {"assigned": 2, "submitted_on_time": 1, "submitted_late": 1,
                                         "open_overdue": 0, "returned": 0}
    assert rows["housing"]["rates"]["on_time_rate"] == 0.5
    assert rows["urban_mgmt"]["counts"] == {"assigned": 2, "submitted_on_time": 0, "submitted_late": 0,
                                            "open_overdue": 1, "returned": 1}
    assert rows["urban_mgmt"]["rates"]["on_time_rate"] == 0.0 and rows["urban_mgmt"]["label"] == "城市管理和综合执法局"
    lead = {r["value"]: r for r in report["breakdowns"]["department"]["rows"]}
    assert lead["eco_env"]["counts"]["dispatched"] == 2
    assert "housing" not in lead and "urban_mgmt" not in lead
    mine = (await client.get("/api/reports/monthly", params={"start": "2026-12-01", "department": "housing"},
                             headers=tokens["supervisor1"])).json()
    assert [r["value"] for r in mine["assisting"]["rows"]] == ["housing"]


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_queues_keep_lead_and_assisting_work_apart(client, tokens, actors):
    from core.listing import OrderFilter

    number = await _joint(client, tokens)
    solo = await _intake(client, tokens)
    await _ok(client, tokens["dispatcher1"], solo, "dispatch", {"department": "housing"})
    orders = client.platform.orders

    async def listed(user: str, **criteria) -> set[str]:
        page = await orders.listing(actors[user], OrderFilter(**criteria))
        return {o["number"] for o in page["items"]}

    assert await listed("housing_handler") == {number, solo}
    assert await listed("housing_handler", status="dispatched", lead_only=True) == {solo}
    assert await listed("housing_handler", open_part=True) == {number}
    assert await listed("dispatcher1", open_part=True) == {number}
    summary = (await orders.listing(actors["housing_handler"], OrderFilter(open_part=True)))["items"][0]
    assert [(p["department_name"], p["status_label"]) for p in summary["parts"]] == [
        ("住房和城乡建设局", "待签收"), ("城市管理和综合执法局", "待签收")]
    await _ok(client, tokens["housing_handler"], number, "accept_part")
    await _ok(client, tokens["housing_handler"], number, "submit_opinion", {"opinion": "已核查"})
    assert await listed("housing_handler", open_part=True) == set()
    assert await listed("housing_handler") == {number, solo}  # still its to read
    assert await listed("dispatcher1", open_part=True) == {number}  # urban_mgmt's part is open
    api = {o["number"] for o in (await client.get("/api/orders", params={"part": "open"},
                                                 headers=tokens["urban_handler"])).json()["items"]}
    assert api == {number}
    assert (await client.get("/api/orders", params={"part": "open"}, headers=tokens["housing_handler"])).json()["total"] == 0
    assert (await client.get("/api/orders", params={"part": "open"}, headers=tokens["supervisor1"])).json()["total"] == 1
    bad = await client.get("/api/orders", params={"part": "closed"}, headers=tokens["supervisor1"])
    assert bad.status_code == 400
    counts = await orders.count(actors["urban_handler"], {"assisting": OrderFilter(open_part=True),
                                                          "accept": OrderFilter(status="dispatched", lead_only=True)})
    assert counts == {"assisting": 1, "accept": 0}


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_an_assisting_department_finds_the_order_by_its_words(client, tokens):
    number = await _joint(client, tokens)
    for user, found in (("housing_handler", True), ("eco_handler", True), ("hrss_handler", False)):
        page = (await client.get("/api/orders", params={"q": "施工噪音"}, headers=tokens[user])).json()
        assert (number in {o["number"] for o in page["items"]}) is found, user
    await _ok(client, tokens["supervisor1"], number, "add_assisting", {"assisting": ["hrss"]})
    page = (await client.get("/api/orders", params={"q": "施工噪音"}, headers=tokens["hrss_handler"])).json()
    assert number in {o["number"] for o in page["items"]}


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_an_order_with_open_parts_is_not_closed_at_the_centre(client, tokens):
    number = await _joint(client, tokens)
    await _ok(client, tokens["eco_handler"], number, "return", {"reason": "不属于本单位职责"})
    await _ok(client, tokens["dispatcher1"], number, "uphold_return")  # back to 待派单, the parts still open
    other = await _intake(client, tokens)
    merge = await _act(client, tokens["dispatcher1"], number, "merge", {"into": other})
    assert merge.status_code == 409 and "才能合并" in merge.json()["detail"]
    for code in ("housing", "urban_mgmt"):
        await _ok(client, tokens["dispatcher1"], number, "withdraw_assisting", {"department": code, "reason": "并单"})
    assert (await _act(client, tokens["dispatcher1"], number, "merge", {"into": other})).status_code == 200


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_each_assisting_department_is_told_of_its_part_and_its_deadline(client, tokens):
    from core.notices import STAFF_TOPIC, text_of
    from core.tables import OutboxMessage

    number = await _joint(client, tokens)
    await _ok(client, tokens["supervisor1"], number, "add_assisting", {"assisting": ["market"]})
    notices = {m["payload"]["to"]: text_of(m["payload"]) for m in await OutboxMessage.select(
        OutboxMessage.payload).where(OutboxMessage.topic == STAFF_TOPIC).output(load_json=True)
        if m["payload"].get("template") == "assisting"}
    assert set(notices) == {"department:housing", "department:urban_mgmt", "department:market"}
    assert number in notices["department:housing"] and "请贵单位协办" in notices["department:housing"]
    assert "12月" in notices["department:market"] and "前提交协办意见" in notices["department:market"]
