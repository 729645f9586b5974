"""The rota as a constraint problem, solved by OR-Tools CP-SAT: who works which shift on which day so
that every hour has the lines it needs, within the working-time rules. Pure: no database, so the
benchmark and the tests call it directly."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence

import msgspec
from ortools.sat.python import cp_model

from core.people.teams import Shift

GAP_WEIGHT = 10_000  # an hour short of one line costs more than every staffed hour of the month
HOUR_WEIGHT = 1  # each staffed hour: no one is put on a shift the hours do not need
SLACK_SHIFTS = 3  # how far above an equal share of the month's hours one person may go
RELATIVE_GAP = 0.01


class Rules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Working-time rules (工时规则); a week is any 7 consecutive days of the month."""

    max_hours_per_week: int = msgspec.field(default=40)
    min_rest_hours: int = msgspec.field(default=11)
    days_off_per_week: int = msgspec.field(default=2)

    def text(self) -> str:
        return (f"每周（任意连续 7 天）工作不超过 {self.max_hours_per_week} 小时、至少休息 {self.days_off_per_week} 天；"
                f"两个班次之间至少休息 {self.min_rest_hours} 小时；每天至多一个班次")


class Solution(msgspec.Struct, kw_only=True):
    shifts: dict[str, list[tuple[dt.date, str]]]  # per person: (day, shift code)
    gaps: list[tuple[dt.date, int, int, int]]  # (day, hour, needed, planned) where planned < needed
    status: str  # optimal / feasible
    seconds: float


