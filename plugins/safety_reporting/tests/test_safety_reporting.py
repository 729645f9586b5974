"""安全生产有奖举报: reports are taken (named or anonymous) and routed to the right regulator; the
department verifies before it replies and never learns who reported; the centre calculates, approves
and pays the reward in that order, by the right people."""

from __future__ import annotations

import msgspec
import pytest

from core.tables import Order, OrderEvent
from plugins.safety_reporting.tables import SafetyCase
from tests.helpers import intake_body

NAME, PHONE = "举报人王五", "13700007777"
ID_NUMBER = "11010519491231002X"  # the example of GB 11643, with a valid check character
ACCOUNT = "6222020200112233445"
SECRETS = (NAME, PHONE, "137****7777", ID_NUMBER, ACCOUNT)


def report(details: dict | None = None, **overrides) -> dict:
    body = intake_body(
        kind="report", subject="化工厂储罐区违规动火作业",
        content="观沙岭街道某化工厂储罐区白天有人电焊，没有办动火审批，旁边就是危化品储罐。",
        citizen={"name": NAME, "phone": PHONE}, address="岳麓区观沙岭街道", area="观沙岭街道")
    body["details"] = {"hazard_type": "hazardous_chemicals", "enterprise": "长沙某化工有限公司",
                       "site_address": "岳麓区观沙岭街道工业园3号", "observed_at": "2026年11月20日上午10点",
                       "evidence": "拍有现场照片两张", "reward_requested": True, "id_number": ID_NUMBER,
                       "payment_account": ACCOUNT, **(details or {})}
    body.update(overrides)
    return body


async def act(client, headers, number, action, payload=None):
    return await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)


