"""A working calendar for every year: provisional statutory holidays for years the package does not
know, the State Council's schedule imported by an admin (moving open deadlines, audited), the year's
days over the API, office hours as a setting, and the banner while next year is still provisional."""

from __future__ import annotations

import datetime as dt

from core.tables import CalendarChange, Order, OrderEvent
from tests.helpers import PASSWORD, intake_body
from tests.test_console import Staff

NEW_YEARS_EVE = "2026-12-31T10:00:00+08:00"


async def _intake(client, tokens, **overrides) -> dict:
    made = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert made.status_code == 201, made.text
    return (await client.get(f"/api/orders/{made.json()['number']}", headers=tokens["agent1"])).json()


def _due(order: dict, name: str) -> dt.datetime:
    return dt.datetime.fromisoformat(next(d for d in order["deadlines"] if d["name"] == name)["due"])


def _local(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


async def test_an_order_received_on_new_years_eve_2026_is_not_due_on_holidays_of_2027(client, tokens, frozen_clock):
    """2027 is not in the calendar package: its 元旦 and 春节 (除夕 5 Feb to 初三 8 Feb) are provisional
    holidays, so no deadline lands on them."""
    frozen_clock.freeze(NEW_YEARS_EVE)
    order = await _intake(client, tokens, kind="consult")
    # 1 Jan (元旦, Friday) and the weekend do not count: Mon 4, Tue 5, Wed 6 January
    assert _due(order, "handle") == _local("2027-01-06T18:00:00+08:00")
    assert _due(order, "dispatch") == _local("2026-12-31T12:00:00+08:00")
    frozen_clock.freeze("2027-02-04T10:00:00+08:00")
    spring = await _intake(client, tokens, kind="consult")
    due = _due(spring, "handle")
    assert due == _local("2027-02-11T18:00:00+08:00")  # 9, 10, 11 February
    assert not dt.date(2027, 2, 5) <= due.date() <= dt.date(2027, 2, 8)
    accept_days = [dt.date(2027, 1, 1), *(dt.date(2027, 2, d) for d in range(5, 9))]
    assert all(not client.platform.calendar.is_workday(d) for d in accept_days)


async def test_importing_the_official_schedule_moves_open_deadlines_with_an_audited_event(client, tokens, frozen_clock):
    frozen_clock.freeze(NEW_YEARS_EVE)
    order = await _intake(client, tokens, kind="consult")
    number = order["number"]
    dispatched = await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                                   headers=tokens["dispatcher1"])
    assert dispatched.status_code == 200
    order = dispatched.json()
    assert _due(order, "accept") == _local("2027-01-04T18:00:00+08:00")  # provisional: Mon 4 January
    assert _due(order, "handle") == _local("2027-01-06T18:00:00+08:00")
    untouched = await _intake(client, tokens, kind="consult", priority="urgent")  # natural hours: never moved

    refused = await client.post("/api/calendar/2027/import", json={"holidays": ["2027-01-01"]},
                                headers=tokens["supervisor1"])
    assert refused.status_code == 403
    # the announced schedule: an extra holiday on Mon 4 and Tue 5, a make-up working Saturday 2 January
    imported = await client.post("/api/calendar/2027/import", headers=tokens["admin1"], json={
        "holidays": ["2027-01-01", {"date": "2027-01-04", "name": "元旦"}, "2027-01-05"],
        "workdays": ["2027-01-02"]})
    assert imported.status_code == 200, imported.text
    assert imported.json() == {"year": 2027, "source": "official", "holidays": 3, "workdays": 1, "moved_orders": 1}

    after = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert _due(after, "accept") == _local("2027-01-02T18:00:00+08:00")  # the make-up Saturday counts
    assert _due(after, "handle") == _local("2027-01-07T18:00:00+08:00")  # Sat 2, Wed 6, Thu 7
    event = after["events"][-1]
    assert event["action"] == "calendar_reschedule" and event["actor"] == "admin1"
    assert "导入 2027 年国务院节假日安排" in event["reason"] and "签收时限" in event["reason"]
    assert event["payload"]["deadlines"]["handle"]["to"].startswith("2027-01-07T18:00")
    row = await Order.select(Order.due_at, Order.version).where(Order.number == number).first()
    assert row["due_at"] == _local("2027-01-02T18:00:00+08:00")  # the column lists filter on follows
    assert row["version"] == order["version"] + 1
    other = (await client.get(f"/api/orders/{untouched['number']}", headers=tokens["agent1"])).json()
    assert _due(other, "handle") == _due(untouched, "handle")
    assert not [e for e in other["events"] if e["action"] == "calendar_reschedule"]

    year = (await client.get("/api/calendar/2027", headers=tokens["agent1"])).json()
    assert year["source"] == "official"
    days = {d["date"]: d for d in year["days"]}
    assert days["2027-01-02"]["working"] and days["2027-01-02"]["name"] == "调休上班"
    assert not days["2027-01-05"]["working"] and days["2027-01-05"]["name"] == "元旦"
    assert days["2027-02-05"]["working"]  # the official schedule replaces the provisional 春节 days
    assert not days["2027-01-05"]["provisional"]
    changes = (await client.get("/api/calendar/changes", headers=tokens["admin1"])).json()
    assert changes[0]["actor"] == "admin1" and changes[0]["moved_orders"] == 1

    # an override day moves the deadline again, and removing it moves it back, each audited
    moved = await client.post("/api/calendar/days", json={"day": "2027-01-06", "workday": False, "note": "停电"},
                              headers=tokens["admin1"])
    assert moved.status_code == 200 and moved.json()["moved_orders"] == 1
    again = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert _due(again, "handle") == _local("2027-01-08T18:00:00+08:00")
    removed = await client.delete("/api/calendar/days/2027-01-06", headers=tokens["admin1"])
    assert removed.status_code == 200 and removed.json()["moved_orders"] == 1
    back = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert _due(back, "handle") == _local("2027-01-07T18:00:00+08:00")
    assert [e["action"] for e in back["events"]].count("calendar_reschedule") == 3
    assert (await client.delete("/api/calendar/days/2027-01-06", headers=tokens["admin1"])).status_code == 404
    assert await CalendarChange.count() == 3
    assert await OrderEvent.count().where(OrderEvent.action == "calendar_reschedule") == 3


