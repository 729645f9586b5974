"""The KPIs the centre is judged by, each with its definition, computed in SQL over ``report_facts``.

Counts are aggregated by the database (the same statement on SQLite and PostgreSQL); a rate is one
count divided by another, with its definition stated next to it so every report explains itself.
Each count is attributed to the period in which its own moment fell: intake to the receiving time,
dispatch counts to the first dispatch, completions to the completion, ratings to the callback.
"""

from __future__ import annotations

import collections
from typing import Any

import msgspec

from core.reports.periods import Period
from core.reports.tables import ReportFact

DIMENSIONS: dict[str, str] = {"channel": "渠道", "kind": "诉求类型", "category": "问题分类",
                              "department": "承办单位", "area": "区域", "source": "来源"}
FILTERS = ("channel", "department", "area", "kind")


class Count(msgspec.Struct, frozen=True):
    """A count over report_facts: ``value`` summed over the orders whose ``moment`` falls in the
    period (``moment`` None: a state at the period's end, not a sum of days)."""

    name: str
    label: str
    moment: str | None
    value: str
    definition: str


GOOD = "satisfaction IN ('satisfied', 'basically_satisfied')"
# open at the period's end and past the handling deadline (late_from is that deadline for the orders
# not completed by it, so only late orders are looked at)
OPEN_OVERDUE = "late_from < {e} AND closed >= {e} AND received < {e}"

COUNTS: tuple[Count, ...] = (
    Count("intake", "受理量", "received", "1", "本期受理的工单数（按受理时间）"),
    Count("resolved_at_intake", "即时办结量", "received", "resolved_at_intake", "本期受理并由话务员即时办结的工单数"),
    Count("dispatched", "派单工单数", "first_dispatch", "1", "本期首次派出的工单数"),
    Count("dispatches", "派单量", "first_dispatch", "dispatches", "本期首次派出的工单的派单与改派次数之和"),
    Count("accepted_on_time", "按时签收量", "first_dispatch", "CASE WHEN accept_done <= accept_due THEN 1 ELSE 0 END",
          "本期派出的工单中在签收时限内签收的件数（以最近一次派单的时限为准）"),
    Count("returns", "退单次数", "first_dispatch", "returns", "本期派出的工单被承办单位退回的次数"),
    Count("returns_upheld", "退单成立次数", "first_dispatch", "returns_upheld", "其中中心同意退单的次数"),
    Count("redispatches", "改派次数", "first_dispatch", "redispatches", "本期派出的工单的改派次数"),
    Count("extensions", "延期次数", "first_dispatch", "extensions", "本期派出的工单获批延期的次数"),
    Count("completed", "办结量", "completed", "1", "本期办结的工单数（审核通过或即时办结，按首次办结时间）"),
    Count("completed_on_time", "按时办结量", "completed",
          "CASE WHEN handle_done IS NOT NULL AND handle_done <= handle_due THEN 1 ELSE 0 END",
          "本期办结的工单中在办理时限内答复的件数"),
    Count("open_overdue", "超期未办结量", None, "1", "期末仍未办结且已超过办理时限的工单数"),
    Count("reworks", "重办次数", "completed", "reworks", "本期办结的工单被重办的次数"),
    Count("callbacks", "回访量", "rated", "1", "本期完成回访的工单数"),
    Count("valid_ratings", "有效评价数", "rated", "rating_valid", "本期回访评价中未被申诉推翻的评价数"),
    Count("satisfied", "满意与基本满意数", "rated", f"CASE WHEN rating_valid = 1 AND {GOOD} THEN 1 ELSE 0 END",
          "有效评价中「满意」与「基本满意」之和"),
    Count("resolved", "已解决数", "rated", "CASE WHEN rating_valid = 1 AND rating_resolved = 1 THEN 1 ELSE 0 END",
          "有效评价中「已解决」的数量"),
    Count("repeat_calls", "重复来电量", "received", "repeat_call",
          "本期受理的工单中，同一来电号码30天内就同一渠道同一分类再次来电的件数"),
)
MOMENTS = ("received", "first_dispatch", "completed", "rated")
DAILY_COUNTS = tuple(c for c in COUNTS if c.moment)


def counted(count: Count, s: int, e: int) -> str:
    """The condition on a report_facts row for ``count`` over the period [s, e): its moment in the
    period, or (a state count) open and overdue at the period's end."""
    if count.moment is None:
        return OPEN_OVERDUE.format(e=e)
    return f"{count.moment} >= {s} AND {count.moment} < {e}"


