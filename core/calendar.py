"""Working time on the Chinese official calendar: weekends, public holidays and make-up working days (调休).

SLA deadlines count office hours on working days only. ``chinese_calendar`` knows the years the State
Council has announced; ``overrides`` (kept in the database by an admin) add a newly announced year before
the package does, and win over it.

Arithmetic is done on UTC instants, so a time zone with daylight saving still counts real seconds;
results are returned in the calendar's own time zone.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

import chinese_calendar

from core.clock import SHANGHAI
OFFICE_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(14, 0), dt.time(17, 30)),
)
DEADLINE_STATE_LABELS = {"normal": "正常", "at_risk": "临期", "overdue": "超期"}
AT_RISK_PERCENT = 80  # share of the working-time allowance used after which a deadline is 临期
AT_RISK_SHARE = AT_RISK_PERCENT / 100

_UTC = dt.timezone.utc
_ONE_DAY = dt.timedelta(days=1)


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


def _package_deviations() -> tuple[list[dt.date], list[int], int, int]:
    """Days where the official calendar departs from Monday–Friday (a holiday on a weekday: -1, a
    make-up working day on a weekend: +1), sorted, with running totals; and the years it knows."""
    changes: dict[dt.date, int] = {}
    for day in chinese_calendar.holidays:
        if day.weekday() < 5 and day not in chinese_calendar.workdays:
            changes[day] = -1
    for day in chinese_calendar.workdays:
        if day.weekday() >= 5:
            changes[day] = 1
    days = sorted(changes)
    running, total = [], 0
    for day in days:
        total += changes[day]
        running.append(total)
    years = [d.year for d in chinese_calendar.holidays]
    return days, running, min(years), max(years)


_DEVIATION_DAYS, _DEVIATION_TOTALS, _FIRST_YEAR, _LAST_YEAR = _package_deviations()
REMEMBERED_DAYS = 50_000  # day-level results kept per calendar; beyond, the memory starts afresh


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

    ``overrides`` maps a date to True (working day) or False (day off) and takes precedence over the
    package. It is kept in ``self.overrides``; changing it later takes effect at once.

    Every computation is in closed form: working days in a range are Monday–Friday counted by whole
    weeks, corrected by the official calendar's known departures (found by bisection) and by the
    overrides, so a span of centuries costs what a span of a day does; nothing walks day by day.
    """

    def __init__(
        self,
        tz: ZoneInfo = SHANGHAI,
        office_hours: Iterable[tuple[dt.time, dt.time]] = OFFICE_HOURS,
        overrides: Mapping[dt.date, bool] | None = None,
    ):
        self.tz = tz
        self.office_hours = tuple(office_hours)
        if not self.office_hours:
            raise ValueError("office_hours needs at least one (start, end) period")
        previous_end = dt.time.min
        for index, (start, end) in enumerate(self.office_hours):
            if not start < end or (index and start < previous_end):
                raise ValueError("office_hours periods must be increasing and must not overlap")
            previous_end = end
        # what was derived from this calendar (a day's office periods, the n-th working day after a
        # day, a deadline's working-time allowance), kept until the overrides change: every intake
        # works out the same few days' deadlines again
        self.derived: dict = {}
        self.overrides: dict[dt.date, bool] = Overrides(overrides or {}, self.derived.clear)
        # office seconds of one working day (periods are wall-clock times, so a DST change at night
        # does not alter them)
        self.day_seconds = sum(
            (dt.datetime.combine(dt.date.min, end) - dt.datetime.combine(dt.date.min, start)).total_seconds()
            for start, end in self.office_hours)

    @staticmethod
    def _package_workday(day: dt.date) -> bool:
        """The official answer; for a year the package does not know (before 2004, or not yet
        announced), Monday–Friday, so deadlines keep working until an admin enters the holidays."""
        index = bisect.bisect_left(_DEVIATION_DAYS, day)
        if index < len(_DEVIATION_DAYS) and _DEVIATION_DAYS[index] == day:
            return day.weekday() >= 5  # a make-up working weekend day, or a holiday on a weekday
        return day.weekday() < 5

    def is_workday(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day: overrides first, then the official calendar."""
        override = self.overrides.get(day)
        if override is not None:
            return bool(override)
        return self._package_workday(day)

    def workdays_between(self, first: dt.date, last: dt.date) -> int:
        """Working days in ``[first, last]`` (both included)."""
        if last < first:
            return 0
        count = _weekdays(first, last)
        count += (_DEVIATION_TOTALS[bisect.bisect_right(_DEVIATION_DAYS, last) - 1]
                  if bisect.bisect_right(_DEVIATION_DAYS, last) else 0)
        count -= (_DEVIATION_TOTALS[bisect.bisect_left(_DEVIATION_DAYS, first) - 1]
                  if bisect.bisect_left(_DEVIATION_DAYS, first) else 0)
        for day, workday in self.overrides.items():
            if first <= day <= last:
                count += int(bool(workday)) - int(self._package_workday(day))
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
