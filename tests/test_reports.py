"""Periodic reports: KPI values checked against a small history worked out by hand.

The history spans the 2025 National Day week (1–8 October are holidays, Saturday 11 October is a
make-up working day): an order rated then voided by an upheld appeal, an order still open past its
deadline, an order received late on the period's last night and dispatched after midnight, a return
upheld, a repeat caller, and a consultation whose 3-working-day limit stretches over the holiday.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import msgspec
import pytest

from core import clock
from core.calendar import SHANGHAI
from core.model import Actor
from core.orders import IntakeRequest
from core.reports import facts
from core.reports.build import build_report
from tests.helpers import intake_body

AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
SUPERVISOR = Actor(name="supervisor1", role="supervisor")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")
ECO = Actor(name="eco_handler", role="handler", department="eco_env")
NOISE = "城乡建设/噪音污染"


def at(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI)


class History:
    def __init__(self, platform):
        self.service = platform.orders
        self.numbers: dict[str, str] = {}

    async def intake(self, name: str, when: str, **overrides) -> None:
        self.service.clock = lambda: at(when)
        request = msgspec.convert(intake_body(received_at=at(when).isoformat(), **overrides), IntakeRequest,
                                  strict=False)
        _, order = await self.service.intake("hotline", request, AGENT)
        self.numbers[name] = order.number

    async def act(self, name: str, when: str, action: str, actor: Actor, **payload) -> None:
        self.service.clock = lambda: at(when)
        await self.service.act(self.numbers[name], action, payload, actor)


async def national_day_week(platform, *, uphold_appeal: bool = True) -> History:
    h = History(platform)
    # E: a consultation from the week before, accepted and never answered (due Fri 26 Sep)
    await h.intake("E", "2025-09-23 09:00", kind="consult", category="城乡建设/物业管理",
                   citizen={"name": "赵先生", "phone": "13900000005"})
    await h.act("E", "2025-09-23 09:30", "dispatch", DISPATCHER, department="housing")
    await h.act("E", "2025-09-23 10:00", "accept", HOUSING)
    # A: the whole way, on time, rated 满意/已解决
    await h.intake("A", "2025-09-29 10:00", category=NOISE, citizen={"name": "李女士", "phone": "13900000001"})
    await h.act("A", "2025-09-29 10:30", "dispatch", DISPATCHER, department="housing")
    await h.act("A", "2025-09-29 11:00", "accept", HOUSING)
    await h.act("A", "2025-09-30 09:00", "reply", HOUSING, reply="已责令工地停止夜间施工")
    await h.act("A", "2025-09-30 10:00", "approve", DISPATCHER)
    await h.act("A", "2025-09-30 15:00", "callback", AGENT, satisfaction="satisfied", resolved=True)
    # B: answered on the spot, then rated 不满意/未解决
    await h.intake("B", "2025-09-29 11:00", kind="consult", citizen={"name": "王先生", "phone": "13900000002"})
    await h.act("B", "2025-09-29 11:05", "resolve_at_intake", AGENT, reply="已告知办理流程")
    await h.act("B", "2025-09-30 11:00", "callback", AGENT, satisfaction="unsatisfied", resolved=False)
    # C: sent to the wrong department, returned (upheld), redone by housing, rated badly; the rating
    # is appealed after the holiday and the appeal upheld, which voids it
    await h.intake("C", "2025-09-30 09:00", citizen={"name": "陈女士", "phone": "13900000003"})
    await h.act("C", "2025-09-30 09:10", "dispatch", DISPATCHER, department="eco_env")
    await h.act("C", "2025-09-30 09:30", "return", ECO, reason="不属于本单位职责")
    await h.act("C", "2025-09-30 10:00", "uphold_return", DISPATCHER)
    await h.act("C", "2025-09-30 10:10", "dispatch", DISPATCHER, department="housing")
    await h.act("C", "2025-09-30 10:20", "accept", HOUSING)
    await h.act("C", "2025-09-30 16:00", "reply", HOUSING, reply="已现场核实并处理")
    await h.act("C", "2025-09-30 16:30", "approve", DISPATCHER)
    await h.act("C", "2025-09-30 17:00", "callback", AGENT, satisfaction="unsatisfied", resolved=False)
    await h.act("C", "2025-10-09 09:00", "appeal", HOUSING, reason="已按规定答复，诉求超出政策范围")
    if uphold_appeal:
        await h.act("C", "2025-10-09 10:00", "uphold_appeal", SUPERVISOR, reason="经核实申诉成立")
    # D: a consultation received on the eve of the holiday, answered eleven days later yet in time
    await h.intake("D", "2025-09-30 10:00", kind="consult", citizen={"name": "周女士", "phone": "13900000004"})
    await h.act("D", "2025-09-30 10:10", "dispatch", DISPATCHER, department="housing")
    await h.act("D", "2025-09-30 10:20", "accept", HOUSING)
    await h.act("D", "2025-10-11 09:00", "reply", HOUSING, reply="已答复")
    await h.act("D", "2025-10-11 10:00", "approve", DISPATCHER)
    # F: A's caller again about the same matter, late on Sunday night; dispatched after midnight
    await h.intake("F", "2025-10-05 23:30", category=NOISE, citizen={"name": "李女士", "phone": "13900000001"})
    await h.act("F", "2025-10-06 00:10", "dispatch", DISPATCHER, department="housing")
    # G: the next week's first order
    await h.intake("G", "2025-10-06 00:05", citizen={"name": "孙先生", "phone": "13900000007"})
    h.service.clock = clock.now
    return h


WEEK_COUNTS = {
    "intake": 5, "resolved_at_intake": 1, "dispatched": 3, "dispatches": 4, "accepted_on_time": 3, "returns": 1,
    "returns_upheld": 1, "redispatches": 0, "extensions": 0, "completed": 3, "completed_on_time": 3,
    "open_overdue": 1, "reworks": 0, "callbacks": 3, "valid_ratings": 2, "satisfied": 1, "resolved": 1,
    "repeat_calls": 1, "returned": 1, "misrouted": 1, "extended": 0, "reworked": 0, "called_back": 3,
}
WEEK_RATES = {
    "resolved_at_intake_rate": 0.2, "on_time_accept_rate": 1.0, "on_time_completion_rate": 0.75,
    "overdue_rate": 0.25, "callback_rate": 1.0, "satisfaction_rate": 0.5, "resolution_rate": 0.5,
    # of the 3 orders first dispatched this week, C was returned (the return upheld): one order in three
    "return_rate": 1 / 3, "dispatch_accuracy": 2 / 3, "rework_rate": 0.0, "extension_rate": 0.0,
    "repeat_call_rate": 0.2,
}


async def test_weekly_kpis_match_the_hand_computed_national_day_week(platform):
    """Every count and rate of the week agrees with the history worked out by hand; the rating voided
    on appeal is left out of 满意率 and 解决率, the unanswered order of the week before counts as
    overdue, the late-night order counts as this week's intake but next week's dispatch."""
    await national_day_week(platform)
    report = await build_report(platform, "weekly", dt.date(2025, 10, 1), {})
    assert report["period"]["start"] == "2025-09-29" and report["period"]["end"] == "2025-10-05"
    assert report["counts"] == WEEK_COUNTS
    assert report["rates"] == pytest.approx(WEEK_RATES)


async def test_the_holiday_week_stretches_a_three_day_limit_over_eleven_days(platform):
    """A consultation received on 30 September is due on Saturday 11 October (a make-up working day),
    so answering it that morning is on time and it is not overdue at the end of the week."""
    h = await national_day_week(platform)
    order = await platform.orders.get(h.numbers["D"], SUPERVISOR)
    handle = order.deadlines["handle"]
    assert handle["due"].startswith("2025-10-11T18:00") and handle["done"].startswith("2025-10-11")
    october = await build_report(platform, "daily", dt.date(2025, 10, 11), {})
    assert october["counts"]["completed"] == 1 and october["counts"]["completed_on_time"] == 1


async def test_an_upheld_appeal_takes_the_rating_out_of_the_next_report(platform):
    """Before the appeal is decided the bad rating counts; once upheld, the same week's report
    (refreshed from the audit trail) no longer counts it."""
    h = await national_day_week(platform, uphold_appeal=False)
    before = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    assert before["counts"]["valid_ratings"] == 3 and before["rates"]["satisfaction_rate"] == pytest.approx(1 / 3)
    await h.act("C", "2025-10-09 10:00", "uphold_appeal", SUPERVISOR, reason="经核实申诉成立")
    after = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    assert after["counts"]["valid_ratings"] == 2 and after["rates"]["satisfaction_rate"] == pytest.approx(0.5)


async def test_period_boundaries_and_the_comparison_periods(platform):
    """The week before has only the overdue consultation (按时办结率 0), so 环比 intake is +400 %;
    the Sunday counts the late-night intake, the Monday its dispatch; a year earlier had nothing."""
    await national_day_week(platform)
    report = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    previous = report["previous"]
    assert previous["period"]["start"] == "2025-09-22"
    assert previous["counts"]["intake"] == 1 and previous["counts"]["open_overdue"] == 1
    assert previous["rates"]["on_time_completion_rate"] == 0.0
    assert report["change"]["previous"]["intake"] == pytest.approx(4.0)
    assert report["change"]["previous"]["on_time_completion_rate"] == pytest.approx(0.75)
    assert report["year_before"]["counts"]["intake"] == 0 and report["change"]["year_before"]["intake"] is None
    sunday = await build_report(platform, "daily", dt.date(2025, 10, 5), {})
    monday = await build_report(platform, "daily", dt.date(2025, 10, 6), {})
    assert (sunday["counts"]["intake"], sunday["counts"]["dispatched"]) == (1, 0)
    assert (monday["counts"]["intake"], monday["counts"]["dispatched"]) == (1, 1)


async def test_breakdowns_ranking_and_top_issues(platform):
    """Housing has four of the week's orders and tops the ranking; the noise category is the top
    issue; the centre's own answer counts under 未派单/中心办结."""
    await national_day_week(platform)
    report = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    departments = {r["value"]: r["counts"]["intake"] for r in report["breakdowns"]["department"]["rows"]}
    assert departments == {"housing": 4, "": 1}
    assert report["ranking"][0]["department"] == "housing" and report["ranking"][0]["label"] == "住房和城乡建设局"
    assert report["top_issues"][0] == {"rank": 1, "category": NOISE, "label": NOISE, "intake": 2, "previous": 0,
                                       "change": None}
    kinds = {r["value"]: r["counts"]["intake"] for r in report["breakdowns"]["kind"]["rows"]}
    assert kinds == {"complaint": 3, "consult": 2}
    filtered = await build_report(platform, "weekly", dt.date(2025, 9, 29), {"kind": "consult"})
    assert filtered["counts"]["intake"] == 2 and filtered["counts"]["resolved_at_intake"] == 1