def _sql(count: Count, s: int, e: int) -> str:
    return f"SUM(CASE WHEN {counted(count, s, e)} THEN {count.value} ELSE 0 END)"


COUNT_NAMES = tuple(c.name for c in COUNTS)
BY_NAME = {c.name: c for c in COUNTS}
# The counts that count orders (each order once), so an order list can show exactly what they count,
# and how a list filtered by one says so (the instant that falls in the period).
LISTABLE: dict[str, str] = {"intake": "受理时间", "dispatched": "首次派单时间", "completed": "办结时间",
                            "callbacks": "回访时间", "open_overdue": "期末超期未办结"}
assert all(BY_NAME[n].value == "1" for n in LISTABLE)


def member_condition(name: str, s: int, e: int, dimensions: dict[str, str] | None = None) -> str:
    """The report_facts rows of the orders that the count ``name`` counts over [s, e), with the facts'
    own dimension values (channel, department, area…) as the breakdowns group them; one ``{}``
    placeholder per dimension, for its value."""
    clauses = [counted(BY_NAME[name], int(s), int(e))]
    for dimension in dimensions or {}:
        if dimension not in DIMENSIONS:
            raise ValueError(dimension)
        # compared as an expression, so the moment's range picks the index (core_0074's covering
        # one), not the dimension's own index holding all of a department's facts
        clauses.append(f"{dimension} || '' = {{}}")
    return " AND ".join(clauses)


def members(name: str, s: int, e: int, dimensions: dict[str, str] | None = None) -> str:
    """A subquery of the ids of those orders (``member_condition``)."""
    return f"SELECT order_id FROM report_facts WHERE {member_condition(name, s, e, dimensions)}"


class Kpi(msgspec.Struct, frozen=True):
    name: str
    label: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    definition: str
    complement: bool = False  # 1 − numerator ÷ denominator


KPIS: tuple[Kpi, ...] = (
    Kpi("resolved_at_intake_rate", "即时办结率", ("resolved_at_intake",), ("intake",), "即时办结量 ÷ 受理量"),
    Kpi("on_time_accept_rate", "按时签收率", ("accepted_on_time",), ("dispatched",), "按时签收量 ÷ 派单工单数"),
    Kpi("on_time_completion_rate", "按时办结率", ("completed_on_time",), ("completed", "open_overdue"),
        "按时办结量 ÷（办结量 + 期末超期未办结量）"),
    Kpi("overdue_rate", "超期率", ("completed_on_time",), ("completed", "open_overdue"),
        "1 − 按时办结率，即（超期办结量 + 超期未办结量）÷（办结量 + 超期未办结量）", complement=True),
    Kpi("callback_rate", "回访率", ("callbacks",), ("completed",), "回访量 ÷ 办结量"),
    Kpi("satisfaction_rate", "满意率", ("satisfied",), ("valid_ratings",),
        "（满意 + 基本满意）÷ 有效评价数；申诉成立而作废的评价不计入"),
    Kpi("resolution_rate", "解决率", ("resolved",), ("valid_ratings",),
        "已解决 ÷ 有效评价数；申诉成立而作废的评价不计入"),
    Kpi("return_rate", "退单率", ("returns",), ("dispatches",), "退单次数 ÷ 派单量"),
    Kpi("dispatch_accuracy", "派单准确率", ("returns_upheld", "redispatches"), ("dispatches",),
        "1 −（退单成立次数 + 改派次数）÷ 派单量", complement=True),
    Kpi("rework_rate", "重办率", ("reworks",), ("completed",), "重办次数 ÷ 办结量"),
    Kpi("extension_rate", "延期率", ("extensions",), ("dispatched",), "延期次数 ÷ 派单工单数"),
    Kpi("repeat_call_rate", "重复来电率", ("repeat_calls",), ("intake",), "重复来电量 ÷ 受理量"),
)
KPI_NAMES = tuple(k.name for k in KPIS)


def rates(counts: dict[str, int]) -> dict[str, float | None]:
    """Each KPI from the counts; None when its denominator is zero (no such activity)."""
    out: dict[str, float | None] = {}
    for kpi in KPIS:
        denominator = sum(counts.get(n, 0) or 0 for n in kpi.denominator)
        if not denominator:
            out[kpi.name] = None
            continue
        share = sum(counts.get(n, 0) or 0 for n in kpi.numerator) / denominator
        out[kpi.name] = round(1 - share if kpi.complement else share, 6)
    return out


