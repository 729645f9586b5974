"""Staffing forecast (话务量预测与排班): calls per hour for the coming weeks, and the phone lines
each hour needs under the Erlang C model.

Method: a seasonal profile — the mean number of phone intakes for each (day type, weekday, hour) over
the last ``TRAINING_WEEKS`` weeks, where the day type comes from the working calendar (a working
day, a weekend, or a public holiday; a make-up working day 调休 counts as a working day). The error
is measured honestly: the profile is fitted without the last ``HELD_OUT_WEEKS`` weeks and scored on
them. The handling time of each hour is measured per channel from the telephone system's call log
(the call's queue, or the channel of the order recorded from it), falling back per cell to the hour's
measure, the overall measure (call log, else the talk time typed at intake) and a default; the hour's
handling time is the channels' mean weighted by their share of the hour's phone intakes, and every
figure says where it came from.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict

from core.clock import SHANGHAI_OFFSET_SECONDS as LOCAL_OFFSET
from core import clock
from core.calendar import SHANGHAI, WorkCalendar
from core.reports import facts
from core.reports.dialect import dialect
from core.reports.tables import ReportFact
from core.telephony import Handling, handling_by_channel

TRAINING_WEEKS = 8
HELD_OUT_WEEKS = 2
DEFAULT_AHT_SECONDS = 240.0  # used only when no talk time has been recorded
MIN_CALLS = 5  # answered calls a cell (an hour, or an hour of a channel) needs for its own measure
# where a handling time came from, most specific first (labels for people; the codes are in the API)
HANDLING_SOURCES = {"hour_channel": "该渠道该时段实测", "hour": "该时段实测（不分渠道）", "calls": "电话系统实测总平均",
                    "intake": "受理记录的通话时长平均", "default": f"默认 {DEFAULT_AHT_SECONDS:.0f} 秒",
                    "mixed": "各渠道来源不同"}
SEED_PLAN = {"peak": 4, "off_peak": 2}  # the procurement document's plan: 4 lines at peak, 2 off-peak


def erlang_c(lines: int, traffic: float) -> float:
    """The probability that a call waits (Erlang C), ``traffic`` in erlangs."""
    if lines <= traffic:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, lines):
        term *= traffic / k
        total += term
    term *= traffic / lines
    top = term * lines / (lines - traffic)
    return top / (total + top)


def service_level(lines: int, calls_per_hour: float, aht: float, answer_seconds: float) -> float:
    """The share of calls answered within ``answer_seconds``."""
    if calls_per_hour <= 0:
        return 1.0
    traffic = calls_per_hour * aht / 3600
    if lines <= traffic:
        return 0.0
    return 1 - erlang_c(lines, traffic) * math.exp(-(lines - traffic) * answer_seconds / aht)


def lines_needed(calls_per_hour: float, aht: float, target: float, answer_seconds: float) -> int:
    lines = max(1, math.ceil(calls_per_hour * aht / 3600))
    while service_level(lines, calls_per_hour, aht, answer_seconds) < target:
        lines += 1
    return lines


def peak_hours(calendar: WorkCalendar) -> frozenset[int]:
    """The clock hours of a working day that overlap the centre's office hours (the same setting the
    deadlines count): the hours the seed plan staffs for the peak."""
    hours = set()
    for start, end in calendar.office_hours:
        first = start.hour
        last = end.hour if (end.minute or end.second) else end.hour - 1
        hours.update(range(first, last + 1))
    return frozenset(hours)


def _hours_text(calendar: WorkCalendar) -> str:
    return "、".join(f"{a:%H:%M}–{b:%H:%M}" for a, b in calendar.office_hours)


def day_type(calendar: WorkCalendar, day: dt.date) -> str:
    if calendar.is_workday(day):
        return "workday"
    return "weekend" if day.weekday() >= 5 else "holiday"


class Profile:
    """Mean calls per (day type, weekday, hour), falling back to (day type, hour) and then hour."""

    def __init__(self, calendar: WorkCalendar, counts: dict[dt.datetime, int], days: list[dt.date]):
        self.calendar = calendar
        sums: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0])
        for day in days:
            kind = day_type(calendar, day)
            for hour in range(24):
                value = counts.get(dt.datetime.combine(day, dt.time(hour), SHANGHAI), 0)
                for key in ((kind, day.weekday(), hour), (kind, hour), (hour,)):
                    sums[key][0] += value
                    sums[key][1] += 1
        self.means = {k: s / n for k, (s, n) in sums.items() if n}

    def predict(self, day: dt.date, hour: int) -> float:
        kind = day_type(self.calendar, day)
        for key in ((kind, day.weekday(), hour), (kind, hour), (hour,)):
            if key in self.means:
                return self.means[key]
        return 0.0


async def _hourly(since: dt.datetime) -> dict[dt.datetime, int]:
    rows = await ReportFact.raw(
        f"SELECT (received + {LOCAL_OFFSET}) / 3600 AS h, COUNT(*) AS n FROM report_facts "
        f"WHERE source = 'phone' AND received >= {int(since.timestamp())} GROUP BY (received + {LOCAL_OFFSET}) / 3600")
    out = {}
    for r in rows:
        local = dt.datetime.fromtimestamp(int(r["h"]) * 3600 - LOCAL_OFFSET, SHANGHAI)
        out[local] = r["n"]
    return out


async def average_handling_time(since: dt.datetime) -> tuple[float, int]:
    """Mean talk time of phone intakes since ``since`` (seconds) and how many calls it is based on."""
    d = dialect()
    first = await ReportFact.raw(f"SELECT MIN(order_id) AS m FROM report_facts WHERE received >= {int(since.timestamp())}")
    if not first or first[0]["m"] is None:
        return DEFAULT_AHT_SECONDS, 0
    talk = d.json_text("payload", "call_seconds")
    rows = await ReportFact.raw(
        f"SELECT AVG(CAST({talk} AS REAL)) AS aht, COUNT({talk}) AS n FROM order_events "
        f"WHERE action = 'intake' AND order_id >= {int(first[0]['m'])} AND {talk} IS NOT NULL")
    if not rows or not rows[0]["n"]:
        return DEFAULT_AHT_SECONDS, 0
    return float(rows[0]["aht"]), int(rows[0]["n"])


def _days(first: dt.date, count: int) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range(count)]


async def _channel_mix(since: dt.datetime) -> dict[int, dict[str, float]]:
    """Each local hour's share of phone intakes by channel since ``since`` (and, under -1, all hours')."""
    rows = await ReportFact.raw(
        f"SELECT ((received + {LOCAL_OFFSET}) / 3600) % 24 AS h, channel, COUNT(*) AS n FROM report_facts "
        f"WHERE source = 'phone' AND received >= {int(since.timestamp())} "
        f"GROUP BY ((received + {LOCAL_OFFSET}) / 3600) % 24, channel")
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        for hour in (int(r["h"]), -1):
            counts[hour][r["channel"]] = counts[hour].get(r["channel"], 0) + int(r["n"])
    return {hour: {c: n / sum(by.values()) for c, n in sorted(by.items())} for hour, by in counts.items()}


class _Fitted:
    """The profile fitted on the recent history and the measured handling times, as of ``now``: the
    telephone system's talk times per channel and hour before per hour, before the overall mean (the
    call log's, else what agents typed), before the default."""

    def __init__(self, monday: dt.date, history_start: dt.date, counts: dict, profile: Profile,
                 aht: float, calls_measured: int, handling: Handling, mix: dict[int, dict[str, float]],
                 intake_measured: int):
        self.monday, self.history_start, self.counts = monday, history_start, counts
        self.profile, self.aht, self.calls_measured = profile, aht, calls_measured
        self.handling, self.mix, self.intake_measured = handling, mix, intake_measured
        self.by_hour = handling.by_hour
        self.logged_calls = handling.calls

    def cell(self, channel: str, hour: int) -> tuple[float, str]:
        """One channel's handling time in one hour, and where it came from."""
        if (channel, hour) in self.handling.by_cell:
            return self.handling.by_cell[(channel, hour)], "hour_channel"
        if hour in self.by_hour:
            return self.by_hour[hour], "hour"
        if self.logged_calls:
            return self.aht, "calls"
        return self.aht, "intake" if self.intake_measured else "default"

    def hour(self, hour: int) -> tuple[float, str, list[tuple[str, float, float, str]]]:
        """The hour's handling time (the channels' cells weighted by their share of the hour's phone
        intakes), its source (``mixed`` when the channels' differ) and each channel's cell."""
        shares = self.mix.get(hour) or self.mix.get(-1) or {"": 1.0}
        cells = [(channel, share, *self.cell(channel, hour)) for channel, share in shares.items()]
        seconds = sum(share * value for _, share, value, _ in cells)
        sources = {source for *_, source in cells}
        return seconds, sources.pop() if len(sources) == 1 else "mixed", cells

    def handling_seconds(self, hour: int) -> float:
        return self.hour(hour)[0]