async def test_report_api_json_xlsx_and_printable_html(client, tokens):
    """The same report over HTTP as JSON, as a workbook with a sheet per breakdown and Chinese
    headers, and as a printable page with inline SVG charts and no script."""
    await national_day_week(client.platform)
    response = await client.get("/api/reports/weekly", params={"start": "2025-10-01"}, headers=tokens["supervisor1"])
    assert response.status_code == 200, response.text
    assert response.json()["counts"] == WEEK_COUNTS
    response = await client.get("/api/reports/weekly", params={"start": "2025-10-01", "format": "xlsx"},
                                headers=tokens["supervisor1"])
    assert response.status_code == 200 and response.headers["content-type"].startswith(
        "application/vnd.openxmlformats")
    book = zipfile.ZipFile(io.BytesIO(response.content))
    workbook = book.read("xl/workbook.xml").decode()
    for sheet in ("概览", "按渠道", "按承办单位", "按区域", "按来源", "单位排名", "热点问题", "指标定义"):
        assert f'name="{sheet}"' in workbook
    assert "满意率" in book.read("xl/sharedStrings.xml").decode()
    assert "<pane" in book.read("xl/worksheets/sheet1.xml").decode()  # the header row stays in view
    assert "0.0%" in book.read("xl/styles.xml").decode()
    response = await client.get("/api/reports/weekly", params={"start": "2025-10-01", "format": "html"},
                                headers=tokens["supervisor1"])
    page = response.text
    assert response.status_code == 200 and "<svg" in page and "<script" not in page
    assert "src=" not in page and "href=" not in page  # nothing fetched from anywhere
    assert "满意率" in page and "申诉成立而作废的评价不计入" in page and "@media print" in page


