"""A report as an office-printable HTML page with its charts drawn on the server (inline SVG, no
script, no external asset)."""

from __future__ import annotations

from html import escape
from typing import Any

from core.reports import kpis, svg

STYLE = """
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:24px;color:#222;font-size:13px}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px;border-bottom:2px solid #2F6DB5}
table{border-collapse:collapse;margin:6px 0 12px;width:100%}th,td{border:1px solid #bbb;padding:3px 6px;text-align:right}
th{background:#DDE6F0}td:first-child,th:first-child{text-align:left}.muted{color:#666}.charts svg{margin:6px 0}
.good{color:#1a7f37}.bad{color:#b42318}.partial{background:#FFF4D6;border:1px solid #E0B44C;padding:4px 8px}dl{display:grid;grid-template-columns:10em 1fr;gap:2px 12px}dt{font-weight:bold}
@media print{body{margin:0;font-size:11px}h2{page-break-after:avoid}table,svg{page-break-inside:avoid}.noprint{display:none}}
@page{size:A4;margin:14mm}
"""


def _pct(value) -> str:
    return "—" if value is None else f"{value:.1%}"


def _num(value) -> str:
    return "—" if value is None else f"{value:,}"


def tone(value, direction: int) -> str:
    """"good" or "bad" for the centre (a rise of 满意率 is good, of 超期 bad), "" for a volume or no change."""
    if not value or not direction:
        return ""
    return "good" if (value > 0) == (direction > 0) else "bad"


def _delta(value, rate: bool, direction: int = 0) -> str:
    if value is None:
        return '<span class="muted">—</span>'
    text = f"{value * 100:+.1f}个百分点" if rate else f"{value:+.1%}"
    css = tone(value, direction)
    word = {"good": "（向好）", "bad": "（变差）"}.get(css, "")
    return f'<span class="{css}" title="{word.strip("（）")}">{text}</span>' if css else f"<span>{text}</span>"


def _shown(instant: str) -> str:
    """An ISO instant as people read it, in the centre's zone: 2025-12-07 10:00:00."""
    import datetime as dt

    from core.reports.periods import local_iso

    return escape(local_iso(dt.datetime.fromisoformat(instant)).replace("T", " ")[:19])


def _partial(report: dict[str, Any]) -> str:
    """For a period not over: how far it is counted and what it is compared with."""
    p = report["period"]
    if not p.get("partial"):
        return ""
    if not p.get("through"):
        return '<p class="partial">本期尚未开始，没有数据。</p>'
    before = report["previous"]["period"]
    year = report["year_before"]["period"]
    return (f'<p class="partial">本期尚未结束：统计截至 {escape(p["through"])}'
            + (f"（超期未办结量为 {_shown(p['as_of'])} 的数）" if p.get("as_of") else "")
            + f'；环比与 {escape(before["start"])} 至 {escape(before["through"] or before["start"])} 相比，'
            f'同比与 {escape(year["start"])} 至 {escape(year["through"] or year["start"])} 相比（同样 {p["days"]} 天）。</p>')


def people_value(value, kind: str) -> str:
    """One cell of 话务人员绩效 as read on the page (the workbook holds the same number unrounded)."""
    if value is None:
        return "—"
    if kind == "rate":
        return _pct(value)
    if kind in ("seconds", "score"):
        return f"{value:,.1f}"
    return _num(value)


def people_table(people: dict[str, Any] | None) -> str:
    """话务人员绩效: each team's sum, then its agents, by their names (a report of a department or a
    channel, or a snapshot from before the section existed, has none)."""
    if not people:
        return ""
    out = ['<h2 id="people">话务人员绩效</h2>', f'<p class="muted">{escape(people["definition"])}</p>',
           "<table><tr><th>班组</th><th>人员</th>" + "".join(f"<th>{escape(c['label'])}</th>" for c in people["columns"])
           + "</tr>"]
    kinds = [c["kind"] for c in people["columns"]]
    for row in people["rows"]:
        cells = "".join(f"<td>{people_value(v, k)}</td>" for v, k in zip(row["values"], kinds))
        name = f"<strong>{escape(row['name'])}</strong>" if row["kind"] == "team" else escape(row["name"])
        out.append(f"<tr><td>{escape(row['team'])}</td><td>{name}</td>{cells}</tr>")
    if not people["rows"]:
        out.append(f'<tr><td colspan="{len(kinds) + 2}">还没有话务人员。</td></tr>')
    return "".join(out) + "</table>"