async def test_an_import_is_checked_field_by_field(client, tokens):
    async def refused(year, body, key):
        answer = await client.post(f"/api/calendar/{year}/import", json=body, headers=tokens["admin1"])
        assert answer.status_code == 400, answer.text
        assert key in [e["key"] for e in answer.json()["extra"]], answer.json()
        return answer.json()

    await refused(2027, {"holidays": ["2028-01-01"]}, "holidays[0]")
    await refused(2027, {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}, "workdays")
    await refused(2027, {"holidays": ["2027-01-01", "2027-01-01"]}, "holidays[1]")
    await refused(2027, {"holidays": ["2027-02-30"]}, "holidays[0]")
    await refused(2027, {"holidays": [f"2027-01-{d:02d}" for d in range(1, 32)] * 4}, "holidays")
    await refused(2027, {"holidays": [], "extra": 1}, "extra")
    await refused(1999, {"holidays": []}, "year")
    await refused(2101, {"holidays": []}, "year")
    assert (await client.get("/api/calendar/2027", headers=tokens["agent1"])).json()["source"] == "provisional"


async def test_the_year_shows_every_day_with_its_source(client, tokens):
    package = (await client.get("/api/calendar/2026", headers=tokens["agent1"])).json()
    assert set(package) >= {"year", "source", "days", "office_hours"}
    assert package["source"] == "package" and len(package["days"]) == 365
    assert package["office_hours"] == [["08:30", "12:00"], ["13:30", "18:00"]]
    days = {d["date"]: d for d in package["days"]}
    assert days["2026-02-17"] == {**days["2026-02-17"], "working": False, "name": "春节", "provisional": False}
    assert days["2026-02-28"]["working"] and "调休" in days["2026-02-28"]["name"]  # a make-up Saturday
    assert days["2026-03-16"] == {**days["2026-03-16"], "working": True, "name": "", "provisional": False}

    provisional = (await client.get("/api/calendar/2027", headers=tokens["eco_handler"])).json()
    assert provisional["source"] == "provisional"
    days = {d["date"]: d for d in provisional["days"]}
    assert days["2027-01-01"] == {**days["2027-01-01"], "working": False, "name": "元旦", "provisional": True}
    assert [days[f"2027-02-0{d}"]["name"] for d in range(4, 10)] == ["", "春节", "春节", "春节", "春节", ""]

    y2031 = {d["date"]: d for d in (await client.get("/api/calendar/2031", headers=tokens["agent1"])).json()["days"]}
    holidays = {day: d["name"] for day, d in y2031.items() if d["name"]}
    assert holidays == {"2031-01-01": "元旦", "2031-01-22": "春节", "2031-01-23": "春节", "2031-01-24": "春节",
                        "2031-01-25": "春节", "2031-04-05": "清明节", "2031-05-01": "劳动节", "2031-05-02": "劳动节",
                        "2031-06-24": "端午节", "2031-10-01": "中秋节、国庆节", "2031-10-02": "国庆节",
                        "2031-10-03": "国庆节"}
    y2099 = (await client.get("/api/calendar/2099", headers=tokens["agent1"])).json()
    named = {d["date"]: d["name"] for d in y2099["days"] if d["name"]}
    assert y2099["source"] == "provisional" and len(named) == 13
    assert [named.get(f"2099-01-{d}") for d in (20, 21, 22, 23)] == ["春节"] * 4  # 正月初一 is 21 January
    assert named["2099-04-04"] == "清明节" and named["2099-06-23"] == "端午节" and named["2099-09-29"] == "中秋节"
    for year in (1999, 2101):
        bad = await client.get(f"/api/calendar/{year}", headers=tokens["agent1"])
        assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "year"
    assert (await client.get("/api/calendar/2027")).status_code == 401


