"""The KPIs the centre is judged by, each with its definition, computed in SQL over ``report_facts``.

Counts are aggregated by the database (the same statement on SQLite and PostgreSQL). Each count is
attributed to the period in which its own moment fell (intake to the receiving time, dispatch counts
to the first dispatch, completions to the first completion, ratings to the callback), and every rate
is a cohort rate: its numerator counts only members of its denominator's cohort (回访率 = of the
orders completed in the period, those called back so far), so no rate exceeds 100 %. The one state,
超期未办结量, is taken at the period's end, or now while the period is still running
(``Period.as_of``). ``docs/reports.md`` states the same definitions; a test holds the two together.
"""

from __future__ import annotations

import collections
from typing import Any

import msgspec

from core.clock import SHANGHAI_OFFSET_SECONDS as LOCAL_OFFSET
from core.reports.periods import Period
from core.reports.tables import ReportFact

DIMENSIONS: dict[str, str] = {"channel": "渠道", "kind": "诉求类型", "category": "问题分类",
                              "department": "承办单位", "area": "区域", "source": "来源"}
FILTERS = ("channel", "department", "area", "kind")
MOMENTS: dict[str, str] = {"received": "受理时间", "first_dispatch": "首次派单时间", "completed": "办结时间",
                           "rated": "回访时间"}


class Count(msgspec.Struct, frozen=True, kw_only=True):
    """A count over report_facts. An order count (``events`` empty) counts the orders whose ``moment``
    falls in the period and that meet ``when`` (every such order when it is empty): a cohort, each
    order once, so a list can show exactly those orders. An event count sums the column ``events``
    over the same orders (how many returns, reworks…): shown as a count, never a rate's numerator.
    ``moment`` None: the state at the period's end (超期未办结量)."""

    name: str
    label: str
    moment: str | None
    definition: str
    when: str = ""
    events: str = ""
    good: int = 0  # +1 when a rise is good for the centre, -1 when bad, 0 neutral (a volume)

    @property
    def value(self) -> str:
        if self.events:
            return self.events
        return f"CASE WHEN {self.when} THEN 1 ELSE 0 END" if self.when else "1"


GOOD = "satisfaction IN ('satisfied', 'basically_satisfied')"
# 超期未办结 at instant {t}: the handling deadline (as it stands now: after extensions, suspensions
# and reworks) passed before {t} with no reply by then, the order not completed, merged or withdrawn
# by {t} (``closed``, the current spell's end), and not suspended now. ``late_from`` is the handling
# deadline of an order not answered by it, so only late orders are looked at (report_facts_late).
OPEN_OVERDUE = ("late_from < {t} AND closed > {t} AND (handle_done IS NULL OR handle_done > {t}) "
                "AND status <> 'suspended'")

