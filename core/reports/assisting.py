"""协办时效: each assisting (协办) department's timeliness on the parts it was given, counted in its
own row beside the lead departments' order KPIs (``core.joint`` keeps the parts in ``assisting_parts``).

A part counts in the period in which it was assigned (its cohort, as an order counts by its first
dispatch); 超期未办 is taken at the period's end, or now while the period runs. Parts the centre
withdrew are left out: the department was relieved of them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.reports.kpis import FILTERS
from core.reports.periods import Period
from core.tables import AssistingPart, Department

COUNTS: dict[str, tuple[str, str]] = {  # name: (label, definition)
    "assigned": ("协办件数", "本期分派给该单位协办的件数（中心撤销的协办不计）"),
    "submitted_on_time": ("按时提交意见", "其中在协办期限内提交协办意见的件数"),
    "submitted_late": ("超期提交意见", "其中超过协办期限才提交协办意见的件数"),
    "open_overdue": ("超期未办", "其中至期末（本期未结束时为此刻）仍未签收或未提交意见、且已过协办期限的件数"),
    "returned": ("退回协办", "其中被该单位退回的件数"),
}
RATE = ("on_time_rate", "协办按时率", "按时提交意见 ÷（按时提交意见 + 超期提交意见 + 超期未办）")


def _instant(epoch: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc)


async def by_department(period: Period, filters: dict[str, str] | None = None) -> dict[str, Any]:
    """One row per assisting department with parts assigned in the period, busiest first; a report's
    filters (channel, department, area, kind) narrow it to those orders' parts (that department's)."""
    where, args = "", []
    for name, value in (filters or {}).items():
        if name not in FILTERS:
            raise ValueError(name)
        where += f" AND {'p' if name == 'department' else 'o'}.{name} = {{}}"
        args.append(value)
    as_of = _instant(min(period.as_of, period.end_epoch) if period.as_of is not None else period.end_epoch)
    rows = await AssistingPart.raw(
        "SELECT p.department AS department, "
        "SUM(CASE WHEN p.status <> 'withdrawn' THEN 1 ELSE 0 END) AS assigned, "
        "SUM(CASE WHEN p.status = 'submitted' AND p.settled_at <= p.due THEN 1 ELSE 0 END) AS submitted_on_time, "
        "SUM(CASE WHEN p.status = 'submitted' AND p.settled_at > p.due THEN 1 ELSE 0 END) AS submitted_late, "
        "SUM(CASE WHEN p.status IN ('pending', 'accepted') AND p.due < {} THEN 1 ELSE 0 END) AS open_overdue, "
        "SUM(CASE WHEN p.status = 'returned' THEN 1 ELSE 0 END) AS returned "
        "FROM assisting_parts AS p JOIN orders AS o ON o.id = p.order_id "
        "WHERE p.assigned_at >= {} AND p.assigned_at < {}" + where + " GROUP BY p.department",
        as_of, _instant(period.start_epoch), _instant(period.end_epoch), *args)
    names = {d["code"]: d["name"] for d in await Department.select(Department.code, Department.name)}
    shown = []
    for row in rows:
        counts = {name: int(row[name] or 0) for name in COUNTS}
        if not counts["assigned"]:
            continue
        judged = counts["submitted_on_time"] + counts["submitted_late"] + counts["open_overdue"]
        shown.append({"value": row["department"], "label": names.get(row["department"], "（已删除的单位）"),
                      "counts": counts,
                      "rates": {RATE[0]: round(counts["submitted_on_time"] / judged, 6) if judged else None}})
    shown.sort(key=lambda r: (-r["counts"]["assigned"], r["value"]))
    return {"title": "协办单位时效", "rows": shown,
            "labels": {**{name: label for name, (label, _) in COUNTS.items()}, RATE[0]: RATE[1]},
            "definitions": [{"name": name, "label": label, "definition": text}
                            for name, (label, text) in COUNTS.items()]
            + [{"name": RATE[0], "label": RATE[1], "definition": RATE[2]}]}