async def test_a_handler_sees_only_its_own_department(client, tokens):
    """A department handler's report is limited to its department; asking for another is refused."""
    await national_day_week(client.platform)
    response = await client.get("/api/reports/weekly", params={"start": "2025-09-29"}, headers=tokens["eco_handler"])
    assert response.status_code == 200
    assert response.json()["filters"] == {"department": "eco_env"} and response.json()["counts"]["intake"] == 0
    response = await client.get("/api/reports/weekly", params={"start": "2025-09-29", "department": "housing"},
                                headers=tokens["eco_handler"])
    assert response.status_code == 403


@pytest.mark.parametrize("params, key", [
    ({"start": "2025-13-01"}, "start"), ({"format": "pdf"}, "format"), ({"priority": "urgent"}, "priority"),
    ({"channel": "nope"}, "channel"), ({"kind": "bogus"}, "kind"), ({"department": "nowhere"}, "department"),
    ({"start": "1900-01-01"}, "start"),
])
async def test_bad_report_parameters_are_refused_naming_the_field(client, tokens, params, key):
    response = await client.get("/api/reports/monthly", params=params, headers=tokens["supervisor1"])
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["status_code"] == 400 and [e["key"] for e in body["extra"]] == [key]


async def test_an_unknown_report_kind_is_404(client, tokens):
    response = await client.get("/api/reports/hourly", headers=tokens["supervisor1"])
    assert response.status_code == 404 and "日报" not in response.json()["detail"][:2]


