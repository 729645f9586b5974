"""环保创卫 over the API: the fields, night noise and pollution in progress as urgent, routing to the
ecology and environment branch or city management by problem type, and repeated reports about one
source within 30 days linked and shown together to the handler."""

from __future__ import annotations

import datetime as dt

import pytest

from core.demo import DEPARTMENTS as DEMO_DEPARTMENTS
from plugins.environment import CHANNEL, routing_rules
from plugins.environment.tables import SourceReport
from tests.helpers import DEPARTMENTS, intake_body
from tests.test_web import open_form, post_form, valid_form

# the cases below are set in 2026 (their received times, the Spring Festival they count to)
pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")

DAY = "2026-06-01T10:00:00+08:00"
NIGHT = "2026-06-01T23:30:00+08:00"


@pytest.fixture
async def client(client):
    await SourceReport.delete(force=True)
    return client


def _body(details=None, received_at=DAY, **overrides):
    report = {"problem": "cooking_fumes", "location": "梅溪湖街道某路88号一楼", "timing": "daytime",
              "source": "老王烧烤店"}
    report.update(details or {})
    body = intake_body(subject="烧烤店油烟直排", content="楼下烧烤店油烟没有净化直接排放，熏得家里不能开窗。",
                       received_at=received_at, details=report)
    body.update(overrides)
    return body


async def _new(client, tokens, details=None, **kwargs) -> dict:
    response = await client.post("/api/channels/environment/orders", json=_body(details, **kwargs),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


def _handle_hours(order) -> float:
    handle = next(d for d in order["deadlines"] if d["name"] == "handle")
    return (dt.datetime.fromisoformat(handle["due"]) - dt.datetime.fromisoformat(handle["start"])).total_seconds() / 3600


async def test_the_channel_lists_its_fields_and_offers_its_form(client):
    channel = (await client.get("/api/channels/environment")).json()
    assert channel["name"] == "环保创卫"
    assert [(f["name"], f["label"], f["type"], f["required"]) for f in channel["fields"]] == [
        ("problem", "问题类型", "choice", True), ("location", "具体位置", "string", True),
        ("timing", "发生时间", "choice", True), ("source", "污染源或责任方", "string", False)]
    problems = channel["fields"][0]["choices"]
    assert list(problems.values()) == ["大气", "水", "噪声", "固废", "油烟", "扬尘", "卫生死角", "病媒生物", "占道经营", "违规广告"]
    assert channel["fields"][2]["choices"]["ongoing"] == "正在发生"
    page = await open_form(client, "environment")
    assert "污染源或责任方" in page.source and "具体位置" in page.source
    form = valid_form(CHANNEL, **{"details.location": "麓"})
    refused = await post_form(client, "environment", form, page=page)
    assert refused.status_code == 400 and 'value="麓"' in refused.text


async def test_a_valid_report_is_taken_and_routed_with_a_reason(client, tokens):
    order = await _new(client, tokens)
    assert order["status"] == "received" and order["priority"] == "normal"
    assert order["details"] == {"problem": "cooking_fumes", "location": "梅溪湖街道某路88号一楼", "timing": "daytime",
                                "source": "老王烧烤店"}
    assert (order["suggested_department"], order["suggestion_reason"]) == ("urban_mgmt", "餐饮油烟由城市管理和综合执法局查处")


@pytest.mark.parametrize(("details", "key"), [
    ({"problem": "light"}, "details.problem"),
    ({"location": ""}, "details.location"),
    ({"timing": None}, "details.timing"),
    ({"source": "很" * 101}, "details.source"),
    ({"smell": "臭"}, "details.smell"),
])
async def test_an_invalid_report_is_refused_naming_the_field(client, tokens, details, key):
    response = await client.post("/api/channels/environment/orders", json=_body(details), headers=tokens["agent1"])
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == [key]


@pytest.mark.parametrize(("problem", "department", "reason"), [
    ("air", "eco_env", "大气污染由生态环境分局查处"),
    ("water", "eco_env", "水污染由生态环境分局查处"),
    ("noise", "eco_env", "噪声污染由生态环境分局监测查处"),
    ("solid_waste", "eco_env", "固体废物污染由生态环境分局查处"),
    ("dust", "urban_mgmt", "工地和道路扬尘由城市管理和综合执法局查处"),
    ("dirty_corner", "urban_mgmt", "卫生死角由城市管理和综合执法局（环卫）清理整治"),
    ("pests", "urban_mgmt", "公共区域病媒生物防制由城市管理和综合执法局（环卫）组织消杀"),
    ("street_vending", "urban_mgmt", "占道经营由城市管理和综合执法局查处"),
    ("illegal_ads", "urban_mgmt", "违规广告由城市管理和综合执法局清理查处"),
])
async def test_routing_by_problem_type(client, tokens, problem, department, reason):
    order = await _new(client, tokens, {"problem": problem})
    assert (order["suggested_department"], order["suggestion_reason"]) == (department, reason)


def test_every_department_a_rule_names_is_in_the_reference_data():
    named = {rule.department for rule in routing_rules(CHANNEL)}
    assert named <= {code for code, _, _ in DEMO_DEPARTMENTS} and named <= {code for code, _, _ in DEPARTMENTS}


@pytest.mark.parametrize(("details", "received_at", "reason"), [
    ({"problem": "noise", "timing": "night"}, DAY, "夜间噪声扰民，按紧急工单处置"),
    ({"problem": "noise", "timing": "ongoing"}, NIGHT, "夜间噪声扰民，按紧急工单处置"),
    ({"problem": "noise", "timing": "ongoing"}, "2026-06-02T05:59:00+08:00", "夜间噪声扰民，按紧急工单处置"),
    ({"problem": "water", "timing": "ongoing"}, DAY, "水污染正在发生，须尽快到场取证处置"),
    ({"problem": "cooking_fumes", "timing": "ongoing"}, DAY, "油烟污染正在发生，须尽快到场取证处置"),
])
async def test_night_noise_and_pollution_in_progress_are_urgent(client, tokens, details, received_at, reason):
    order = await _new(client, tokens, details, received_at=received_at)
    assert order["priority"] == "urgent" and _handle_hours(order) == 24
    events = (await client.get(f"/api/orders/{order['number']}", headers=tokens["agent1"])).json()["events"]
    assert events[0]["reason"] == reason


@pytest.mark.parametrize(("details", "received_at"), [
    ({"problem": "noise", "timing": "ongoing"}, DAY),  # daytime noise
    ({"problem": "noise", "timing": "ongoing"}, "2026-06-01T21:59:00+08:00"),  # just before night
    ({"problem": "noise", "timing": "ongoing"}, "2026-06-02T06:00:00+08:00"),  # just after night
    ({"problem": "water", "timing": "intermittent"}, NIGHT),  # pollution, but not going on now
    ({"problem": "dirty_corner", "timing": "ongoing"}, NIGHT),  # not pollution
])
async def test_other_reports_are_normal(client, tokens, details, received_at):
    order = await _new(client, tokens, details, received_at=received_at)
    assert order["priority"] == "normal" and _handle_hours(order) > 24


async def _dispatch(client, tokens, number, department):
    response = await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": department},
                                 headers=tokens["dispatcher1"])
    assert response.status_code == 200, response.text


