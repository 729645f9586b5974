"""公司帮扶 over the API: the form, the credit-code check, routing by problem, and the visits a
department must make before it replies or a badly rated order is closed."""

from __future__ import annotations

import datetime as dt

import pytest

from core import clock
from core.plugin_api import SHANGHAI
from plugins.enterprise_help import credit_code
from plugins.enterprise_help.tables import Visit
from tests import helpers
from tests.helpers import intake_body

PNG = helpers.png()
# codes printed on real business licences (a published sample, Huawei, Tencent, a Shanghai firm,
# a public institution), all of which carry a correct check character
PUBLISHED_CODES = ["91350100M000100Y43", "914403001922038216", "9144030071526726XG",
                   "91310115MA1K3BTP2B", "121200004013590816"]


@pytest.fixture
async def client(client):
    """The visits table is the plugin's own, which the shared clean-up does not know about."""
    await Visit.delete(force=True)
    return client


def _body(problem="financing", **overrides):
    details = {"enterprise_name": "长沙某精密制造有限公司", "credit_code": "91350100M000100Y43",
               "industry": "manufacturing", "problem": problem}
    details.update(overrides.pop("details", {}))
    body = intake_body(kind="help", subject="企业扩产资金紧张", content="企业扩大生产，急需一笔贷款用于资金周转，希望协调银行。",
                       details=details)
    body.update(overrides)
    return body


async def _new(client, tokens, **overrides) -> dict:
    response = await client.post("/api/channels/enterprise_help/orders", json=_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def _do(client, tokens, user, number, action, payload=None, expect=200) -> dict:
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=tokens[user])
    assert response.status_code == expect, (action, response.text)
    return response.json()


def _today() -> str:
    return clock.today().isoformat()


async def _accepted(client, tokens) -> str:
    """A financing request dispatched to and accepted by the development bureau."""
    number = (await _new(client, tokens))["number"]
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "development"})
    await _do(client, tokens, "development_handler", number, "accept")
    return number


async def _visit(client, tokens, number, findings="企业确有资金缺口，已对接两家银行"):
    return await _do(client, tokens, "development_handler", number, "record_visit",
                     {"date": _today(), "staff": ["张科长", "李干事"], "findings": findings})


async def test_the_channel_offers_its_form_with_labels_and_choices(client):
    channels = {c["code"]: c for c in (await client.get("/api/channels")).json()}
    fields = {f["name"]: f for f in channels["enterprise_help"]["fields"]}
    assert channels["enterprise_help"]["name"] == "公司帮扶"
    assert list(fields) == ["enterprise_name", "credit_code", "industry", "problem"]
    assert fields["credit_code"]["label"] == "统一社会信用代码" and fields["credit_code"]["required"]
    assert fields["problem"]["type"] == "choice"
    assert fields["problem"]["choices"] == {"financing": "融资", "hiring": "用工", "approvals": "审批", "land": "用地",
                                            "policy_payouts": "政策兑现", "utilities": "水电气", "other": "其他"}
    assert fields["industry"]["choices"]["manufacturing"] == "制造业"


@pytest.mark.parametrize("code", PUBLISHED_CODES)
def test_real_credit_codes_pass_the_check(code):
    assert credit_code.valid(code)


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y4A", "914403001922038210"])
def test_a_mistyped_check_character_is_caught(code):
    assert not credit_code.valid(code)


async def test_a_request_with_a_valid_code_is_taken(client, tokens):
    order = await _new(client, tokens)
    assert order["status"] == "received" and order["channel_name"] == "公司帮扶"
    assert order["details"]["credit_code"] == "91350100M000100Y43" and order["details"]["problem"] == "financing"