async def test_snapshots_are_immutable_and_a_correction_is_a_new_version(client, tokens):
    """Saving an unchanged report keeps its version; after an upheld appeal the saved week gets a
    second version while the first still reads as it was."""
    h = await national_day_week(client.platform, uphold_appeal=False)
    body = {"start": "2025-09-29"}
    first = await client.post("/api/reports/weekly/snapshots", json=body, headers=tokens["supervisor1"])
    again = await client.post("/api/reports/weekly/snapshots", json=body, headers=tokens["supervisor1"])
    assert first.status_code == 201 and first.json()["version"] == 1 and again.json()["version"] == 1
    assert again.json()["new"] is False
    await h.act("C", "2025-10-09 10:00", "uphold_appeal", SUPERVISOR, reason="经核实申诉成立")
    second = await client.post("/api/reports/weekly/snapshots", json=body, headers=tokens["supervisor1"])
    assert second.json()["version"] == 2 and second.json()["new"] is True
    v1 = await client.get("/api/reports/weekly", params={"start": "2025-09-29", "version": "1"},
                          headers=tokens["supervisor1"])
    v2 = await client.get("/api/reports/weekly", params={"start": "2025-09-29", "version": "2"},
                          headers=tokens["supervisor1"])
    assert v1.json()["counts"]["valid_ratings"] == 3 and v2.json()["counts"]["valid_ratings"] == 2
    assert v1.json()["snapshot"]["version"] == 1
    listed = await client.get("/api/reports/weekly/snapshots", params={"start": "2025-09-29"},
                              headers=tokens["supervisor1"])
    assert [v["version"] for v in listed.json()] == [1, 2]
    refused = await client.post("/api/reports/weekly/snapshots", json=body, headers=tokens["agent1"])
    assert refused.status_code == 403


async def test_scheduled_generation_keeps_every_kinds_last_period(platform):
    from core.reports import snapshots

    saved = await snapshots.save_due(platform, dt.date(2025, 10, 8))
    assert [(s["kind"], s["start"]) for s in saved] == [
        ("daily", "2025-10-07"), ("weekly", "2025-09-29"), ("monthly", "2025-09-01"),
        ("quarterly", "2025-07-01"), ("annual", "2024-01-01")]
    again = await snapshots.save_due(platform, dt.date(2025, 10, 8))
    assert all(s["version"] == 1 and not s["new"] for s in again)


async def test_facts_refresh_only_folds_in_what_changed(platform):
    """The facts are derived from the audit trail: a second refresh with no new event does nothing,
    and a full rebuild gives the same figures as the incremental one."""
    await national_day_week(platform)
    first = await facts.refresh()
    assert await facts.refresh() == first
    incremental = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    await facts.refresh(full=True)
    rebuilt = await build_report(platform, "weekly", dt.date(2025, 9, 29), {})
    assert incremental["counts"] == rebuilt["counts"]


