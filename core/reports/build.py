"""One periodic report: totals and KPIs with 环比/同比, breakdowns, department ranking, top issues,
and the channels' own sections (``report_section`` hook), with every definition stated."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import clock, difficult
from core.channels import KINDS, SOURCES
from core.reports import assisting, facts, kpis
from core.reports.periods import Period, local_iso, running
from core.reports.tables import ReportFact
from core.tables import Department

TOP_ISSUES = 10
UNASSIGNED = "（未派单/中心办结）"
UNCATEGORISED = "（未分类）"


def _change(current: float | int | None, before: float | int | None, *, rate: bool) -> float | None:
    """环比/同比: a count's relative change, a rate's change in percentage points (as a fraction)."""
    if current is None or before is None:
        return None
    if rate:
        return round(current - before, 6)
    return round((current - before) / before, 6) if before else None


def _compare(current: dict, before: dict) -> dict[str, float | None]:
    out = {n: _change(current["counts"][n], before["counts"][n], rate=False) for n in kpis.COUNT_NAMES}
    out.update({n: _change(current["rates"][n], before["rates"][n], rate=True) for n in kpis.KPI_NAMES})
    return out


def _notes(current: Period) -> list[str]:
    notes = ["比率的分母为 0 时记为空（无此项业务）。每个比率的分子都是其分母所计工单中的一部分，不会超过 100%。",
             "环比为与上一周期相比、同比为与上年同期相比：件数为增减百分比，比率为增减的百分点；"
             "颜色按对中心的好坏（绿色为向好、红色为变差），受理量等业务量不着色。",
             "时间均为北京时间（UTC+8）。"]
    if current.partial and current.through:
        notes.insert(1, f"本期尚未结束，统计截至 {current.through.month}月{current.through.day}日"
                        f"（超期未办结量为此刻的数）；环比、同比与上期、上年同期的前 {current.days} 天相比。")
    return notes


async def labels(platform) -> dict[str, dict[str, str]]:
    departments = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    return {
        "channel": {c.code: c.name for c in platform.channels},
        "kind": dict(KINDS),
        "source": dict(SOURCES),
        "department": {**departments, "": UNASSIGNED},
        "category": {"": UNCATEGORISED},
        "area": {"": "（未填写）"},
    }


async def _figures(p: Period, filters: dict[str, str]) -> dict[str, Any]:
    counts = await kpis.totals(p, filters)
    return {"period": p.as_dict(), "counts": counts, "rates": kpis.rates(counts)}


async def channel_sections(platform, p: Period, filters: dict[str, str]) -> list[dict[str, Any]]:
    """Each channel's own figures for the period (rewards paid, visits made, wages recovered…)."""
    sections = []
    for channel in platform.channels:
        if filters.get("channel") and filters["channel"] != channel.code:
            continue
        for found in await platform.channels.hooks(channel.code).report_section(
                channel=channel, start=p.start, end=p.end, department=filters.get("department")):
            if found:
                sections.append({"channel": channel.code, "channel_name": channel.name, **found})
    return sections


async def featured(platform, p: Period, filters: dict[str, str]) -> dict[str, Any]:
    """特色工单 as the tender counts them: the orders received in the period through a special-service
    line (every channel but 综合热线) or a message board (区红网, 区人民网 and the boards an admin added),
    each order once; with the two parts and each board apart."""
    default = platform.channels.default.code
    boards = platform.orders.sources.netboards()
    marks = ", ".join("{}" for _ in boards)
    where = [f"received >= {int(p.start_epoch)}", f"received < {int(p.end_epoch)}"]
    args: list[Any] = []
    for name, value in filters.items():
        if name not in kpis.FILTERS:
            raise ValueError(name)
        where.append(f"{name} = {{}}")
        args.append(value)
    per_board = ", ".join(f"SUM(CASE WHEN source = {{}} THEN 1 ELSE 0 END) AS b{i}" for i in range(len(boards)))
    rows = await ReportFact.raw(
        f"SELECT SUM(CASE WHEN channel <> {{}} THEN 1 ELSE 0 END) AS lines, "
        f"SUM(CASE WHEN channel = {{}} AND source IN ({marks}) THEN 1 ELSE 0 END) AS hotline_boards, "
        f"{per_board} FROM report_facts WHERE {' AND '.join(where)}",
        default, default, *boards, *boards, *args)
    row = rows[0]
    lines, hotline_boards = int(row["lines"] or 0), int(row["hotline_boards"] or 0)
    return {"total": lines + hotline_boards, "special_lines": lines, "netboards_in_hotline": hotline_boards,
            "netboards": [{"source": code, "label": label, "intake": int(row[f"b{i}"] or 0)}
                          for i, (code, label) in enumerate(boards.items())]}


def featured_section(found: dict[str, Any]) -> dict[str, Any]:
    rows = [{"label": "特色工单合计", "value": found["total"], "unit": "件"},
            {"label": "其中：特色专线受理", "value": found["special_lines"], "unit": "件"},
            {"label": "其中：综合热线的网络留言", "value": found["netboards_in_hotline"], "unit": "件"}]
    rows += [{"label": f"网络留言：{b['label']}（各渠道）", "value": b["intake"], "unit": "件"} for b in found["netboards"]]
    return {"channel": "", "channel_name": "全中心", "title": "特色工单", "rows": rows,
            "definition": "特色工单：本期受理的特色专线工单与网络留言（区红网、区人民网等留言板）工单，每件只计一次；"
                          "综合热线的电话、网页等来件不计入"}