@pytest.mark.parametrize(("code", "message"), [
    ("91350100M000100Y44", "统一社会信用代码校验位不正确，请对照营业执照核对"),
    ("91350100M000100Y4", "统一社会信用代码应为18位，由数字和大写字母组成（不含 I、O、S、V、Z）"),
    ("91350100M0001O0Y43", "统一社会信用代码应为18位，由数字和大写字母组成（不含 I、O、S、V、Z）"),
])
async def test_a_bad_credit_code_is_refused_naming_the_field(client, tokens, code, message):
    response = await client.post("/api/channels/enterprise_help/orders", headers=tokens["agent1"],
                                 json=_body(details={"credit_code": code}))
    assert response.status_code == 400
    assert response.json()["extra"] == [{"key": "details.credit_code", "message": message, "source": "body"}]


async def test_an_unknown_problem_type_is_refused_naming_the_field(client, tokens):
    response = await client.post("/api/channels/enterprise_help/orders", headers=tokens["agent1"],
                                 json=_body(problem="tax"))
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "details.problem"


@pytest.mark.parametrize(("problem", "subject", "content", "department", "reason"), [
    ("financing", "扩产缺资金", "急需贷款用于资金周转", "development", "企业融资困难，由经济发展局牵头对接金融机构"),
    ("hiring", "招工难", "旺季缺工两百人，招聘困难", "hrss", "企业用工问题，由人力资源和社会保障局协调"),
    ("land", "新厂房用地", "扩建项目需要新增工业用地", "natural_resources", "企业用地问题，由自然资源和规划局办理"),
    ("policy_payouts", "补贴未到账", "去年的技改补贴一直没有兑现", "development", "惠企政策兑现，由经济发展局统筹落实"),
    ("utilities", "频繁停电", "园区近一个月停电四次，影响生产", "development", "水电气要素保障，由经济发展局协调供水、供电、供气单位"),
    ("approvals", "审批慢", "消防验收材料提交一个月没有结果", "general_office", "审批事项办理不畅，由管委会办公室（政务服务）协调相关审批部门"),
    ("other", "想了解园区情况", "希望有人介绍一下园区的产业配套", "development", "公司帮扶专线诉求由经济发展局统筹协调"),
])
async def test_routing_suggests_the_department_for_the_problem_with_a_reason(
        client, tokens, problem, subject, content, department, reason):
    order = await _new(client, tokens, problem=problem, subject=subject, content=content)
    assert order["suggested_department"] == department
    assert order["suggestion_reason"] == reason


async def test_a_visit_is_scheduled_then_recorded_with_photos_and_shown_on_the_order(client, tokens):
    number = await _accepted(client, tokens)
    planned = await _do(client, tokens, "development_handler", number, "schedule_visit",
                        {"date": _today(), "staff": ["张科长"], "note": "与王经理约定上午十点"})
    assert planned["status"] == "accepted" and planned["events"][-1]["action"] == "schedule_visit"
    assert {"name": "record_visit", "label": "上门调查与现场核实"} in planned["actions"]
    photo = await client.post(f"/api/orders/{number}/attachments", files={"data": ("车间.png", PNG, "image/png")},
                              headers=tokens["development_handler"])
    key = photo.json()["key"]
    done = await _do(client, tokens, "development_handler", number, "record_visit",
                     {"date": _today(), "staff": ["张科长", "李干事"], "findings": "生产正常，订单增加，资金缺口约500万元",
                      "photos": [key]})
    assert done["status"] == "accepted" and done["events"][-1]["action"] == "record_visit"
    visits = (await client.get(f"/api/orders/{number}/visits", headers=tokens["dispatcher1"])).json()
    assert [(v["kind"], v["kind_label"]) for v in visits] == [("planned", "预约走访"), ("done", "上门调查与现场核实")]
    assert visits[0]["note"] == "与王经理约定上午十点" and visits[0]["date"] == _today()
    assert visits[1]["staff"] == ["张科长", "李干事"] and visits[1]["photos"] == [key]
    assert visits[1]["recorded_by"] == "development_handler" and visits[1]["follow_up"] is False