async def test_the_minute_job_scans_warnings_and_snapshots_once_a_day(platform):
    """The job runner's tick stores the finished periods once per day; a second tick the same day
    stores nothing new."""
    from core.reports import schedule
    from core.reports.tables import ReportSnapshot

    first = await schedule.tick(platform)
    assert first["snapshots"] == 5 and await ReportSnapshot.count() == 5
    second = await schedule.tick(platform)
    assert second["snapshots"] == 0 and await ReportSnapshot.count() == 5


async def test_daily_sums_and_facts_give_the_same_report(platform):
    """The unfiltered report reads the day-by-day sums, a filtered one the per-order facts: over a
    month of demo history both give the same counts for every period kind and breakdown, also after
    more actions are folded in incrementally."""
    from core.demo import seed_orders
    from core.reports import kpis
    from core.reports.periods import period, today

    await seed_orders(platform, 600, progress=False)

    async def same() -> None:
        await facts.refresh()
        for kind in ("daily", "weekly", "monthly", "annual"):
            p = period(kind, today() - dt.timedelta(days=3))
            assert await kpis.totals(p, {}) == await kpis.totals(p, {}, use_daily=False)
            for dimension in kpis.DIMENSIONS:
                daily = await kpis.breakdown(p, {}, dimension)
                direct = await kpis.breakdown(p, {}, dimension, use_daily=False)
                assert sorted(daily, key=lambda r: r["value"]) == sorted(direct, key=lambda r: r["value"])

    await same()
    from core.tables import Order

    pending = await Order.select(Order.number).where((Order.status == "completed") & Order.rating.is_null()).limit(5)
    for row in pending:
        await platform.orders.act(row["number"], "callback", {"satisfaction": "unsatisfied", "resolved": False}, AGENT)
    fresh = await Order.select(Order.number).where(Order.status == "received").limit(3)
    for row in fresh:
        await platform.orders.act(row["number"], "dispatch", {"department": "housing"}, DISPATCHER)
    await same()


async def test_the_bundled_channels_add_their_sections(client, tokens, frozen_clock):
    """The migrant-workers section sums the workers and the wages claimed on the month's orders; the
    tip-off and enterprise-help sections are there too, with their own items."""
    frozen_clock.freeze("2026-06-01T10:00:00+08:00")
    claim = {"employer": "某劳务分包公司", "project": "梅溪湖某住宅小区二期工地", "wage_period": "2026年3月至5月",
             "still_on_site": True}
    for workers, amount in ((3, 36000), (6, 90000)):
        body = intake_body(subject="工地拖欠农民工工资", content="老板一直拖着不发工资。",
                           received_at="2026-06-01T09:30:00+08:00",
                           details={**claim, "workers": workers, "amount_owed": amount})
        response = await client.post("/api/channels/migrant_workers/orders", json=body, headers=tokens["agent1"])
        assert response.status_code == 201, response.text
    report = (await client.get("/api/reports/monthly", params={"start": "2026-06-01"},
                               headers=tokens["supervisor1"])).json()
    sections = {s["channel"]: s for s in report["sections"]}
    wages = {r["label"]: r["value"] for r in sections["migrant_workers"]["rows"]}
    assert wages["受理欠薪诉求"] == 2 and wages["受理涉及工人"] == 9 and wages["受理涉及欠薪金额"] == 126000
    assert wages["办结欠薪诉求"] == 0
    assert [r["label"] for r in sections["safety_reporting"]["rows"]][:2] == ["受理举报", "完成核查"]
    assert sections["enterprise_help"]["title"] == "企业走访"
    handler = (await client.get("/api/reports/monthly", params={"start": "2026-06-01"},
                                headers=tokens["eco_handler"])).json()
    mine = {s["channel"]: s for s in handler["sections"]}
    assert {r["label"]: r["value"] for r in mine["migrant_workers"]["rows"]}["受理欠薪诉求"] == 0


# -- cohort rates, a running period, good and bad changes, local times ------------------------------

