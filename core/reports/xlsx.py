"""A report as a workbook an office opens: a sheet per breakdown, Chinese headers, number and percent
formats, the header row frozen, and the definitions on their own sheet."""

from __future__ import annotations

import io
from typing import Any

import xlsxwriter

from core.reports import kpis
from core.reports.html import tone

COUNT_COLUMNS = [(c.name, c.label) for c in kpis.COUNTS]
RATE_COLUMNS = [(k.name, k.label) for k in kpis.KPIS]


def workbook(report: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#DDE6F0", "border": 1, "text_wrap": True, "valign": "top"})
    number = book.add_format({"num_format": "#,##0"})
    percent = book.add_format({"num_format": "0.0%"})
    points = book.add_format({"num_format": "+0.0%;-0.0%;0.0%"})
    tones = {"good": book.add_format({"num_format": "+0.0%;-0.0%;0.0%", "font_color": "#1a7f37"}),
             "bad": book.add_format({"num_format": "+0.0%;-0.0%;0.0%", "font_color": "#b42318"})}
    title = book.add_format({"bold": True, "font_size": 14})
    tenths = book.add_format({"num_format": "#,##0.0"})
    bold = book.add_format({"bold": True})

    def sheet(name: str, headers: list[str], rows: list[list[Any]], formats: list[Any], widths: list[int]):
        ws = book.add_worksheet(name[:31])
        for col, text in enumerate(headers):
            ws.write(0, col, text, head)
            ws.set_column(col, col, widths[col] if col < len(widths) else 12)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row):
                fmt = formats[c] if c < len(formats) else None
                if value is None:
                    ws.write_blank(r, c, None, fmt)
                elif fmt is None:
                    ws.write(r, c, value)
                else:
                    ws.write(r, c, value, fmt)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(len(rows), 1), len(headers) - 1)
        return ws

    change = report["change"]
    way = report.get("directions") or kpis.DIRECTION
    overview = []
    for name, label in COUNT_COLUMNS:
        overview.append(["件数", label, report["counts"].get(name), report["previous"]["counts"].get(name),
                         change["previous"].get(name), report["year_before"]["counts"].get(name),
                         change["year_before"].get(name), name])
    for name, label in RATE_COLUMNS:
        overview.append(["比率", label, report["rates"].get(name), report["previous"]["rates"].get(name),
                         change["previous"].get(name), report["year_before"]["rates"].get(name),
                         change["year_before"].get(name), name])
    names = [row.pop() for row in overview]
    ws = sheet("概览", ["类别", "指标", f"本期（{report['period']['label']}）", "上期", "环比",
                       "上年同期", "同比"],
               overview, [None, None, number, number, points, number, points], [8, 18, 20, 12, 10, 12, 10])
    for r, row in enumerate(overview, start=1):  # rates read as percentages, their changes in points
        if row[0] == "比率":
            for c in (2, 3, 5):
                if row[c] is not None:
                    ws.write(r, c, row[c], percent)
        for c in (4, 6):  # a change coloured by whether it is good or bad for the centre, not by its sign
            found = tone(row[c], way.get(names[r - 1], 0))
            if found:
                ws.write(r, c, row[c], tones[found])
    period = report["period"]
    notes_at = len(overview) + 2
    ws.write(notes_at, 0, "生成时间", title)
    ws.write(notes_at, 2, f"{report['generated_at']}（北京时间）")
    if period.get("partial"):
        ws.write(notes_at + 1, 0, "统计截至", title)
        ws.write(notes_at + 1, 2, (f"{period['through']}（本期尚未结束；环比、同比与上期、上年同期的前 {period['days']} 天相比）"
                                   if period.get("through") else "本期尚未开始"))
    for dimension, data in report["breakdowns"].items():
        headers = [data["title"], *[label for _, label in COUNT_COLUMNS], *[label for _, label in RATE_COLUMNS]]
        rows = [[row["label"], *[row["counts"][n] for n, _ in COUNT_COLUMNS],
                 *[row["rates"][n] for n, _ in RATE_COLUMNS]] for row in data["rows"]]
        formats = [None, *[number] * len(COUNT_COLUMNS), *[percent] * len(RATE_COLUMNS)]
        sheet(f"按{data['title']}", headers, rows, formats, [26])
    sheet("单位排名", ["名次", "承办单位", "按时办结率", "满意率", "解决率", "退单率", "办结量", "超期未办结量"],
          [[r["rank"], r["label"], r["rates"]["on_time_completion_rate"], r["rates"]["satisfaction_rate"],
            r["rates"]["resolution_rate"], r["rates"]["return_rate"], r["counts"]["completed"],
            r["counts"]["open_overdue"]] for r in report["ranking"]],
          [number, None, percent, percent, percent, percent, number, number], [6, 26, 12, 10, 10, 10, 10, 14])
    sheet("热点问题", ["排名", "问题分类", "本期受理量", "上期受理量", "环比"],
          [[t["rank"], t["label"], t["intake"], t["previous"], t["change"]] for t in report["top_issues"]],
          [number, None, number, number, points], [6, 34, 12, 12, 10])
    section_rows = [[s["channel_name"], s["title"], row["label"], row["value"], row.get("unit", "")]
                    for s in report["sections"] for row in s["rows"]]
    sheet("专线", ["渠道", "栏目", "项目", "数值", "单位"], section_rows, [None, None, None, number, None],
          [18, 20, 26, 12, 8])
    people = report.get("people")
    if people:
        by_kind = {"count": number, "rate": percent, "seconds": tenths, "score": tenths}
        ws = sheet("话务人员绩效", ["班组", "人员", *[c["label"] for c in people["columns"]]],
                   [[row["team"], row["name"], *row["values"]] for row in people["rows"]],
                   [None, None, *[by_kind[c["kind"]] for c in people["columns"]]], [14, 14])
        for r, row in enumerate(people["rows"], start=1):
            if row["kind"] == "team":
                ws.write(r, 1, row["name"], bold)
    definitions = [[d["label"], d["definition"]] for d in report["definitions"]]
    if people:
        definitions += [["话务人员绩效", people["definition"]], *[["", d] for d in people["definitions"]]]
    ws = sheet("指标定义", ["指标", "定义"], definitions,
               [None, None], [18, 90])
    ws.write(len(definitions) + 2, 0, "说明", title)
    for i, note in enumerate(report["notes"]):
        ws.write(len(definitions) + 3 + i, 0, note)
    book.close()
    return out.getvalue()