async def take(client, tokens, details=None, **overrides) -> str:
    response = await client.post("/api/channels/safety_reporting/orders", json=report(details, **overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def accepted(client, tokens, details=None, department="emergency", **overrides) -> str:
    number = await take(client, tokens, details, **overrides)
    assert (await act(client, tokens["dispatcher1"], number, "dispatch", {"department": department})).status_code == 200
    assert (await act(client, tokens[f"{department}_handler"], number, "accept")).status_code == 200
    return number


async def verified(client, tokens, details=None, **verification) -> str:
    number = await accepted(client, tokens, details)
    payload = {"result": "true", "findings": "现场查实无证动火，已责令停止作业并立案处罚。", **verification}
    response = await act(client, tokens["emergency_handler"], number, "verify", payload)
    assert response.status_code == 200, response.text
    return number


async def safety(client, headers, number):
    return await client.get(f"/api/orders/{number}/safety", headers=headers)


async def test_the_channel_offers_its_form_with_labelled_fields(client):
    channels = (await client.get("/api/channels")).json()
    channel = next(c for c in channels if c["code"] == "safety_reporting")
    assert channel["name"] == "安全生产有奖举报"
    fields = {f["name"]: f for f in channel["fields"]}
    assert fields["hazard_type"]["label"] == "举报类型" and fields["hazard_type"]["required"]
    assert fields["hazard_type"]["choices"]["special_equipment"] == "特种设备"
    assert fields["hazard_type"]["choices"]["concealed_accident"] == "瞒报谎报事故"
    assert fields["enterprise"]["required"] and fields["reward_requested"]["type"] == "boolean"
    assert fields["id_number"]["label"] == "身份证号" and "保密" in fields["id_number"]["help"]
    assert fields["payment_account"]["label"] == "奖励收款账户"


async def test_a_named_report_asking_for_a_reward_is_taken_and_its_secrets_hidden_from_the_agent(client, tokens):
    response = await client.post("/api/channels/safety_reporting/orders", json=report(), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "received" and order["details"]["enterprise"] == "长沙某化工有限公司"
    assert order["citizen"] == {"name": "（保密）", "phone": "137****7777"}
    assert order["details"]["id_number"] == "（保密）" and order["details"]["payment_account"] == "（保密）"


async def test_an_anonymous_report_is_taken_without_name_or_phone(client, tokens):
    body = report({"reward_requested": False, "id_number": "", "payment_account": ""}, anonymous=True,
                  citizen={"name": "", "phone": ""})
    response = await client.post("/api/channels/safety_reporting/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    assert response.json()["anonymous"] is True and response.json()["query_code"]


@pytest.mark.parametrize("details, overrides, key", [
    ({"id_number": ""}, {}, "details.id_number"),
    ({"id_number": "110105194912310021"}, {}, "details.id_number"),  # wrong check character
    ({}, {"citizen": {"name": "", "phone": PHONE}}, "citizen.name"),
    ({}, {"anonymous": True, "citizen": {"name": "", "phone": ""}}, "details.reward_requested"),
    ({"site_address": ""}, {"address": ""}, "details.site_address"),
])
async def test_a_reward_request_needs_a_named_reporter_with_phone_and_id_number(client, tokens, details, overrides, key):
    response = await client.post("/api/channels/safety_reporting/orders", json=report(details, **overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 400, response.text
    assert key in [e["key"] for e in response.json()["extra"]]
    assert await Order.count() == 0


@pytest.mark.parametrize("category, subject, content, department, reason", [
    ("特种设备", "设备长期未检验", "商场里的设备好几年没有检验过。", "market", "特种设备"),
    ("", "小区电梯经常困人", "电梯维保记录造假，上周又困了人。", "market", "市场监督管理局"),
    ("", "工地塔吊无证操作", "工地上开塔吊的人没有操作证，吊物从人头顶过。", "housing", "住房和城乡建设局"),
    ("", "餐馆液化气罐放在过道", "后厨过道堆着十几罐液化气，旁边就是明火灶台。", "urban_mgmt", "燃气"),
    ("", "旅游大巴严重超员", "每天早上的旅游大巴座位坐满了还在过道加人。", "transport", "交通运输局"),
    ("", "厂里出事死了人老板瞒报", "上个月车间出事死了两个人，老板私下赔钱没有上报。", "emergency", "瞒报"),
    ("", "仓库堆放大量烟花爆竹", "居民楼底下的仓库堆满了烟花爆竹。", "emergency", "应急管理局"),
])
async def test_reports_are_routed_to_the_regulator_of_their_hazard_with_a_reason(
        client, tokens, category, subject, content, department, reason):
    body = report(subject=subject, content=content, category=category)
    order = (await client.post("/api/channels/safety_reporting/orders", json=body, headers=tokens["agent1"])).json()
    assert order["suggested_department"] == department
    assert reason in order["suggestion_reason"]


async def test_a_reply_is_refused_until_the_department_records_its_verification(client, tokens):
    number = await accepted(client, tokens)
    handler = tokens["emergency_handler"]
    refused = await act(client, handler, number, "reply", {"reply": "已处理"})
    assert refused.status_code == 409 and "核查" in refused.json()["detail"]
    verified = await act(client, handler, number, "verify",
                         {"result": "partly", "findings": "动火属实，储罐距离不足不属实。", "fine_yuan": 20000})
    assert verified.status_code == 200 and verified.json()["status"] == "accepted"
    replied = await act(client, handler, number, "reply", {"reply": "经核查部分属实，已罚款2万元并责令整改。"})
    assert replied.status_code == 200 and replied.json()["status"] == "replied"


async def test_the_verification_must_fit_the_report(client, tokens):
    handler = tokens["emergency_handler"]
    waiting = await take(client, tokens)
    await act(client, tokens["dispatcher1"], waiting, "dispatch", {"department": "emergency"})
    early = await act(client, handler, waiting, "verify", {"result": "true", "findings": "属实", "fine_yuan": 0})
    assert early.status_code == 409  # not yet accepted
    number = await accepted(client, tokens)
    for payload, key in (({"result": "true", "findings": "属实"}, "fine_yuan"),
                         ({"result": "false", "findings": "不属实", "fine_yuan": 100}, "fine_yuan"),
                         ({"result": "true", "findings": "属实", "fine_yuan": 1, "verified_deaths": 1}, "verified_deaths"),
                         ({"result": "maybe", "findings": "不清楚"}, "result")):
        refused = await act(client, handler, number, "verify", payload)
        assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == key, refused.text
    other = await act(client, tokens["market_handler"], number, "verify", {"result": "false", "findings": "x"})
    assert other.status_code == 404  # another department cannot even see the order
    assert (await act(client, handler, number, "verify", {"result": "false", "findings": "查无此事"})).status_code == 200
    again = await act(client, handler, number, "verify", {"result": "true", "findings": "改判", "fine_yuan": 5})
    assert again.status_code == 409 and again.json()["detail"] == "该举报已记录核查结果，不能重复核查"
    concealed = await accepted(client, tokens, {"hazard_type": "concealed_accident"})
    missing = await act(client, handler, concealed, "verify", {"result": "true", "findings": "查实瞒报", "verified_deaths": 2})
    assert missing.status_code == 400 and missing.json()["extra"][0]["key"] == "accident_grade"


@pytest.mark.parametrize("fine, amount", [
    (100000, "15000.00"),  # 15 % of the fine
    (20001, "3000.15"),
    (10000, "3000.00"),  # at least 3,000
    (0, "3000.00"),
    (3000000, "300000.00"),  # at most 300,000
])
async def test_a_founded_hazard_is_rewarded_15_percent_of_the_fine_between_3000_and_300000(client, tokens, fine, amount):
    number = await verified(client, tokens, fine_yuan=fine)
    assert (await act(client, tokens["dispatcher1"], number, "calculate_reward")).status_code == 200
    reward = (await safety(client, tokens["dispatcher1"], number)).json()["reward"]
    assert reward["status"] == "calculated" and reward["amount_yuan"] == amount
    assert "15%" in reward["basis"] and "须由热线中心对照正式文本" in reward["rule_source"]


@pytest.mark.parametrize("grade, deaths, amount", [
    ("general", 1, "30000.00"),
    ("larger", 3, "120000.00"),
    ("major", 7, "300000.00"),  # 350,000 by the count, capped at 300,000
])
async def test_a_concealed_accident_is_rewarded_per_verified_death_by_its_grade(client, tokens, grade, deaths, amount):
    number = await verified(client, tokens, {"hazard_type": "concealed_accident"}, accident_grade=grade,
                            verified_deaths=deaths)
    assert (await act(client, tokens["supervisor1"], number, "calculate_reward")).status_code == 200
    reward = (await safety(client, tokens["admin1"], number)).json()["reward"]
    assert reward["amount_yuan"] == amount and reward["rule"] == "concealed_accident"


async def test_no_reward_for_an_unfounded_report_one_that_asked_none_or_a_concealed_accident_without_deaths(
        client, tokens):
    unfounded = await accepted(client, tokens)
    await act(client, tokens["emergency_handler"], unfounded, "verify", {"result": "false", "findings": "查无此事"})
    refused = await act(client, tokens["dispatcher1"], unfounded, "calculate_reward")
    assert refused.status_code == 409 and refused.json()["detail"] == "核查结果为不属实，不予奖励"
    unasked = await verified(client, tokens, {"reward_requested": False}, fine_yuan=50000)
    refused = await act(client, tokens["dispatcher1"], unasked, "calculate_reward")
    assert refused.status_code == 409 and refused.json()["detail"] == "举报人未申请奖励"
    no_deaths = await verified(client, tokens, {"hazard_type": "concealed_accident"}, accident_grade="general",
                               verified_deaths=0)
    refused = await act(client, tokens["dispatcher1"], no_deaths, "calculate_reward")
    assert refused.status_code == 409 and "0 元" in refused.json()["detail"]


async def test_the_reward_is_calculated_approved_and_paid_in_order_by_the_right_people(client, tokens):
    number = await verified(client, tokens, fine_yuan=100000)
    dispatcher, supervisor, admin = tokens["dispatcher1"], tokens["supervisor1"], tokens["admin1"]
    pay = {"payment_reference": "财付2026-0815"}
    out_of_order = [await act(client, supervisor, number, "approve_reward"),
                    await act(client, admin, number, "pay_reward", pay)]
    assert [r.status_code for r in out_of_order] == [409, 409]
    assert out_of_order[0].json()["detail"] == "奖励当前为「未核算」，不能审批奖励"
    for who in ("emergency_handler", "agent1"):
        assert (await act(client, tokens[who], number, "calculate_reward")).status_code == 403
    assert (await act(client, dispatcher, number, "calculate_reward")).status_code == 200
    assert (await act(client, dispatcher, number, "calculate_reward")).status_code == 409
    assert (await act(client, dispatcher, number, "approve_reward")).status_code == 403
    assert (await act(client, admin, number, "pay_reward", pay)).status_code == 409
    assert (await act(client, supervisor, number, "approve_reward", {"note": "核算无误"})).status_code == 200
    assert (await act(client, supervisor, number, "approve_reward")).status_code == 409
    assert (await act(client, supervisor, number, "pay_reward", pay)).status_code == 403
    assert (await act(client, admin, number, "pay_reward", {"account": ACCOUNT})).status_code == 400
    paid = await act(client, admin, number, "pay_reward", pay)
    assert paid.status_code == 200 and paid.json()["details"]["payment_account"] == "（保密）"
    assert (await act(client, admin, number, "pay_reward", pay)).status_code == 409
    reward = (await safety(client, admin, number)).json()["reward"]
    assert (reward["status"], reward["amount_yuan"], reward["payment_reference"]) == ("paid", "15000.00", "财付2026-0815")
    assert (reward["calculated_by"], reward["approved_by"], reward["paid_by"]) == ("dispatcher1", "supervisor1", "admin1")
    revealed = await act(client, admin, number, "reveal_contact", {"reason": "核对收款账户"})
    assert revealed.json()["details"]["payment_account"] == ACCOUNT  # only on the audited reveal


async def test_whoever_calculated_the_reward_cannot_approve_it(client, tokens):
    number = await verified(client, tokens, fine_yuan=100000)
    assert (await act(client, tokens["admin1"], number, "calculate_reward")).status_code == 200
    refused = await act(client, tokens["admin1"], number, "approve_reward")
    assert refused.status_code == 403 and refused.json()["detail"] == "核算人与审批人不能为同一人"


async def test_the_department_never_sees_the_reporter_the_id_number_or_the_account(client, tokens):
    number = await verified(client, tokens, fine_yuan=100000)
    await act(client, tokens["dispatcher1"], number, "calculate_reward")
    await act(client, tokens["supervisor1"], number, "approve_reward")
    await act(client, tokens["admin1"], number, "pay_reward", {"payment_reference": "财付2026-0815"})
    handler = tokens["emergency_handler"]
    detail = (await client.get(f"/api/orders/{number}", headers=handler)).json()
    listed = (await client.get("/api/orders", headers=handler)).json()["items"][0]
    state = (await safety(client, handler, number)).json()
    for view in (detail, listed):
        assert view["citizen"] == {"name": "（保密）", "phone": ""}
        assert "id_number" not in view["details"] and "payment_account" not in view["details"]
    assert state["verification"]["result_label"] == "属实" and state["verification"]["fine_yuan"] == 100000
    assert state["reward"] is None  # the reward is the centre's business
    seen = msgspec.json.encode([detail, listed, state]).decode()
    assert not [s for s in SECRETS if s in seen]
    stored = msgspec.json.encode([await SafetyCase.select(), await OrderEvent.select().output(load_json=True),
                                  await Order.select().output(load_json=True)]).decode()
    assert not [s for s in SECRETS if s in stored]


async def test_the_safety_record_is_shown_only_to_who_may_see_the_order(client, tokens):
    number = await accepted(client, tokens)
    own = await safety(client, tokens["emergency_handler"], number)
    assert own.status_code == 200 and own.json()["verification"] is None
    assert own.json()["hazard_type_label"] == "危险化学品"
    assert (await safety(client, tokens["market_handler"], number)).status_code == 404
    assert (await client.get(f"/api/orders/{number}/safety")).status_code == 401
    hotline = (await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])).json()
    assert (await safety(client, tokens["dispatcher1"], hotline["number"])).status_code == 404
    centre = (await safety(client, tokens["dispatcher1"], number)).json()
    assert centre["reward"]["requested"] is True and centre["reward"]["status_label"] == "未核算"
