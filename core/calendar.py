"""Working time on the Chinese official calendar: weekends, public holidays and make-up working days (调休).

SLA deadlines count office hours on working days only. ``chinese_calendar`` knows the years the State
Council has announced; ``overrides`` (kept in the database by an admin) add a newly announced year before
the package does, and win over it.

Arithmetic is done on UTC instants, so a time zone with daylight saving still counts real seconds;
results are returned in the calendar's own time zone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE_HOURS: tuple[tuple[dt.time, dt.time], ...] = (
    (dt.time(8, 30), dt.time(12, 0)),
    (dt.time(14, 0), dt.time(17, 30)),
)
DEADLINE_STATE_LABELS = {"normal": "正常", "at_risk": "临期", "overdue": "超期"}
AT_RISK_PERCENT = 80  # share of the working-time allowance used after which a deadline is 临期
AT_RISK_SHARE = AT_RISK_PERCENT / 100

_UTC = dt.timezone.utc
_ONE_DAY = dt.timedelta(days=1)


def _aware(moment: dt.datetime) -> dt.datetime:
    """Reject naive datetimes: guessing the server's local zone would shift deadlines silently."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got {moment!r}")
    return moment.astimezone(_UTC)


class WorkCalendar:
    """Office hours on working days, in one time zone.

    ``overrides`` maps a date to True (working day) or False (day off) and takes precedence over the
    package. It is kept as a plain dict in ``self.overrides``; changing it later takes effect at once.
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
        self.overrides: dict[dt.date, bool] = dict(overrides or {})
        self._package: dict[dt.date, bool] = {}  # package answers (and fallbacks) repeat; ask once per day

    def is_workday(self, day: dt.date) -> bool:
        """Whether ``day`` is a working day: overrides first, then the official calendar.

        For a year the package does not know (before 2004, or not yet announced when the package was
        released) it raises NotImplementedError; we then fall back to Monday–Friday, so deadlines keep
        working until an admin enters that year's holidays as overrides.
        """
        override = self.overrides.get(day)
        if override is not None:
            return bool(override)
        known = self._package.get(day)
        if known is None:
            try:
                known = bool(chinese_calendar.is_workday(day))
            except NotImplementedError:
                known = day.weekday() < 5
            self._package[day] = known
        return known

    def _periods(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The office periods of one local day as UTC instants (none on a day off)."""
        if not self.is_workday(day):
            return []
        return [
            (dt.datetime.combine(day, start, self.tz).astimezone(_UTC),
             dt.datetime.combine(day, end, self.tz).astimezone(_UTC))
            for start, end in self.office_hours
        ]

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
        while True:
            for begin, end in self._periods(day):
                if end <= cursor:
                    continue
                begin = max(begin, cursor)
                if begin + remaining <= end:
                    return (begin + remaining).astimezone(self.tz)
                remaining -= end - begin
            day += _ONE_DAY

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """End of office hours on the ``days``-th working day after the day of ``start``.

        The day of receipt never counts, working day or not (the usual 12345 rule "N个工作日内").
        """
        if days < 0:
            raise ValueError("days must not be negative")
        day = _aware(start).astimezone(self.tz).date()
        counted = 0
        while counted < days:
            day += _ONE_DAY
            if self.is_workday(day):
                counted += 1
        return dt.datetime.combine(day, self.office_hours[-1][1], self.tz)

    def working_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        """Office seconds on working days between two instants (0 if ``end <= start``).

        Reports the working time used on an order and drives the 临期 (at risk) threshold.
        """
        start, end = _aware(start), _aware(end)
        if end <= start:
            return 0.0
        total = 0.0
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            for begin, finish in self._periods(day):
                overlap = (min(finish, end) - max(begin, start)).total_seconds()
                if overlap > 0:
                    total += overlap
            day += _ONE_DAY
        return total


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