def coordination_section(counts: dict[str, int]) -> dict[str, Any]:
    return {"channel": "", "channel_name": "全中心", "title": "疑难工单与协调会", "rows": [
        {"label": "疑难工单（本期受理、已认定）", "value": counts["difficult"], "unit": "件"},
        {"label": "协调会", "value": counts["meetings"], "unit": "次"},
        {"label": "议定事项", "value": counts["decisions"], "unit": "项"},
        {"label": "其中：已完成", "value": counts["decisions_done"], "unit": "项"},
        {"label": "其中：已逾期未完成", "value": counts["decisions_overdue"], "unit": "项"}],
        "definition": "疑难工单：本期受理、此刻认定为疑难的工单；协调会按会议时间计入本期，议定事项为其此刻的完成情况"}


async def _breakdowns(platform, current, filters: dict[str, str], dimensions) -> dict[str, Any]:
    names = await labels(platform)
    breakdowns = {}
    for dimension in dimensions:
        rows = await kpis.breakdown(current, filters, dimension)
        shown = names.get(dimension, {})
        breakdowns[dimension] = {
            "title": kpis.DIMENSIONS[dimension],
            "rows": sorted(({"value": r["value"], "label": shown.get(r["value"], r["value"]),
                             "counts": {n: r[n] for n in kpis.COUNT_NAMES},
                             "rates": kpis.rates(r)} for r in rows),
                           key=lambda r: (-r["counts"]["intake"], r["value"])),
        }
    return breakdowns


def directions() -> dict[str, int]:
    """For each count and rate, whether a rise is good (+1), bad (-1) or neither (0) for the centre:
    how a change is coloured, whatever its sign."""
    return dict(kpis.DIRECTION)


async def kpi_tables(platform, kind: str, start: dt.date, dimensions: tuple[str, ...]) -> dict[str, Any]:
    """The period's KPIs with 环比 and their breakdown by the given dimensions, without the rest of the
    report (同比, ranking, top issues, channel sections): what the console's KPI page shows."""
    await facts.refresh()
    current = running(kind, start)
    now = await _figures(current, {})
    previous = await _figures(current.previous(), {})
    return {"kind": kind, "period": current.as_dict(), "counts": now["counts"], "rates": now["rates"],
            "previous": previous, "change": {"previous": _compare(now, previous)}, "directions": directions(),
            "breakdowns": await _breakdowns(platform, current, {}, dimensions),
            "assisting": await assisting.by_department(current),
            "definitions": kpis.definitions(), "generated_at": local_iso(clock.now())}


async def _people(current: Period, filters: dict[str, str]) -> dict[str, Any] | None:
    """话务人员绩效 per team and agent: the centre's own staff, so only in the whole centre's report
    (a department's or a channel's report has none), counted through the period's last day so far."""
    period = current.as_dict()
    if filters or not period["through"]:
        return None
    from core.people import figures

    return await figures.report_section(dt.date.fromisoformat(period["start"]), dt.date.fromisoformat(period["through"]))


async def build_report(platform, kind: str, start: dt.date, filters: dict[str, str]) -> dict[str, Any]:
    await facts.refresh()
    await platform.orders.sources.refresh()
    current = running(kind, start)
    now = await _figures(current, filters)
    previous = await _figures(current.previous(), filters)
    year_before = await _figures(current.year_before(), filters)
    breakdowns = await _breakdowns(platform, current, filters, tuple(kpis.DIMENSIONS))
    ranking = [r for r in breakdowns["department"]["rows"] if r["value"] and
               (r["counts"]["completed"] or r["counts"]["open_overdue"] or r["counts"]["dispatched"])]
    ranking.sort(key=lambda r: (-(r["rates"]["on_time_completion_rate"] or 0),
                                -(r["rates"]["satisfaction_rate"] or 0), r["value"]))
    before_by_category = {r["value"]: r["intake"] for r in
                          await kpis.breakdown(current.previous(), filters, "category")}
    top = [{"rank": i + 1, "category": r["value"], "label": r["label"], "intake": r["counts"]["intake"],
            "previous": before_by_category.get(r["value"], 0),
            "change": _change(r["counts"]["intake"], before_by_category.get(r["value"], 0), rate=False)}
           for i, r in enumerate(r for r in breakdowns["category"]["rows"] if r["value"] and r["counts"]["intake"])][:TOP_ISSUES]
    special = await featured(platform, current, filters)
    coordination = {**await platform.meetings.counts(current.start, current.end, filters.get("department")),
                    "difficult": await difficult.received_count(
                        dt.datetime.fromtimestamp(current.start_epoch, dt.timezone.utc),
                        dt.datetime.fromtimestamp(current.end_epoch, dt.timezone.utc), filters)}
    return {
        "kind": kind, "period": current.as_dict(), "filters": filters,
        "people": await _people(current, filters),
        "featured": special, "coordination": coordination,
        "generated_at": local_iso(clock.now()),
        "counts": now["counts"], "rates": now["rates"],
        "previous": previous, "year_before": year_before,
        "change": {"previous": _compare(now, previous), "year_before": _compare(now, year_before)},
        "directions": directions(),
        "breakdowns": breakdowns,
        "assisting": await assisting.by_department(current, filters),
        "ranking": [{"rank": i + 1, "department": r["value"], "label": r["label"], "counts": r["counts"],
                     "rates": r["rates"]} for i, r in enumerate(ranking)],
        "ranking_rule": "按按时办结率从高到低，相同时按满意率",
        "top_issues": top,
        "sections": [featured_section(special), *([] if filters.get("channel") else [coordination_section(coordination)]),
                     *await channel_sections(platform, current, filters)],
        "definitions": kpis.definitions(),
        "notes": _notes(current),
    }
