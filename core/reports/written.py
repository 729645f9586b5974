"""The written report (文字材料): a period's report as a Word document in the register of a government
report, drafted from the very report body the HTML page and the workbook show (so every figure is
theirs), plus the facts a text needs beside the tables: example orders of the hot issues and the
period's early warnings. 下一步建议 is left for a person to write.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core.reports import charts, kpis
from core.reports.periods import SHANGHAI
from core.reports.templates import PEOPLE_SHOWN

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
EXAMPLES_PER_ISSUE = 2
HOT_ISSUES = 5
HOT_PLACES = 5
PERFORMERS = 3
SUGGESTIONS_PLACEHOLDER = "（此部分由撰写人根据本期情况填写：针对热点问题和办理中的薄弱环节提出工作建议。）"
OVERVIEW_TITLE = "主要指标"


# -- the facts beside the report body ---------------------------------------------------------------------


def _bounds(report: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    p = report["period"]
    start = dt.datetime.combine(dt.date.fromisoformat(p["start"]), dt.time(), SHANGHAI)
    last = dt.date.fromisoformat(p["through"] or p["start"])
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), SHANGHAI) if p["through"] else start
    return start, end


async def context(report: dict[str, Any]) -> dict[str, Any]:
    """Example orders of the top issues and places, and the early warnings raised in the period
    (a department's report: its own), read with the report's own filters."""
    from core.reports.tables import EarlyWarning
    from core.tables import Order

    start, end = _bounds(report)
    filters = report.get("filters") or {}
    where = (Order.received_at >= start) & (Order.received_at < end) & (Order.status != "merged")
    for name in ("channel", "department", "area", "kind"):
        if filters.get(name):
            where = where & (getattr(Order, name) == filters[name])

    async def examples(column, value: str) -> list[dict]:
        return await (Order.select(Order.number, Order.subject, Order.area).where(where & (column == value))
                      .order_by(Order.received_at).limit(EXAMPLES_PER_ISSUE))

    issues = {t["category"]: await examples(Order.category, t["category"]) for t in report["top_issues"][:HOT_ISSUES]}
    places = [r for r in report["breakdowns"]["area"]["rows"] if r["value"] and r["counts"]["intake"]][:HOT_PLACES]
    in_period = (EarlyWarning.created_at >= start) & (EarlyWarning.created_at < end)
    if filters.get("department"):
        in_period = in_period & (EarlyWarning.department == filters["department"])
    found = await (EarlyWarning.select(EarlyWarning.kind, EarlyWarning.title, EarlyWarning.acknowledged_at)
                   .where(in_period).order_by(EarlyWarning.created_at).limit(2000))
    return {"issue_examples": issues, "places": places, "warnings": found}


# -- wording ---------------------------------------------------------------------------------------------------

def _n(value) -> str:
    return "—" if value is None else f"{value:,}"


def _pct(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _change(value, *, rate: bool) -> str:
    """环比/同比 in words: 增长 12.5%, 下降 3.0 个百分点, 持平, or 无可比数据."""
    if value is None:
        return "无可比数据"
    if abs(value) < 0.0005:
        return "持平"
    word = "增长" if rate is False and value > 0 else "下降" if rate is False else "提高" if value > 0 else "降低"
    return f"{word} {abs(value) * 100:.1f} 个百分点" if rate else f"{word} {abs(value):.1%}"


def _delta(value, *, rate: bool) -> str:
    if value is None:
        return "—"
    return f"{value * 100:+.1f}个百分点" if rate else f"{value:+.1%}"


def title_of(report: dict[str, Any]) -> str:
    return f"12345市民服务热线{report['period']['name']}{report['period']['kind_label']}"


def scope_of(report: dict[str, Any], labels: dict[str, dict[str, str]]) -> str:
    shown = {"channel": "渠道", "department": "承办单位", "area": "区域", "kind": "诉求类型"}
    parts = [f"{shown[k]}：{labels.get(k, {}).get(v, v)}" for k, v in (report.get("filters") or {}).items() if k in shown]
    return "；".join(parts)


def _overview_rows(report: dict[str, Any]) -> list[list[str]]:
    """The workbook's 概览 sheet, row for row: 本期, 上期, 环比, 上年同期, 同比."""
    change = report["change"]
    rows = []
    for c in kpis.COUNTS:
        rows.append([c.label, _n(report["counts"].get(c.name)), _n(report["previous"]["counts"].get(c.name)),
                     _delta(change["previous"].get(c.name), rate=False),
                     _n(report["year_before"]["counts"].get(c.name)), _delta(change["year_before"].get(c.name), rate=False)])
    for k in kpis.KPIS:
        rows.append([k.label, _pct(report["rates"].get(k.name)), _pct(report["previous"]["rates"].get(k.name)),
                     _delta(change["previous"].get(k.name), rate=True),
                     _pct(report["year_before"]["rates"].get(k.name)), _delta(change["year_before"].get(k.name), rate=True)])
    return rows


# -- the fields a template fills ----------------------------------------------------------------------------

def fields(report: dict[str, Any], facts: dict[str, Any], labels: dict[str, dict[str, str]]) -> dict[str, Any]:
    """Every text, table and chart of the written report, by name: what a template's fields read
    (documented in docs/reports.md). Charts are PNG bytes here, images once rendered."""
    from core.reports.warnings import KINDS as WARNING_KINDS

    counts, rates, change = report["counts"], report["rates"], report["change"]
    period = report["period"]
    scope = scope_of(report, labels)
    out: dict[str, Any] = {
        "title": title_of(report),
        "subtitle": f"（{period['start']} 至 {period['end']}{'；' + scope if scope else ''}）",
        "scope": scope or "全中心",
        "period": {k: period.get(k) for k in ("name", "kind_label", "label", "start", "end", "through", "partial")},
        "partial_note": (f"说明：本期尚未结束，数据统计截至 {period['through'] or period['start']}；"
                         "环比、同比与上期、上年同期的相同天数相比。") if period.get("partial") else "",
        "counts": {c.name: _n(counts.get(c.name)) for c in kpis.COUNTS},
        "rates": {k.name: _pct(rates.get(k.name)) for k in kpis.KPIS},
        "overview_title": OVERVIEW_TITLE,
        "overview_rows": _overview_rows(report),
        "suggestions": SUGGESTIONS_PLACEHOLDER,
        "definitions": [{"label": d["label"], "definition": d["definition"]} for d in report["definitions"]],
        "generated_at": report["generated_at"].replace("T", " ")[:19],
    }

    # 一、总体情况
    out["overview"] = (
        f"本期共受理群众诉求 {_n(counts['intake'])} 件，环比{_change(change['previous']['intake'], rate=False)}，"
        f"同比{_change(change['year_before']['intake'], rate=False)}。其中话务员即时办结 {_n(counts['resolved_at_intake'])} 件，"
        f"即时办结率 {_pct(rates['resolved_at_intake_rate'])}；派单 {_n(counts['dispatched'])} 件，"
        f"办结 {_n(counts['completed'])} 件，期末超期未办结 {_n(counts['open_overdue'])} 件。")
    channels = [r for r in report["breakdowns"]["channel"]["rows"] if r["counts"]["intake"]]
    out["channel_mix"] = ("从受理渠道看，" + "，".join(
        f"{r['label']} {_n(r['counts']['intake'])} 件（占 {r['counts']['intake'] / counts['intake']:.1%}）"
        for r in channels) + "。") if channels and counts["intake"] else ""
    charts_png = {"chart_channels": charts.bars("按渠道的受理量", [(r["label"], r["counts"]["intake"]) for r in channels[:12]])}

    # 二、热点问题
    top = report["top_issues"][:HOT_ISSUES]
    examples = []
    if top:
        out["issues_summary"] = "本期群众反映较集中的问题依次为：" + "；".join(
            f"{t['label']} {_n(t['intake'])} 件（环比{_change(t['change'], rate=False)}）" for t in top) + "。"
        for t in top:
            found = facts["issue_examples"].get(t["category"]) or []
            if found:
                examples.append(f"{t['label']}方面，如：" + "；".join(
                    f"工单 {o['number']}「{o['subject']}」{('（' + o['area'] + '）') if o['area'] else ''}" for o in found) + "。")
    else:
        out["issues_summary"] = "本期没有已分类的诉求。"
    out["issue_examples"] = examples
    out["places"] = ("从发生地看，诉求较多的区域为：" + "、".join(
        f"{r['label']}（{_n(r['counts']['intake'])} 件）" for r in facts["places"]) + "。") if facts["places"] else ""
    out["issue_rows"] = [[str(t["rank"]), t["label"], _n(t["intake"]), _n(t["previous"]), _delta(t["change"], rate=False)]
                         for t in report["top_issues"]]
    charts_png["chart_issues"] = charts.bars("热点问题（受理量前十的分类）", [(t["label"], t["intake"]) for t in report["top_issues"]])

    # 三、办理情况
    out["handling"] = (
        f"本期按时签收率 {_pct(rates['on_time_accept_rate'])}，按时办结率 {_pct(rates['on_time_completion_rate'])}"
        f"（环比{_change(change['previous']['on_time_completion_rate'], rate=True)}），"
        f"退单率 {_pct(rates['return_rate'])}，派单准确率 {_pct(rates['dispatch_accuracy'])}，"
        f"重办率 {_pct(rates['rework_rate'])}，延期率 {_pct(rates['extension_rate'])}。"
        f"承办单位退单 {_n(counts['returns'])} 次，其中中心同意退单 {_n(counts['returns_upheld'])} 次。")
    ranking = report["ranking"]
    out["best"] = out["worst"] = ""
    if ranking:
        best = ranking[:PERFORMERS]
        worst = [r for r in ranking[::-1] if r not in best][:PERFORMERS]
        out["best"] = "按时办结率较高的单位：" + "、".join(
            f"{r['label']}（{_pct(r['rates']['on_time_completion_rate'])}）" for r in best) + "。"
        if worst:
            out["worst"] = "按时办结率较低、需加强督办的单位：" + "、".join(
                f"{r['label']}（{_pct(r['rates']['on_time_completion_rate'])}，超期未办结 {_n(r['counts']['open_overdue'])} 件）"
                for r in worst) + "。"
    departments = [r for r in report["breakdowns"]["department"]["rows"] if r["value"]]
    out["department_rows"] = [[r["label"], _n(r["counts"]["dispatched"]), _n(r["counts"]["completed"]),
                               _pct(r["rates"]["on_time_completion_rate"]), _n(r["counts"]["open_overdue"]),
                               _n(r["counts"]["returned"]), _pct(r["rates"]["satisfaction_rate"])] for r in departments]
    charts_png["chart_departments"] = charts.bars("各承办单位按时办结率", [
        (r["label"], r["rates"]["on_time_completion_rate"] or 0) for r in ranking[:15]], percent=True)

    # 四、满意度
    out["satisfaction"] = (
        f"本期回访 {_n(counts['callbacks'])} 件，有效评价 {_n(counts['valid_ratings'])} 件，"
        f"其中满意与基本满意 {_n(counts['satisfied'])} 件，满意率 {_pct(rates['satisfaction_rate'])}"
        f"（环比{_change(change['previous']['satisfaction_rate'], rate=True)}，"
        f"同比{_change(change['year_before']['satisfaction_rate'], rate=True)}）；"
        f"已解决 {_n(counts['resolved'])} 件，解决率 {_pct(rates['resolution_rate'])}；回访率 {_pct(rates['callback_rate'])}。")
    overall = rates["satisfaction_rate"]
    rated = sorted((r for r in departments if r["rates"]["satisfaction_rate"] is not None
                    and overall is not None and r["rates"]["satisfaction_rate"] < overall),
                   key=lambda r: (r["rates"]["satisfaction_rate"], r["value"]))
    out["low_satisfaction"] = ("满意率低于全区平均的单位：" + "、".join(
        f"{r['label']}（{_pct(r['rates']['satisfaction_rate'])}，有效评价 {_n(r['counts']['valid_ratings'])} 件）"
        for r in rated[:PERFORMERS]) + "。") if rated else ""

    # 五、预警与群体性事件
    found = facts["warnings"]
    if found:
        by_kind: dict[str, int] = {}
        for row in found:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
        out["warnings_summary"] = (f"本期共产生预警 {len(found)} 条：" + "，".join(
            f"{WARNING_KINDS.get(k, '其他')} {n} 条" for k, n in by_kind.items()) + "；"
            f"已确认处置 {sum(1 for r in found if r['acknowledged_at'])} 条。")
        mass = [r for r in found if r["kind"] == "mass_incident"]
        out["mass_incidents"] = ("群体性事件预警：" + "；".join(r["title"] for r in mass[:10]) + "。") if mass \
            else "本期未发生群体性事件预警。"
    else:
        out["warnings_summary"] = "本期未产生预警，未发生群体性事件预警。"
        out["mass_incidents"] = ""
    # 话务人员绩效 (the whole centre's report only): each team's totals, the agents' own in the workbook
    people = report.get("people")
    team_rows = [r for r in (people or {}).get("rows", []) if r["kind"] == "team"]
    if team_rows:
        from core.reports.html import people_value

        at = {c["label"]: (i, c["kind"]) for i, c in enumerate(people["columns"])}
        out["people_summary"] = "话务人员绩效按班组合计如下（各话务员的数字见报表的「话务人员绩效」表）。"
        out["people_rows"] = [[r["team"], *[people_value(r["values"][at[n][0]], at[n][1]) for n in PEOPLE_SHOWN]]
                              for r in team_rows]
    else:
        out["people_summary"], out["people_rows"] = "", []
    return {**out, "_charts": charts_png}


def document(report: dict[str, Any], facts: dict[str, Any], labels: dict[str, dict[str, str]],
             template: bytes | None = None) -> bytes:
    """The .docx of one report body (live or a stored snapshot) with its ``context`` facts, filled into
    ``template`` (an admin's upload) or the shipped default."""
    from core.reports import templates

    return templates.fill(template or templates.default_bytes(), fields(report, facts, labels))


async def render(platform, report: dict[str, Any]) -> bytes:
    """The .docx of ``report`` with the facts read now."""
    from core.reports import templates
    from core.reports.build import labels

    template = await templates.in_force(body_kind(report))
    return document(report, await context(report), await labels(platform), template)


def body_kind(report: dict[str, Any]) -> str:
    return str(report.get("kind") or "")
