"""Working time on the Chinese official calendar: weekends, public holidays and make-up working days (调休).

SLA deadlines count office hours on working days only. Each year's days come from one source:
``official`` (the State Council's schedule, imported by an admin), else ``package`` (the years the
``chinese_calendar`` package knows), else ``provisional`` (computed from the statutory holidays as they
stand since 2025, without guessing any 调休; up to ``PROVISIONAL_LAST_YEAR``; years before the package's
first are plain Monday–Friday). ``overrides`` (the centre's own days, kept in the database by an admin)
win over all of them.

Arithmetic is done on UTC instants, so a time zone with daylight saving still counts real seconds;
results are returned in the calendar's own time zone.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import chinese_calendar
from chinese_calendar import constants as _package

from core.clock import SHANGHAI

# 8 hours a day by default (the tender's 工作日内8小时); a centre sets its own (``calendar_settings``)
OFFICE_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(13, 30), dt.time(18, 0)),
)
MAX_OFFICE_PERIODS = 4
DEADLINE_STATE_LABELS = {"normal": "正常", "at_risk": "临期", "overdue": "超期"}
AT_RISK_PERCENT = 80  # share of the working-time allowance used after which a deadline is 临期
AT_RISK_SHARE = AT_RISK_PERCENT / 100
SOURCE_LABELS = {"package": "日历包", "provisional": "推算（未含调休）", "official": "国务院安排（已导入）"}
PROVISIONAL_LAST_YEAR = 2100  # provisional holidays are computed up to here; later years are Monday–Friday
MAKE_UP_DAY = "调休上班"
REMEMBERED_DAYS = 50_000  # day-level results kept per calendar; beyond, the memory starts afresh

_UTC = dt.timezone.utc
_ONE_DAY = dt.timedelta(days=1)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def local_iso(moment: dt.datetime | str | None, tz: ZoneInfo = SHANGHAI) -> str | None:
    """An instant as the API shows it: ISO 8601 in the centre's zone (``+08:00``), whatever it was stored in."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment)
    return moment.astimezone(tz).isoformat()