class Timed(History):
    """A history played on the platform's clock, frozen at each action's instant."""

    def __init__(self, platform, clock):
        super().__init__(platform)
        self.clock = clock

    async def intake(self, name: str, when: str, **overrides) -> None:
        self.clock.freeze(at(when))
        request = msgspec.convert(intake_body(received_at=at(when).isoformat(), **overrides), IntakeRequest,
                                  strict=False)
        _, order = await self.service.intake("hotline", request, AGENT)
        self.numbers[name] = order.number

    async def act(self, name: str, when: str, action: str, actor: Actor, **payload) -> None:
        self.clock.freeze(at(when))
        await self.service.act(self.numbers[name], action, payload, actor)


async def _completed(h: Timed, name: str, day: str) -> None:
    await h.intake(name, f"{day} 09:00")
    await h.act(name, f"{day} 09:10", "dispatch", DISPATCHER, department="housing")
    await h.act(name, f"{day} 09:20", "accept", HOUSING)
    await h.act(name, f"{day} 10:00", "reply", HOUSING, reply="已处理")
    await h.act(name, f"{day} 11:00", "approve", DISPATCHER)


async def test_callbacks_and_reworks_count_against_their_own_completions(platform, frozen_clock):
    """Two orders completed at the end of November are called back in December, where one other order
    is completed and not yet called back: December's 回访率 is 0 % (it was 200 %, callbacks of
    November's completions over December's), November's 100 %. An order reworked twice counts once
    in 重办率 (and stays called back, though its rating was cleared); returns rejected and made again never make 退单率 exceed 100 %."""
    h = Timed(platform, frozen_clock)
    await _completed(h, "A", "2026-11-27")
    await _completed(h, "B", "2026-11-27")
    await h.act("A", "2026-12-02 10:00", "callback", AGENT, satisfaction="unsatisfied", resolved=False)
    await h.act("B", "2026-12-02 10:05", "callback", AGENT, satisfaction="satisfied", resolved=True)
    # R: rated badly and reworked twice in November
    await _completed(h, "R", "2026-11-26")
    for day in ("2026-11-26", "2026-11-27"):
        await h.act("R", f"{day} 15:00", "callback", AGENT, satisfaction="unsatisfied", resolved=False)
        await h.act("R", f"{day} 16:00", "rework", DISPATCHER, reason="市民不满意")
        await h.act("R", f"{day} 16:30", "reply", HOUSING, reply="已再次处理")
        await h.act("R", f"{day} 17:00", "approve", DISPATCHER)
    await _completed(h, "C", "2026-12-03")
    # D: returned three times, each return rejected: one dispatch, three returns
    await h.intake("D", "2026-12-04 09:00")
    await h.act("D", "2026-12-04 09:10", "dispatch", DISPATCHER, department="eco_env")
    for minute in (20, 30, 40):
        await h.act("D", f"2026-12-04 09:{minute}", "return", ECO, reason="不属于本单位职责")
        await h.act("D", f"2026-12-04 09:{minute + 5}", "reject_return", DISPATCHER, reason="属于本单位")
    frozen_clock.freeze(at("2027-01-10 09:00"))
    november = await build_report(platform, "monthly", dt.date(2026, 11, 1), {})
    december = await build_report(platform, "monthly", dt.date(2026, 12, 1), {})
    assert november["counts"]["completed"] == 3 and november["counts"]["called_back"] == 3
    assert november["rates"]["callback_rate"] == 1.0
    assert december["counts"]["callbacks"] == 2 and december["counts"]["completed"] == 1  # C, not yet called back
    assert december["rates"]["callback_rate"] == 0.0
    assert november["counts"]["reworks"] == 2 and november["counts"]["reworked"] == 1
    assert november["rates"]["rework_rate"] == pytest.approx(1 / 3)
    assert december["counts"]["returns"] == 3 and december["counts"]["dispatched"] == 2
    assert december["rates"]["return_rate"] == 0.5  # D of D and C (D's three returns are one order)
    for report in (november, december):
        for row in (r for data in report["breakdowns"].values() for r in data["rows"]):
            assert all(v is None or 0 <= v <= 1 for v in row["rates"].values()), row