COUNTS: tuple[Count, ...] = (
    Count(name="intake", label="受理量", moment="received", definition="本期受理的工单数（按受理时间）"),
    Count(name="resolved_at_intake", label="即时办结量", moment="received", when="resolved_at_intake > 0",
          definition="本期受理的工单中由话务员即时办结的件数"),
    Count(name="repeat_calls", label="重复来电量", moment="received", when="repeat_call = 1", good=-1,
          definition="本期受理的工单中，同一来电号码30天内就同一渠道同一分类再次来电的件数"),
    Count(name="dispatched", label="派单工单数", moment="first_dispatch", definition="本期首次派出的工单数"),
    Count(name="dispatches", label="派单量", moment="first_dispatch", events="dispatches",
          definition="本期首次派出的工单的派单与改派次数之和"),
    Count(name="accepted_on_time", label="按时签收量", moment="first_dispatch", when="accept_done <= accept_due",
          definition="本期首次派出的工单中在签收时限内签收的件数（以最近一次派单的时限为准）"),
    Count(name="returned", label="被退单工单数", moment="first_dispatch", when="returns > 0", good=-1,
          definition="本期首次派出的工单中被承办单位退回过的件数"),
    Count(name="misrouted", label="派错工单数", moment="first_dispatch", when="returns_upheld + redispatches > 0",
          good=-1, definition="本期首次派出的工单中退单成立或被改派过的件数"),
    Count(name="extended", label="延期工单数", moment="first_dispatch", when="extensions > 0", good=-1,
          definition="本期首次派出的工单中至今获批过延期的件数"),
    Count(name="returns", label="退单次数", moment="first_dispatch", events="returns", good=-1,
          definition="本期首次派出的工单被承办单位退回的次数（件次，不作比率的分子）"),
    Count(name="returns_upheld", label="退单成立次数", moment="first_dispatch", events="returns_upheld", good=-1,
          definition="其中中心同意退单的次数"),
    Count(name="redispatches", label="改派次数", moment="first_dispatch", events="redispatches", good=-1,
          definition="本期首次派出的工单的改派次数"),
    Count(name="extensions", label="延期次数", moment="first_dispatch", events="extensions", good=-1,
          definition="本期首次派出的工单获批延期的次数"),
    Count(name="completed", label="办结量", moment="completed",
          definition="本期办结的工单数（审核通过或即时办结，按首次办结时间）"),
    Count(name="completed_on_time", label="按时办结量", moment="completed",
          when="handle_done IS NOT NULL AND handle_done <= handle_due",
          definition="本期办结的工单中在办理时限内答复的件数"),
    Count(name="reworked", label="重办工单数", moment="completed", when="reworks > 0", good=-1,
          definition="本期办结的工单中至今被重办过的件数"),
    Count(name="reworks", label="重办次数", moment="completed", events="reworks", good=-1,
          definition="本期办结的工单被重办的次数（件次，不作比率的分子）"),
    Count(name="called_back", label="已回访办结量", moment="completed", when="rated IS NOT NULL OR reworks > 0",
          definition="本期办结的工单中至今已回访的件数（重办的工单曾经回访，计入）"),
    Count(name="open_overdue", label="超期未办结量", moment=None, good=-1,
          definition="期末（本期尚未结束时为此刻）仍未办结、办理时限已过且尚未答复的工单数（挂起中的不计）"),
    Count(name="callbacks", label="回访量", moment="rated", definition="本期完成回访的工单数（按回访时间）"),
    Count(name="valid_ratings", label="有效评价数", moment="rated", when="rating_valid = 1",
          definition="本期回访评价中未被申诉推翻的评价数"),
    Count(name="satisfied", label="满意与基本满意数", moment="rated", when=f"rating_valid = 1 AND {GOOD}",
          definition="有效评价中「满意」与「基本满意」之和"),
    Count(name="resolved", label="已解决数", moment="rated", when="rating_valid = 1 AND rating_resolved = 1",
          definition="有效评价中「已解决」的数量"),
)
DAILY_COUNTS = tuple(c for c in COUNTS if c.moment)
COUNT_NAMES = tuple(c.name for c in COUNTS)
BY_NAME = {c.name: c for c in COUNTS}
# The counts that count orders (each order once), so an order list can show exactly what they count.
LISTABLE: dict[str, str] = {c.name: c.label for c in COUNTS if not c.events}


def open_overdue(s: int, e: int, as_of: int | None = None) -> str:
    """超期未办结 of the period [s, e): at its end, or at ``as_of`` (now) while it runs; nothing for
    a period that has not begun."""
    t = int(e if as_of is None else min(as_of, e))
    return "1 = 0" if t < s else f"({OPEN_OVERDUE.format(t=t)})"


def counted(count: Count, s: int, e: int, as_of: int | None = None) -> str:
    """The condition on a report_facts row for ``count`` over the period [s, e): its moment in the
    period, or (the state count) open and overdue at its end (``as_of`` while it runs)."""
    if count.moment is None:
        return open_overdue(int(s), int(e), as_of)
    return f"{count.moment} >= {int(s)} AND {count.moment} < {int(e)}"


def _overdue(period: Period) -> str:
    return open_overdue(period.start_epoch, period.end_epoch, period.as_of)


def _sql(count: Count, period: Period) -> str:
    condition = counted(count, period.start_epoch, period.end_epoch, period.as_of)
    return f"SUM(CASE WHEN {condition} THEN {count.value} ELSE 0 END)"


def member_condition(name: str, s: int, e: int, dimensions: dict[str, str] | None = None,
                     as_of: int | None = None) -> str:
    """The report_facts rows of the orders that the count ``name`` counts over [s, e) (its state at
    ``as_of``, for 超期未办结量), with the facts' own dimension values (channel, department, area…) as
    the breakdowns group them; one ``{}`` placeholder per dimension, for its value."""
    count = BY_NAME[name]
    if count.events:
        raise ValueError(f"{name} counts events, not orders")
    clauses = [counted(count, int(s), int(e), as_of)]
    if count.when:
        clauses.append(f"({count.when})")
    for dimension in dimensions or {}:
        if dimension not in DIMENSIONS:
            raise ValueError(dimension)
        # compared as an expression, so the moment's range picks the index (core_0074's covering
        # one), not the dimension's own index holding all of a department's facts
        clauses.append(f"{dimension} || '' = {{}}")
    return " AND ".join(clauses)


def members(name: str, s: int, e: int, dimensions: dict[str, str] | None = None, as_of: int | None = None) -> str:
    """A subquery of the ids of those orders (``member_condition``)."""
    return f"SELECT order_id FROM report_facts WHERE {member_condition(name, s, e, dimensions, as_of)}"


class Kpi(msgspec.Struct, frozen=True, kw_only=True):
    """A rate: the orders counted by ``numerator`` out of those counted by ``denominator`` (the
    numerator's orders are members of the denominator's cohort)."""

    name: str
    label: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]
    definition: str
    complement: bool = False  # 1 − numerator ÷ denominator
    good: int = 1  # +1 when a rise is good for the centre, -1 when bad


