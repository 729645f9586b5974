"""The working calendar as the centre keeps it: its own days (``calendar_days``), the State Council's
schedule of a year once imported (``calendar_years``), the office hours (``calendar_settings``), and
every change to them logged with who and when (``calendar_changes``).

A change of days moves the open deadlines that span the changed days, each moved order getting an
audited event in the transaction of the change; a change of office hours applies to deadlines
computed after it (stored ones stay).
"""

from __future__ import annotations

import bisect
import datetime as dt
from typing import Any

import msgspec

from core import clock
from core.calendar import (
    MAKE_UP_DAY, OFFICE_HOURS, PROVISIONAL_LAST_YEAR, SOURCE_LABELS, WorkCalendar, YearDays, local_iso,
    deadline_summary, office_hours_text, official_year, parse_office_hours,
)
from core.db import write_transaction
from core.errors import Conflict, FieldError, InvalidInput
from core.lifecycle import OPEN_STATUSES
from core.model import Actor, as_record
from core.tables import Order

FIRST_YEAR, LAST_YEAR = 2000, PROVISIONAL_LAST_YEAR  # the years one may look at or import
MAX_HOLIDAYS, MAX_WORKDAYS = 120, 60  # an announced year has about 30 days off and under 10 调休
BANNER_DAYS = 60  # how long before a provisional year starts the admins and supervisors are told
OFFICE_HOURS_SETTING = "office_hours"
RESCHEDULE_EVENT = "calendar_reschedule"
RESCHEDULE_LABEL = "工作日历调整时限"
CHUNK = 200
DEADLINE_NAMES = {"dispatch": "派单时限", "accept": "签收时限", "handle": "办理时限", "callback": "回访时限",
                  "appeal": "申诉时限"}
STEPS_BEFORE_HANDLING = ("dispatch", "accept")


class NamedDay(msgspec.Struct, forbid_unknown_fields=True):
    date: dt.date
    name: str = ""


# -- loading ---------------------------------------------------------------------------------------------

def _days_of(rows: list[dict]) -> list[tuple[dt.date, str]]:
    return [(dt.date.fromisoformat(r["date"]), r.get("name") or "") for r in rows]


async def load(calendar: WorkCalendar) -> None:
    """The centre's days, the imported years and the office hours, from the database."""
    from core.tables import CalendarDay, CalendarSetting, CalendarYear

    rows = await CalendarDay.select(CalendarDay.day, CalendarDay.workday)
    years = await CalendarYear.select(CalendarYear.year, CalendarYear.holidays, CalendarYear.workdays).output(
        load_json=True)
    setting = await CalendarSetting.select(CalendarSetting.value).where(
        CalendarSetting.name == OFFICE_HOURS_SETTING).output(load_json=True).first()
    calendar.overrides.clear()
    calendar.overrides.update({r["day"]: r["workday"] for r in rows})
    calendar.set_official({r["year"]: official_year(_days_of(r["holidays"]), _days_of(r["workdays"]))
                           for r in years})
    hours = parse_office_hours(setting["value"]) if setting else OFFICE_HOURS
    if hours != calendar.office_hours:
        calendar.set_office_hours(hours)
    calendar.derived.clear()


# -- looking at a year -----------------------------------------------------------------------------------

def check_year(year: int, key: str = "year", source: str = "path") -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput([FieldError(key, f"年份须在 {FIRST_YEAR} 至 {LAST_YEAR} 之间", source)],
                           "年份超出范围")


def year_view(calendar: WorkCalendar, year: int, notes: dict[dt.date, str] | None = None) -> dict[str, Any]:
    """Every day of ``year``: working or not, its name, whether it is provisional, whether the centre
    set it itself."""
    check_year(year)
    source = calendar.year_source(year)
    named = calendar.year_days(year)
    notes = notes or {}
    days = []
    day = dt.date(year, 1, 1)
    while day.year == year:
        override = calendar.overrides.get(day)
        working, name = named.get(day, (day.weekday() < 5, ""))
        if override is not None:
            working = bool(override)
            name = notes.get(day) or ("中心设定工作日" if working else "中心设定休息日")
        days.append({"date": day.isoformat(), "working": working, "name": name,
                     "provisional": source == "provisional" and override is None,
                     "override": override is not None,
                     "make_up": working and day.weekday() >= 5})
        day += dt.timedelta(days=1)
    return {"year": year, "source": source, "source_label": SOURCE_LABELS[source], "days": days,
            "office_hours": office_hours_text(calendar.office_hours)}


def banner(calendar: WorkCalendar, today: dt.date) -> str | None:
    """While next year is still provisional and less than ``BANNER_DAYS`` days away, what to tell the
    admins and supervisors (None otherwise)."""
    following = today.year + 1
    if following > LAST_YEAR or calendar.year_source(following) != "provisional":
        return None
    if (dt.date(following, 1, 1) - today).days >= BANNER_DAYS:
        return None
    return (f"{following}年节假日安排尚未导入，目前按法定节日推算（不含调休）；"
            "国务院公布后请在工作日历中导入，时限将按正式安排重新计算。")