async def test_a_running_month_counts_overdue_now_and_compares_the_same_days(client, tokens, frozen_clock):
    """On Monday 7 December at 10:00 the month is partial: 「截至 12月7日」, compared with 1–7 November
    and 1–7 December a year before; its 超期未办结 is the orders overdue now (not the consultation due
    on the 10th, which the month's last day would count), the very orders the 办理超期 list shows; the rise in overdue shows as bad, the rise in
    intake uncoloured; every time is in +08:00."""
    platform = client.platform
    h = Timed(platform, frozen_clock)
    # November: one urgent order on the 5th, overdue from the 6th; one more on the 20th (outside 1–7)
    for name, day in (("N1", "2026-11-05"), ("N2", "2026-11-20")):
        await h.intake(name, f"{day} 09:00", priority="urgent")
        await h.act(name, f"{day} 09:10", "dispatch", DISPATCHER, department="housing")
    # December: two urgent orders overdue by the 7th, and a consultation due on the 10th
    for name in ("X1", "X2"):
        await h.intake(name, "2026-12-01 09:00", priority="urgent")
        await h.act(name, "2026-12-01 09:10", "dispatch", DISPATCHER, department="housing")
        await h.act(name, "2026-12-01 09:20", "accept", HOUSING)
    await h.intake("Y", "2026-12-07 09:00", kind="consult")
    await h.act("Y", "2026-12-07 09:10", "dispatch", DISPATCHER, department="housing")
    frozen_clock.freeze(at("2026-12-07 10:00"))
    headers = tokens["supervisor1"]
    report = (await client.get("/api/reports/monthly", params={"start": "2026-12-01"}, headers=headers)).json()
    period = report["period"]
    assert period["partial"] and period["running"] and period["through"] == "2026-12-07" and period["days"] == 7
    assert period["label"] == "2026年12月（截至 12月7日）" and period["as_of"] == "2026-12-07T10:00:00+08:00"
    assert report["generated_at"] == "2026-12-07T10:00:00+08:00"
    assert (report["previous"]["period"]["start"], report["previous"]["period"]["through"]) == ("2026-11-01", "2026-11-07")
    assert report["year_before"]["period"]["through"] == "2025-12-07"
    assert report["counts"]["intake"] == 3 and report["previous"]["counts"]["intake"] == 1  # not N2 of the 20th
    # now: the two of December and the two of November still open; at the end of 7 November: N1
    assert report["counts"]["open_overdue"] == 4 and report["previous"]["counts"]["open_overdue"] == 1
    assert report["change"]["previous"]["intake"] == pytest.approx(2.0)
    overdue = {o["number"] for o in (await client.get(
        "/api/orders", params={"kpi": "open_overdue", "kpi_to": "2026-12-31"}, headers=headers)).json()["items"]}
    handling = {o["number"] for o in (await client.get(
        "/api/orders", params={"deadline": "handle_overdue"}, headers=headers)).json()["items"]}
    queue = {o["number"] for o in (await client.get(
        "/api/orders", params={"deadline": "overdue"}, headers=headers)).json()["items"]}
    assert overdue == handling == {h.numbers[x] for x in ("X1", "X2", "N1", "N2")} and handling <= queue
    assert h.numbers["Y"] not in overdue
    assert report["directions"]["open_overdue"] == -1 and report["directions"]["satisfaction_rate"] == 1
    assert report["directions"]["intake"] == 0
    page = (await client.get("/api/reports/monthly", params={"start": "2026-12-01", "format": "html"},
                             headers=headers)).text
    assert "2026年12月（截至 12月7日）" in page and "本期尚未结束：统计截至 2026-12-07" in page
    assert "生成时间 2026-12-07 10:00:00（北京时间）" in page
    overdue_row = page[page.index("<tr><td>超期未办结量</td>"):]
    overdue_row = overdue_row[:overdue_row.index("</tr>")]
    assert '<span class="bad" title="变差">+300.0%</span>' in overdue_row
    intake_row = page[page.index("<tr><td>受理量</td>"):]
    assert "<span>+200.0%</span>" in intake_row[:intake_row.index("</tr>")]  # a volume: no colour
    snapshot = await client.post("/api/reports/monthly/snapshots", json={"start": "2026-11-01"}, headers=headers)
    assert snapshot.json()["created_at"] == "2026-12-07T10:00:00+08:00"
