"""Reports on the console's session and the written report (文字材料): a supervisor picks a period and
a department, views the report, downloads the workbook and the .docx, and the .docx reads back with
the workbook's figures; stored snapshots are listed with their own files."""

from __future__ import annotations

import io
import re

import openpyxl
import pytest
from docx import Document

from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)
from tests.test_reports import WEEK_COUNTS, national_day_week

WEEK = "period=weekly&start=2025-10-01"
HEADINGS = ["一、总体情况", "二、热点问题", "三、办理情况", "四、满意度", "五、预警与群体性事件", "六、下一步建议"]


def _overview_xlsx(content: bytes) -> dict[str, object]:
    sheet = openpyxl.load_workbook(io.BytesIO(content))["概览"]
    return {row[1]: row[2] for row in sheet.iter_rows(min_row=2, values_only=True) if row[1]}


def _overview_docx(document) -> dict[str, str]:
    table = next(t for t in document.tables if t.rows[0].cells[0].text == "指标")
    return {row.cells[0].text: row.cells[1].text for row in table.rows[1:]}


async def test_a_supervisor_downloads_the_workbook_and_the_written_report_with_the_same_totals(client, people, platform):  # noqa: F811
    await national_day_week(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get(f"/console/reports?{WEEK}")
    assert page.status_code == 200, page.text
    assert "周报" in page.text and 'id="report-docx"' in page.text
    links = dict(re.findall(r'href="([^"]+)" id="report-(xlsx|docx|view)"', page.text))
    links = {kind: href.replace("&amp;", "&") for href, kind in links.items()}
    workbook = await supervisor.get(links["xlsx"])
    assert workbook.status_code == 200 and workbook.headers["content-type"].startswith("application/vnd.openxml")
    written = await supervisor.get(links["docx"])
    assert written.status_code == 200, written.text
    assert written.headers["content-disposition"].endswith('.docx"')
    document = Document(io.BytesIO(written.content))
    text = "\n".join(p.text for p in document.paragraphs)
    for heading in HEADINGS:
        assert heading in text
    assert "由撰写人" in text  # 下一步建议 is left for a person
    assert document.inline_shapes, "the charts are embedded"
    in_xlsx, in_docx = _overview_xlsx(workbook.content), _overview_docx(document)
    for label in ("受理量", "办结量", "派单工单数", "超期未办结量", "回访量"):
        assert in_docx[label] == f"{in_xlsx[label]:,}"
    assert in_xlsx["受理量"] == WEEK_COUNTS["intake"]
    assert f"本期共受理群众诉求 {WEEK_COUNTS['intake']} 件" in text
    view = await supervisor.get(links["view"])
    assert view.status_code == 200 and "<h1>12345热线" in view.text
    assert "<style>" not in view.text  # the console's policy allows no inline style: linked instead
    assert (await supervisor.get("/console/reports/report.css")).status_code == 200


async def test_a_department_report_names_the_department_and_counts_only_its_orders(client, people, platform):  # noqa: F811
    await national_day_week(platform)
    supervisor = await people("supervisor1")
    page = await supervisor.get(f"/console/reports?{WEEK}&department=housing")
    assert page.status_code == 200 and "承办单位：住房和城乡建设局" in page.text
    assert "housing" not in re.sub(r'(value|href)="[^"]*"', "", page.text)
    written = await supervisor.get(f"/console/reports/file?{WEEK}&department=housing&format=docx")
    document = Document(io.BytesIO(written.content))
    assert "住房和城乡建设局" in document.paragraphs[1].text


async def test_snapshots_saved_from_the_console_are_listed_and_open_as_they_were_kept(client, people, platform):  # noqa: F811
    await national_day_week(platform)
    supervisor = await people("supervisor1")
    await supervisor.get(f"/console/reports?{WEEK}")
    saved = await supervisor.post("/console/reports/snapshots", {"period": "weekly", "start": "2025-10-01"})
    assert saved.status_code == 200 and "已保存第 1 版" in saved.text
    assert "第 1 版" in saved.text.split('id="report-snapshots"')[1]
    kept = await supervisor.get(f"/console/reports/file?{WEEK}&format=docx&version=1")
    assert kept.status_code == 200 and Document(io.BytesIO(kept.content)).tables


async def test_reports_are_for_supervisors_and_admins_and_the_api_gives_the_docx(client, people, platform, tokens):  # noqa: F811
    agent = await people("agent1")
    assert (await agent.get(f"/console/reports?{WEEK}")).status_code == 403
    answer = await client.get(f"/api/reports/weekly?start=2025-10-01&format=docx", headers=tokens["supervisor1"])
    assert answer.status_code == 200 and Document(io.BytesIO(answer.content)).paragraphs
    bad = await client.get("/api/reports/weekly?format=pdf", headers=tokens["supervisor1"])
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "format"


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_the_scheduled_monthly_and_annual_reports_reach_supervisors_and_admins_as_notices(client, platform, tokens):
    from core.jobs import deliver_outbox
    from core.reports import schedule

    await schedule.tick(platform)
    await deliver_outbox(platform)
    notices = (await client.get("/api/notifications", headers=tokens["supervisor1"])).json()["items"]
    texts = [n["text"] for n in notices if n["template"] == "report_ready"]
    assert any("2026年11月月报已生成（第 1 版）" in t and "统计报表" in t for t in texts), texts
    assert any("2025年年报已生成" in t for t in texts)
    assert not any("周报" in t or "日报" in t for t in texts)  # the others are stored, not announced
    admin = (await client.get("/api/notifications", headers=tokens["admin1"])).json()["items"]
    assert sum(n["template"] == "report_ready" for n in admin) == 2
    await schedule.tick(platform)  # the same day again: nothing stored, nothing announced twice
    await deliver_outbox(platform)
    again = (await client.get("/api/notifications", headers=tokens["supervisor1"])).json()["items"]
    assert len([n for n in again if n["template"] == "report_ready"]) == 2