async def test_office_hours_are_eight_by_default_and_a_setting_changes_new_deadlines(client, tokens, frozen_clock):
    shown = (await client.get("/api/calendar/office-hours", headers=tokens["agent1"])).json()
    assert shown["office_hours"] == [["08:30", "12:00"], ["13:30", "18:00"]] and shown["updated_by"] is None
    assert client.platform.calendar.day_seconds == 8 * 3600
    frozen_clock.freeze("2026-11-16T16:30:00+08:00")  # a Monday
    before = await _intake(client, tokens)
    assert _due(before, "dispatch") == _local("2026-11-17T09:00:00+08:00")  # 1.5 h today, 0.5 h tomorrow

    for body, why in ((["08:30", "12:00"], "not a list of periods"),
                      ([["09:00", "12:00"], ["11:00", "17:00"]], "overlapping"),
                      ([["12:00", "09:00"]], "backwards"), ([["25:00", "26:00"]], "outside the day"),
                      ([["08:00", "09:00"]] * 5, "too many"), ([], "none")):
        bad = await client.put("/api/calendar/office-hours", json={"office_hours": body}, headers=tokens["admin1"])
        assert bad.status_code == 400, (why, bad.text)
        assert bad.json()["extra"][0]["key"].startswith("office_hours"), why
    assert (await client.put("/api/calendar/office-hours", json={"office_hours": [["09:00", "17:00"]]},
                             headers=tokens["supervisor1"])).status_code == 403
    saved = await client.put("/api/calendar/office-hours", headers=tokens["admin1"],
                             json={"office_hours": [["09:00", "12:00"], ["13:00", "17:00"]]})
    assert saved.status_code == 200, saved.text
    assert saved.json()["office_hours"] == [["09:00", "12:00"], ["13:00", "17:00"]]
    assert saved.json()["updated_by"] == "admin1" and saved.json()["updated_at"].startswith("2026-11-16T16:30")
    after = await _intake(client, tokens)
    assert _due(after, "dispatch") == _local("2026-11-17T10:30:00+08:00")  # 0.5 h today, 1.5 h from 09:00
    unchanged = (await client.get(f"/api/orders/{before['number']}", headers=tokens["agent1"])).json()
    assert _due(unchanged, "dispatch") == _local("2026-11-17T09:00:00+08:00")  # stored deadlines stay
    change = (await client.get("/api/calendar/changes", headers=tokens["admin1"])).json()[0]
    assert change["actor"] == "admin1" and "09:00–12:00、13:00–17:00" in change["summary"]
    forecast_hours = __import__("core.reports.forecast", fromlist=["peak_hours"]).peak_hours
    assert forecast_hours(client.platform.calendar) == frozenset({9, 10, 11, 13, 14, 15, 16})


