"""月度巡检 (the monthly inspection): ``huying check``'s findings kept as a record, once a month by the
schedule and whenever someone runs the command, each readable as a document (HTML and .docx) with
the checks, the platform's data at the time and the outcome, beside that month's faults.
"""

from __future__ import annotations

import datetime as dt
import io
from html import escape
from typing import Any

from core import clock
from core.calendar import SHANGHAI
from core.tables import Incident, Inspection, Order

OUTCOMES = {"ok": "全部正常", "warning": "有警告", "failed": "有异常"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
KEPT_LISTED = 36


def outcome(findings: list[dict]) -> str:
    if any(not f["ok"] for f in findings):
        return "failed"
    return "warning" if any(f.get("warning") for f in findings) else "ok"


def _month(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m")


async def keep(findings: list[dict], ran_by: str) -> dict[str, Any]:
    """Store one run's findings (as they were: a later run is another record)."""
    now = clock.now()
    rows = await Inspection.insert(Inspection(month=_month(now), outcome=outcome(findings),
                                              findings=[dict(f) for f in findings], ran_by=ran_by,
                                              ran_at=now)).returning(Inspection.id)
    return await get(rows[0]["id"])


async def run(platform, ran_by: str) -> dict[str, Any]:
    from core.healthcheck import monthly_check

    return await keep(await monthly_check(platform), ran_by)


async def due(platform) -> dict[str, Any]:
    """The scheduled run (daily): inspect once in each month, on its first day the job runs."""
    month = _month(clock.now())
    if await Inspection.exists().where(Inspection.month == month):
        return {"inspected": False, "month": month}
    kept = await run(platform, "system")
    return {"inspected": True, "month": month, "outcome": kept["outcome"]}


def _present(row: dict) -> dict[str, Any]:
    return {"id": row["id"], "month": row["month"], "outcome": row["outcome"],
            "outcome_label": OUTCOMES.get(row["outcome"], "未知"), "findings": row["findings"],
            "ran_by": row["ran_by"], "ran_at": row["ran_at"].isoformat()}


async def get(inspection_id: int) -> dict[str, Any] | None:
    row = await Inspection.select().where(Inspection.id == inspection_id).output(load_json=True).first()
    return _present(row) if row else None


async def listing(limit: int = KEPT_LISTED) -> list[dict[str, Any]]:
    rows = await Inspection.select().order_by(Inspection.id, ascending=False).limit(limit).output(load_json=True)
    return [_present(r) for r in rows]


async def context(report: dict[str, Any]) -> dict[str, Any]:
    """The data the document shows beside the checks: orders on record, the month's orders and faults."""
    year, month = (int(p) for p in report["month"].split("-"))
    start = dt.datetime(year, month, 1, tzinfo=SHANGHAI)
    end = dt.datetime(year + month // 12, month % 12 + 1, 1, tzinfo=SHANGHAI)
    faults = await (Incident.select(Incident.id, Incident.title, Incident.occurred_at, Incident.resolved,
                                    Incident.reported_by)
                    .where((Incident.occurred_at >= start) & (Incident.occurred_at < end))
                    .order_by(Incident.occurred_at).limit(200))
    return {"orders_total": await Order.count(),
            "orders_month": await Order.count().where((Order.received_at >= start) & (Order.received_at < end)),
            "faults": faults}


def _title(report: dict[str, Any]) -> str:
    year, month = report["month"].split("-")
    return f"12345热线工单平台月度巡检报告（{year}年{int(month)}月）"


def _state(finding: dict) -> str:
    return "异常" if not finding["ok"] else "警告" if finding.get("warning") else "正常"


def _ran_at(report: dict[str, Any]) -> str:
    return dt.datetime.fromisoformat(report["ran_at"]).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def html(report: dict[str, Any], facts: dict[str, Any], names: dict[str, str]) -> str:
    rows = "".join(f"<tr><td>{escape(f['name'])}</td><td>{_state(f)}</td><td>{escape(f['detail'])}</td></tr>"
                   for f in report["findings"])
    faults = "".join(f"<tr><td>{f['occurred_at'].astimezone(SHANGHAI):%Y-%m-%d %H:%M}</td><td>{escape(f['title'])}</td>"
                     f"<td>{escape(names.get(f['reported_by'], f['reported_by']))}</td><td>{'已解决' if f['resolved'] else '处理中'}</td></tr>"
                     for f in facts["faults"]) or '<tr><td colspan="4">本月没有故障记录。</td></tr>'
    ran_by = "系统（定时巡检）" if report["ran_by"] == "system" else names.get(report["ran_by"], report["ran_by"])
    return (f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{escape(_title(report))}</title>'
            f'</head><body><h1>{escape(_title(report))}</h1>'
            f"<p>巡检时间：{_ran_at(report)}（北京时间）；巡检人：{escape(ran_by)}；结论：{report['outcome_label']}</p>"
            f"<h2>一、检查项目与结果</h2><table border=\"1\" cellpadding=\"4\"><tr><th>检查项目</th><th>结果</th><th>说明</th></tr>{rows}</table>"
            f"<h2>二、运行数据</h2><p>工单总数 {facts['orders_total']:,} 件，本月受理 {facts['orders_month']:,} 件。</p>"
            f"<h2>三、本月故障</h2><table border=\"1\" cellpadding=\"4\"><tr><th>发生时间</th><th>故障</th><th>报告人</th><th>状态</th></tr>{faults}</table>"
            "</body></html>")


def docx(report: dict[str, Any], facts: dict[str, Any], names: dict[str, str]) -> bytes:
    from docx import Document

    doc = Document()
    doc.add_heading(_title(report), level=0)
    ran_by = "系统（定时巡检）" if report["ran_by"] == "system" else names.get(report["ran_by"], report["ran_by"])
    doc.add_paragraph(f"巡检时间：{_ran_at(report)}（北京时间）；巡检人：{ran_by}；结论：{report['outcome_label']}")
    doc.add_heading("一、检查项目与结果", level=1)
    table = doc.add_table(rows=1, cols=3)
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, ("检查项目", "结果", "说明")):
        cell.text = text
    for f in report["findings"]:
        for cell, text in zip(table.add_row().cells, (f["name"], _state(f), f["detail"])):
            cell.text = text
    doc.add_heading("二、运行数据", level=1)
    doc.add_paragraph(f"工单总数 {facts['orders_total']:,} 件，本月受理 {facts['orders_month']:,} 件。")
    doc.add_heading("三、本月故障", level=1)
    if not facts["faults"]:
        doc.add_paragraph("本月没有故障记录。")
    for f in facts["faults"]:
        doc.add_paragraph(f"{f['occurred_at'].astimezone(SHANGHAI):%Y-%m-%d %H:%M} {f['title']}（报告人："
                          f"{names.get(f['reported_by'], f['reported_by'])}；{'已解决' if f['resolved'] else '处理中'}）")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
