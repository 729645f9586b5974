"""A coordination meeting's minutes as a Word document in the register of a government 会议纪要:
title, time, place, convener, departments attending, the orders covered, the minutes, and the
decisions (议定事项) as a table with owner department and due date, signed by the centre."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from docx import Document
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from docx.shared import Pt

ISSUER = "12345热线事务中心"
BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"


def _font(run, name: str, size: float, bold: bool = False) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), name)


def _paragraph(doc, text: str, *, font: str = BODY_FONT, size: float = 16, bold: bool = False,
               align=None, indent: bool = False):
    p = doc.add_paragraph()
    if align is not None:
        p.alignment = align
    if indent:
        p.paragraph_format.first_line_indent = Pt(size * 2)
    p.paragraph_format.space_after = Pt(0)
    p.paragraph_format.line_spacing = Pt(28)
    _font(p.add_run(text), font, size, bold)
    return p


def _date(day: dt.date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _when(at: dt.datetime) -> str:
    return f"{_date(at.date())} {at:%H:%M}"


def minutes_docx(meeting: dict[str, Any], people: dict[str, str], local) -> bytes:
    """``meeting`` as ``core.meetings.Meetings.get`` presents it; ``people`` the staff names;
    ``local`` turns an ISO instant into the centre's local time."""
    doc = Document()
    section = doc.sections[0]
    section.top_margin, section.bottom_margin = Pt(104), Pt(99)  # 37 mm and 35 mm, as official paper
    section.left_margin, section.right_margin = Pt(79), Pt(74)
    _paragraph(doc, "会议纪要", font=TITLE_FONT, size=22, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, meeting["title"], font=TITLE_FONT, size=18, align=WD_ALIGN_PARAGRAPH.CENTER)
    _paragraph(doc, "")
    at = local(meeting["at"])
    facts = [("时　　间", _when(at)), ("地　　点", meeting["place"] or "—"),
             ("召 集 人", people.get(meeting["called_by"], meeting["called_by"])),
             ("参会单位", "、".join(d["name"] for d in meeting["departments"]) or "—")]
    for label, value in facts:
        _paragraph(doc, f"{label}：{value}")
    _paragraph(doc, "涉及工单：")
    for o in meeting["orders"]:
        _paragraph(doc, f"{o['number']}　{o['subject']}", indent=True)
    _paragraph(doc, "一、会议内容", font=HEADING_FONT)
    for line in (meeting["minutes"] or "（尚未填写纪要）").splitlines():
        if line.strip():
            _paragraph(doc, line.strip(), indent=True)
    _paragraph(doc, "二、议定事项", font=HEADING_FONT)
    decisions = meeting["decisions"]
    if decisions:
        table = doc.add_table(rows=1, cols=4)
        table.style = "Table Grid"
        table.alignment = WD_TABLE_ALIGNMENT.CENTER
        for cell, text in zip(table.rows[0].cells, ("序号", "议定事项", "责任单位", "完成时限")):
            cell.text = ""
            _font(cell.paragraphs[0].add_run(text), HEADING_FONT, 12)
        for d in decisions:
            cells = table.add_row().cells
            due = dt.date.fromisoformat(d["due"])
            for cell, text in zip(cells, (str(d["seq"]), d["task"], d["department_name"], _date(due))):
                cell.text = ""
                _font(cell.paragraphs[0].add_run(text), BODY_FONT, 12)
    else:
        _paragraph(doc, "本次会议无议定事项。", indent=True)
    _paragraph(doc, "")
    _paragraph(doc, ISSUER, align=WD_ALIGN_PARAGRAPH.RIGHT)
    signed = local(meeting["minutes_at"]).date() if meeting.get("minutes_at") else at.date()
    _paragraph(doc, _date(signed), align=WD_ALIGN_PARAGRAPH.RIGHT)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
