"""Written-report templates (.docx with fields, filled by docxtpl): the shipped default, and the ones an
admin uploads for one report kind or for all of them. An upload is rendered against a sample report
before it is kept, so a template whose fields do not render is refused with the reason, never found
out when the monthly report is due. Every upload and every return to the default is audited
(``setting_changes``).

The fields a template may use are ``written.fields`` (documented in docs/reports.md).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

from core import clock
from core.db import write_transaction
from core.errors import FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.reports.periods import KINDS as PERIOD_KINDS
from core.tables import ReportTemplate, SettingChange

SETTING = "report_template"
ALL = "all"
KINDS = {ALL: "全部报表（未单独设置模板的）", **PERIOD_KINDS}
DEFAULT_FILE = Path(__file__).with_name("written_template.docx")
MAX_BYTES = 5 * 1024 * 1024  # the upload
MAX_UNPACKED = 50 * 1024 * 1024  # what its parts unpack to: no zip bomb reaches the XML parser
CHART_WIDTH_CM = 15.5
CHARTS = ("chart_channels", "chart_issues", "chart_departments")
PEOPLE_SHOWN = ("接听量", "受理量", "即时办结率", "派单准确率", "回访满意率", "质检平均分")  # 各班组话务绩效's columns


# -- the default --------------------------------------------------------------------------------------------

def build_default() -> bytes:
    """The shipped template, written with python-docx: the same sections, tables and charts the
    written report always had. ``written_template.docx`` is this function's output (a test keeps
    the two in step); edit here, then write the file again."""
    from docx import Document
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt, RGBColor

    doc = Document()
    section = doc.sections[0]
    section.page_height, section.page_width = Cm(29.7), Cm(21)
    section.left_margin = section.right_margin = Cm(2.6)
    style = doc.styles["Normal"]
    style.font.name = "仿宋"
    style.font.size = Pt(12)
    style.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋")
    for name in ("Title", "Heading 1"):
        heading = doc.styles[name]
        heading.font.name = "黑体"
        heading.font.color.rgb = RGBColor(0, 0, 0)
        heading.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "黑体")

    def para(text: str):
        p = doc.add_paragraph(text)
        p.paragraph_format.first_line_indent = Pt(24)
        p.paragraph_format.line_spacing = 1.4
        return p

    def optional(name: str):
        doc.add_paragraph(f"{{%p if {name} %}}")
        para(f"{{{{ {name} }}}}")
        doc.add_paragraph("{%p endif %}")

    def table(caption: str, headers: list[str], rows: str):
        doc.add_paragraph(caption).runs[0].bold = True
        grid = doc.add_table(rows=4, cols=len(headers))
        grid.style = "Table Grid"
        for cell, text in zip(grid.rows[0].cells, headers):
            cell.text = text
            cell.paragraphs[0].runs[0].bold = True
        grid.rows[1].cells[0].text = f"{{%tr for r in {rows} %}}"
        for i, cell in enumerate(grid.rows[2].cells):
            cell.text = f"{{{{ r[{i}] }}}}"
        grid.rows[3].cells[0].text = "{%tr endfor %}"

    def chart(name: str):
        doc.add_paragraph(f"{{{{ {name} }}}}")

    doc.add_heading("{{ title }}", level=0).alignment = WD_ALIGN_PARAGRAPH.CENTER
    doc.add_paragraph("{{ subtitle }}").alignment = WD_ALIGN_PARAGRAPH.CENTER
    optional("partial_note")

    doc.add_heading("一、总体情况", level=1)
    para("{{ overview }}")
    optional("channel_mix")
    table("{{ overview_title }}", ["指标", "本期", "上期", "环比", "上年同期", "同比"], "overview_rows")
    chart("chart_channels")

    doc.add_heading("二、热点问题", level=1)
    para("{{ issues_summary }}")
    doc.add_paragraph("{%p for example in issue_examples %}")
    para("{{ example }}")
    doc.add_paragraph("{%p endfor %}")
    optional("places")
    table("热点问题", ["排名", "问题分类", "本期受理量", "上期受理量", "环比"], "issue_rows")
    chart("chart_issues")

    doc.add_heading("三、办理情况", level=1)
    para("{{ handling }}")
    optional("best")
    optional("worst")
    table("各承办单位办理情况", ["承办单位", "派单工单数", "办结量", "按时办结率", "超期未办结量", "被退单工单数", "满意率"],
          "department_rows")
    chart("chart_departments")

    doc.add_heading("四、满意度", level=1)
    para("{{ satisfaction }}")
    optional("low_satisfaction")

    doc.add_heading("五、预警与群体性事件", level=1)
    para("{{ warnings_summary }}")
    optional("mass_incidents")

    doc.add_paragraph("{%p if people_rows %}")  # the whole centre's report only
    para("{{ people_summary }}")
    table("各班组话务绩效", ["班组", *PEOPLE_SHOWN], "people_rows")
    doc.add_paragraph("{%p endif %}")

    doc.add_heading("六、下一步建议", level=1)
    para("{{ suggestions }}")

    doc.add_heading("附：指标口径", level=1)
    doc.add_paragraph("{%p for d in definitions %}")
    para("{{ d.label }}：{{ d.definition }}")
    doc.add_paragraph("{%p endfor %}")
    para("生成时间：{{ generated_at }}（北京时间）。")
    doc.core_properties.title = "12345市民服务热线文字材料模板"
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


@functools.cache
def default_bytes() -> bytes:
    return DEFAULT_FILE.read_bytes()


# -- filling ---------------------------------------------------------------------------------------------------

def _environment():
    """Sandboxed (a template cannot reach Python's internals) and strict (a field that does not exist
    is an error, not an empty space in the centre's report)."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


def fill(template: bytes, fields: dict[str, Any]) -> bytes:
    """``template`` with ``fields`` filled in (its charts as images 15.5 cm wide)."""
    from docx.shared import Cm
    from docxtpl import DocxTemplate, InlineImage

    doc = DocxTemplate(io.BytesIO(template))
    context = {k: v for k, v in fields.items() if k != "_charts"}
    for name, png in (fields.get("_charts") or {}).items():
        context[name] = InlineImage(doc, io.BytesIO(png), width=Cm(CHART_WIDTH_CM))
    doc.render(context, jinja_env=_environment(), autoescape=True)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def sample_fields() -> dict[str, Any]:
    """A made-up report's fields (every name a real one has), to try an uploaded template on."""
    from core.reports import charts, kpis

    row6 = ["受理量", "1,234", "1,100", "+12.2%", "1,000", "+23.4%"]
    return {
        "title": "12345市民服务热线2026年11月月报", "subtitle": "（2026-11-01 至 2026-11-30）", "scope": "全中心",
        "period": {"name": "2026年11月", "kind_label": "月报", "label": "2026年11月", "start": "2026-11-01",
                   "end": "2026-11-30", "through": "2026-11-30", "partial": False},
        "partial_note": "", "counts": {c.name: "1,234" for c in kpis.COUNTS},
        "rates": {k.name: "95.0%" for k in kpis.KPIS}, "overview_title": "主要指标", "overview_rows": [row6],
        "suggestions": "（示例）", "definitions": [{"label": "受理量", "definition": "本期受理的工单数"}],
        "generated_at": "2026-12-01 08:00:00", "overview": "本期共受理群众诉求 1,234 件。", "channel_mix": "示例",
        "issues_summary": "示例", "issue_examples": ["示例"], "places": "示例",
        "issue_rows": [["1", "噪音扰民", "120", "100", "+20.0%"]], "handling": "示例", "best": "示例", "worst": "示例",
        "department_rows": [["城市管理和综合执法局", "100", "90", "95.0%", "1", "2", "90.0%"]],
        "satisfaction": "示例", "low_satisfaction": "示例", "warnings_summary": "示例", "mass_incidents": "示例",
        "people_summary": "示例", "people_rows": [["一班", "100", "90", "30.0%", "98.0%", "95.0%", "92.5"]],
        "_charts": {name: charts.bars("示例", [("示例", 1)]) for name in CHARTS},
    }


def check(content: bytes) -> None:
    """Refuse (400, field ``file``) what is not a .docx, uses a field that does not exist, or does not
    render: tried on ``sample_fields`` exactly as a report would be."""
    from docx import Document

    def refuse(why: str):
        raise InvalidInput([FieldError("file", why)], "模板不可用")

    if not content:
        refuse("请上传一个 .docx 文件")
    if len(content) > MAX_BYTES:
        refuse(f"文件不能超过 {MAX_BYTES // 1024 // 1024} MB")
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
            unpacked = sum(i.file_size for i in archive.infolist())
    except zipfile.BadZipFile:
        refuse("不是有效的 Word 文档（.docx）")
    if "word/document.xml" not in names or "[Content_Types].xml" not in names:
        refuse("不是有效的 Word 文档（.docx）：缺少正文")
    if unpacked > MAX_UNPACKED:
        refuse("文档解压后过大")
    sample = sample_fields()
    try:
        tree = _parse(content)
    except Exception as bad:  # noqa: BLE001  (the template's own syntax error, said to its author)
        refuse(f"模板字段写法有误：{_reason(bad)}")
    costly = _costly(tree)
    if costly:
        refuse(f"模板中不能使用{costly}：模板只填写字段、按条件显示和逐项重复")
    from jinja2 import meta

    unknown = meta.find_undeclared_variables(tree) - set(sample) - set(CHARTS)
    if unknown:
        refuse(f"模板中的字段不存在：{'、'.join(sorted(unknown))}（可用字段见“文字材料模板”说明）")
    try:
        Document(io.BytesIO(fill(content, sample)))
    except Exception as bad:  # noqa: BLE001
        refuse(f"模板无法生成文字材料：{_reason(bad)}")


def _parse(content: bytes):
    """The template's Jinja syntax tree, read as docxtpl reads it (the body, headers and footers)."""
    from docx import Document
    from docx.oxml import parse_xml
    from docxtpl import DocxTemplate

    tpl = DocxTemplate(io.BytesIO(content))
    doc = Document(io.BytesIO(content))
    xml = tpl.patch_xml(tpl.xml_to_string(doc._element.body))
    for rel in doc.part.rels.values():
        if rel.reltype in (tpl.HEADER_URI, tpl.FOOTER_URI) and rel.target_part.blob:
            xml += tpl.patch_xml(tpl.xml_to_string(parse_xml(rel.target_part.blob)))
    return _environment().parse(xml)


LARGEST_NUMBER = 10_000


def _costly(tree) -> str:
    """What in the template could make filling it unbounded work (a call, multiplying, a power, a
    large number), named for its author; empty when there is none."""
    from jinja2 import nodes

    for node in tree.find_all((nodes.Call, nodes.Mul, nodes.Pow, nodes.Const)):
        if isinstance(node, nodes.Call):
            return "函数调用"
        if isinstance(node, (nodes.Mul, nodes.Pow)):
            return "乘法或乘方"
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and abs(node.value) > LARGEST_NUMBER:
            return f"大于 {LARGEST_NUMBER} 的数"
    return ""


def _reason(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


# -- kept templates --------------------------------------------------------------------------------------------

def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise NotFound(f"没有「{kind}」这种报表，可用：{'、'.join(KINDS)}")
    return kind


async def in_force(kind: str) -> bytes | None:
    """The uploaded template a report of ``kind`` is written with (its own, else the one for all);
    None: the default."""
    rows = {r["kind"]: r for r in await ReportTemplate.select(ReportTemplate.kind, ReportTemplate.content).where(
        ReportTemplate.kind.is_in([kind, ALL]))}
    row = rows.get(kind) or rows.get(ALL)
    return base64.b64decode(row["content"]) if row else None


async def current(kind: str) -> tuple[bytes, str, str]:
    """The template in force for ``kind``: (content, file name, where it comes from: kind, all or default)."""
    _kind(kind)
    rows = {r["kind"]: r for r in await ReportTemplate.select().where(ReportTemplate.kind.is_in([kind, ALL]))}
    row = rows.get(kind) or rows.get(ALL)
    if row is None:
        return default_bytes(), "written_template.docx", "default"
    return base64.b64decode(row["content"]), row["filename"] or f"template-{row['kind']}.docx", row["kind"]


async def listing() -> list[dict[str, Any]]:
    """Each report kind with the template it is written with now."""
    rows = {r["kind"]: r for r in await ReportTemplate.select(
        ReportTemplate.kind, ReportTemplate.filename, ReportTemplate.digest, ReportTemplate.uploaded_by,
        ReportTemplate.uploaded_at)}
    out = []
    for kind, label in KINDS.items():
        own = rows.get(kind)
        used = own or (rows.get(ALL) if kind != ALL else None)
        out.append({"kind": kind, "label": label, "custom": own is not None,
                    "source": used["kind"] if used else "default",
                    "filename": own["filename"] if own else "", "digest": own["digest"] if own else "",
                    "uploaded_by": own["uploaded_by"] if own else "",
                    "uploaded_at": own["uploaded_at"].isoformat() if own else None})
    return out


def _admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以更换文字材料模板")


async def save(kind: str, filename: str, content: bytes, actor: Actor, reason: str = "") -> dict[str, Any]:
    """Keep ``content`` as the template for ``kind`` once it renders (audited: the old and new file)."""
    _admin(actor)
    _kind(kind)
    check(content)
    digest = hashlib.sha256(content).hexdigest()
    filename = (Path(filename or "").name or f"template-{kind}.docx")[:255]
    now = clock.now()
    async with write_transaction(ReportTemplate._meta.db):
        old = await ReportTemplate.select(ReportTemplate.filename, ReportTemplate.digest).where(
            ReportTemplate.kind == kind).first()
        encoded = base64.b64encode(content).decode()
        if old:
            await ReportTemplate.update({ReportTemplate.filename: filename, ReportTemplate.content: encoded,
                                         ReportTemplate.digest: digest, ReportTemplate.uploaded_by: actor.name,
                                         ReportTemplate.uploaded_at: now}).where(ReportTemplate.kind == kind)
        else:
            await ReportTemplate.insert(ReportTemplate(kind=kind, filename=filename, content=encoded, digest=digest,
                                                       uploaded_by=actor.name, uploaded_at=now))
        await SettingChange.insert(SettingChange(
            setting=SETTING, scope="", item=kind, old_value=old or {"filename": "默认模板"},
            new_value={"filename": filename, "digest": digest}, reason=reason.strip()[:500] or "上传模板",
            actor=actor.name, role=actor.role, created_at=now))
    return next(r for r in await listing() if r["kind"] == kind)


async def revert(kind: str, actor: Actor, reason: str = "") -> bool:
    """Back to the default for ``kind`` (the one for all, if any, applies again); False: nothing to undo."""
    _admin(actor)
    _kind(kind)
    async with write_transaction(ReportTemplate._meta.db):
        old = await ReportTemplate.select(ReportTemplate.filename, ReportTemplate.digest).where(
            ReportTemplate.kind == kind).first()
        if old is None:
            return False
        await ReportTemplate.delete().where(ReportTemplate.kind == kind)
        await SettingChange.insert(SettingChange(
            setting=SETTING, scope="", item=kind, old_value=old, new_value={"filename": "默认模板"},
            reason=reason.strip()[:500] or "恢复默认模板", actor=actor.name, role=actor.role, created_at=clock.now()))
    return True


async def history(limit: int = 30) -> list[dict[str, Any]]:
    return await (SettingChange.select().where(SettingChange.setting == SETTING)
                  .order_by(SettingChange.id, ascending=False).limit(limit).output(load_json=True))
