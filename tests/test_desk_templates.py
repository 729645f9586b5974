"""Written-report templates an admin edits: a .docx with fields replaces the shipped one for one report
kind (or for all), is tried on a sample before it is kept (a file that is not a .docx, or whose fields
do not render, is refused with the reason), can be downloaded with the default beside it, and reverted;
every change audited."""

from __future__ import annotations

import io
import zipfile

from docx import Document

from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)
from tests.test_reports import WEEK_COUNTS, national_day_week

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def template(*lines: str) -> bytes:
    """A .docx whose paragraphs are ``lines`` (each may hold fields)."""
    doc = Document()
    for line in lines:
        doc.add_paragraph(line)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def texts(content: bytes) -> list[str]:
    return [p.text for p in Document(io.BytesIO(content)).paragraphs]


OURS = template("{{ title }}", "本周受理 {{ counts.intake }} 件，满意率 {{ rates.satisfaction_rate }}。",
                "{%p for r in overview_rows %}", "{{ r[0] }}：{{ r[1] }}", "{%p endfor %}", "{{ chart_issues }}",
                "区里自己的结尾。")


def upload(content: bytes, name: str = "区模板.docx", reason: str = ""):
    return {"files": {"file": (name, content, DOCX)}, "data": {"reason": reason} if reason else {}}


async def test_an_admin_replaces_the_weekly_template_and_the_written_report_follows_it(client, tokens, platform):
    from core.tables import SettingChange

    await national_day_week(platform)
    admin = tokens["admin1"]
    put = await client.put("/api/reports/templates/weekly", headers=admin, **upload(OURS, reason="区里的格式"))
    assert put.status_code == 200, put.text
    assert put.json()["custom"] is True and put.json()["filename"] == "区模板.docx"

    weekly = await client.get("/api/reports/weekly?start=2025-10-01&format=docx", headers=tokens["supervisor1"])
    lines = texts(weekly.content)
    assert f"本周受理 {WEEK_COUNTS['intake']} 件" in lines[1] and "区里自己的结尾。" in lines
    assert f"受理量：{WEEK_COUNTS['intake']}" in lines  # the same figures as the workbook's 概览
    assert len(Document(io.BytesIO(weekly.content)).inline_shapes) == 1  # its chart, as an image
    monthly = await client.get("/api/reports/monthly?start=2025-10-01&format=docx", headers=tokens["supervisor1"])
    assert "一、总体情况" in texts(monthly.content)  # the other kinds keep the default

    current = await client.get("/api/reports/templates/weekly", headers=tokens["supervisor1"])
    assert current.status_code == 200 and current.content == OURS
    default = await client.get("/api/reports/templates/default", headers=admin)
    assert "{{ overview }}" in texts(default.content)
    listed = {t["kind"]: t for t in (await client.get("/api/reports/templates", headers=admin)).json()["items"]}
    assert listed["weekly"]["source"] == "weekly" and listed["monthly"]["source"] == "default"

    reverted = await client.delete("/api/reports/templates/weekly", headers=admin)
    assert reverted.status_code == 200 and reverted.json()["reverted"] is True
    again = await client.get("/api/reports/weekly?start=2025-10-01&format=docx", headers=tokens["supervisor1"])
    assert "一、总体情况" in texts(again.content)
    audit = await SettingChange.select().where(SettingChange.setting == "report_template").order_by(
        SettingChange.id).output(load_json=True)
    assert [(a["item"], a["new_value"]["filename"], a["actor"]) for a in audit] == [
        ("weekly", "区模板.docx", "admin1"), ("weekly", "默认模板", "admin1")]
    assert audit[0]["reason"] == "区里的格式" and audit[1]["old_value"]["filename"] == "区模板.docx"


async def test_a_template_for_all_reports_applies_where_a_kind_has_none_of_its_own(client, tokens, platform):
    await national_day_week(platform)
    admin = tokens["admin1"]
    assert (await client.put("/api/reports/templates/all", headers=admin,
                             **upload(template("通用：{{ title }}")))).status_code == 200
    assert (await client.put("/api/reports/templates/monthly", headers=admin,
                             **upload(template("月报专用：{{ title }}")))).status_code == 200
    weekly = await client.get("/api/reports/weekly?start=2025-10-01&format=docx", headers=admin)
    monthly = await client.get("/api/reports/monthly?start=2025-10-01&format=docx", headers=admin)
    assert texts(weekly.content)[0].startswith("通用：12345") and texts(monthly.content)[0].startswith("月报专用：")


