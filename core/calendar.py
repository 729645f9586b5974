"""Working time on the Chinese official calendar: weekends, public holidays and make-up working days.

SLA deadlines count office hours on working days only. ``chinese_calendar`` knows the State Council's
announced years; ``overrides`` (kept in the database by an admin) add a newly announced year before
the package does, and win over it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from zoneinfo import ZoneInfo

import chinese_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFFICE_HOURS = ((dt.time(8, 30), dt.time(12, 0)), (dt.time(14, 0), dt.time(17, 30)))
DEADLINE_STATE_LABELS = {"normal": "正常", "at_risk": "临期", "overdue": "超期"}
AT_RISK_SHARE = 0.8


class WorkCalendar:
    def __init__(self, tz: ZoneInfo = SHANGHAI, office_hours=OFFICE_HOURS,
                 overrides: Mapping[dt.date, bool] | None = None):
        self.tz = tz
        self.office_hours = tuple(office_hours)
        self.overrides = dict(overrides or {})
        self._known: dict[dt.date, bool] = {}  # the package's answer is slow to compute; days repeat

    def is_workday(self, day: dt.date) -> bool:
        """Overrides first, then the official calendar; a year it does not know yet falls back to
        Monday–Friday until an admin enters that year's holidays."""
        if day in self.overrides:
            return self.overrides[day]
        known = self._known.get(day)
        if known is None:
            try:
                known = chinese_calendar.is_workday(day)
            except NotImplementedError:
                known = day.weekday() < 5
            self._known[day] = known
        return known

    def _periods(self, day: dt.date):
        """The office periods of one day as aware datetimes (none on a day off)."""
        if not self.is_workday(day):
            return []
        return [(dt.datetime.combine(day, start, self.tz), dt.datetime.combine(day, end, self.tz))
                for start, end in self.office_hours]

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        remaining = dt.timedelta(hours=hours)
        cursor = start.astimezone(self.tz)
        day = cursor.date()
        while True:
            for begin, end in self._periods(day):
                if end <= cursor:
                    continue
                begin = max(begin, cursor)
                if begin + remaining <= end:
                    return begin + remaining
                remaining -= end - begin
            day += dt.timedelta(days=1)
            cursor = dt.datetime.combine(day, dt.time(0), self.tz)

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime:
        """End of office hours on the ``days``-th working day after the day of ``start``."""
        day = start.astimezone(self.tz).date()
        counted = 0
        while counted < days:
            day += dt.timedelta(days=1)
            counted += self.is_workday(day)
        return dt.datetime.combine(day, self.office_hours[-1][1], self.tz)

    def working_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float:
        if end <= start:
            return 0.0
        start, end = start.astimezone(self.tz), end.astimezone(self.tz)
        total = 0.0
        day = start.date()
        while day <= end.date():
            for begin, finish in self._periods(day):
                overlap = min(finish, end) - max(begin, start)
                total += max(overlap.total_seconds(), 0.0)
            day += dt.timedelta(days=1)
        return total


def deadline_state(start: dt.datetime, due: dt.datetime, now: dt.datetime, calendar: WorkCalendar) -> str:
    """正常, 临期 (80 % of the working-time allowance used) or 超期 (past due)."""
    if now > due:
        return "overdue"
    allowance = calendar.working_seconds_between(start, due)
    used = calendar.working_seconds_between(start, now)
    if allowance and used >= AT_RISK_SHARE * allowance:
        return "at_risk"
    return "normal"
