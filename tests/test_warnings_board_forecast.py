"""Early warnings, the real-time board and the staffing forecast, over the API."""

from __future__ import annotations

import datetime as dt
import math

import msgspec
import pytest

from core.clock import SHANGHAI
from core import clock
from core.jobs import deliver_outbox
from core.model import Actor
from core.orders import IntakeRequest
from core.reports import forecast
from core.tables import OutboxMessage
from tests.helpers import intake_body

AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")
UTC = dt.timezone.utc


async def _take(platform, when: dt.datetime | None = None, **overrides) -> str:
    service = platform.orders
    if when:
        service.clock = lambda: when
    request = msgspec.convert(intake_body(received_at=(when or clock.now()).isoformat(), **overrides),
                              IntakeRequest, strict=False)
    _, order = await service.intake("hotline", request, AGENT)
    return order.number


async def _overdue_order(platform) -> str:
    """A consultation received a month ago, accepted by housing and never answered."""
    service = platform.orders
    start = clock.now() - dt.timedelta(days=30)
    number = await _take(platform, start, kind="consult", address="洋湖街道洋湖大道1号", category="住房/物业",
                         citizen={"name": "赵先生", "phone": "13700000001"})
    service.clock = lambda: start + dt.timedelta(hours=1)
    await service.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await service.act(number, "accept", {}, HOUSING)
    service.clock = clock.now
    return number


async def test_warnings_explain_link_orders_and_reach_supervisors_once(client, tokens):
    """Five calls about one place within the hour raise a mass-incident warning and a surge of the
    category over its (empty) baseline; the same caller five times raises a repeat-caller warning
    with the phone masked; each is stored once and sent to the supervisors through the outbox."""
    platform = client.platform
    now = clock.now()
    numbers = [await _take(platform, now - dt.timedelta(minutes=50 - i), category="交通运输/道路施工",
                           address="麓谷街道麓松路88号") for i in range(5)]
    platform.orders.clock = clock.now
    response = await client.get("/api/warnings", headers=tokens["supervisor1"])
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    by_kind = {w["kind"]: w for w in items}
    mass = by_kind["mass_incident"]
    assert "麓谷街道麓松路88号" in mass["title"] and "5 件" in mass["explanation"] and "阈值：5 件" in mass["explanation"]
    assert sorted(mass["orders"]) == sorted(numbers)
    surge = next(w for w in items if w["kind"] == "surge" and w["facts"]["dimension"] == "category")
    assert surge["facts"]["count"] == 5 and surge["facts"]["baseline"] == 0 and "基线" in surge["explanation"]
    repeat = by_kind["repeat_caller"]
    assert "139****5678" in repeat["title"] and "13912345678" not in str(repeat) and repeat["facts"]["count"] == 5
    sent = [m for m in await OutboxMessage.select().where(OutboxMessage.topic == "notify.staff").output(load_json=True)
            if m["payload"]["template"] == "warning"]
    assert len(sent) == len(items) and all(m["payload"]["to"] == "role:supervisor" for m in sent)
    again = await client.get("/api/warnings", headers=tokens["supervisor1"])
    assert len(again.json()["items"]) == len(items)
    await deliver_outbox(platform)
    notices = (await client.get("/api/notifications", headers=tokens["supervisor1"])).json()["items"]
    assert sum(1 for n in notices if n["template"] == "warning") == len(items)  # sent once, read in the platform
    assert any(n["text"].startswith("预警：") and "麓谷街道麓松路88号" in n["text"] for n in notices)
    assert not [n for n in (await client.get("/api/notifications", headers=tokens["eco_handler"])).json()["items"]
                if n["template"] == "warning"]


async def test_a_warning_about_many_orders_counts_them_all_and_lists_the_first(client, tokens, monkeypatch):
    """A place or a number behind more orders than a warning lists: the explanation counts every one,
    the warning lists the earliest, and the scan never holds more than that per warning."""
    from core.reports import warnings

    monkeypatch.setattr(warnings, "LISTED_ORDERS", 2)
    platform = client.platform
    now = clock.now()
    numbers = [await _take(platform, now - dt.timedelta(minutes=50 - i), address="麓谷街道麓松路88号")
               for i in range(6)]
    platform.orders.clock = clock.now
    items = (await client.get("/api/warnings", headers=tokens["supervisor1"])).json()["items"]
    by_kind = {w["kind"]: w for w in items}
    assert by_kind["mass_incident"]["orders"] == numbers[:2] and "6 件" in by_kind["mass_incident"]["explanation"]
    assert by_kind["repeat_caller"]["orders"] == numbers[:2] and by_kind["repeat_caller"]["facts"]["count"] == 6