# -- changes ---------------------------------------------------------------------------------------------

def parse_import(year: int, holidays: list, workdays: list) -> tuple[list[tuple[dt.date, str]], list[tuple[dt.date, str]]]:
    """Both lists as (date, name), refused field by field: the size, each date inside ``year``, no date
    twice and none in both lists."""
    check_year(year)
    errors: list[FieldError] = []
    parsed: dict[str, list[tuple[dt.date, str]]] = {}
    for key, items, limit in (("holidays", holidays, MAX_HOLIDAYS), ("workdays", workdays, MAX_WORKDAYS)):
        out: list[tuple[dt.date, str]] = []
        if not isinstance(items, list):
            errors.append(FieldError(key, "须为日期列表"))
            items = []
        if len(items) > limit:
            errors.append(FieldError(key, f"最多 {limit} 天"))
            items = []
        seen: set[dt.date] = set()
        for index, item in enumerate(items):
            try:
                entry = msgspec.convert(item if isinstance(item, dict) else {"date": item}, NamedDay)
            except msgspec.ValidationError:
                errors.append(FieldError(f"{key}[{index}]", "日期须写成 YYYY-MM-DD，或 {\"date\": …, \"name\": …}"))
                continue
            name = entry.name.strip()[:20]
            if entry.date.year != year:
                errors.append(FieldError(f"{key}[{index}]", f"{entry.date} 不在 {year} 年内"))
            elif entry.date in seen:
                errors.append(FieldError(f"{key}[{index}]", f"{entry.date} 重复"))
            else:
                seen.add(entry.date)
                out.append((entry.date, name))
        parsed[key] = out
    both = {d for d, _ in parsed.get("holidays", [])} & {d for d, _ in parsed.get("workdays", [])}
    if both:
        errors.append(FieldError("workdays", f"{min(both)} 不能既是节假日又是工作日"))
    if errors:
        raise InvalidInput(errors, "节假日安排有误")
    return parsed["holidays"], parsed["workdays"]


async def import_year(platform, year: int, holidays: list, workdays: list, actor: Actor) -> dict[str, Any]:
    """The State Council's schedule of ``year`` replaces that year's package or provisional days; the
    open deadlines it moves are recomputed in the same transaction."""
    from core.tables import CalendarYear

    parsed_holidays, parsed_workdays = parse_import(year, holidays, workdays)
    calendar = platform.calendar
    await platform.sla.refresh()
    after = calendar.copy()
    after.set_official({**calendar.official, year: official_year(parsed_holidays, parsed_workdays)})
    stored = {"holidays": [{"date": d.isoformat(), "name": n} for d, n in sorted(parsed_holidays)],
              "workdays": [{"date": d.isoformat(), "name": n} for d, n in sorted(parsed_workdays)]}
    now = clock.now()
    summary = (f"导入 {year} 年国务院节假日安排：放假 {len(parsed_holidays)} 天，"
               f"调休上班 {len(parsed_workdays)} 天")
    async with write_transaction(platform.engine):
        await CalendarYear.delete().where(CalendarYear.year == year)
        await CalendarYear.insert(CalendarYear(year=year, imported_by=actor.name, imported_at=now, **stored))
        moved, sent = await _reschedule(platform, calendar, after, actor, now, summary)
        await _log("import", summary, {"year": year, **stored}, moved, actor, now)
    await _after_commit(platform, sent)
    return {"year": year, "source": "official", "holidays": len(parsed_holidays),
            "workdays": len(parsed_workdays), "moved_orders": moved}


async def set_day(platform, day: dt.date, workday: bool, note: str, actor: Actor) -> int:
    """The centre declares one day working or not; returns how many open orders' deadlines moved."""
    from core.tables import CalendarDay

    check_year(day.year, "day", "body")
    await platform.sla.refresh()
    calendar = platform.calendar
    after = calendar.copy()
    after.overrides[day] = workday
    now = clock.now()
    summary = f"中心设定 {day} 为{'工作日' if workday else '休息日'}" + (f"（{note}）" if note else "")
    async with write_transaction(platform.engine):
        existing = await CalendarDay.select(CalendarDay.id).where(CalendarDay.day == day).first()
        if existing:
            await CalendarDay.update({CalendarDay.workday: workday, CalendarDay.note: note}).where(
                CalendarDay.id == existing["id"])
        else:
            await CalendarDay.insert(CalendarDay(day=day, workday=workday, note=note))
        moved, sent = await _reschedule(platform, calendar, after, actor, now, summary)
        await _log("day_set", summary, {"day": day.isoformat(), "workday": workday, "note": note}, moved, actor, now)
    await _after_commit(platform, sent)
    return moved