def covered_hours(shift: Shift, day: dt.date) -> list[tuple[dt.date, int]]:
    """The (day, clock hour) slots a shift starting on ``day`` covers, past midnight on the next day."""
    out = []
    for h in shift.hours_covered():
        out.append((day + dt.timedelta(days=h // 24), h % 24))
    return out


def _start(shift: Shift, day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time()) + dt.timedelta(minutes=shift.start_minute)


def rest_hours(first: Shift, first_day: dt.date, second: Shift, second_day: dt.date) -> float:
    end = _start(first, first_day) + dt.timedelta(hours=first.hours)
    return (_start(second, second_day) - end).total_seconds() / 3600


def violations(assignment: dict[str, list[tuple[dt.date, str]]], shifts: Sequence[Shift], rules: Rules,
               leave: dict[str, set[dt.date]] | None = None) -> list[str]:
    """Every broken rule in a rota, in words (empty: it keeps the rules)."""
    by_code = {s.code: s for s in shifts}
    leave = leave or {}
    found = []
    for person, worked in assignment.items():
        worked = sorted(worked)
        days = [d for d, _ in worked]
        if len(set(days)) != len(days):
            found.append(f"{person} 同一天排了两个班次")
        for d, code in worked:
            if d in leave.get(person, set()):
                found.append(f"{person} {d} 请假却排了班")
        for (d1, c1), (d2, c2) in zip(worked, worked[1:]):
            if rest_hours(by_code[c1], d1, by_code[c2], d2) < rules.min_rest_hours:
                found.append(f"{person} {d1} {by_code[c1].name}后到 {d2} {by_code[c2].name}休息不足 {rules.min_rest_hours} 小时")
        if days:
            first = min(days)
            for start in range((max(days) - first).days + 1):
                window_start = first + dt.timedelta(days=start)
                window = [(d, c) for d, c in worked if 0 <= (d - window_start).days < 7]
                hours = sum(by_code[c].hours for _, c in window)
                if hours > rules.max_hours_per_week:
                    found.append(f"{person} 自 {window_start} 起 7 天工作 {hours} 小时，超过 {rules.max_hours_per_week} 小时")
                if len(window) > 7 - rules.days_off_per_week:
                    found.append(f"{person} 自 {window_start} 起 7 天只休息 {7 - len(window)} 天")
    return found


def solve(staff: Sequence[str], days: Sequence[dt.date], shifts: Sequence[Shift],
          need: dict[tuple[dt.date, int], int], rules: Rules, leave: dict[str, set[dt.date]] | None = None,
          seconds: float = 20.0, workers: int = 8) -> Solution:
    """Assign shifts for ``days`` to ``staff`` so each (day, hour) of ``need`` has its lines, minimising
    the hours short first, then the hours staffed; each person's hours and nights are capped at a fair
    share of the month's need (plus one shift), which spreads the work."""
    leave = leave or {}
    began = time.perf_counter()
    model = cp_model.CpModel()
    x = {}
    for p in staff:
        for d in days:
            if d in leave.get(p, set()):
                continue
            for s in shifts:
                x[p, d, s.code] = model.new_bool_var(f"x_{p}_{d}_{s.code}")
            model.add_at_most_one(x[p, d, s.code] for s in shifts if (p, d, s.code) in x)
    by_slot: dict[tuple[dt.date, int], list] = {}
    for (p, d, code), var in x.items():
        shift = next(s for s in shifts if s.code == code)
        for slot in covered_hours(shift, d):
            by_slot.setdefault(slot, []).append(var)
    # hours covered by the same shifts share one count of lines (fewer, tighter constraints)
    groups: dict[frozenset, list[tuple[dt.date, int]]] = {}
    for slot in need:
        groups.setdefault(frozenset(id(v) for v in by_slot.get(slot, [])), []).append(slot)
    gap_vars = {}
    for slots in groups.values():
        covering = by_slot.get(slots[0], [])
        lines = model.new_int_var(0, len(covering), "")
        model.add(lines == sum(covering))
        for slot in slots:
            gap = model.new_int_var(0, need[slot], f"gap_{slot[0]}_{slot[1]}")
            gap_vars[slot] = gap
            model.add(lines + gap >= need[slot])
    # rest between shifts: pairs of shifts on days up to two apart that leave too little rest
    for p in staff:
        for i, d1 in enumerate(days):
            for d2 in days[i + 1:i + 3]:
                for s1 in shifts:
                    for s2 in shifts:
                        if (p, d1, s1.code) in x and (p, d2, s2.code) in x and \
                                rest_hours(s1, d1, s2, d2) < rules.min_rest_hours:
                            model.add_bool_or([x[p, d1, s1.code].Not(), x[p, d2, s2.code].Not()])
    # any 7 consecutive days: hours and days off
    loads, nights = [], []
    night_codes = {s.code for s in shifts if s.start_minute < 6 * 60 or s.start_minute + s.hours * 60 > 24 * 60}
    for p in staff:
        for i in range(len(days)):
            window = days[i:i + 7]
            hours = [x[p, d, s.code] * s.hours for d in window for s in shifts if (p, d, s.code) in x]
            worked = [x[p, d, s.code] for d in window for s in shifts if (p, d, s.code) in x]
            if hours:
                model.add(sum(hours) <= rules.max_hours_per_week)
                if len(window) == 7:
                    model.add(sum(worked) <= 7 - rules.days_off_per_week)
        load = model.new_int_var(0, 24 * len(days), f"load_{p}")
        model.add(load == sum(x[p, d, s.code] * s.hours for d in days for s in shifts if (p, d, s.code) in x))
        loads.append(load)
        night = model.new_int_var(0, len(days), f"nights_{p}")
        model.add(night == sum(x[p, d, c] for d in days for c in night_codes if (p, d, c) in x))
        nights.append(night)
    # a fair share: nobody works more than the month's need per person plus a few shifts, nor more
    # than their share of nights plus two
    def most_lines(s: Shift, d: dt.date) -> int:
        return max((need.get(slot, 0) for slot in covered_hours(s, d)), default=0)

    longest = max(s.hours for s in shifts)
    needed_hours = sum(most_lines(s, d) * s.hours for d in days for s in shifts)  # as if no shifts overlapped
    share = -(-needed_hours // max(1, len(staff))) + SLACK_SHIFTS * longest
    night_need = sum(most_lines(s, d) for d in days for s in shifts if s.code in night_codes)
    night_share = -(-night_need // max(1, len(staff))) + 2
    for load in loads:
        model.add(load <= share)
    for night in nights:
        model.add(night <= night_share)
    model.minimize(GAP_WEIGHT * sum(gap_vars.values()) + HOUR_WEIGHT * sum(loads))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = workers  # the full portfolio: its neighbourhood searches find the busy months
    solver.parameters.random_seed = 1
    solver.parameters.relative_gap_limit = RELATIVE_GAP  # proven within 1 % of the best: good enough to stop
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(f"排班求解失败：{solver.status_name(status)}")
    assignment: dict[str, list[tuple[dt.date, str]]] = {p: [] for p in staff}
    for (p, d, code), var in x.items():
        if solver.value(var):
            assignment[p].append((d, code))
    gaps = []
    for (d, h), lines in sorted(need.items()):
        planned = sum(solver.value(v) for v in by_slot.get((d, h), []))
        if planned < lines:
            gaps.append((d, h, lines, planned))
    return Solution(shifts={p: sorted(v) for p, v in assignment.items()}, gaps=gaps,
                    status="optimal" if status == cp_model.OPTIMAL else "feasible",
                    seconds=round(time.perf_counter() - began, 3))
