"""农民工欠薪专线 over the API: the form, labour inspection as the suggested department, and the
urgency rules (many workers, a large sum, the weeks before the Spring Festival)."""

from __future__ import annotations

import datetime as dt

import pytest

from plugins.migrant_workers import days_to_spring_festival
from tests.helpers import intake_body

# the cases below are set in 2026 (their received times, the Spring Festival they count to)
pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")

# a day well away from the Spring Festival, and one 26 days before its 2026 holiday (15 February)
QUIET_DAY = "2026-06-01T09:30:00+08:00"
BEFORE_FESTIVAL = "2026-01-20T09:30:00+08:00"


def _body(received_at=QUIET_DAY, **details):
    claim = {"employer": "某劳务分包公司", "project": "梅溪湖某住宅小区二期工地", "workers": 3,
             "amount_owed": 36000, "wage_period": "2025年9月至11月", "still_on_site": True}
    claim.update(details)
    return intake_body(subject="工地拖欠农民工工资", content="我们在工地干了三个月，老板一直拖着不发工资。",
                       received_at=received_at, details=claim)


async def _new(client, tokens, **kwargs) -> dict:
    response = await client.post("/api/channels/migrant_workers/orders", json=_body(**kwargs), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


def _handle_hours(order) -> float:
    handle = next(d for d in order["deadlines"] if d["name"] == "handle")
    return (dt.datetime.fromisoformat(handle["due"]) - dt.datetime.fromisoformat(handle["start"])).total_seconds() / 3600


async def test_the_channel_offers_its_form(client):
    channel = (await client.get("/api/channels/migrant_workers")).json()
    assert channel["name"] == "农民工欠薪专线"
    fields = {f["name"]: (f["label"], f["type"], f["required"]) for f in channel["fields"]}
    assert fields == {  # only who owes the wages and whether the workers are on site are needed to start
        "employer": ("欠薪单位", "string", True), "project": ("工地或项目", "string", False),
        "workers": ("一共几个人被欠工资", "integer", False), "amount_owed": ("大概欠了多少钱（元）", "number", False),
        "wage_period": ("欠的是哪段时间的工资", "string", False),
        "still_on_site": ("工人现在还在工地吗", "boolean", True),
    }


async def test_a_small_claim_is_taken_as_a_normal_order_routed_to_labour_inspection(client, tokens):
    order = await _new(client, tokens)
    assert order["status"] == "received" and order["priority"] == "normal" and order["flags"] == []
    assert order["details"]["workers"] == 3 and order["details"]["still_on_site"] is True
    assert order["suggested_department"] == "hrss"
    assert order["suggestion_reason"] == "梅溪湖街道的欠薪问题由人社局岳麓片区劳动保障监察中队查处"


async def test_an_area_without_its_own_squad_goes_to_the_bureau(client, tokens):
    response = await client.post("/api/channels/migrant_workers/orders", headers=tokens["agent1"],
                                 json={**_body(), "area": "坪塘街道", "address": "坪塘街道某工地"})
    order = response.json()
    assert order["suggested_department"] == "hrss"
    assert order["suggestion_reason"] == "农民工欠薪由人社局劳动保障监察机构受理查处"


async def test_a_normal_claim_is_due_sooner_than_a_hotline_complaint(client, tokens):
    claim = await _new(client, tokens)
    hotline = (await client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                                 json=intake_body(received_at=QUIET_DAY))).json()
    due = {o["channel"]: next(d["due"] for d in o["deadlines"] if d["name"] == "handle") for o in (claim, hotline)}
    assert dt.datetime.fromisoformat(due["migrant_workers"]) < dt.datetime.fromisoformat(due["hotline"])
    assert due["migrant_workers"].startswith("2026-06-08")  # 5 working days from Monday 1 June


@pytest.mark.parametrize(("details", "key"), [
    ({"workers": 0}, "details.workers"),
    ({"amount_owed": -1}, "details.amount_owed"),
    ({"employer": ""}, "details.employer"),
    ({"still_on_site": "也许"}, "details.still_on_site"),
])
async def test_an_invalid_claim_is_refused_naming_the_field(client, tokens, details, key):
    response = await client.post("/api/channels/migrant_workers/orders", json=_body(**details), headers=tokens["agent1"])
    assert response.status_code == 400
    assert [e["key"] for e in response.json()["extra"]] == [key]


async def test_a_claim_without_the_on_site_answer_is_refused(client, tokens):
    body = _body()
    del body["details"]["still_on_site"]
    response = await client.post("/api/channels/migrant_workers/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "details.still_on_site"


async def test_many_workers_make_it_urgent_and_a_mass_incident(client, tokens):
    order = await _new(client, tokens, workers=12)
    assert order["priority"] == "urgent" and order["flags"] == ["mass_incident"]
    assert _handle_hours(order) == 24
    detail = (await client.get(f"/api/orders/{order['number']}", headers=tokens["dispatcher1"])).json()
    assert detail["events"][0]["reason"] == "涉及12名工人（10人及以上），按群体性欠薪处置"


async def test_a_large_sum_makes_it_urgent_without_the_mass_incident_flag(client, tokens):
    order = await _new(client, tokens, workers=2, amount_owed=150000)
    assert order["priority"] == "urgent" and order["flags"] == []
    assert _handle_hours(order) == 24
    detail = (await client.get(f"/api/orders/{order['number']}", headers=tokens["dispatcher1"])).json()
    assert detail["events"][0]["reason"] == "拖欠金额150000元（10万元及以上）"


async def test_just_below_the_thresholds_stays_normal(client, tokens):
    order = await _new(client, tokens, workers=9, amount_owed=99999.5)
    assert order["priority"] == "normal" and order["flags"] == []


async def test_the_weeks_before_the_spring_festival_make_any_claim_urgent(client, tokens):
    order = await _new(client, tokens, received_at=BEFORE_FESTIVAL)
    assert order["priority"] == "urgent" and order["flags"] == []
    detail = (await client.get(f"/api/orders/{order['number']}", headers=tokens["dispatcher1"])).json()
    assert detail["events"][0]["reason"] == "距春节假期还有26天，须在农民工返乡前结清工资"
    earlier = await _new(client, tokens, received_at="2026-01-10T09:30:00+08:00")  # 36 days before
    assert earlier["priority"] == "normal"


async def test_several_reasons_are_all_kept(client, tokens):
    order = await _new(client, tokens, received_at=BEFORE_FESTIVAL, workers=30, amount_owed=480000)
    detail = (await client.get(f"/api/orders/{order['number']}", headers=tokens["dispatcher1"])).json()
    assert detail["events"][0]["reason"].split("；") == [
        "涉及30名工人（10人及以上），按群体性欠薪处置",
        "拖欠金额480000元（10万元及以上）",
        "距春节假期还有26天，须在农民工返乡前结清工资",
    ]


def test_the_festival_is_found_for_years_the_holiday_calendar_does_not_know_yet():
    # 2026: the State Council's holiday from the package (15 February); 2027: 除夕 (5 February) from the table
    assert days_to_spring_festival(dt.date(2026, 2, 1)) == 14
    assert days_to_spring_festival(dt.date(2026, 12, 20)) == 47
    assert days_to_spring_festival(dt.date(2027, 1, 10)) == 26