async def test_visits_are_refused_with_the_reason(client, tokens):
    number = (await _new(client, tokens))["number"]
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "development"})
    early = await _do(client, tokens, "development_handler", number, "record_visit",
                      {"date": _today(), "staff": ["张科长"], "findings": "x"}, expect=409)  # not accepted yet
    assert "不能执行「上门调查与现场核实」" in early["detail"]
    await _do(client, tokens, "development_handler", number, "accept")
    yesterday = (clock.today() - dt.timedelta(days=1)).isoformat()
    past = await _do(client, tokens, "development_handler", number, "schedule_visit",
                     {"date": yesterday, "staff": ["张科长"]}, expect=400)
    assert past["extra"] == [{"key": "date", "message": "预约走访日期不能早于今天", "source": "body"}]
    nobody = await _do(client, tokens, "development_handler", number, "record_visit",
                       {"date": _today(), "staff": [], "findings": "x"}, expect=400)
    assert nobody["extra"][0]["key"] == "staff"
    forged = await _do(client, tokens, "development_handler", number, "record_visit",
                       {"date": _today(), "staff": ["张科长"], "findings": "x", "photos": ["not-uploaded.png"]},
                       expect=400)
    assert forged["extra"][0]["key"] == "photos"
    centre = await _do(client, tokens, "dispatcher1", number, "schedule_visit",
                       {"date": _today(), "staff": ["张科长"]}, expect=403)
    assert "派单员不能执行「预约走访」" == centre["detail"]
    assert (await client.get(f"/api/orders/{number}/visits", headers=tokens["agent1"])).json() == []


async def test_a_handler_of_another_department_can_neither_visit_nor_see_the_visits(client, tokens):
    number = await _accepted(client, tokens)
    await _visit(client, tokens, number)
    await _do(client, tokens, "hrss_handler", number, "record_visit",
              {"date": _today(), "staff": ["赵"], "findings": "x"}, expect=404)
    assert (await client.get(f"/api/orders/{number}/visits", headers=tokens["hrss_handler"])).status_code == 404
    assert len((await client.get(f"/api/orders/{number}/visits", headers=tokens["development_handler"])).json()) == 1
    assert (await client.get(f"/api/orders/{number}/visits")).status_code == 401


async def test_the_reply_waits_for_a_recorded_visit_while_a_visit_can_still_be_recorded(client, tokens):
    """The reply itself is refused without a visit (not the approval after it, when the department
    could no longer record one); the department visits, then replies, and the centre approves."""
    number = await _accepted(client, tokens)
    refused = await _do(client, tokens, "development_handler", number, "reply", {"reply": "已协调银行放款"},
                        expect=409)
    assert refused["detail"] == "公司帮扶工单须先上门调查、现场核实（记录走访）后才能答复"
    await _visit(client, tokens, number)
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已上门核实并协调银行放款"})
    assert (await _do(client, tokens, "dispatcher1", number, "approve"))["status"] == "completed"


async def test_centre_staff_who_went_along_may_record_the_visit(client, tokens):
    number = await _accepted(client, tokens)
    await _do(client, tokens, "supervisor1", number, "record_visit",
              {"date": _today(), "staff": ["赵督办"], "findings": "随同经济发展局上门，企业资金缺口属实"})
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已协调银行放款"})
    visits = (await client.get(f"/api/orders/{number}/visits", headers=tokens["development_handler"])).json()
    assert [v["recorded_by"] for v in visits] == ["supervisor1"]


async def test_a_visit_leaves_the_citizens_fields_alone(client, tokens):
    """The visit lives in the channel's table; the order's details stay what the enterprise sent."""
    number = await _accepted(client, tokens)
    before = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()["details"]
    await _visit(client, tokens, number)
    after = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()["details"]
    assert after == before