async def remove_day(platform, day: dt.date, actor: Actor) -> int | None:
    """The centre's own setting of ``day`` removed (the year's own answer applies again); None when
    there was none."""
    from core.tables import CalendarDay

    check_year(day.year, "day", "body")
    await platform.sla.refresh()
    calendar = platform.calendar
    after = calendar.copy()
    after.overrides.pop(day, None)
    now = clock.now()
    summary = f"取消中心对 {day} 的设定（恢复为{'工作日' if after.is_workday(day) else '休息日'}）"
    async with write_transaction(platform.engine):
        existing = await CalendarDay.select(CalendarDay.id).where(CalendarDay.day == day).first()
        if existing is None:
            return None
        await CalendarDay.delete().where(CalendarDay.id == existing["id"])
        moved, sent = await _reschedule(platform, calendar, after, actor, now, summary)
        await _log("day_removed", summary, {"day": day.isoformat()}, moved, actor, now)
    await _after_commit(platform, sent)
    return moved


async def set_office_hours(platform, periods, actor: Actor) -> list[list[str]]:
    """New office hours for deadlines computed from now on (stored deadlines are not recomputed)."""
    from core.tables import CalendarSetting

    try:
        hours = parse_office_hours(periods)
    except ValueError as bad:
        raise InvalidInput([FieldError("office_hours", str(bad))], str(bad)) from None
    text = office_hours_text(hours)
    now = clock.now()
    before = office_hours_text(platform.calendar.office_hours)
    summary = f"办公时间由 {_hours_label(before)} 改为 {_hours_label(text)}"
    async with write_transaction(platform.engine):
        await CalendarSetting.delete().where(CalendarSetting.name == OFFICE_HOURS_SETTING)
        await CalendarSetting.insert(CalendarSetting(name=OFFICE_HOURS_SETTING, value=text, updated_by=actor.name,
                                                     updated_at=now))
        await _log("office_hours", summary, {"before": before, "after": text}, 0, actor, now)
    await platform.load_calendar()
    return text


async def office_hours_setting() -> dict[str, Any]:
    """The office hours with who set them and when (the default when nobody has)."""
    from core.tables import CalendarSetting

    row = await CalendarSetting.select().where(CalendarSetting.name == OFFICE_HOURS_SETTING).output(
        load_json=True).first()
    if row is None:
        return {"office_hours": office_hours_text(OFFICE_HOURS), "updated_by": None, "updated_at": None}
    return {"office_hours": row["value"], "updated_by": row["updated_by"], "updated_at": local_iso(row["updated_at"])}


async def _after_commit(platform, sent: int) -> None:
    """Every process's calendar follows the database (this one at once, others within a minute), and
    the outbox is told of the messages the moved orders' events sent."""
    if sent:
        platform.orders.outbox_written()
    await platform.load_calendar()


def _hours_label(periods: list[list[str]]) -> str:
    return "、".join(f"{a}–{b}" for a, b in periods)


async def changes(limit: int = 50) -> list[dict[str, Any]]:
    from core.tables import CalendarChange

    rows = await CalendarChange.select().order_by(CalendarChange.id, ascending=False).limit(limit)
    return [{"summary": r["summary"], "moved_orders": r["moved_orders"], "actor": r["actor"],
             "created_at": local_iso(r["created_at"])} for r in rows]


async def _log(action: str, summary: str, detail: dict, moved: int, actor: Actor, now: dt.datetime) -> None:
    from core.tables import CalendarChange

    await CalendarChange.insert(CalendarChange(action=action, summary=summary[:500], detail=detail,
                                               moved_orders=moved, actor=actor.name, created_at=now))


# -- moving open deadlines -------------------------------------------------------------------------------

def _changed_days(before: WorkCalendar, after: WorkCalendar) -> list[dt.date]:
    """The days whose working status differs (the years either calendar names, and the overrides)."""
    candidates: set[dt.date] = set(before.overrides) | set(after.overrides)
    for year in set(before.official) | set(after.official):
        candidates |= set(before.year_days(year)) | set(after.year_days(year))
    return sorted(d for d in candidates if before.is_workday(d) != after.is_workday(d))


def moved_due(before: WorkCalendar, after: WorkCalendar, start: dt.datetime, due: dt.datetime) -> dt.datetime:
    """Where a deadline counted on ``before`` falls on ``after``, keeping what it counted: a deadline at
    the end of a working day (N 个工作日内) keeps its number of working days after the day it started;
    any other keeps its working time from its start (N 个工作小时)."""
    local_start, local_due = start.astimezone(before.tz), due.astimezone(before.tz)
    day_end = before.office_hours[-1][1]
    if local_due.time() == day_end and local_due.date() > local_start.date():
        counted = before.workdays_between(local_start.date() + dt.timedelta(days=1), local_due.date())
        day = after.nth_workday_after(local_start.date(), counted)
        return dt.datetime.combine(day, after.office_hours[-1][1], after.tz)
    allowance = before.working_seconds_between(start, due)
    if not allowance:
        return due
    return after.add_working_hours(start, allowance / 3600)


