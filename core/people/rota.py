"""The month's rota (排班): proposed from the forecast by the solver, edited by a team leader by hand
(each change within the working-time rules, audited), swaps recorded, then published. Demand for an
hour is the larger of the forecast's lines (Erlang C, ``core.reports.forecast``) and the procurement
document's floor (4 lines at a working day's peak, 2 otherwise)."""

from __future__ import annotations

import asyncio
import calendar as monthdays
import datetime as dt
import re
from typing import Annotated, Any

import msgspec

from core import clock
from core.calendar import SHANGHAI, WorkCalendar
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.people import audit, solver, teams
from core.reports import forecast
from core.tables import Rota, RotaShift, StaffEvent, StaffLeave, User

MONTHS_AHEAD = 12
CHANGES_LIMIT = 200
STATUSES = {"draft": "草案", "published": "已发布", "superseded": "已被新版本取代"}
MONTH = r"^(19|20|21)\d{2}-(0[1-9]|1[0-2])$"
MONTH_PATTERN = re.compile(MONTH)
Month = Annotated[str, msgspec.Meta(pattern=MONTH, description="月份 YYYY-MM")]


class Proposal(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    month: Month
    rules: solver.Rules = msgspec.field(default_factory=solver.Rules)


class ShiftChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    date: dt.date
    shift: Annotated[str, msgspec.Meta(max_length=16)] | None  # None: a day off


class RotaEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    changes: Annotated[list[ShiftChange], msgspec.Meta(min_length=1, max_length=CHANGES_LIMIT)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class Swap(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """调班: two people exchange what they have on a day (a shift, or a day off)."""

    date: dt.date
    first: Annotated[str, msgspec.Meta(max_length=64)]
    second: Annotated[str, msgspec.Meta(max_length=64)]
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


def _rules_problem(rules: solver.Rules) -> list[FieldError]:
    problems = []
    if not 8 <= rules.max_hours_per_week <= 60:
        problems.append(FieldError("rules.max_hours_per_week", "应在 8 到 60 之间"))
    if not 8 <= rules.min_rest_hours <= 24:
        problems.append(FieldError("rules.min_rest_hours", "应在 8 到 24 之间"))
    if not 1 <= rules.days_off_per_week <= 4:
        problems.append(FieldError("rules.days_off_per_week", "应在 1 到 4 之间"))
    return problems


def month_days(month: str) -> list[dt.date]:
    year, number = (int(p) for p in month.split("-"))
    return [dt.date(year, number, d) for d in range(1, monthdays.monthrange(year, number)[1] + 1)]


def _check_month(month: str) -> None:
    today = clock.today()
    first = dt.date(int(month[:4]), int(month[5:]), 1)
    months = (first.year - today.year) * 12 + first.month - today.month
    if not 0 <= months <= MONTHS_AHEAD:
        raise InvalidInput([FieldError("month", f"只能为本月到 {MONTHS_AHEAD} 个月后的月份排班")])


async def may_plan(actor: Actor) -> bool:
    return actor.role in ("admin", "supervisor") or bool(await teams.leader_of(actor.name))


async def _planner(actor: Actor) -> None:
    if not await may_plan(actor):
        raise Forbidden("只有管理员、督办员或班组长可以排班")


async def rota_staff() -> list[str]:
    """Who is rostered: active agents who are 已培训上岗 (an untrained agent takes no calls)."""
    rows = await User.select(User.username).where((User.role == "agent") & (User.active == True)  # noqa: E712
                                                  & (User.trained == True)).order_by(User.username)  # noqa: E712
    return [r["username"] for r in rows]


async def _leave(days: list[dt.date]) -> dict[str, set[dt.date]]:
    out: dict[str, set[dt.date]] = {}
    for r in await StaffLeave.select().where((StaffLeave.first_day <= days[-1]) & (StaffLeave.last_day >= days[0])):
        day = max(r["first_day"], days[0])
        while day <= min(r["last_day"], days[-1]):
            out.setdefault(r["username"], set()).add(day)
            day += dt.timedelta(days=1)
    return out


async def demand(days: list[dt.date], calendar: WorkCalendar, channels: dict[str, str]) -> dict[dt.date, list[int]]:
    lines = await forecast.lines_by_hour(days, calendar=calendar, channels=channels)
    return {d: [max(lines[d][h], forecast.seed_plan_lines(calendar, d, h)) for h in range(24)] for d in days}


async def propose(proposal: Proposal, actor: Actor, calendar: WorkCalendar, channels: dict[str, str]) -> dict[str, Any]:
    """Solve the month and store the result as a draft (201); earlier drafts of the month stay.
    ``channels`` (code: name) measure the handling times per channel the forecast plans on."""
    await _planner(actor)
    problems = _rules_problem(proposal.rules)
    if problems:
        raise InvalidInput(problems)
    _check_month(proposal.month)
    days = month_days(proposal.month)
    staff = await rota_staff()
    if not staff:
        raise Conflict("没有可排班的话务员（须为在岗且已培训上岗的话务员账号）")
    patterns = await teams.shifts()
    need_by_day = await demand(days, calendar, channels)
    need = {(d, h): need_by_day[d][h] for d in days for h in range(24)}
    leave = await _leave(days)
    solution = await asyncio.to_thread(solver.solve, staff, days, patterns, need, proposal.rules, leave)
    gaps = [{"date": d.isoformat(), "hour": h, "needed": n, "planned": p} for d, h, n, p in solution.gaps]
    now = clock.now()
    async with write_transaction(Rota._meta.db):
        rota_id = (await Rota.insert(Rota(
            month=proposal.month, status="draft", rules=msgspec.to_builtins(proposal.rules),
            demand={d.isoformat(): v for d, v in need_by_day.items()}, gaps=gaps, solve_seconds=solution.seconds,
            created_by=actor.name, created_at=now)).returning(Rota.id))[0]["id"]
        rows = [RotaShift(rota_id=rota_id, day=d, shift=code, username=p)
                for p, worked in solution.shifts.items() for d, code in worked]
        for i in range(0, len(rows), 500):
            await RotaShift.insert(*rows[i:i + 500])
        await audit.record(f"rota:{rota_id}", "rota_proposed", actor, month=proposal.month,
                           shifts=len(rows), gaps=len(gaps), seconds=solution.seconds, status=solution.status)
    return await show(rota_id)


async def _assignment(rota_id: int) -> dict[str, list[tuple[dt.date, str]]]:
    out: dict[str, list[tuple[dt.date, str]]] = {}
    for r in await RotaShift.select().where(RotaShift.rota_id == rota_id).order_by(RotaShift.day):
        out.setdefault(r["username"], []).append((r["day"], r["shift"]))
    return out


def _gaps(assignment: dict[str, list[tuple[dt.date, str]]], patterns, need_by_day: dict[str, list[int]]) -> list[dict]:
    by_code = {s.code: s for s in patterns}
    planned: dict[tuple[str, int], int] = {}
    for worked in assignment.values():
        for d, code in worked:
            if code in by_code:
                for day, hour in solver.covered_hours(by_code[code], d):
                    planned[day.isoformat(), hour] = planned.get((day.isoformat(), hour), 0) + 1
    return [{"date": day, "hour": h, "needed": n, "planned": planned.get((day, h), 0)}
            for day, lines in sorted(need_by_day.items()) for h, n in enumerate(lines) if planned.get((day, h), 0) < n]


async def _row(rota_id: int) -> dict:
    row = await Rota.select().where(Rota.id == rota_id).output(load_json=True).first()
    if row is None:
        raise NotFound("排班不存在")
    return row


async def show(rota_id: int) -> dict[str, Any]:
    """A rota with each person's shifts, the hours still short of lines and the rules it keeps."""
    row = await _row(rota_id)
    patterns = await teams.shifts()
    labels = {s["code"]: s for s in teams.shift_listing(patterns)}
    assignment = await _assignment(rota_id)
    staff = sorted(set(assignment) | set(await rota_staff()))
    names = {r["username"]: r["display_name"] or r["username"] for r in await User.select(User.username, User.display_name)}
    team_of = await teams.team_of(staff)
    team_names = {t["id"]: t["name"] for t in await teams.listing()}
    people = []
    for person in staff:
        worked = assignment.get(person, [])
        people.append({"username": person, "name": names.get(person, person),
                       "team": team_names.get(team_of.get(person)), "hours": sum(
                           next((s.hours for s in patterns if s.code == c), 0) for _, c in worked),
                       "shifts": [{"date": d.isoformat(), "shift": c, "label": labels.get(c, {}).get("name", c)}
                                  for d, c in worked]})
    days = month_days(row["month"])
    rules = solver.Rules(**row["rules"])
    leave = await _leave(days)
    return {"id": row["id"], "month": row["month"], "status": row["status"],
            "status_label": STATUSES.get(row["status"], row["status"]),
            "rules": msgspec.to_builtins(rules), "rules_text": rules.text(), "shift_patterns": list(labels.values()),
            "solve_seconds": row["solve_seconds"], "created_by": row["created_by"],
            "created_at": row["created_at"].isoformat(), "published_by": row["published_by"],
            "published_at": row["published_at"].isoformat() if row["published_at"] else None,
            "people": people, "under_covered": row["gaps"], "under_covered_hours": len(row["gaps"]),
            "violations": solver.violations(assignment, patterns, rules, leave),
            "demand": row["demand"]}


async def listing(month: str | None = None) -> list[dict[str, Any]]:
    query = Rota.select(Rota.id, Rota.month, Rota.status, Rota.created_by, Rota.created_at, Rota.published_at,
                        Rota.solve_seconds).order_by(Rota.id, ascending=False).limit(100)
    if month:
        query = query.where(Rota.month == month)
    return [{**r, "status_label": STATUSES.get(r["status"], r["status"]), "created_at": r["created_at"].isoformat(),
             "published_at": r["published_at"].isoformat() if r["published_at"] else None} for r in await query]


async def _apply(rota_id: int, changes: list[ShiftChange], actor: Actor, action: str, reason: str,
                 **detail: Any) -> dict[str, Any]:
    """Write changes to a rota if the result still keeps the rules; the hours short are counted again."""
    row = await _row(rota_id)
    if row["status"] == "superseded":
        raise Conflict("该排班已被新版本取代，不能再修改")
    patterns = await teams.shifts()
    codes = {s.code for s in patterns}
    days = set(month_days(row["month"]))
    staff = set(await rota_staff())
    problems = []
    for i, change in enumerate(changes):
        if change.date not in days:
            problems.append(FieldError(f"changes[{i}].date", f"不在 {row['month']} 内"))
        if change.shift is not None and change.shift not in codes:
            problems.append(FieldError(f"changes[{i}].shift", "没有这个班次"))
        if change.username not in staff:
            problems.append(FieldError(f"changes[{i}].username", "不是可排班的话务员"))
        elif not await teams.may_manage(actor, change.username):
            raise Forbidden("班组长只能调整本班组成员的班次")
    if problems:
        raise InvalidInput(problems)
    assignment = await _assignment(rota_id)
    for change in changes:
        kept = [(d, c) for d, c in assignment.get(change.username, []) if d != change.date]
        assignment[change.username] = sorted(kept + ([(change.date, change.shift)] if change.shift else []))
    broken = solver.violations(assignment, patterns, solver.Rules(**row["rules"]), await _leave(sorted(days)))
    if broken:
        raise Conflict("修改后的排班不符合工时规则：" + "；".join(broken[:5]),
                       [FieldError("changes", b) for b in broken[:20]])
    gaps = _gaps(assignment, patterns, row["demand"])
    async with write_transaction(Rota._meta.db):
        for change in changes:
            await RotaShift.delete().where((RotaShift.rota_id == rota_id) & (RotaShift.username == change.username)
                                           & (RotaShift.day == change.date))
            if change.shift:
                await RotaShift.insert(RotaShift(rota_id=rota_id, day=change.date, shift=change.shift,
                                                 username=change.username))
        await Rota.update({Rota.gaps: gaps}).where(Rota.id == rota_id)
        await audit.record(f"rota:{rota_id}", action, actor, reason=reason, **detail,
                           changes=[{"username": c.username, "date": c.date.isoformat(), "shift": c.shift} for c in changes])
    return await show(rota_id)


async def edit(rota_id: int, change: RotaEdit, actor: Actor) -> dict[str, Any]:
    await _planner(actor)
    return await _apply(rota_id, change.changes, actor, "rota_edited", change.reason.strip())


async def swap(rota_id: int, request: Swap, actor: Actor) -> dict[str, Any]:
    await _planner(actor)
    if request.first == request.second:
        raise InvalidInput([FieldError("second", "须为另一位话务员")])
    assignment = await _assignment(rota_id)
    def on(person: str) -> str | None:
        return next((c for d, c in assignment.get(person, []) if d == request.date), None)
    first, second = on(request.first), on(request.second)
    if first == second:
        raise Conflict("两人当天的班次相同，无需调换")
    changes = [ShiftChange(username=request.first, date=request.date, shift=second),
               ShiftChange(username=request.second, date=request.date, shift=first)]
    return await _apply(rota_id, changes, actor, "rota_swapped", request.reason.strip(),
                        first=request.first, second=request.second, date=request.date.isoformat())


class SwapCancel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


async def swaps(rota_id: int) -> list[dict[str, Any]]:
    """The swaps made on a rota, newest first, each with whether it was cancelled since."""
    await _row(rota_id)
    rows = await (StaffEvent.select().where((StaffEvent.subject == f"rota:{rota_id}") & StaffEvent.action.is_in(
        ["rota_swapped", "rota_swap_cancelled"])).order_by(StaffEvent.id, ascending=False).limit(500).output(load_json=True))
    cancelled = {r["detail"].get("swap"): r for r in rows if r["action"] == "rota_swap_cancelled"}
    names = {r["username"]: r["display_name"] or r["username"] for r in await User.select(User.username, User.display_name)}
    out = []
    for r in rows:
        if r["action"] != "rota_swapped":
            continue
        undo = cancelled.get(r["id"])
        d = r["detail"]
        out.append({"id": r["id"], "date": d.get("date"), "first": d.get("first"), "second": d.get("second"),
                    "first_name": names.get(d.get("first"), d.get("first")),
                    "second_name": names.get(d.get("second"), d.get("second")), "reason": r["reason"],
                    "by": names.get(r["actor"], r["actor"]), "at": r["created_at"].isoformat(),
                    "cancelled": undo is not None, "cancel_reason": undo["reason"] if undo else ""})
    return out


async def cancel_swap(rota_id: int, swap_id: int, request: SwapCancel, actor: Actor) -> dict[str, Any]:
    """Undo a swap: the two people take back the shifts they had that day, if neither day changed since."""
    await _planner(actor)
    found = next((s for s in await swaps(rota_id) if s["id"] == swap_id), None)
    if found is None:
        raise NotFound("没有这次调班")
    if found["cancelled"]:
        raise Conflict("这次调班已撤销")
    event = await StaffEvent.select(StaffEvent.detail).where(StaffEvent.id == swap_id).output(load_json=True).first()
    made = {c["username"]: c["shift"] for c in event["detail"].get("changes", [])}
    day = dt.date.fromisoformat(found["date"])
    assignment = await _assignment(rota_id)
    now = {p: next((c for d, c in assignment.get(p, []) if d == day), None) for p in made}
    if now != made:
        raise Conflict("两人当天的班次在调班后又有改动，不能直接撤销，请手工调整")
    changes = [ShiftChange(username=found["first"], date=day, shift=made[found["second"]]),
               ShiftChange(username=found["second"], date=day, shift=made[found["first"]])]
    return await _apply(rota_id, changes, actor, "rota_swap_cancelled", request.reason.strip(), swap=swap_id,
                        first=found["first"], second=found["second"], date=found["date"])


async def publish(rota_id: int, actor: Actor) -> dict[str, Any]:
    """The published rota is the month's: an earlier published one of the month is superseded."""
    await _planner(actor)
    row = await _row(rota_id)
    if row["status"] != "draft":
        raise Conflict(f"只能发布草案（当前：{STATUSES.get(row['status'], row['status'])}）")
    async with write_transaction(Rota._meta.db):
        await Rota.update({Rota.status: "superseded"}).where((Rota.month == row["month"]) & (Rota.status == "published"))
        await Rota.update({Rota.status: "published", Rota.published_by: actor.name,
                           Rota.published_at: clock.now()}).where(Rota.id == rota_id)
        await audit.record(f"rota:{rota_id}", "rota_published", actor, month=row["month"])
    return await show(rota_id)


async def this_hour(at: dt.datetime) -> dict[str, Any] | None:
    """The published rota's promise for the hour of ``at``: agents on shift against the lines needed
    (None when the month has no published rota)."""
    local = at.astimezone(SHANGHAI)
    row = await Rota.select(Rota.demand).where((Rota.month == f"{local:%Y-%m}") & (Rota.status == "published")).output(
        load_json=True).first()
    if row is None:
        return None
    needed = (row["demand"].get(local.date().isoformat()) or [0] * 24)[local.hour]
    people = await on_duty(at)
    return {"on_duty": len(people), "needed": needed, "short": max(0, needed - len(people))}


async def on_duty(at: dt.datetime) -> list[dict[str, Any]]:
    """Who the published rota has on a shift at ``at`` (the lines the rota promises that hour)."""
    local = at.astimezone(SHANGHAI)
    patterns = await teams.shifts()
    out = []
    for day in (local.date() - dt.timedelta(days=1), local.date()):
        month = f"{day:%Y-%m}"
        rota = await Rota.select(Rota.id).where((Rota.month == month) & (Rota.status == "published")).first()
        if rota is None:
            continue
        for r in await RotaShift.select().where((RotaShift.rota_id == rota["id"]) & (RotaShift.day == day)):
            shift = next((s for s in patterns if s.code == r["shift"]), None)
            if shift and (local.date(), local.hour) in solver.covered_hours(shift, day):
                out.append({"username": r["username"], "shift": shift.name})
    return out