async def test_the_banner_tells_admins_and_supervisors_while_next_year_is_provisional(client, frozen_clock):
    async def home(username: str) -> str:
        staff = Staff(client)
        await staff.get("/console/login")
        signed_in = await staff.post("/console/login", {"username": username, "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        return (await staff.get("/console")).text

    frozen_clock.freeze("2030-11-20T10:00:00+08:00")  # 2031 is 42 days away and not announced
    for username in ("admin1", "supervisor1"):
        page = await home(username)
        assert 'id="calendar-banner"' in page and "2031年节假日安排尚未导入" in page, username
        assert "/console/admin/calendar?year=2031" in page
    assert 'id="calendar-banner"' not in await home("agent1")
    frozen_clock.freeze("2030-10-20T10:00:00+08:00")  # 73 days away: not yet
    assert 'id="calendar-banner"' not in await home("admin1")
    frozen_clock.freeze("2030-11-20T10:00:00+08:00")
    from core.calendar_admin import import_year
    from core.model import Actor

    await import_year(client.platform, 2031, ["2031-01-01"], [], Actor(name="admin1", role="admin"))
    assert 'id="calendar-banner"' not in await home("supervisor1")  # announced: nothing to say
    ready = await client.get("/ready")
    assert ready.status_code in (200, 503) and "calendar" not in ready.text


async def test_the_console_calendar_page_shows_a_month_grid_and_changes_days(client, frozen_clock):
    frozen_clock.freeze("2030-11-20T10:00:00+08:00")
    admin = Staff(client)
    await admin.get("/console/login")
    await admin.post("/console/login", {"username": "admin1", "password": PASSWORD})
    page = await admin.get("/console/admin/calendar?year=2031")
    assert page.status_code == 200
    text = page.text
    assert "2031年" in text and "推算" in text and 'data-date="2031-01-01"' in text and "元旦" in text
    assert 'id="next-year"' in text and 'id="prev-year"' in text
    assert "08:30–12:00、13:30–18:00" in text
    saved = await admin.post("/console/admin/calendar", {"day": "2031-03-03", "workday": "no", "note": "台风"})
    assert saved.status_code == 200 and "2031-03-03 设为休息日" in saved.text
    assert 'class="day override-off' in saved.text and "台风" in saved.text
    removed = await admin.post("/console/admin/calendar/remove", {"day": "2031-03-03"})
    assert removed.status_code == 200 and "已取消 2031-03-03 的中心设定" in removed.text
    imported = await admin.post("/console/admin/calendar/import", {
        "year": "2031", "holidays": "2031-01-01\n2031-01-21 至 2031-01-27", "workdays": "2031-01-19", "json": ""})
    assert imported.status_code == 200 and "已导入 2031 年节假日安排：放假 8 天，调休上班 1 天" in imported.text
    assert "国务院安排（已导入）" in imported.text and 'class="day make-up' in imported.text
    bad = await admin.post("/console/admin/calendar/import", {"year": "2031", "holidays": "2032-01-01",
                                                              "workdays": "", "json": ""})
    assert bad.status_code == 400 and "不在 2031 年内" in bad.text
    hours = await admin.post("/console/admin/calendar/office-hours", {"start1": "09:00", "end1": "12:00",
                                                                      "start2": "11:00", "end2": "17:00"})
    assert hours.status_code == 400 and "不重叠" in hours.text
    supervisor = Staff(client)
    await supervisor.get("/console/login")
    await supervisor.post("/console/login", {"username": "supervisor1", "password": PASSWORD})
    seen = await supervisor.get("/console/admin/calendar?year=2031")
    assert seen.status_code == 200 and 'id="day-form"' not in seen.text  # supervisors look, admins change
    agent = Staff(client)
    await agent.get("/console/login")
    await agent.post("/console/login", {"username": "agent1", "password": PASSWORD})
    assert (await agent.get("/console/admin/calendar")).status_code == 403