async def test_a_template_that_is_not_a_docx_or_does_not_render_is_refused_naming_the_file(client, tokens):
    admin = tokens["admin1"]
    cases = {
        "not a docx": (b"%PDF-1.4 not a word file", "不是有效的 Word 文档"),
        "a zip without a body": (_zip({"a.txt": "x"}), "缺少正文"),
        "an unknown field": (template("{{ title }} {{ 本期亮点 }}"), "本期亮点"),
        "a broken field": (template("{{ title "), "模板字段写法有误"),
        "a field that fails": (template("{{ counts.no_such_count }}"), "模板无法生成文字材料"),
        "endless work": (template("{%p for i in range(100000) %}", "{{ title * 100000 }}", "{%p endfor %}"), "函数调用"),
        "a huge string": (template("{{ title * 100000000 }}"), "乘法或乘方"),
    }
    for case, (content, reason) in cases.items():
        refused = await client.put("/api/reports/templates/monthly", headers=admin, **upload(content))
        assert refused.status_code == 400, (case, refused.text)
        assert refused.json()["extra"][0]["key"] == "file" and reason in refused.json()["extra"][0]["message"], case
    listed = {t["kind"]: t for t in (await client.get("/api/reports/templates", headers=admin)).json()["items"]}
    assert listed["monthly"]["custom"] is False  # nothing refused was kept
    assert (await client.put("/api/reports/templates/hourly", headers=admin, **upload(OURS))).status_code == 404
    assert (await client.put("/api/reports/templates/monthly", headers=tokens["supervisor1"],
                             **upload(OURS))).status_code == 403
    assert (await client.get("/api/reports/templates", headers=tokens["agent1"])).status_code == 403


def _zip(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


async def test_the_admin_uploads_downloads_and_reverts_a_template_on_the_reports_page(client, people, platform):  # noqa: F811
    await national_day_week(platform)
    admin = await people("admin1")
    page = await admin.get("/console/reports?period=weekly&start=2025-10-01")
    assert 'id="template-upload"' in page.text and 'id="template-default"' in page.text
    bad = await admin.post("/console/reports/templates?period=weekly&start=2025-10-01",
                           {"kind": "weekly", "reason": "试用"}, files={"file": ("x.docx", b"nope", DOCX)})
    assert bad.status_code == 400 and 'id="template-file-error"' in bad.text and "不是有效的 Word 文档" in bad.text
    assert 'value="试用"' in bad.text and '<option value="weekly" selected' in bad.text  # what was typed stays
    good = await admin.post("/console/reports/templates?period=weekly&start=2025-10-01",
                            {"kind": "weekly", "reason": "区里的格式"}, files={"file": ("区模板.docx", OURS, DOCX)})
    assert good.status_code == 200 and "已更换周报的文字材料模板" in good.text
    assert "区模板.docx" in good.text.split('id="report-templates"')[1]
    written = await admin.get("/console/reports/file?period=weekly&start=2025-10-01&format=docx")
    assert "区里自己的结尾。" in texts(written.content)
    assert (await admin.get("/console/reports/templates/weekly")).content == OURS
    assert "{{ overview }}" in texts((await admin.get("/console/reports/templates/default")).content)
    reverted = await admin.post("/console/reports/templates/weekly/revert?period=weekly&start=2025-10-01")
    assert "周报已恢复默认模板" in reverted.text
    supervisor = await people("supervisor1")
    seen = await supervisor.get("/console/reports?period=weekly&start=2025-10-01")
    assert 'id="template-upload"' not in seen.text  # supervisors read reports; admins change templates
    assert (await supervisor.post("/console/reports/templates", {"kind": "weekly"},
                                  files={"file": ("t.docx", OURS, DOCX)})).status_code == 403


def test_the_shipped_default_is_the_one_its_builder_writes_and_every_field_is_documented():
    from pathlib import Path

    from core.reports import templates

    def body(content: bytes) -> bytes:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return archive.read("word/document.xml")

    assert body(templates.default_bytes()) == body(templates.build_default())
    templates.check(templates.default_bytes())
    documented = (Path(__file__).parents[1] / "docs" / "reports.md").read_text(encoding="utf-8")
    for name in templates.sample_fields():
        if not name.startswith("_"):
            assert f"`{name}`" in documented, name
    for name in templates.CHARTS:
        assert f"`{name}`" in documented, name


async def test_the_sample_a_template_is_tried_on_has_every_field_a_real_report_has(platform):
    from core.reports import templates, written
    from core.reports.build import build_report, labels
    import datetime as dt

    report = await build_report(platform, "weekly", dt.date(2025, 10, 1), {})
    real = written.fields(report, await written.context(report), await labels(platform))
    assert set(real) == set(templates.sample_fields())
    assert set(real["_charts"]) == set(templates.CHARTS)