async def test_acknowledging_a_warning_records_who_and_refuses_twice(client, tokens):
    platform = client.platform
    now = clock.now()
    for i in range(5):
        await _take(platform, now - dt.timedelta(minutes=30 - i), address="观沙岭街道滨江路1号")
    platform.orders.clock = clock.now
    warning = next(w for w in (await client.get("/api/warnings", headers=tokens["supervisor1"])).json()["items"]
                   if w["kind"] == "mass_incident")
    url = f"/api/warnings/{warning['id']}/acknowledge"
    done = await client.post(url, json={"note": "已通知街道到现场"}, headers=tokens["supervisor1"])
    assert done.status_code == 200 and done.json()["acknowledged_by"] == "supervisor1"
    assert done.json()["acknowledge_note"] == "已通知街道到现场" and done.json()["acknowledged_at"]
    from core.tables import User

    await User.update({User.display_name: "老周"}).where(User.username == "supervisor1")
    again = await client.post(url, json={"note": "再次"}, headers=tokens["supervisor1"])
    assert again.status_code == 409 and "已由 老周 确认" in again.text  # the name colleagues know, not the login
    assert (await client.post(url, json={"note": "x"}, headers=tokens["housing_handler"])).status_code == 403
    assert (await client.post("/api/warnings/999999/acknowledge", json={"note": "x"},
                              headers=tokens["supervisor1"])).status_code == 404
    open_only = await client.get("/api/warnings", params={"acknowledged": "false", "scan": "false"},
                                 headers=tokens["supervisor1"])
    assert warning["id"] not in [w["id"] for w in open_only.json()["items"]]


async def test_one_surge_is_one_warning_however_long_it_lasts(client, tokens, frozen_clock):
    """Twelve calls about one category within the hour exceed both the hourly and the daily threshold,
    and more keep coming two hours later: the supervisors get one surge warning for that category, not
    one per window and another each hour."""
    platform = client.platform
    now = frozen_clock.freeze("2026-11-18T10:00:00+08:00")

    async def calls(at, n):
        for i in range(n):
            await _take(platform, at - dt.timedelta(minutes=40 - i), category="城乡建设/排水", address=f"梅溪湖街道{i}号")
        platform.orders.clock = lambda: clock.now()

    async def category_surges():
        items = (await client.get("/api/warnings", headers=tokens["supervisor1"])).json()["items"]
        return [w for w in items if w["kind"] == "surge" and w["facts"]["dimension"] == "category"]

    await calls(now, 12)
    assert len(await category_surges()) == 1
    later = frozen_clock.freeze(now + dt.timedelta(hours=2))
    await calls(later, 6)
    assert len(await category_surges()) == 1


async def test_only_a_supervisor_acknowledges_a_warning_and_says_what_was_done(client, tokens):
    """An agent or dispatcher may read warnings but not take them on; an empty note is refused with its
    field, and the warning stays open."""
    platform = client.platform
    now = clock.now()
    for i in range(5):
        await _take(platform, now - dt.timedelta(minutes=30 - i), address="观沙岭街道滨江路1号")
    warning = next(w for w in (await client.get("/api/warnings", headers=tokens["supervisor1"])).json()["items"]
                   if w["kind"] == "mass_incident")
    url = f"/api/warnings/{warning['id']}/acknowledge"
    for user in ("agent1", "dispatcher1"):
        refused = await client.post(url, json={"note": "已知悉"}, headers=tokens[user])
        assert refused.status_code == 403 and "督办员" in refused.json()["detail"]
    for body in ({}, {"note": "   "}):
        empty = await client.post(url, json=body, headers=tokens["supervisor1"])
        assert empty.status_code == 400 and empty.json()["extra"][0]["key"] == "note"
    still_open = await client.get("/api/warnings", params={"acknowledged": "false", "scan": "false"},
                                  headers=tokens["supervisor1"])
    assert warning["id"] in [w["id"] for w in still_open.json()["items"]]
    assert (await client.post(url, json={"note": "已通知街道"}, headers=tokens["admin1"])).status_code == 200


async def test_overdue_warning_goes_to_its_department_only(client, tokens):
    number = await _overdue_order(client.platform)
    mine = (await client.get("/api/warnings", params={"kind": "overdue"}, headers=tokens["housing_handler"])).json()
    assert [w["orders"] for w in mine["items"]] == [[number]]
    assert mine["items"][0]["department"] == "housing" and "超过办理时限" in mine["items"][0]["explanation"]
    other = (await client.get("/api/warnings", params={"kind": "overdue"}, headers=tokens["eco_handler"])).json()
    assert other["items"] == []


