"""The written report (文字材料): a period's report as a Word document in the register of a government
report, drafted from the very report body the HTML page and the workbook show (so every figure is
theirs), plus the facts a text needs beside the tables: example orders of the hot issues and the
period's early warnings. 下一步建议 is left for a person to write.
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor

from core.reports import charts, kpis
from core.reports.periods import SHANGHAI

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


# -- the document ------------------------------------------------------------------------------------------

class _Writer:
    def __init__(self):
        self.doc = Document()
        section = self.doc.sections[0]
        section.page_height, section.page_width = Cm(29.7), Cm(21)
        section.left_margin = section.right_margin = Cm(2.6)
        style = self.doc.styles["Normal"]
        style.font.name = "仿宋"
        style.font.size = Pt(12)
        style.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋")
        for name in ("Title", "Heading 1", "Heading 2"):
            heading = self.doc.styles[name]
            heading.font.name = "黑体"
            heading.font.color.rgb = RGBColor(0, 0, 0)
            heading.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")

    def title(self, text: str, subtitle: str) -> None:
        head = self.doc.add_heading(text, level=0)
        head.alignment = WD_ALIGN_PARAGRAPH.CENTER
        sub = self.doc.add_paragraph(subtitle)
        sub.alignment = WD_ALIGN_PARAGRAPH.CENTER

    def heading(self, text: str) -> None:
        self.doc.add_heading(text, level=1)

    def para(self, text: str) -> None:
        p = self.doc.add_paragraph(text)
        p.paragraph_format.first_line_indent = Pt(24)
        p.paragraph_format.line_spacing = 1.4

    def table(self, caption: str, headers: list[str], rows: list[list[str]]) -> None:
        self.doc.add_paragraph(caption).runs[0].bold = True
        table = self.doc.add_table(rows=1, cols=len(headers))
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, headers):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        for row in rows:
            for cell, text in zip(table.add_row().cells, row):
                cell.text = text

    def chart(self, png: bytes) -> None:
        self.doc.add_picture(io.BytesIO(png), width=Cm(15.5))

    def bytes(self) -> bytes:
        out = io.BytesIO()
        self.doc.save(out)
        return out.getvalue()


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


def document(report: dict[str, Any], facts: dict[str, Any], labels: dict[str, dict[str, str]]) -> bytes:
    """The .docx of one report body (live or a stored snapshot) with its ``context`` facts."""
    from core.reports.warnings import KINDS as WARNING_KINDS

    w = _Writer()
    counts, rates, change = report["counts"], report["rates"], report["change"]
    period = report["period"]
    scope = scope_of(report, labels)
    w.title(title_of(report), f"（{period['start']} 至 {period['end']}{'；' + scope if scope else ''}）")
    if period.get("partial"):
        w.para(f"说明：本期尚未结束，数据统计截至 {period['through'] or period['start']}；环比、同比与上期、上年同期的相同天数相比。")

    # 一、总体情况
    w.heading("一、总体情况")
    w.para(f"本期共受理群众诉求 {_n(counts['intake'])} 件，环比{_change(change['previous']['intake'], rate=False)}，"
           f"同比{_change(change['year_before']['intake'], rate=False)}。其中话务员即时办结 {_n(counts['resolved_at_intake'])} 件，"
           f"即时办结率 {_pct(rates['resolved_at_intake_rate'])}；派单 {_n(counts['dispatched'])} 件，"
           f"办结 {_n(counts['completed'])} 件，期末超期未办结 {_n(counts['open_overdue'])} 件。")
    channels = [r for r in report["breakdowns"]["channel"]["rows"] if r["counts"]["intake"]]
    if channels and counts["intake"]:
        w.para("从受理渠道看，" + "，".join(
            f"{r['label']} {_n(r['counts']['intake'])} 件（占 {r['counts']['intake'] / counts['intake']:.1%}）"
            for r in channels) + "。")
    w.table(OVERVIEW_TITLE, ["指标", "本期", "上期", "环比", "上年同期", "同比"], _overview_rows(report))
    w.chart(charts.bars("按渠道的受理量", [(r["label"], r["counts"]["intake"]) for r in channels[:12]]))

    # 二、热点问题
    w.heading("二、热点问题")
    top = report["top_issues"][:HOT_ISSUES]
    if top:
        w.para("本期群众反映较集中的问题依次为：" + "；".join(
            f"{t['label']} {_n(t['intake'])} 件（环比{_change(t['change'], rate=False)}）" for t in top) + "。")
        for t in top:
            found = facts["issue_examples"].get(t["category"]) or []
            if found:
                w.para(f"{t['label']}方面，如：" + "；".join(
                    f"工单 {o['number']}「{o['subject']}」{('（' + o['area'] + '）') if o['area'] else ''}" for o in found) + "。")
    else:
        w.para("本期没有已分类的诉求。")
    if facts["places"]:
        w.para("从发生地看，诉求较多的区域为：" + "、".join(
            f"{r['label']}（{_n(r['counts']['intake'])} 件）" for r in facts["places"]) + "。")
    w.table("热点问题", ["排名", "问题分类", "本期受理量", "上期受理量", "环比"],
            [[str(t["rank"]), t["label"], _n(t["intake"]), _n(t["previous"]), _delta(t["change"], rate=False)]
             for t in report["top_issues"]])
    w.chart(charts.bars("热点问题（受理量前十的分类）", [(t["label"], t["intake"]) for t in report["top_issues"]]))

    # 三、办理情况
    w.heading("三、办理情况")
    w.para(f"本期按时签收率 {_pct(rates['on_time_accept_rate'])}，按时办结率 {_pct(rates['on_time_completion_rate'])}"
           f"（环比{_change(change['previous']['on_time_completion_rate'], rate=True)}），"
           f"退单率 {_pct(rates['return_rate'])}，派单准确率 {_pct(rates['dispatch_accuracy'])}，"
           f"重办率 {_pct(rates['rework_rate'])}，延期率 {_pct(rates['extension_rate'])}。"
           f"承办单位退单 {_n(counts['returns'])} 次，其中中心同意退单 {_n(counts['returns_upheld'])} 次。")
    ranking = report["ranking"]
    if ranking:
        best = ranking[:PERFORMERS]
        worst = [r for r in ranking[::-1] if r not in best][:PERFORMERS]
        w.para("按时办结率较高的单位：" + "、".join(
            f"{r['label']}（{_pct(r['rates']['on_time_completion_rate'])}）" for r in best) + "。")
        if worst:
            w.para("按时办结率较低、需加强督办的单位：" + "、".join(
                f"{r['label']}（{_pct(r['rates']['on_time_completion_rate'])}，超期未办结 {_n(r['counts']['open_overdue'])} 件）"
                for r in worst) + "。")
    departments = [r for r in report["breakdowns"]["department"]["rows"] if r["value"]]
    w.table("各承办单位办理情况", ["承办单位", "派单工单数", "办结量", "按时办结率", "超期未办结量", "被退单工单数", "满意率"],
            [[r["label"], _n(r["counts"]["dispatched"]), _n(r["counts"]["completed"]),
              _pct(r["rates"]["on_time_completion_rate"]), _n(r["counts"]["open_overdue"]),
              _n(r["counts"]["returned"]), _pct(r["rates"]["satisfaction_rate"])] for r in departments])
    w.chart(charts.bars("各承办单位按时办结率", [(r["label"], r["rates"]["on_time_completion_rate"] or 0)
                                          for r in ranking[:15]], percent=True))

    # 四、满意度
    w.heading("四、满意度")
    w.para(f"本期回访 {_n(counts['callbacks'])} 件，有效评价 {_n(counts['valid_ratings'])} 件，"
           f"其中满意与基本满意 {_n(counts['satisfied'])} 件，满意率 {_pct(rates['satisfaction_rate'])}"
           f"（环比{_change(change['previous']['satisfaction_rate'], rate=True)}，"
           f"同比{_change(change['year_before']['satisfaction_rate'], rate=True)}）；"
           f"已解决 {_n(counts['resolved'])} 件，解决率 {_pct(rates['resolution_rate'])}；回访率 {_pct(rates['callback_rate'])}。")
    overall = rates["satisfaction_rate"]
    rated = sorted((r for r in departments if r["rates"]["satisfaction_rate"] is not None
                    and overall is not None and r["rates"]["satisfaction_rate"] < overall),
                   key=lambda r: (r["rates"]["satisfaction_rate"], r["value"]))
    if rated:
        w.para("满意率低于全区平均的单位：" + "、".join(
            f"{r['label']}（{_pct(r['rates']['satisfaction_rate'])}，有效评价 {_n(r['counts']['valid_ratings'])} 件）"
            for r in rated[:PERFORMERS]) + "。")

    # 五、预警与群体性事件
    w.heading("五、预警与群体性事件")
    found = facts["warnings"]
    if found:
        by_kind: dict[str, int] = {}
        for row in found:
            by_kind[row["kind"]] = by_kind.get(row["kind"], 0) + 1
        w.para(f"本期共产生预警 {len(found)} 条：" + "，".join(
            f"{WARNING_KINDS.get(k, '其他')} {n} 条" for k, n in by_kind.items()) + "；"
            f"已确认处置 {sum(1 for r in found if r['acknowledged_at'])} 条。")
        mass = [r for r in found if r["kind"] == "mass_incident"]
        if mass:
            w.para("群体性事件预警：" + "；".join(r["title"] for r in mass[:10]) + "。")
        else:
            w.para("本期未发生群体性事件预警。")
    else:
        w.para("本期未产生预警，未发生群体性事件预警。")

    people = report.get("people")
    if people and people["rows"]:
        from core.reports.html import people_value

        shown = ("接听量", "受理量", "即时办结率", "派单准确率", "回访满意率", "质检平均分")
        at = {c["label"]: (i, c["kind"]) for i, c in enumerate(people["columns"])}
        w.para("话务人员绩效按班组合计如下（各话务员的数字见报表的「话务人员绩效」表）。")
        w.table("各班组话务绩效", ["班组", *shown],
                [[r["team"], *[people_value(r["values"][at[n][0]], at[n][1]) for n in shown]]
                 for r in people["rows"] if r["kind"] == "team"])

    # 六、下一步建议
    w.heading("六、下一步建议")
    w.para(SUGGESTIONS_PLACEHOLDER)

    w.heading("附：指标口径")
    for d in report["definitions"]:
        w.para(f"{d['label']}：{d['definition']}")
    w.para(f"生成时间：{report['generated_at'].replace('T', ' ')[:19]}（北京时间）。")
    return w.bytes()


async def render(platform, report: dict[str, Any]) -> bytes:
    """The .docx of ``report`` with the facts read now."""
    from core.reports.build import labels

    return document(report, await context(report), await labels(platform))
