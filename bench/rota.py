"""How long the rota takes to solve: 36 agents × one month (three 8-hour shifts, 7×24), in one command.

    .venv/bin/python bench/rota.py [--month YYYY-MM] [--staff 36] [--calls-per-day 0 300 600 900]

For each daily call volume the hourly demand is the demo's hour-of-day shape (``core.demo.HOURLY``)
turned into lines by the forecast's Erlang C (80 % answered in 20 s, 240 s handling), never below the
procurement document's floor (4 lines at a working day's peak, 2 otherwise); 0 calls means the floor
alone. The solver is the one ``POST /api/rota/proposals`` runs (OR-Tools CP-SAT, eight search workers),
under the default rules (40 h and 2 days off in any 7 days, 11 h between shifts). Each row prints the
solve time, whether the answer is proven optimal, the shifts given and the hours still short of lines.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.calendar import WorkCalendar  # noqa: E402
from core.demo import HOURLY  # noqa: E402
from core.people.rota import month_days  # noqa: E402
from core.people.solver import Rules, solve, violations  # noqa: E402
from core.people.teams import DEFAULT_SHIFTS  # noqa: E402
from core.reports.forecast import DEFAULT_AHT_SECONDS, lines_needed, seed_plan_lines  # noqa: E402


def demand(days: list[dt.date], calls_per_day: int, calendar: WorkCalendar) -> dict[tuple[dt.date, int], int]:
    total = sum(HOURLY)
    need = {}
    for day in days:
        for hour in range(24):
            calls = calls_per_day * HOURLY[hour] / total
            lines = lines_needed(calls, DEFAULT_AHT_SECONDS, 0.8, 20) if calls else 0
            need[day, hour] = max(lines, seed_plan_lines(calendar, day, hour))
    return need


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    today = dt.date.today()
    parser.add_argument("--month", default=f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}")
    parser.add_argument("--staff", type=int, default=36)
    parser.add_argument("--calls-per-day", type=int, nargs="+", default=[0, 300, 600, 900])
    args = parser.parse_args()
    days = month_days(args.month)
    calendar = WorkCalendar()
    staff = [f"agent{n:02d}" for n in range(1, args.staff + 1)]
    rules = Rules()
    print(f"{args.staff} 人 × {args.month}（{len(days)} 天，{len(DEFAULT_SHIFTS)} 个班次）")
    print(f"{'日来电量':>8} {'求解秒数':>8} {'最优':>4} {'班次数':>6} {'缺线小时':>8} {'违反规则':>8}")
    for calls in args.calls_per_day:
        need = demand(days, calls, calendar)
        found = solve(staff, days, DEFAULT_SHIFTS, need, rules)
        broken = violations(found.shifts, DEFAULT_SHIFTS, rules)
        print(f"{calls:>10} {found.seconds:>10.2f} {'是' if found.status == 'optimal' else '否':>4} "
              f"{sum(len(v) for v in found.shifts.values()):>8} {len(found.gaps):>10} {len(broken):>10}")


if __name__ == "__main__":
    main()