def _aware(moment: dt.datetime) -> dt.datetime:
    """Reject naive datetimes: guessing the server's local zone would shift deadlines silently."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    return moment.astimezone(_UTC)


def _weekdays(first: dt.date, last: dt.date) -> int:
    """Monday–Friday days in ``[first, last]``, in closed form (whole weeks, then the rest)."""
    if last < first:
        return 0
    weeks, rest = divmod((last - first).days + 1, 7)
    weekday = first.weekday()
    return weeks * 5 + sum(1 for i in range(rest) if (weekday + i) % 7 < 5)


# -- office hours ------------------------------------------------------------------------------------

def parse_office_hours(periods) -> tuple[tuple[dt.time, dt.time], ...]:
    """``[["08:30", "12:00"], ["13:30", "18:00"]]`` → periods; ValueError (Chinese) unless 1–4
    increasing, non-overlapping periods inside one day."""
    if not isinstance(periods, (list, tuple)) or not 1 <= len(periods) <= MAX_OFFICE_PERIODS:
        raise ValueError(f"办公时段须为 1 至 {MAX_OFFICE_PERIODS} 段")
    parsed = []
    for index, period in enumerate(periods, 1):
        if not isinstance(period, (list, tuple)) or len(period) != 2:
            raise ValueError(f"第 {index} 段须为 [开始, 结束] 两个时间")
        times = []
        for text in period:
            if isinstance(text, dt.time):
                times.append(text.replace(second=0, microsecond=0))
                continue
            found = _HHMM.match(text) if isinstance(text, str) else None
            if found is None:
                raise ValueError(f"第 {index} 段的时间须写成 时:分（如 08:30），当日 00:00 至 23:59 之间")
            times.append(dt.time(int(found[1]), int(found[2])))
        start, end = times
        if not start < end:
            raise ValueError(f"第 {index} 段的结束时间须晚于开始时间")
        if parsed and start < parsed[-1][1]:
            raise ValueError(f"第 {index} 段须在上一段结束之后开始（时段须递增且不重叠）")
        parsed.append((start, end))
    return tuple(parsed)


def office_hours_text(periods) -> list[list[str]]:
    return [[start.strftime("%H:%M"), end.strftime("%H:%M")] for start, end in periods]


# -- the days of each year ------------------------------------------------------------------------------

# A year's named days: {date: (working, name)}; every other day is Monday–Friday working, unnamed.
YearDays = dict[dt.date, tuple[bool, str]]

PACKAGE_NAMES = {"New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节",
                 "Labour Day": "劳动节", "Dragon Boat Festival": "端午节", "National Day": "国庆节",
                 "Mid-autumn Festival": "中秋节", "Anti-Fascist 70th Day": "中国人民抗日战争胜利纪念日"}


def _package_years() -> dict[int, YearDays]:
    years: dict[int, YearDays] = {}
    for day, name in _package.holidays.items():
        years.setdefault(day.year, {})[day] = (False, PACKAGE_NAMES.get(name, name))
    for day, name in _package.workdays.items():
        holiday = PACKAGE_NAMES.get(name, "")
        years.setdefault(day.year, {})[day] = (True, f"{holiday}{MAKE_UP_DAY}" if holiday else MAKE_UP_DAY)
    return years


_PACKAGE_YEARS = _package_years()
PACKAGE_FIRST_YEAR, PACKAGE_LAST_YEAR = min(_PACKAGE_YEARS), max(_PACKAGE_YEARS)


def _solar(value) -> dt.date:
    return dt.date(value.getYear(), value.getMonth(), value.getDay())


@functools.lru_cache(maxsize=None)
def provisional_year(year: int) -> YearDays:
    """The statutory holidays of ``year`` as they stand since 2025 (国务院令第 795 号), holidays only:
    元旦 1 January; 春节 除夕 and 正月初一至初三; 清明 on its solar term; 劳动节 1–2 May; 端午 (五月初五)
    and 中秋 (八月十五) on their lunar dates; 国庆节 1–3 October. The 调休 of a year is decided by the
    State Council each winter and is never guessed here. Two holidays on one day carry both names."""
    from lunar_python import Lunar, LunarYear, Solar

    lunar_new_year = _solar(Lunar.fromYmd(year, 1, 1).getSolar())
    # the solar terms of the lunar year (computed with it, in Beijing time); the year is checked, and the
    # table of the day 1 April is asked should the term not be where it is expected
    julian_days = LunarYear.fromYear(year).getJieQiJulianDays()
    qingming = _solar(Solar.fromJulianDay(julian_days[Lunar.JIE_QI_IN_USE.index("清明")]))
    if qingming.year != year or qingming.month != 4:
        qingming = _solar(Solar.fromYmd(year, 4, 1).getLunar().getJieQiTable()["清明"])
    if qingming.year != year:
        raise ValueError(f"清明 of {year} not found")
    days: dict[dt.date, list[str]] = {}

    def add(day: dt.date, name: str) -> None:
        if day.year == year:
            days.setdefault(day, []).append(name)

    add(dt.date(year, 1, 1), "元旦")
    for offset in range(-1, 3):
        add(lunar_new_year + dt.timedelta(days=offset), "春节")
    add(qingming, "清明节")
    add(dt.date(year, 5, 1), "劳动节")
    add(dt.date(year, 5, 2), "劳动节")
    add(_solar(Lunar.fromYmd(year, 5, 5).getSolar()), "端午节")
    add(_solar(Lunar.fromYmd(year, 8, 15).getSolar()), "中秋节")
    for day in (1, 2, 3):
        add(dt.date(year, 10, day), "国庆节")
    return {day: (False, "、".join(dict.fromkeys(names))) for day, names in sorted(days.items())}


def official_year(holidays: Iterable[tuple[dt.date, str]], workdays: Iterable[tuple[dt.date, str]]) -> YearDays:
    """An imported schedule as a year's days: a holiday without a name takes the names given in its
    stretch of days off (consecutive, or joined by a weekend), else those of the statutory holidays in
    it, else 节假日."""
    holidays = sorted(holidays)
    workdays = list(workdays)
    days: YearDays = {}
    stretch: list[tuple[dt.date, str]] = []

    def close() -> None:
        if not stretch:
            return
        given = [n for _, n in stretch if n]
        known = [provisional_year(d.year).get(d, (True, ""))[1] for d, _ in stretch
                 if PACKAGE_LAST_YEAR < d.year <= PROVISIONAL_LAST_YEAR or d.year in _PACKAGE_YEARS]
        known += [_PACKAGE_YEARS.get(d.year, {}).get(d, (True, ""))[1] for d, _ in stretch]
        fallback = "、".join(dict.fromkeys(n for n in (given or known) if n and MAKE_UP_DAY not in n)) or "节假日"
        for d, name in stretch:
            days[d] = (False, name or fallback)
        stretch.clear()

    def joined(previous: dt.date, day: dt.date) -> bool:
        between = [previous + dt.timedelta(days=i) for i in range(1, (day - previous).days)]
        return all(d.weekday() >= 5 for d in between)

    for day, name in holidays:
        if stretch and not joined(stretch[-1][0], day):
            close()
        stretch.append((day, name))
    close()
    for day, name in workdays:
        days[day] = (True, name or MAKE_UP_DAY)
    return days


class Overrides(dict):
    """The admin's working-day changes. Any change calls ``changed``: what was worked out from the
    old days (``WorkCalendar.derived``) must not outlive them."""

    def __init__(self, days: Mapping[dt.date, bool], changed):
        super().__init__(days)
        self._changed = changed

    def _mutator(name):  # noqa: N805 - builds the methods below
        def method(self, *args, **kwargs):
            result = getattr(dict, name)(self, *args, **kwargs)
            self._changed()
            return result
        method.__name__ = name
        return method

    __setitem__ = _mutator("__setitem__")
    __delitem__ = _mutator("__delitem__")
    update = _mutator("update")
    clear = _mutator("clear")
    pop = _mutator("pop")
    popitem = _mutator("popitem")
    setdefault = _mutator("setdefault")
    del _mutator


class WorkCalendar:
    """Office hours on working days, in one time zone.

    ``overrides`` maps a date to True (working day) or False (day off) and takes precedence over
    everything. It is kept in ``self.overrides``; changing it later takes effect at once. ``official``
    maps a year to its imported schedule (``official_year``) and replaces the package's or the
    provisional days of that year (``set_official``).

    Every computation is in closed form: working days in a range are Monday–Friday counted by whole
    weeks, corrected by the known departures of the years' days (running totals found by bisection,
    built year by year as far as a question reaches) and by the overrides, so a span of centuries
    costs what a span of a day does; nothing walks day by day.
    """

    def __init__(
        self,
        tz: ZoneInfo = SHANGHAI,
        office_hours: Iterable[tuple[dt.time, dt.time]] = OFFICE_HOURS,
        overrides: Mapping[dt.date, bool] | None = None,
        official: Mapping[int, YearDays] | None = None,
    ):
        self.tz = tz
        # what was derived from this calendar (a day's office periods, the n-th working day after a
        # day, a deadline's working-time allowance), kept until the days or the hours change: every
        # intake works out the same few days' deadlines again
        self.derived: dict = {}
        self.set_office_hours(office_hours)
        self.overrides: dict[dt.date, bool] = Overrides(overrides or {}, self.derived.clear)
        self.official: dict[int, YearDays] = dict(official or {})
        self._reset_tables()

    def set_office_hours(self, office_hours: Iterable[tuple[dt.time, dt.time]]) -> None:
        """New office periods; deadlines computed from now on use them (stored ones stay as they are)."""
        periods = tuple(office_hours)
        if not periods:
            raise ValueError("office_hours needs at least one (start, end) period")
        previous_end = dt.time.min
        for index, (start, end) in enumerate(periods):
            if not start < end or (index and start < previous_end):
                raise ValueError("office_hours periods must be increasing and must not overlap")
            previous_end = end
        self.office_hours = periods
        # office seconds of one working day (periods are wall-clock times, so a DST change at night
        # does not alter them)
        self.day_seconds = sum(
            (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)).total_seconds()
            for start, end in periods)
        self.derived.clear()

    def set_official(self, official: Mapping[int, YearDays]) -> None:
        """The imported years (all of them): the running totals are built again as far as needed."""
        if dict(official) == self.official:
            return
        self.official = dict(official)
        self._reset_tables()
        self.derived.clear()

    def copy(self) -> "WorkCalendar":
        """The same days and hours, to compare against after a change."""
        return WorkCalendar(self.tz, self.office_hours, dict(self.overrides), self.official)

    # -- the days of a year ------------------------------------------------------------------------------

    def year_source(self, year: int) -> str:
        """Where ``year``'s days come from: "official", "package" or "provisional"."""
        if year in self.official:
            return "official"
        if year in _PACKAGE_YEARS:
            return "package"
        return "provisional"

    def year_days(self, year: int) -> YearDays:
        """The named days of ``year`` from its source (before the overrides)."""
        if year in self.official:
            return self.official[year]
        if year in _PACKAGE_YEARS:
            return _PACKAGE_YEARS[year]
        if PACKAGE_LAST_YEAR < year <= PROVISIONAL_LAST_YEAR:
            return provisional_year(year)
        return {}  # before the package's first year, or after the provisional last: Monday–Friday

    def _reset_tables(self) -> None:
        self._deviation_days: list[dt.date] = []
        self._deviation_totals: list[int] = []
        self._built_through = min([PACKAGE_FIRST_YEAR, *self.official]) - 1

    def _build_through(self, year: int) -> None:
        """Extend the running totals of departures from Monday–Friday (a day off on a weekday: -1, a
        working weekend day: +1) to the end of ``year``; years are added in order, so it only appends."""
        last = min(year, max([PROVISIONAL_LAST_YEAR, *self.official]))
        total = self._deviation_totals[-1] if self._deviation_totals else 0
        for y in range(self._built_through + 1, last + 1):
            for day, (working, _) in sorted(self.year_days(y).items()):
                change = int(working) - int(day.weekday() < 5)
                if change:
                    total += change
                    self._deviation_days.append(day)
                    self._deviation_totals.append(total)
        self._built_through = max(self._built_through, last)

    def _base_workday(self, day: dt.date) -> bool:
        """The year's own answer (official, package or provisional), before the overrides."""
        entry = self.year_days(day.year).get(day)
        return entry[0] if entry is not None else day.weekday() < 5

    def day_name(self, day: dt.date) -> str:
        entry = self.year_days(day.year).get(day)
        return entry[1] if entry is not None else ""

    def is_workday(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day: overrides first, then the year's days."""
        override = self.overrides.get(day)
        if override is not None:
            return bool(override)
        return self._base_workday(day)

    def workdays_between(self, first: dt.date, last: dt.date) -> int:
        """Working days in ``[first, last]`` (both included)."""
        if last < first:
            return 0
        if last.year > self._built_through:
            self._build_through(last.year)
        days, totals = self._deviation_days, self._deviation_totals
        count = _weekdays(first, last)
        after_last = bisect.bisect_right(days, last)
        before_first = bisect.bisect_left(days, first)
        count += totals[after_last - 1] if after_last else 0
        count -= totals[before_first - 1] if before_first else 0
        for day, workday in self.overrides.items():
            if first <= day <= last:
                count += int(bool(workday)) - int(self._base_workday(day))
        return count

    def _remembered(self, kind: str) -> dict:
        found = self.derived.get(kind)
        if found is None or len(found) > REMEMBERED_DAYS:
            found = self.derived[kind] = {}
        return found

    def nth_workday_after(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself never counts)."""
        if n <= 0:
            return day
        remembered = self._remembered("nth_workday_after")
        found = remembered.get((day, n))
        if found is None:
            found = remembered[day, n] = self._nth_workday_after(day, n)
        return found

    def _nth_workday_after(self, day: dt.date, n: int) -> dt.date:
        """By bisection over the closed-form count."""
        low, span = day + _ONE_DAY, n * 7 // 5 + 14
        while self.workdays_between(low, _add_days(day, span)) < n:
            span *= 2
        high = _add_days(day, span)
        while low < high:
            middle = low + (high - low) // 2
            if self.workdays_between(day + _ONE_DAY, middle) >= n:
                high = middle
            else:
                low = middle + _ONE_DAY
        return low

    def _periods(self, day: dt.date) -> tuple[tuple[dt.datetime, dt.datetime], ...]:
        """The office periods of one local day as UTC instants (none on a day off)."""
        remembered = self._remembered("periods")
        found = remembered.get(day)
        if found is None:
            found = remembered[day] = tuple(
                (dt.datetime.combine(day, start, self.tz).astimezone(_UTC),
                 dt.datetime.combine(day, end, self.tz).astimezone(_UTC))
                for start, end in self.office_hours) if self.is_workday(day) else ()
        return found

    def _seconds_on(self, day: dt.date, start: dt.datetime, end: dt.datetime) -> float:
        """Office seconds of ``day`` between two UTC instants."""
        total = 0.0
        for begin, finish in self._periods(day):
            overlap = (min(finish, end) - max(begin, start)).total_seconds()
            if overlap > 0:
                total += overlap
        return total

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        """The instant when ``hours`` of office time on working days have passed since ``start``.

        Outside office time the clock waits for the next office period. Used for short deadlines
        such as dispatching an order within N working hours.
        """
        if hours < 0:
            raise ValueError("hours must not be negative")
        cursor = _aware(start)
        remaining = dt.timedelta(hours=hours)
        day = cursor.astimezone(self.tz).date()
        for begin, end in self._periods(day):
            if end <= cursor:
                continue
            begin = max(begin, cursor)
            if begin + remaining <= end:
                return (begin + remaining).astimezone(self.tz)
            remaining -= end - begin
        # whole working days first, then the periods of the day the time runs out
        full_days = max(0, math.ceil(remaining.total_seconds() / self.day_seconds) - 1)
        remaining -= dt.timedelta(seconds=full_days * self.day_seconds)
        day = self.nth_workday_after(day, full_days + 1)
        for begin, end in self._periods(day):
            if begin + remaining <= end:
                return (begin + remaining).astimezone(self.tz)
            remaining -= end - begin
        raise AssertionError("unreachable: a working day holds day_seconds of office time")

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """End of office hours on the ``days``-th working day after the day of ``start``.

        The day of receipt never counts, working day or not (the usual 12345 rule "N个工作日内").
        """
        if days < 0:
            raise ValueError("days must not be negative")
        day = self.nth_workday_after(_aware(start).astimezone(self.tz).date(), days)
        return dt.datetime.combine(day, self.office_hours[-1][1], self.tz)

    def working_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Office seconds on working days between two instants (0 if ``end <= start``).

        Reports the working time used on an order and drives the 临期 (at risk) threshold.
        """
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        first = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        if first == last:
            return self._seconds_on(first, start, end)
        middle = self.workdays_between(first + _ONE_DAY, last - _ONE_DAY) * self.day_seconds
        return self._seconds_on(first, start, end) + middle + self._seconds_on(last, start, end)


def _add_days(day: dt.date, days: int) -> dt.date:
    try:
        return day + dt.timedelta(days=days)
    except OverflowError:
        raise ValueError("date out of range") from None


def deadline_state(start: dt.datetime, due: dt.datetime, now: dt.datetime, calendar: WorkCalendar) -> str:
    """"overdue" (超期) once ``now`` is past ``due``; "at_risk" (临期) once at least 80 % of the working
    time between ``start`` and ``due`` is used; otherwise "normal" (正常).

    A deadline that leaves no working time at all is at risk from the start. The comparison is exact
    in integers-of-percent so that precisely 80 % counts as at risk.
    """
    if now > due:
        return "overdue"
    allowance = calendar.working_seconds_between(start, due)
    used = calendar.working_seconds_between(start, now)
    if used * 100 >= allowance * AT_RISK_PERCENT:
        return "at_risk"
    return "normal"


def deadline_summary(deadlines: dict[str, Any], calendar: WorkCalendar) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(earliest due time, earliest 临期 instant) over the open deadlines; (None, None) when none is open.

    A deadline turns 临期 once 80 % of its working-time allowance is used (``deadline_state``); that
    instant is computed once here, so a list can ask the database which orders are 正常, 临期 or 超期.
    """
    due_at = at_risk_at = None
    for d in deadlines.values():
        if d.get("done"):
            continue
        start, due = dt.datetime.fromisoformat(d["start"]), dt.datetime.fromisoformat(d["due"])
        allowance = calendar.working_seconds_between(start, due)
        risk = calendar.add_working_hours(start, allowance * AT_RISK_SHARE / 3600) if allowance else start
        risk = min(risk, due)
        due_at = due if due_at is None else min(due_at, due)
        at_risk_at = risk if at_risk_at is None else min(at_risk_at, risk)
    return due_at, at_risk_at