def definitions() -> list[dict[str, str]]:
    return ([{"name": c.name, "label": c.label, "definition": c.definition} for c in COUNTS]
            + [{"name": k.name, "label": k.label, "definition": k.definition} for k in KPIS])


def _where(period: Period, filters: dict[str, str]) -> tuple[str, list[Any]]:
    s, e = period.start_epoch, period.end_epoch
    touched = (f"(received >= {s} AND received < {e}) OR (first_dispatch >= {s} AND first_dispatch < {e}) "
               f"OR (completed >= {s} AND completed < {e}) OR (rated >= {s} AND rated < {e}) "
               f"OR ({OPEN_OVERDUE.format(e=e)})")
    clauses, args = [f"({touched})"], []
    for name, value in filters.items():
        if name not in FILTERS:
            raise ValueError(name)
        clauses.append(f"{name} = {{}}")
        args.append(value)
    return " AND ".join(clauses), args


def _selects(period: Period) -> str:
    s, e = period.start_epoch, period.end_epoch
    return ", ".join(f"{_sql(c, s, e)} AS {c.name}" for c in COUNTS)


def _days(period: Period) -> tuple[int, int]:
    return day_number(period.start_epoch), day_number(period.end_epoch)


def day_number(epoch: int) -> int:
    """The local (UTC+8) day an instant falls on, as a number; the same arithmetic as in SQL."""
    return (epoch + LOCAL_OFFSET) // 86400


LOCAL_OFFSET = 8 * 3600


async def totals(period: Period, filters: dict[str, str], *, use_daily: bool = True) -> dict[str, int]:
    """The counts for the period; without filters from the daily sums, with filters from the facts."""
    if use_daily and not filters:
        first, last = _days(period)
        sums = ", ".join(f"COALESCE(SUM({c.name}), 0) AS {c.name}" for c in DAILY_COUNTS)
        rows = await ReportFact.raw(f"SELECT {sums} FROM report_daily WHERE dim = 'all' "
                                    f"AND day >= {first} AND day < {last}")
        e = period.end_epoch
        overdue = await ReportFact.raw(f"SELECT COUNT(*) AS n FROM report_facts WHERE {OPEN_OVERDUE.format(e=e)}")
        return {name: int((overdue[0]["n"] if name == "open_overdue" else rows[0][name]) or 0) for name in COUNT_NAMES}
    where, args = _where(period, filters)
    rows = await ReportFact.raw(f"SELECT {_selects(period)} FROM report_facts WHERE {where}", *args)
    return {name: int(rows[0][name] or 0) for name in COUNT_NAMES}


async def breakdown(period: Period, filters: dict[str, str], dimension: str, *,
                    use_daily: bool = True) -> list[dict[str, Any]]:
    """The counts per value of one dimension (channel, kind, category, department, area, source)."""
    if dimension not in DIMENSIONS:
        raise ValueError(dimension)
    if use_daily and not filters:
        first, last = _days(period)
        sums = ", ".join(f"SUM({c.name}) AS {c.name}" for c in DAILY_COUNTS)
        rows = await ReportFact.raw(f"SELECT value, {sums} FROM report_daily WHERE dim = '{dimension}' "
                                    f"AND day >= {first} AND day < {last} GROUP BY value")
        # the open overdue orders are few: read them off the late index and count here (a GROUP BY
        # tempts the planner into walking a whole dimension index instead, 0.7 s at 410,000 orders)
        e = period.end_epoch
        overdue = collections.Counter(r["value"] for r in await ReportFact.raw(
            f"SELECT {dimension} AS value FROM report_facts WHERE {OPEN_OVERDUE.format(e=e)}"))
        found = {r["value"]: r for r in rows}
        out = []
        for value in sorted(set(found) | set(overdue)):
            row = found.get(value, {})
            out.append({"value": value, **{n: int((overdue.get(value, 0) if n == "open_overdue" else row.get(n)) or 0)
                                           for n in COUNT_NAMES}})
        return out
    where, args = _where(period, filters)
    rows = await ReportFact.raw(
        f"SELECT {dimension} AS value, {_selects(period)} FROM report_facts WHERE {where} "
        f"GROUP BY {dimension}", *args)
    return [{"value": r["value"], **{n: int(r[n] or 0) for n in COUNT_NAMES}} for r in rows]