def _natural(order: dict, name: str, deadline: dict) -> bool:
    """An urgent order's handling deadline counts natural hours: no calendar moves it."""
    return (name == "handle" and order.get("priority") == "urgent" and not deadline.get("extended")
            and not deadline.get("paused_hours"))


def _moved_deadlines(order: dict, before: WorkCalendar, after: WorkCalendar,
                     first: dt.date, last: dt.date, changed: list[dt.date]) -> dict[str, tuple[str, str]]:
    """{name: (old due, new due)} for the open deadlines of ``order`` that span a changed day."""
    deadlines = order["deadlines"] or {}
    moves: dict[str, tuple[str, str]] = {}
    names = sorted(deadlines, key=lambda n: n != "handle")  # the handling deadline first: it caps others
    for name in names:
        d = deadlines[name]
        if d.get("done") or not d.get("due") or not d.get("start") or _natural(order, name, d):
            continue
        start, due = dt.datetime.fromisoformat(d["start"]), dt.datetime.fromisoformat(d["due"])
        start_day, due_day = start.astimezone(before.tz).date(), due.astimezone(before.tz).date()
        if due_day < first or start_day > last or bisect.bisect_left(changed, start_day) == bisect.bisect_right(
                changed, due_day):
            continue
        new_due = moved_due(before, after, start, due)
        handle = moves.get("handle", (None, deadlines.get("handle", {}).get("due")))[1]
        if name in STEPS_BEFORE_HANDLING and handle and not deadlines["handle"].get("done"):
            new_due = min(new_due, dt.datetime.fromisoformat(handle))
        if new_due != due:
            moves[name] = (d["due"], new_due.isoformat())
    return moves


async def _reschedule(platform, before: WorkCalendar, after: WorkCalendar, actor: Actor, now: dt.datetime,
                      why: str) -> tuple[int, int]:
    """Recompute the open deadlines that span the days ``after`` changes, inside the caller's
    transaction: only open orders received before the last changed day are read (in chunks), and only
    those whose open deadlines span a changed day are written, each with its audited event. Returns
    (orders moved, outbox messages their events sent)."""
    changed = _changed_days(before, after)
    if not changed:
        return 0, 0
    first, last = changed[0], changed[-1]
    received_by = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), before.tz)
    moved, last_id, sent = 0, 0, 0
    while True:
        rows = await (Order.select().where(Order.status.is_in(sorted(OPEN_STATUSES)) & (Order.id > last_id)
                                           & (Order.received_at < received_by))
                      .order_by(Order.id).limit(CHUNK).output(load_json=True))
        for row in rows:
            for _attempt in range(3):
                moves = _moved_deadlines(row, before, after, first, last, changed)
                if not moves:
                    break
                deadlines = {k: dict(v) for k, v in row["deadlines"].items()}
                for name, (_, new_due) in moves.items():
                    deadlines[name]["due"] = new_due
                due_at, at_risk_at = deadline_summary(deadlines, after)
                changes = {"deadlines": deadlines, "due_at": due_at, "at_risk_at": at_risk_at,
                           "version": row["version"] + 1, "updated_at": now}
                updated = await (Order.update({getattr(Order, k): v for k, v in changes.items()})
                                 .where((Order.id == row["id"]) & (Order.version == row["version"]))
                                 .returning(Order.id))
                if updated:
                    order = as_record({**row, **changes})
                    lines = "；".join(f"{DEADLINE_NAMES.get(n, n)} {_shown(a)} → {_shown(b)}"
                                      for n, (a, b) in moves.items())
                    sent += await platform.orders.record_event(
                        order, RESCHEDULE_EVENT, actor, row["status"], row["status"], f"{why}。{lines}",
                        {"deadlines": {n: {"from": a, "to": b} for n, (a, b) in moves.items()},
                         "changed_days": [d.isoformat() for d in changed[:40]]}, now)
                    moved += 1
                    break
                fresh = await Order.select().where(Order.id == row["id"]).output(load_json=True).first()
                if fresh is None or fresh["status"] not in OPEN_STATUSES:
                    break
                row = fresh
            else:
                raise Conflict("工单正被他人处理，请稍后重试")
        if len(rows) < CHUNK:
            break
        last_id = rows[-1]["id"]
    return moved, sent


def _shown(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")


__all__ = ["MAKE_UP_DAY", "YearDays", "banner", "changes", "import_year", "load", "office_hours_setting",
           "remove_day", "set_day", "set_office_hours", "year_view"]
