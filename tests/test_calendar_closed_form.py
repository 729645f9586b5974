"""Working time is computed in closed form: the same answers as walking the calendar day by day,
without the walk, so no date a request carries can make the server count days for seconds."""

from __future__ import annotations

import datetime as dt
import random

from core.calendar import SHANGHAI, WorkCalendar

UTC = dt.timezone.utc


def _walked_seconds(calendar: WorkCalendar, start: dt.datetime, end: dt.datetime) -> float:
    """The reference: every day between the two instants, one by one."""
    total, day = 0.0, start.astimezone(calendar.tz).date()
    while day <= end.astimezone(calendar.tz).date():
        total += calendar._seconds_on(day, start, end)
        day += dt.timedelta(days=1)
    return total


def _walked_workday(calendar: WorkCalendar, day: dt.date, n: int) -> dt.date:
    while n:
        day += dt.timedelta(days=1)
        n -= calendar.is_workday(day)
    return day


class CountingCalendar(WorkCalendar):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.days_looked_at = 0

    def is_workday(self, day):
        self.days_looked_at += 1
        return super().is_workday(day)


def test_working_time_matches_the_day_by_day_count_with_holidays_and_overrides():
    """Across the official holidays, make-up days, years the package does not know and the centre's
    own overrides, the closed form gives exactly what counting day by day gives."""
    rng = random.Random(12345)
    overrides = {dt.date(2026, 12, 31): False, dt.date(2027, 1, 2): True, dt.date(2025, 10, 11): False}
    calendar = WorkCalendar(overrides=overrides)
    for _ in range(300):
        start = dt.datetime(2003, 6, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(0, 25 * 365 * 24 * 60))
        end = start + dt.timedelta(minutes=rng.randrange(0, 120 * 24 * 60))
        assert calendar.working_seconds_between(start, end) == _walked_seconds(calendar, start, end), (start, end)
        day, n = start.astimezone(SHANGHAI).date(), rng.randrange(0, 40)
        assert calendar.nth_workday_after(day, n) == _walked_workday(calendar, day, n), (day, n)
        hours = rng.uniform(0, 200)
        due = calendar.add_working_hours(start, hours)
        assert abs(calendar.working_seconds_between(start, due) - hours * 3600) < 1e-3, (start, hours)


def test_closed_form_over_provisional_and_imported_years_up_to_2100():
    """Provisional years (statutory holidays computed from lunar dates and solar terms) and an imported
    official year are folded into the running totals: the closed form still matches the walk."""
    from core.calendar import official_year

    rng = random.Random(2100)
    imported = official_year([(dt.date(2031, 1, 1), ""), (dt.date(2031, 1, 2), "元旦")],
                             [(dt.date(2031, 1, 4), "")])  # an extra day off, a make-up Saturday
    calendar = WorkCalendar(overrides={dt.date(2050, 3, 1): False}, official={2031: imported})
    assert calendar.is_workday(dt.date(2031, 1, 4)) and not calendar.is_workday(dt.date(2031, 1, 2))
    for _ in range(150):
        start = dt.datetime(2026, 6, 1, tzinfo=UTC) + dt.timedelta(minutes=rng.randrange(0, 74 * 365 * 24 * 60))
        end = start + dt.timedelta(minutes=rng.randrange(0, 400 * 24 * 60))
        assert calendar.working_seconds_between(start, end) == _walked_seconds(calendar, start, end), (start, end)
        day, n = start.astimezone(SHANGHAI).date(), rng.randrange(0, 60)
        assert calendar.nth_workday_after(day, n) == _walked_workday(calendar, day, n), (day, n)


def test_a_century_of_working_time_looks_at_a_handful_of_days():
    """An order said to be received in year 1 (the hostile request that stalled the server for 15 s)
    costs no more to show than one received this morning."""
    calendar = CountingCalendar()
    start = dt.datetime(1, 1, 2, tzinfo=UTC)
    now = dt.datetime(2026, 11, 28, 9, tzinfo=UTC)
    seconds = calendar.working_seconds_between(start, now)
    assert seconds > 2025 * 250 * calendar.day_seconds
    calendar.add_working_days(start, 30)
    calendar.add_working_hours(start, 4 * 10_000)
    assert calendar.days_looked_at < 200