async def test_repeated_reports_about_one_source_within_30_days_are_shown_together(client, tokens):
    first = await _new(client, tokens, received_at="2026-05-01T10:00:00+08:00")
    second = await _new(client, tokens, {"source": " 老王 烧烤店！", "timing": "night"}, received_at="2026-05-20T22:00:00+08:00",
                        subject="烧烤店又在排油烟")
    third = await _new(client, tokens, received_at="2026-05-31T10:00:00+08:00")
    too_late = await _new(client, tokens, received_at="2026-06-25T10:00:00+08:00")
    other_street = await _new(client, tokens, area="麓谷街道", received_at="2026-05-20T10:00:00+08:00")
    other_source = await _new(client, tokens, {"source": "小李烧烤店"}, received_at="2026-05-20T10:00:00+08:00")
    for order in (first, second, third, too_late, other_street, other_source):
        await _dispatch(client, tokens, order["number"], "urban_mgmt")

    linked = await client.get(f"/api/orders/{second['number']}/related-reports", headers=tokens["urban_handler"])
    assert linked.status_code == 200, linked.text
    body = linked.json()
    assert body["window_days"] == 30 and body["source"] == " 老王 烧烤店！"
    assert [r["number"] for r in body["reports"]] == [third["number"], first["number"]]
    assert body["reports"][0]["status_label"] == "待签收" and body["reports"][0]["location"] == "梅溪湖街道某路88号一楼"
    back = (await client.get(f"/api/orders/{first['number']}/related-reports", headers=tokens["urban_handler"])).json()
    assert [r["number"] for r in back["reports"]] == [third["number"], second["number"]]  # 31 May is within 30 days of 1 May
    late = (await client.get(f"/api/orders/{too_late['number']}/related-reports", headers=tokens["urban_handler"])).json()
    assert [r["number"] for r in late["reports"]] == [third["number"]]


async def test_without_a_named_source_the_same_spot_and_problem_link(client, tokens):
    first = await _new(client, tokens, {"source": "", "problem": "dirty_corner", "location": "某小区3栋后面"})
    second = await _new(client, tokens, {"source": "", "problem": "dirty_corner", "location": "某小区 3栋 后面"})
    other_problem = await _new(client, tokens, {"source": "", "problem": "pests", "location": "某小区3栋后面"})
    body = (await client.get(f"/api/orders/{first['number']}/related-reports", headers=tokens["agent1"])).json()
    assert [r["number"] for r in body["reports"]] == [second["number"]] and other_problem["number"]


async def test_a_handler_sees_only_linked_reports_of_its_own_department(client, tokens):
    first = await _new(client, tokens, {"problem": "noise"})
    second = await _new(client, tokens, {"problem": "noise"})
    third = await _new(client, tokens, {"problem": "noise"})
    await _dispatch(client, tokens, first["number"], "eco_env")
    await _dispatch(client, tokens, second["number"], "eco_env")
    await _dispatch(client, tokens, third["number"], "urban_mgmt")
    body = (await client.get(f"/api/orders/{first['number']}/related-reports", headers=tokens["eco_handler"])).json()
    assert [r["number"] for r in body["reports"]] == [second["number"]]
    centre = (await client.get(f"/api/orders/{first['number']}/related-reports", headers=tokens["supervisor1"])).json()
    assert len(centre["reports"]) == 2
    assert (await client.get(f"/api/orders/{third['number']}/related-reports",
                             headers=tokens["eco_handler"])).status_code == 404
    hotline = (await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])).json()
    assert (await client.get(f"/api/orders/{hotline['number']}/related-reports",
                             headers=tokens["agent1"])).status_code == 404


async def test_a_hotline_noise_complaint_is_not_held_to_these_rules(client, tokens):
    response = await client.post("/api/channels/hotline/orders", json=intake_body(received_at=NIGHT),
                                 headers=tokens["agent1"])
    assert response.status_code == 201 and response.json()["priority"] == "normal"
    assert await SourceReport.count() == 0