async def test_thresholds_are_configurable_by_an_admin_and_checked(client, tokens):
    platform = client.platform
    changed = await client.put("/api/warnings/thresholds", json={"mass_min_orders": 8}, headers=tokens["admin1"])
    assert changed.status_code == 200 and changed.json()["mass_min_orders"] == 8
    now = clock.now()
    for i in range(5):
        await _take(platform, now - dt.timedelta(minutes=20 - i), address="坪塘街道白泉村3号")
    platform.orders.clock = clock.now
    items = (await client.get("/api/warnings", params={"kind": "mass_incident"}, headers=tokens["supervisor1"])).json()["items"]
    assert items == []  # five is below the new threshold
    bad = await client.put("/api/warnings/thresholds", json={"surge_ratio": 0}, headers=tokens["admin1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "surge_ratio"
    unknown = await client.put("/api/warnings/thresholds", json={"loudness": 3}, headers=tokens["admin1"])
    assert unknown.status_code == 400 and unknown.json()["extra"][0]["key"] == "loudness"
    assert (await client.put("/api/warnings/thresholds", json={}, headers=tokens["supervisor1"])).status_code == 403
    assert (await client.get("/api/warnings", params={"kind": "weather"}, headers=tokens["supervisor1"])).status_code == 400


async def test_board_shows_today_by_hour_open_by_status_and_deadlines_by_department(client, tokens):
    platform = client.platform
    overdue = await _overdue_order(platform)
    await _take(platform)
    await _take(platform)
    board = (await client.get("/api/board", headers=tokens["dispatcher1"])).json()
    hour = clock.now().astimezone(SHANGHAI).hour
    assert board["intake_today"] == 2 and board["intake_by_hour"][hour]["total"] == 2
    assert board["intake_by_hour"][hour]["channels"] == {"hotline": 2}
    status = {s["status"]: s["count"] for s in board["open_by_status"]}
    assert status["received"] == 2 and status["accepted"] == 1
    assert board["deadlines_by_department"][0] == {"department": "housing", "name": "住房和城乡建设局",
                                                   "overdue": 1, "at_risk": 0}
    eco = (await client.get("/api/board", headers=tokens["eco_handler"])).json()
    assert eco["intake_today"] == 0 and eco["deadlines_by_department"] == []
    assert overdue


async def test_the_board_counts_a_handling_deadline_at_risk_from_80_percent_until_the_reply(client, tokens):
    """临期 on the board follows the calendar rule exactly, stops once the department has replied, and
    is worked out again when the centre changes its working days."""
    from core.calendar import deadline_state
    from core.reports import facts
    from core.reports.board import deadline_states
    from core.tables import Order

    platform = client.platform
    number = await _take(platform)
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await platform.orders.act(number, "accept", {}, HOUSING)
    row = await Order.select(Order.deadlines).where(Order.number == number).output(load_json=True).first()
    handle = row["deadlines"]["handle"]
    start, due = dt.datetime.fromisoformat(handle["start"]), dt.datetime.fromisoformat(handle["due"])
    calendar = platform.calendar
    await facts.refresh()

    async def at_risk(now) -> int:
        return len((await deadline_states(calendar, now)).get("housing", {}).get("at_risk", []))

    instants = [start + (due - start) * share for share in (0.3, 0.6, 0.9, 0.97, 0.999)]
    assert [await at_risk(t) for t in instants] == [deadline_state(start, due, t, calendar) == "at_risk"
                                                     for t in instants]
    assert await at_risk(instants[-1]) == 1
    assert calendar.derived  # kept for the next view
    await platform.load_calendar()
    assert not calendar.derived  # working days reloaded: worked out again
    await platform.orders.act(number, "reply", {"reply": "已处理。"}, HOUSING)
    await facts.refresh()
    assert await at_risk(instants[-1]) == 0


def test_erlang_c_matches_the_textbook_values():
    """Two erlangs on three lines wait 4/9 of the time; more lines never serve worse."""
    assert forecast.erlang_c(3, 2.0) == pytest.approx(4 / 9)
    assert forecast.erlang_c(2, 2.0) == 1.0
    level = forecast.service_level(3, 30, 240, 20)
    assert level == pytest.approx(1 - 4 / 9 * math.exp(-(3 - 2) * 20 / 240))
    assert forecast.lines_needed(30, 240, 0.8, 20) == 4
    assert [forecast.service_level(n, 30, 240, 20) for n in (3, 4, 5)] == sorted(
        forecast.service_level(n, 30, 240, 20) for n in (3, 4, 5))


async def test_forecast_states_its_method_error_and_whether_the_seed_plan_meets_the_target(client, tokens):
    from core.demo import seed_orders

    await seed_orders(client.platform, 1200, progress=False)
    response = await client.get("/api/forecast", params={"weeks": "1"}, headers=tokens["supervisor1"])
    assert response.status_code == 200, response.text
    plan = response.json()
    assert "季节性" in plan["method"] and plan["error"]["held_out_weeks"] == 2
    assert plan["error"]["actual_calls"] > 0 and plan["error"]["mae_calls_per_hour"] >= 0
    assert "通话时长" in plan["aht_source"] and 90 <= plan["average_handling_seconds"] <= 420
    assert len(plan["hours"]) == 7 * 24
    for hour in plan["hours"]:
        level = forecast.service_level(hour["plan_lines"], hour["calls"], plan["average_handling_seconds"], 20)
        assert hour["plan_meets_target"] == (level >= 0.8)
        assert hour["lines_needed"] >= 1
    assert plan["seed_plan"]["hours_failing"] == sum(not h["plan_meets_target"] for h in plan["hours"])
    bad = await client.get("/api/forecast", params={"weeks": "9"}, headers=tokens["supervisor1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "weeks"
    assert (await client.get("/api/forecast", headers=tokens["housing_handler"])).status_code == 403
