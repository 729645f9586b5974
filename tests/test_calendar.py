"""Working-time deadlines as a hotline operator sees them: office hours 8:30–12:00 and 13:30–18:00 (8 hours,
the default) on working days of the Chinese official calendar, with admin overrides."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from core.calendar import DEADLINE_STATE_LABELS, WorkCalendar, deadline_state
from core.clock import SHANGHAI

SH = SHANGHAI
HOUR = 3600.0


def at(y: int, m: int, d: int, hh: int = 0, mm: int = 0, tz: dt.tzinfo = SH) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=tz)


@pytest.fixture
def cal() -> WorkCalendar:
    return WorkCalendar()


# --- the official calendar -------------------------------------------------------------------------


def test_weekend_is_skipped(cal):
    # Fri 2026-03-13 is an ordinary working day; Sat 14 and Sun 15 are not.
    assert [cal.is_workday(dt.date(2026, 3, d)) for d in (13, 14, 15, 16)] == [True, False, False, True]
    assert cal.add_working_hours(at(2026, 3, 13, 16, 30), 2) == at(2026, 3, 16, 9)
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 16, 18)


def test_public_holiday_is_skipped(cal):
    # Qingming 2026: Sat 4 – Mon 6 April off, so Monday 6 April does not count.
    assert chinese_calendar.get_holiday_detail(dt.date(2026, 4, 6)) == (True, "Tomb-sweeping Day")
    assert not cal.is_workday(dt.date(2026, 4, 6))
    assert cal.add_working_days(at(2026, 4, 3, 10), 1) == at(2026, 4, 7, 18)
    assert cal.add_working_hours(at(2026, 4, 3, 17, 30), 1) == at(2026, 4, 7, 9)


def test_make_up_working_day_counts(cal):
    # Sunday 2025-09-28 is a make-up working day (调休) for the 2025 National Day holiday.
    sunday = dt.date(2025, 9, 28)
    assert sunday.weekday() == 6 and chinese_calendar.is_workday(sunday)
    assert cal.is_workday(sunday)
    assert cal.add_working_days(at(2025, 9, 26, 10), 1) == at(2025, 9, 28, 18)
    # Received on the Saturday before it: the clock starts on Sunday morning.
    assert cal.add_working_hours(at(2025, 9, 27, 10), 1) == at(2025, 9, 28, 9, 30)


def test_received_2026_09_30_three_working_days(cal):
    # Official 2026 calendar: National Day 1–7 October is off (Thu–Wed; Mid-Autumn was 25–27 September),
    # and Saturday 10 October is a make-up working day. So the three working days after Wed 30 September
    # are Thu 8, Fri 9 and Sat 10 October.
    assert [cal.is_workday(dt.date(2026, 10, d)) for d in range(1, 12)] == (
        [False] * 7 + [True, True, True, False]
    )
    due = cal.add_working_days(at(2026, 9, 30, 10), 3)
    assert due == at(2026, 10, 10, 18)
    assert due.tzinfo == SH


def test_day_of_receipt_never_counts(cal):
    # Received on a Sunday: the first working day after it is Monday, even though Sunday is not counted.
    assert cal.add_working_days(at(2026, 3, 15, 10), 1) == at(2026, 3, 16, 18)
    # Received early on a working day: that day still does not count.
    assert cal.add_working_days(at(2026, 3, 16, 0, 1), 1) == at(2026, 3, 17, 18)


# --- counting hours --------------------------------------------------------------------------------


def test_hours_spill_over_lunch(cal):
    assert cal.add_working_hours(at(2026, 3, 16, 11), 2) == at(2026, 3, 16, 14, 30)
    # Exactly filling the morning ends at noon, not at 13:30.
    assert cal.add_working_hours(at(2026, 3, 16, 11), 1) == at(2026, 3, 16, 12)


def test_hours_spill_over_the_evening(cal):
    assert cal.add_working_hours(at(2026, 3, 16, 17), 1.5) == at(2026, 3, 17, 9)
    # Across the National Day holiday: one hour from 17:30 on 30 Sept ends at 9:00 on 8 Oct.
    assert cal.add_working_hours(at(2026, 9, 30, 17, 30), 1) == at(2026, 10, 8, 9)
    # A full working day is eight hours (the default office hours).
    assert cal.day_seconds == 8 * HOUR
    assert cal.add_working_hours(at(2026, 3, 16, 8, 30), 8) == at(2026, 3, 16, 18)
    assert cal.add_working_hours(at(2026, 3, 16, 8, 30), 8 * 5 + 1) == at(2026, 3, 23, 9, 30)


@pytest.mark.parametrize(
    ("start", "due"),
    [
        (at(2026, 3, 16, 7), at(2026, 3, 16, 9, 30)),  # before work
        (at(2026, 3, 16, 12, 30), at(2026, 3, 16, 14, 30)),  # lunch break
        (at(2026, 3, 16, 20), at(2026, 3, 17, 9, 30)),  # evening
        (at(2026, 3, 14, 10), at(2026, 3, 16, 9, 30)),  # Saturday
    ],
)
def test_start_outside_office_hours_waits_for_the_next_period(cal, start, due):
    assert cal.add_working_hours(start, 1) == due


def test_any_input_time_zone_result_in_calendar_zone(cal):
    due = cal.add_working_hours(at(2026, 3, 16, 0, 30, tz=dt.timezone.utc), 1)  # 8:30 in Shanghai
    assert due == at(2026, 3, 16, 9, 30) and due.tzinfo == SH
    # 17:00 UTC on Wednesday 30 Sept is 01:00 on 1 Oct in Shanghai: that is the day of receipt.
    assert cal.add_working_days(at(2026, 9, 30, 17, tz=dt.timezone.utc), 1) == at(2026, 10, 8, 18)


def test_naive_and_negative_inputs_are_refused(cal):
    with pytest.raises(ValueError):
        cal.add_working_hours(dt.datetime(2026, 3, 16, 9), 1)
    with pytest.raises(ValueError):
        cal.add_working_hours(at(2026, 3, 16, 9), -1)
    with pytest.raises(ValueError):
        cal.add_working_days(at(2026, 3, 16, 9), -1)


# --- overrides and unknown years -------------------------------------------------------------------


def test_override_makes_a_day_off():
    cal = WorkCalendar(overrides={dt.date(2026, 3, 16): False})
    assert not cal.is_workday(dt.date(2026, 3, 16))
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 17, 18)
    assert cal.add_working_hours(at(2026, 3, 13, 17, 30), 1) == at(2026, 3, 17, 9)


def test_override_makes_a_working_day():
    cal = WorkCalendar(overrides={dt.date(2026, 3, 14): True})
    assert cal.is_workday(dt.date(2026, 3, 14))
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 14, 18)
    assert cal.add_working_hours(at(2026, 3, 13, 17, 30), 1) == at(2026, 3, 14, 9)


def test_override_added_later_takes_effect(cal):
    cal.is_workday(dt.date(2026, 3, 16))  # already asked once
    cal.overrides[dt.date(2026, 3, 16)] = False
    assert not cal.is_workday(dt.date(2026, 3, 16))


def test_a_deadline_worked_out_before_an_override_moves_with_it(cal):
    """Deadlines are remembered per day (every intake asks for the same few days); a day an admin
    declares off afterwards must still move the next deadline computed over it."""
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 16, 18)
    assert cal.add_working_hours(at(2026, 3, 13, 17, 30), 1) == at(2026, 3, 16, 9)
    cal.overrides[dt.date(2026, 3, 16)] = False
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 17, 18)
    assert cal.add_working_hours(at(2026, 3, 13, 17, 30), 1) == at(2026, 3, 17, 9)
    cal.overrides.pop(dt.date(2026, 3, 16))
    assert cal.add_working_days(at(2026, 3, 13, 10), 1) == at(2026, 3, 16, 18)


def test_year_unknown_to_the_package_has_its_statutory_holidays_provisionally(cal):
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(dt.date(2030, 1, 1))
    # 1 January 2030 is a Tuesday: 元旦 is a statutory holiday, so it is not a working day even before
    # the State Council announces the year.
    assert cal.year_source(2030) == "provisional"
    assert not cal.is_workday(dt.date(2030, 1, 1)) and cal.day_name(dt.date(2030, 1, 1)) == "元旦"
    assert not cal.is_workday(dt.date(2030, 1, 5))  # Saturday
    assert cal.add_working_days(at(2029, 12, 31, 10), 1) == at(2030, 1, 2, 18)
    assert cal.add_working_days(at(2030, 1, 4, 10), 1) == at(2030, 1, 7, 18)
    # An admin-entered working day for that year is honoured (the centre's days win).
    announced = WorkCalendar(overrides={dt.date(2030, 1, 1): True})
    assert announced.add_working_days(at(2029, 12, 31, 10), 1) == at(2030, 1, 1, 18)
    # Years before the package's first stay Monday–Friday.
    assert cal.is_workday(dt.date(2003, 1, 1)) and cal.year_days(2003) == {}


# --- measuring time used ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "hours"),
    [
        (at(2026, 3, 16, 9), 0.5),
        (at(2026, 3, 16, 11), 2),
        (at(2026, 3, 16, 20), 3.25),
        (at(2026, 3, 13, 16), 10),
        (at(2026, 9, 30, 10), 20),  # across National Day and the make-up Saturday
        (at(2025, 9, 26, 15), 9),  # across the make-up Sunday
        (at(2026, 3, 16, 1, tz=dt.timezone.utc), 4),
    ],
)
def test_working_seconds_between_matches_add_working_hours(cal, start, hours):
    due = cal.add_working_hours(start, hours)
    assert cal.working_seconds_between(start, due) == pytest.approx(hours * HOUR)


def test_working_seconds_between(cal):
    assert cal.working_seconds_between(at(2026, 3, 16), at(2026, 3, 17)) == 8 * HOUR
    assert cal.working_seconds_between(at(2026, 3, 13), at(2026, 3, 16)) == 8 * HOUR  # weekend adds nothing
    assert cal.working_seconds_between(at(2026, 10, 1), at(2026, 10, 8)) == 0
    assert cal.working_seconds_between(at(2026, 3, 17), at(2026, 3, 16)) == 0
    assert cal.working_seconds_between(at(2026, 3, 16, 9), at(2026, 3, 16, 9)) == 0


def test_daylight_saving_counts_real_seconds():
    # A zone with DST (the official calendar still decides working days): on Sunday 8 March 2026 New York
    # skips 02:00–03:00, so the local period 01:00–04:00 holds two real hours.
    cal = WorkCalendar(tz=ZoneInfo("America/New_York"), office_hours=((dt.time(1), dt.time(4)),),
                       overrides={dt.date(2026, 3, 8): True})
    ny = ZoneInfo("America/New_York")
    assert cal.working_seconds_between(at(2026, 3, 8, tz=ny), at(2026, 3, 9, tz=ny)) == 2 * HOUR
    assert cal.add_working_hours(at(2026, 3, 8, 1, tz=ny), 1.5) == at(2026, 3, 8, 3, 30, tz=ny)


# --- deadline state --------------------------------------------------------------------------------


def test_deadline_state(cal):
    start = at(2026, 3, 16, 8, 30)
    due = cal.add_working_hours(start, 10)  # 10 working hours: Tue 17 March 10:30
    assert due == at(2026, 3, 17, 10, 30)
    assert deadline_state(start, due, start, cal) == "normal"
    assert deadline_state(start, due, cal.add_working_hours(start, 7.9), cal) == "normal"  # 79 %
    assert deadline_state(start, due, cal.add_working_hours(start, 8), cal) == "at_risk"  # exactly 80 %
    assert deadline_state(start, due, due, cal) == "at_risk"  # due now, not yet late
    assert deadline_state(start, due, due + dt.timedelta(seconds=1), cal) == "overdue"


def test_deadline_state_counts_working_time_not_clock_time(cal):
    # Received 30 Sept, due 10 Oct: the holiday week uses none of the allowance.
    start = at(2026, 9, 30, 10)
    due = cal.add_working_days(start, 3)
    assert deadline_state(start, due, at(2026, 10, 7, 23), cal) == "normal"
    assert deadline_state(start, due, at(2026, 10, 10, 12), cal) == "at_risk"
    assert deadline_state(start, due, at(2026, 10, 11, 8), cal) == "overdue"


def test_deadline_state_labels():
    assert DEADLINE_STATE_LABELS == {"normal": "正常", "at_risk": "临期", "overdue": "超期"}
