"""阳光教育 over the API and its web form: the fields, the stage/grade rule, pupils' names kept in the
centre, campus safety as urgent, and who handles what (the bureau, or the market regulator's station
for a training centre's fees)."""

from __future__ import annotations

import datetime as dt

import pytest

from core.demo import DEPARTMENTS as DEMO_DEPARTMENTS
from plugins.education import CHANNEL, routing_rules
from tests.helpers import DEPARTMENTS, intake_body
from tests.test_web import Page, open_form, post_form, valid_form

# the cases below are set in 2026 (their received times, the Spring Festival they count to)
pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")

RECEIVED = "2026-06-01T09:30:00+08:00"  # a Monday


def _body(details=None, **overrides):
    request = {"school": "梅溪湖第一小学", "stage": "primary", "issue": "fees", "grade": "p3"}
    request.update(details or {})
    body = intake_body(subject="学校收取教辅资料费", content="孩子所在班级要求每人交200元教辅资料费，没有收据。",
                       received_at=RECEIVED, details=request)
    body.update(overrides)
    return body


async def _new(client, tokens, details=None, **overrides) -> dict:
    response = await client.post("/api/channels/education/orders", json=_body(details, **overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def test_the_channel_lists_its_fields_with_labels_and_choices(client):
    channel = next(c for c in (await client.get("/api/channels")).json() if c["code"] == "education")
    assert channel["name"] == "阳光教育"
    fields = {f["name"]: f for f in channel["fields"]}
    assert [(f["label"], f["type"], f["required"]) for f in channel["fields"]] == [
        ("学校或机构名称", "string", True), ("学段", "choice", True), ("问题类型", "choice", True),
        ("学生年级", "choice", False), ("学生姓名", "string", False)]
    assert list(fields["stage"]["choices"].values()) == ["幼儿园", "小学", "初中", "高中", "中职", "校外培训机构"]
    assert list(fields["issue"]["choices"].values()) == [
        "收费", "招生入学", "师德师风", "校园安全", "食堂与营养餐", "校外培训", "课业负担"]
    assert fields["grade"]["choices"]["j2"] == "初二（八年级）"
    assert "只有热线中心能看到" in fields["pupil_name"]["help"]


async def test_the_citizens_form_shows_the_fields_and_a_mismatched_grade_beside_its_input(client):
    index = (await client.get("/forms")).text
    assert "阳光教育" in index and "/forms/education" in index
    page = await open_form(client, "education")
    for label in ("学校或机构名称", "学段", "问题类型", "学生年级", "学生姓名"):
        assert label in page.source
    form = valid_form(CHANNEL, **{"details.school": "麓谷中学", "details.stage": "junior", "details.issue": "workload",
                                  "details.grade": "p5"})
    response = await post_form(client, "education", form, page=page)
    assert response.status_code == 400
    assert "「五年级」不是初中的年级，请核对学段和年级" in response.text
    assert 'value="麓谷中学"' in response.text


async def test_a_valid_request_is_taken_with_its_details(client, tokens):
    order = await _new(client, tokens)
    assert order["status"] == "received" and order["priority"] == "normal"
    assert order["details"]["school"] == "梅溪湖第一小学" and order["details"]["grade"] == "p3"
    training = await _new(client, tokens, {"school": "某英语培训中心", "stage": "training", "grade": "s2"})
    assert training["details"]["grade"] == "s2"  # a training centre teaches pupils of any grade


@pytest.mark.parametrize(("details", "key", "message"), [
    ({"stage": "university"}, "details.stage", None),
    ({"school": ""}, "details.school", None),
    ({"grade": "j2"}, "details.grade", "「初二（八年级）」不是小学的年级，请核对学段和年级"),
    ({"stage": "kindergarten", "grade": "p1"}, "details.grade", "「一年级」不是幼儿园的年级，请核对学段和年级"),
    ({"issue": None}, "details.issue", None),
])
async def test_an_invalid_request_is_refused_naming_the_field(client, tokens, details, key, message):
    response = await client.post("/api/channels/education/orders", json=_body(details), headers=tokens["agent1"])
    assert response.status_code == 400, response.text
    extra = response.json()["extra"]
    assert [e["key"] for e in extra] == [key]
    if message:
        assert extra[0]["message"] == message


async def test_a_pupils_name_stays_in_the_centre(client, tokens):
    order = await _new(client, tokens, {"pupil_name": "王小明"})
    number = order["number"]
    assert order["details"]["pupil_name"] == "（保密）"
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "education"},
                      headers=tokens["dispatcher1"])
    seen = await client.get(f"/api/orders/{number}", headers=tokens["education_handler"])
    assert seen.status_code == 200 and "pupil_name" not in seen.json()["details"]
    assert "王小明" not in seen.text
    listed = await client.get("/api/orders", params={"channel": "education"}, headers=tokens["education_handler"])
    assert "王小明" not in listed.text and "pupil_name" not in listed.json()["items"][0]["details"]
    revealed = await client.post(f"/api/orders/{number}/actions/reveal_contact", json={"reason": "家访核实"},
                                 headers=tokens["supervisor1"])
    assert revealed.json()["details"]["pupil_name"] == "王小明"