async def test_a_badly_rated_order_is_archived_only_after_a_follow_up_visit(client, tokens):
    number = await _accepted(client, tokens)
    await _visit(client, tokens, number)
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已协调"})
    await _do(client, tokens, "dispatcher1", number, "approve")
    await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "unsatisfied", "resolved": False})
    refused = await _do(client, tokens, "dispatcher1", number, "archive", expect=409)
    assert refused["detail"] == "回访评价为不满意或未解决，须再次上门走访并记录后才能归档"
    await _visit(client, tokens, number, findings="银行已受理，企业仍在等待审批结果，已向企业说明进度")
    assert (await _do(client, tokens, "dispatcher1", number, "archive"))["status"] == "archived"
    visits = (await client.get(f"/api/orders/{number}/visits", headers=tokens["supervisor1"])).json()
    assert [v["follow_up"] for v in visits] == [False, True]


async def test_a_well_rated_order_needs_no_further_visit(client, tokens):
    number = await _accepted(client, tokens)
    await _visit(client, tokens, number)
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已协调"})
    await _do(client, tokens, "dispatcher1", number, "approve")
    rated = await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "satisfied", "resolved": True})
    assert rated["status"] == "archived"


async def test_after_a_rework_the_new_reply_needs_a_new_visit(client, tokens):
    number = await _accepted(client, tokens)
    await _visit(client, tokens, number)
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已协调"})
    await _do(client, tokens, "dispatcher1", number, "approve")
    await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "basically_satisfied", "resolved": False})
    await _do(client, tokens, "dispatcher1", number, "rework", {"reason": "贷款仍未落实"})
    refused = await _do(client, tokens, "development_handler", number, "reply", {"reply": "再次协调"}, expect=409)
    assert refused["detail"] == "公司帮扶工单须先上门调查、现场核实（记录走访）后才能答复"


async def test_other_channels_are_not_held_to_the_visit_rule(client, tokens):
    response = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])
    number = response.json()["number"]
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "development"})
    await _do(client, tokens, "development_handler", number, "accept")
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已处理"})
    assert (await _do(client, tokens, "dispatcher1", number, "approve"))["status"] == "completed"
    await _do(client, tokens, "development_handler", number, "record_visit",
              {"date": _today(), "staff": ["张"], "findings": "x"}, expect=404)
    assert (await client.get(f"/api/orders/{number}/visits", headers=tokens["agent1"])).status_code == 404


async def test_the_visits_show_as_a_panel_on_the_console_order_page(client, tokens):
    from tests.test_console import Staff

    number = await _accepted(client, tokens)
    handler = Staff(client)
    await handler.login("development_handler")
    before = (await handler.get(f"/console/orders/{number}")).text
    assert "上门走访" in before and "尚未安排或记录走访" in before
    await _do(client, tokens, "development_handler", number, "record_visit",
              {"date": _today(), "staff": ["张科长"], "findings": "生产正常，资金缺口约500万元"})
    after = (await handler.get(f"/console/orders/{number}")).text
    assert "张科长：生产正常，资金缺口约500万元" in after and "尚未安排或记录走访" not in after


async def test_centre_staff_schedule_a_visit_and_its_record_lets_the_department_reply(client, tokens):
    number = await _accepted(client, tokens)
    scheduled = await client.post(f"/api/orders/{number}/site-visits", headers=tokens["supervisor1"], json={
        "purpose": "enterprise_visit", "scheduled_at": clock.now().isoformat(),
        "staff": ["supervisor1", "development_handler"]})
    assert scheduled.status_code == 201, scheduled.text
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已对接银行"}, expect=409)
    recorded = await client.post(f"/api/site-visits/{scheduled.json()['id']}/record",
                                 headers=tokens["development_handler"],
                                 json={"findings": "与企业当面核实资金缺口", "conclusion": "confirmed",
                                       "address": "麓谷街道某产业园"})
    assert recorded.status_code == 200, recorded.text
    await _do(client, tokens, "development_handler", number, "reply", {"reply": "已对接银行"})