async def _fit(now: dt.datetime, calendar: WorkCalendar, channels: dict[str, str] | None = None) -> _Fitted:
    await facts.refresh()
    today = now.astimezone(SHANGHAI).date()
    monday = today - dt.timedelta(days=today.weekday())  # the current week is not complete: left out
    history_start = monday - dt.timedelta(weeks=TRAINING_WEEKS + HELD_OUT_WEEKS)
    counts = await _hourly(dt.datetime.combine(history_start, dt.time(), SHANGHAI))
    profile = Profile(calendar, counts, _days(history_start + dt.timedelta(weeks=HELD_OUT_WEEKS), TRAINING_WEEKS * 7))
    four_weeks = dt.datetime.combine(monday - dt.timedelta(weeks=4), dt.time(), SHANGHAI)
    aht, calls_measured = await average_handling_time(four_weeks)
    intake_measured = calls_measured
    handling = await handling_by_channel(four_weeks, channels or {},
                                         minimum=MIN_CALLS)
    if handling.calls:
        aht, calls_measured = handling.overall, handling.calls
    mix = await _channel_mix(dt.datetime.combine(history_start, dt.time(), SHANGHAI))
    return _Fitted(monday, history_start, counts, profile, aht, calls_measured, handling, mix, intake_measured)


def seed_plan_lines(calendar: WorkCalendar, day: dt.date, hour: int) -> int:
    """The procurement document's floor for an hour: 4 lines at a working day's peak, 2 otherwise."""
    peak = day_type(calendar, day) == "workday" and hour in peak_hours(calendar)
    return SEED_PLAN["peak" if peak else "off_peak"]