KPIS: tuple[Kpi, ...] = (
    Kpi(name="resolved_at_intake_rate", label="即时办结率", numerator=("resolved_at_intake",), denominator=("intake",),
        definition="本期受理的工单中即时办结的比例：即时办结量 ÷ 受理量"),
    Kpi(name="on_time_accept_rate", label="按时签收率", numerator=("accepted_on_time",), denominator=("dispatched",),
        definition="本期首次派出的工单中按时签收的比例：按时签收量 ÷ 派单工单数"),
    Kpi(name="on_time_completion_rate", label="按时办结率", numerator=("completed_on_time",),
        denominator=("completed", "open_overdue"),
        definition="按时办结量 ÷（办结量 + 超期未办结量）"),
    Kpi(name="overdue_rate", label="超期率", numerator=("completed_on_time",), denominator=("completed", "open_overdue"),
        definition="1 − 按时办结率，即（超期办结量 + 超期未办结量）÷（办结量 + 超期未办结量）", complement=True, good=-1),
    Kpi(name="callback_rate", label="回访率", numerator=("called_back",), denominator=("completed",),
        definition="本期办结的工单中至今已回访的比例：已回访办结量 ÷ 办结量"),
    Kpi(name="satisfaction_rate", label="满意率", numerator=("satisfied",), denominator=("valid_ratings",),
        definition="本期有效评价中（满意 + 基本满意）的比例；申诉成立而作废的评价不计入"),
    Kpi(name="resolution_rate", label="解决率", numerator=("resolved",), denominator=("valid_ratings",),
        definition="本期有效评价中「已解决」的比例；申诉成立而作废的评价不计入"),
    Kpi(name="return_rate", label="退单率", numerator=("returned",), denominator=("dispatched",), good=-1,
        definition="本期首次派出的工单中被退回过的比例：被退单工单数 ÷ 派单工单数"),
    Kpi(name="dispatch_accuracy", label="派单准确率", numerator=("misrouted",), denominator=("dispatched",),
        definition="1 − 派错工单数 ÷ 派单工单数（派错：退单成立或被改派过）", complement=True),
    Kpi(name="rework_rate", label="重办率", numerator=("reworked",), denominator=("completed",), good=-1,
        definition="本期办结的工单中至今被重办过的比例：重办工单数 ÷ 办结量"),
    Kpi(name="extension_rate", label="延期率", numerator=("extended",), denominator=("dispatched",), good=-1,
        definition="本期首次派出的工单中获批过延期的比例：延期工单数 ÷ 派单工单数"),
    Kpi(name="repeat_call_rate", label="重复来电率", numerator=("repeat_calls",), denominator=("intake",), good=-1,
        definition="本期受理的工单中重复来电的比例：重复来电量 ÷ 受理量"),
)
KPI_NAMES = tuple(k.name for k in KPIS)
# whether a rise is good (+1), bad (-1) or neither (0), for colouring 环比/同比
DIRECTION: dict[str, int] = {**{c.name: c.good for c in COUNTS}, **{k.name: k.good for k in KPIS}}


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
    touched = " OR ".join([f"({m} >= {s} AND {m} < {e})" for m in MOMENTS]
                          + [_overdue(period)])
    clauses, args = [f"({touched})"], []
    for name, value in filters.items():
        if name not in FILTERS:
            raise ValueError(name)
        clauses.append(f"{name} = {{}}")
        args.append(value)
    return " AND ".join(clauses), args


def _selects(period: Period) -> str:
    return ", ".join(f"{_sql(c, period)} AS {c.name}" for c in COUNTS)


def _days(period: Period) -> tuple[int, int]:
    return day_number(period.start_epoch), day_number(period.end_epoch)


def day_number(epoch: int) -> int:
    """The local (UTC+8) day an instant falls on, as a number; the same arithmetic as in SQL."""
    return (epoch + LOCAL_OFFSET) // 86400



async def totals(period: Period, filters: dict[str, str], *, use_daily: bool = True) -> dict[str, int]:
    """The counts for the period; without filters from the daily sums, with filters from the facts."""
    if use_daily and not filters:
        first, last = _days(period)
        sums = ", ".join(f"COALESCE(SUM({c.name}), 0) AS {c.name}" for c in DAILY_COUNTS)
        rows = await ReportFact.raw(f"SELECT {sums} FROM report_daily WHERE dim = 'all' "
                                    f"AND day >= {first} AND day < {last}")
        overdue = await ReportFact.raw(f"SELECT COUNT(*) AS n FROM report_facts "
                                       f"WHERE {_overdue(period)}")
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
        overdue = collections.Counter(r["value"] for r in await ReportFact.raw(
            f"SELECT {dimension} AS value FROM report_facts WHERE {_overdue(period)}"))
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