@pytest.mark.parametrize("where", ["subject", "content"])
async def test_a_pupils_name_written_into_the_text_is_refused(client, tokens, where):
    body = _body({"pupil_name": "王小明"})
    body[where] = "王小明的班主任体罚学生"
    response = await client.post("/api/channels/education/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == where
    assert "请不要在" in response.json()["extra"][0]["message"]


def _handle_hours(order) -> float:
    handle = next(d for d in order["deadlines"] if d["name"] == "handle")
    return (dt.datetime.fromisoformat(handle["due"]) - dt.datetime.fromisoformat(handle["start"])).total_seconds() / 3600


async def test_campus_safety_is_urgent_with_the_reason_on_the_intake(client, tokens):
    order = await _new(client, tokens, {"issue": "safety"}, subject="学校围墙有裂缝", content="操场边围墙裂开，随时可能倒塌。")
    assert order["priority"] == "urgent" and _handle_hours(order) == 24
    events = (await client.get(f"/api/orders/{order['number']}", headers=tokens["agent1"])).json()["events"]
    assert events[0]["reason"] == "校园安全问题，按紧急工单在24小时内处置"
    ordinary = await _new(client, tokens, {"issue": "canteen"})
    assert ordinary["priority"] == "normal" and _handle_hours(ordinary) > 24


@pytest.mark.parametrize(("details", "area", "department", "reason"), [
    ({"stage": "training", "issue": "fees", "grade": None}, "梅溪湖街道", "market_meixihu",
     "梅溪湖街道校外培训机构收费（预收费、退费）纠纷，由市场监督管理局梅溪湖所查处"),
    ({"stage": "training", "issue": "fees", "grade": None}, "坪塘街道", "market",
     "校外培训机构收费（预收费、退费）纠纷，由市场监督管理局查处"),
    ({"stage": "training", "issue": "training", "grade": None}, "梅溪湖街道", "education",
     "校外培训机构的资质和培训行为，由教育局校外培训监管部门查处"),
    ({"issue": "fees"}, "梅溪湖街道", "education", "学校收费问题，由教育局核查规范"),
    ({"issue": "ethics"}, "麓谷街道", "education", "师德师风问题，由教育局调查处理"),
])
async def test_routing_by_issue_type_and_area(client, tokens, details, area, department, reason):
    order = await _new(client, tokens, details, area=area)
    assert (order["suggested_department"], order["suggestion_reason"]) == (department, reason)
    dispatched = await client.post(f"/api/orders/{order['number']}/actions/dispatch",
                                   json={"department": department}, headers=tokens["dispatcher1"])
    assert dispatched.status_code == 200, dispatched.text


def test_every_department_a_rule_names_is_in_the_reference_data():
    named = {rule.department for rule in routing_rules(CHANNEL)}
    assert named <= {code for code, _, _ in DEMO_DEPARTMENTS}
    assert named <= {code for code, _, _ in DEPARTMENTS}


async def test_another_channels_orders_are_not_held_to_these_rules(client, tokens):
    body = intake_body(subject="学校旁工地噪音", content="王小明家旁边学校附近的工地很吵", received_at=RECEIVED)
    response = await client.post("/api/channels/hotline/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 201 and response.json()["priority"] == "normal"