async def lines_by_hour(days: list[dt.date], *, calendar: WorkCalendar, target: float = 0.8,
                        answer_seconds: int = 20, now: dt.datetime | None = None,
                        channels: dict[str, str] | None = None) -> dict[dt.date, list[int]]:
    """The lines each hour of ``days`` needs under the same forecast ``plan`` shows (for the rota)."""
    fitted = await _fit(now or clock.now(), calendar, channels)
    return {day: [lines_needed(round(fitted.profile.predict(day, hour), 2), fitted.handling_seconds(hour), target,
                               answer_seconds)
                  for hour in range(24)] for day in days}


async def plan(*, weeks: int = 2, target: float = 0.8, answer_seconds: int = 20, now: dt.datetime | None = None,
               calendar: WorkCalendar | None = None, channels: dict[str, str] | None = None) -> dict:
    """The forecast for the ``weeks`` after the current one, with the lines each hour needs; each hour's
    handling time per channel with its source (``handling_by_channel``)."""
    calendar = calendar or WorkCalendar()
    channels = channels or {}
    fitted = await _fit(now or clock.now(), calendar, channels)
    monday, history_start, counts = fitted.monday, fitted.history_start, fitted.counts
    train_days = _days(history_start, TRAINING_WEEKS * 7)
    test_days = _days(monday - dt.timedelta(weeks=HELD_OUT_WEEKS), HELD_OUT_WEEKS * 7)
    held_out = Profile(calendar, counts, train_days)
    errors, actual_total, abs_total, squares = [], 0, 0.0, 0.0
    for day in test_days:
        for hour in range(24):
            actual = counts.get(dt.datetime.combine(day, dt.time(hour), SHANGHAI), 0)
            predicted = held_out.predict(day, hour)
            actual_total += actual
            abs_total += abs(predicted - actual)
            squares += (predicted - actual) ** 2
            errors.append(actual)
    hours = len(errors) or 1
    profile, aht, calls_measured = fitted.profile, fitted.aht, fitted.calls_measured
    by_hour, logged_calls = fitted.by_hour, fitted.logged_calls
    forecast_days = _days(monday + dt.timedelta(weeks=1), weeks * 7)
    peak_set = peak_hours(calendar)
    rows, failing = [], 0
    by_hour_of_day = {hour: fitted.hour(hour) for hour in range(24)}
    for day in forecast_days:
        kind = day_type(calendar, day)
        for hour in range(24):
            calls = round(profile.predict(day, hour), 2)
            hour_aht, source, cells = by_hour_of_day[hour]
            needed = lines_needed(calls, hour_aht, target, answer_seconds)
            peak = kind == "workday" and hour in peak_set
            planned = SEED_PLAN["peak" if peak else "off_peak"]
            achieved = service_level(planned, calls, hour_aht, answer_seconds)
            meets = achieved >= target
            failing += not meets
            rows.append({"date": day.isoformat(), "hour": hour, "day_type": kind, "calls": calls,
                         "handling_seconds": round(hour_aht, 1), "handling_from": source,
                         "handling_from_label": HANDLING_SOURCES[source],
                         "handling_by_channel": [
                             {"channel": channel, "channel_label": channels.get(channel, "（未分渠道）"),
                              "share": round(share, 4), "handling_seconds": round(value, 1), "handling_from": cell_source,
                              "handling_from_label": HANDLING_SOURCES[cell_source]}
                             for channel, share, value, cell_source in cells],
                         "traffic_erlangs": round(calls * hour_aht / 3600, 3), "lines_needed": needed,
                         "plan_lines": planned, "plan_service_level": round(achieved, 4), "plan_meets_target": meets})
    peak_rows = [r for r in rows if r["day_type"] == "workday" and r["hour"] in peak_set]
    return {
        "method": ("季节性均值模型：按工作日历区分工作日（含调休上班日）、周末和法定节假日，"
                   f"取最近 {TRAINING_WEEKS} 周每类日子每个星期几每个小时的电话受理量平均值作为预测；"
                   "缺少样本时退到同类日子同一小时、再退到同一小时的平均值。"),
        "error": {"held_out_weeks": HELD_OUT_WEEKS,
                  "description": f"用更早的 {TRAINING_WEEKS} 周拟合、在最近 {HELD_OUT_WEEKS} 个完整周上检验",
                  "mae_calls_per_hour": round(abs_total / hours, 3),
                  "rmse_calls_per_hour": round(math.sqrt(squares / hours), 3),
                  "wape": round(abs_total / actual_total, 4) if actual_total else None,
                  "actual_calls": actual_total},
        "service_target": {"level": target, "answer_seconds": answer_seconds,
                           "text": f"{target:.0%} 的来电在 {answer_seconds} 秒内接听"},
        "average_handling_seconds": round(aht, 1),
        "aht_source": (f"电话系统记录的最近 4 周 {logged_calls} 通已接来电的通话时长："
                       f"{len(fitted.handling.by_cell)} 个渠道时段、{len(by_hour)} 个时段（每格至少 {MIN_CALLS} 通）"
                       "按实测平均值，其余依次退到该时段、总平均值；每小时按各渠道电话受理量占比加权" if logged_calls
                       else f"最近 4 周 {calls_measured} 通电话受理记录的通话时长平均值" if calls_measured
                       else f"尚无通话时长记录，按默认 {DEFAULT_AHT_SECONDS:.0f} 秒计算"),
        "aht_measured": bool(calls_measured),
        "handling_seconds_by_hour": {str(h): round(v, 1) for h, v in sorted(by_hour.items())},
        "handling_seconds_by_channel": {
            channel: {str(h): round(fitted.handling.by_cell[(channel, h)], 1)
                      for h in range(24) if (channel, h) in fitted.handling.by_cell}
            for channel in sorted({c for c, _ in fitted.handling.by_cell})},
        "handling_sources": HANDLING_SOURCES,
        "channels": channels,
        "model": "Erlang C：话务强度 A = 每小时来电 × 平均处理时长 ÷ 3600；"
                 "服务水平 = 1 − C(N, A) × e^(−(N − A) × 应答时限 ÷ 平均处理时长)，取达到目标的最少线路数 N",
        "seed_plan": {**SEED_PLAN, "peak_hours": f"工作日办公时间 {_hours_text(calendar)}",
                      "hours_failing": failing, "hours": len(rows),
                      "meets_target": failing == 0,
                      "peak_lines_needed_max": max((r["lines_needed"] for r in peak_rows), default=0)},
        "hours": rows,
    }