def page(report: dict[str, Any], *, stylesheet: str | None = None, scope: str | None = None) -> str:
    """The report as one page; ``stylesheet``: link this URL instead of an inline style (for pages under
    a policy refusing inline styles, the console's); ``scope``: the filters as people read them."""
    p = report["period"]
    filters = escape(scope) if scope else "，".join(f"{k}={escape(v)}" for k, v in report["filters"].items()) or "全中心"
    style = f'<link rel="stylesheet" href="{escape(stylesheet)}">' if stylesheet else f"<style>{STYLE}</style>"
    out = [f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(p["label"])}{p["kind_label"]}</title>',
           f"{style}</head><body>",
           f'<h1>12345热线{escape(p["label"])}{p["kind_label"]}</h1>',
           f'<p class="muted">统计期间 {p["start"]} 至 {p["end"]}；范围：{filters}；生成时间 {_shown(report["generated_at"])}（北京时间）'
           + (f'；快照第 {report["snapshot"]["version"]} 版' if report.get("snapshot") else "") + "</p>",
           _partial(report),
           "<h2>主要指标</h2><table><tr><th>指标</th><th>本期</th><th>上期</th><th>环比</th><th>上年同期</th><th>同比</th></tr>"]
    change = report["change"]
    way = report.get("directions") or kpis.DIRECTION  # a snapshot stored before directions existed
    for c in kpis.COUNTS:
        out.append(f"<tr><td>{c.label}</td><td>{_num(report['counts'].get(c.name))}</td>"
                   f"<td>{_num(report['previous']['counts'].get(c.name))}</td>"
                   f"<td>{_delta(change['previous'].get(c.name), False, way.get(c.name, 0))}</td>"
                   f"<td>{_num(report['year_before']['counts'].get(c.name))}</td>"
                   f"<td>{_delta(change['year_before'].get(c.name), False, way.get(c.name, 0))}</td></tr>")
    for k in kpis.KPIS:
        out.append(f"<tr><td>{k.label}</td><td>{_pct(report['rates'].get(k.name))}</td>"
                   f"<td>{_pct(report['previous']['rates'].get(k.name))}</td>"
                   f"<td>{_delta(change['previous'].get(k.name), True, way.get(k.name, 0))}</td>"
                   f"<td>{_pct(report['year_before']['rates'].get(k.name))}</td>"
                   f"<td>{_delta(change['year_before'].get(k.name), True, way.get(k.name, 0))}</td></tr>")
    out.append("</table>")
    out.append('<div class="charts">')
    out.append(svg.grouped("主要比率：本期、上期与上年同期", [k.label for k in kpis.KPIS],
                           [("本期", [report["rates"][k.name] for k in kpis.KPIS]),
                            ("上期", [report["previous"]["rates"][k.name] for k in kpis.KPIS]),
                            ("上年同期", [report["year_before"]["rates"][k.name] for k in kpis.KPIS])]))
    for dimension in ("channel", "department", "area", "source"):
        data = report["breakdowns"][dimension]
        out.append(svg.bars(f"按{data['title']}的受理量", [(r["label"], r["counts"]["intake"]) for r in data["rows"][:15]]))
    out.append(svg.bars("热点问题（受理量前十的分类）", [(t["label"], t["intake"]) for t in report["top_issues"]]))
    out.append("</div>")
    out.append("<h2>承办单位排名</h2><p class=\"muted\">" + escape(report["ranking_rule"]) + "</p>"
               "<table><tr><th>名次</th><th>承办单位</th><th>按时办结率</th><th>满意率</th><th>解决率</th><th>退单率</th>"
               "<th>办结量</th><th>超期未办结</th></tr>")
    for r in report["ranking"]:
        out.append(f"<tr><td>{r['rank']}</td><td>{escape(r['label'])}</td><td>{_pct(r['rates']['on_time_completion_rate'])}</td>"
                   f"<td>{_pct(r['rates']['satisfaction_rate'])}</td><td>{_pct(r['rates']['resolution_rate'])}</td>"
                   f"<td>{_pct(r['rates']['return_rate'])}</td><td>{_num(r['counts']['completed'])}</td>"
                   f"<td>{_num(r['counts']['open_overdue'])}</td></tr>")
    out.append("</table><h2>热点问题</h2><table><tr><th>排名</th><th>问题分类</th><th>本期</th><th>上期</th><th>环比</th></tr>")
    for t in report["top_issues"]:
        out.append(f"<tr><td>{t['rank']}</td><td>{escape(t['label'])}</td><td>{_num(t['intake'])}</td>"
                   f"<td>{_num(t['previous'])}</td><td>{_delta(t['change'], False, 0)}</td></tr>")
    out.append("</table>")
    for dimension, data in report["breakdowns"].items():
        out.append(f"<h2>按{data['title']}统计</h2><table><tr><th>{data['title']}</th><th>受理量</th><th>办结量</th>"
                   "<th>按时办结率</th><th>满意率</th><th>解决率</th><th>退单率</th><th>超期未办结</th></tr>")
        for r in data["rows"]:
            out.append(f"<tr><td>{escape(r['label'])}</td><td>{_num(r['counts']['intake'])}</td>"
                       f"<td>{_num(r['counts']['completed'])}</td><td>{_pct(r['rates']['on_time_completion_rate'])}</td>"
                       f"<td>{_pct(r['rates']['satisfaction_rate'])}</td><td>{_pct(r['rates']['resolution_rate'])}</td>"
                       f"<td>{_pct(r['rates']['return_rate'])}</td><td>{_num(r['counts']['open_overdue'])}</td></tr>")
        out.append("</table>")
    for s in report["sections"]:
        out.append(f"<h2>{escape(s['channel_name'])}：{escape(s['title'])}</h2>"
                   + (f'<p class="muted">{escape(s["definition"])}</p>' if s.get("definition") else "")
                   + "<table><tr><th>项目</th><th>数值</th></tr>")
        for row in s["rows"]:
            value = row["value"]
            shown = f"{value:,.2f}" if isinstance(value, float) else _num(value)
            out.append(f"<tr><td>{escape(row['label'])}</td><td>{shown} {escape(row.get('unit', ''))}</td></tr>")
        out.append("</table>")
    out.append(people_table(report.get("people")))
    out.append("<h2>指标定义</h2><dl>")
    for d in report["definitions"]:
        out.append(f"<dt>{escape(d['label'])}</dt><dd>{escape(d['definition'])}</dd>")
    out.append("</dl>" + "".join(f'<p class="muted">{escape(n)}</p>' for n in report["notes"]) + "</body></html>")
    return "".join(out)
