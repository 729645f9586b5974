"""统计报表 in the console: the five report periods for a department or a channel, viewed as the printable
report, downloaded as the workbook or the written report (.docx), and their stored snapshots, all on
the console's session. The files are the API's own (``api.reports.render``), from the same report body.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.centre import _render
from api.console.session import current_actor
from api.reports import _filters, render
from core.errors import Forbidden
from core.model import Actor
from core.errors import InvalidInput, NotFound
from core.reports import html, snapshots, templates, written
from core.reports.build import build_report, labels
from core.reports.periods import KINDS as PERIOD_KINDS
from core.reports.periods import period, today
from core.tables import Department

READERS = ("supervisor", "admin")
FORMATS = {"html": "查看报表", "xlsx": "下载 Excel", "docx": "下载文字材料（Word）"}
STYLESHEET = "/console/reports/report.css"


def _reader(actor: Actor) -> None:
    if actor.role not in READERS:
        raise Forbidden("只有督办员和管理员可以查看统计报表")


def _choice(request: Request) -> tuple[str, dt.date, dict[str, str], list[str]]:
    """The period type, a day inside it and the department or channel, as asked (a bad period or
    day falls back to this month, and says so)."""
    errors = []
    kind = str(request.query_params.get("period") or "monthly")
    if kind not in PERIOD_KINDS:
        kind, errors = "monthly", [*errors, "period"]
    try:
        start = dt.date.fromisoformat(str(request.query_params.get("start") or today().isoformat()))
        if not dt.date(2000, 1, 1) <= start <= dt.date(2100, 12, 31):
            raise ValueError
    except ValueError:
        start, errors = today(), [*errors, "start"]
    params = {name: str(request.query_params.get(name) or "")[:64] for name in ("department", "channel")}
    return kind, period(kind, start).start, {k: v for k, v in params.items() if v}, errors


def _link(path: str, kind: str, start: dt.date, filters: dict[str, str], **extra) -> str:
    return f"{path}?" + urlencode({"period": kind, "start": start.isoformat(), **filters, **extra})


@get("/reports")
async def reports_page(request: Request) -> Response:
    actor = await current_actor(request)
    _reader(actor)
    return await _reports(request, actor)


async def _reports(request: Request, actor: Actor, *, status_code: int = 200, template_errors: dict | None = None,
                   template_values: dict | None = None) -> Response:
    from api.console.centre import _render

    kind, start, asked, errors = _choice(request)
    filters = await _filters(request, asked, actor)
    platform = request.app.state.platform
    report = await build_report(platform, kind, start, filters)
    stored = await snapshots.versions(kind, start, filters)
    files = {fmt: _link("/console/reports/file", kind, start, filters, format=fmt) for fmt in FORMATS}
    for row in stored:
        row["files"] = {fmt: _link("/console/reports/file", kind, start, filters, format=fmt, version=row["version"])
                        for fmt in FORMATS}
    departments = await Department.select(Department.code, Department.name).order_by(Department.name)
    last = period(kind, start).previous().start
    following = period(kind, start).end
    kept = {}
    if actor.role == "admin":
        kept = {"items": await templates.listing(), "history": await templates.history(10),
                "kinds": templates.KINDS, "errors": template_errors or {}, "values": template_values or {},
                "query": urlencode({"period": kind, "start": start.isoformat(), **filters})}
    return await _render(request, actor, "reports.html", status_code=400 if errors else status_code, report=report,
                         report_templates=kept,
                         kinds=PERIOD_KINDS, kind=kind, start=start.isoformat(), filters=filters, errors=errors,
                         departments=departments, channels=[(c.code, c.name) for c in platform.channels],
                         files=files, formats=FORMATS, stored=stored,
                         scope=written.scope_of(report, await labels(platform)) or "全中心",
                         previous=_link("/console/reports", kind, last, filters),
                         following=_link("/console/reports", kind, following, filters) if following <= today() else "")


@get("/reports/file")
async def report_file(request: Request) -> Response:
    """The report as a page, a workbook or a document; ``version``: a stored snapshot as it was kept."""
    actor = await current_actor(request)
    _reader(actor)
    kind, start, asked, _ = _choice(request)
    filters = await _filters(request, asked, actor)
    fmt = str(request.query_params.get("format") or "html")
    if fmt not in FORMATS:
        fmt = "html"
    platform = request.app.state.platform
    version = str(request.query_params.get("version") or "")
    if version.isdigit():
        body = await snapshots.get(kind, start, filters, int(version))
    else:
        body = await build_report(platform, kind, start, filters)
    if fmt == "html":
        scope = written.scope_of(body, await labels(platform)) or "全中心"
        return Response(html.page(body, stylesheet=STYLESHEET, scope=scope), media_type="text/html; charset=utf-8",
                        headers={"cache-control": "no-store"})
    return await render(platform, body, fmt)


@get("/reports/report.css")
async def report_stylesheet() -> Response:
    """The printable report's style, served apart: the console's pages allow no inline style."""
    return Response(html.STYLE, media_type="text/css", headers={"cache-control": "max-age=3600"})


@post("/reports/snapshots")
async def save_snapshot(request: Request) -> Response:
    """Keep the report as it stands now (a new version only when its figures changed)."""
    actor = await current_actor(request)
    _reader(actor)
    form = await request.form()
    kind = str(form.get("period") or "")
    if kind not in PERIOD_KINDS:
        kind = "monthly"
    try:
        start = dt.date.fromisoformat(str(form.get("start") or ""))
    except ValueError:
        start = today()
    asked = {name: str(form.get(name) or "")[:64] for name in ("department", "channel") if form.get(name)}
    filters = await _filters(request, asked, actor)
    saved = await snapshots.save(request.app.state.platform, kind, start, filters, actor.name)
    done = f"已保存第 {saved['version']} 版" if saved["new"] else f"报表没有变化，仍为第 {saved['version']} 版"
    return Redirect(_link("/console/reports", kind, period(kind, start).start, filters, done=done), status_code=303)


# -- the written report's templates (admins change them; supervisors may download) -------------------------

@get("/reports/templates/{kind:str}")
async def template_file(request: Request, kind: FromPath[str]) -> Response:
    """The template a kind is written with now, or (``default``) the shipped one."""
    actor = await current_actor(request)
    _reader(actor)
    if kind == "default":
        content, name = templates.default_bytes(), "written_template.docx"
    else:
        content, name, _ = await templates.current(kind)
    return Response(content, media_type=written.DOCX,
                    headers={"Content-Disposition": f'attachment; filename="{quote(name)}"'})


@post("/reports/templates", request_max_body_size=templates.MAX_BYTES + 64 * 1024)
async def template_upload(request: Request) -> Response:
    """Upload a template for one kind or for all; one that does not render comes back with the reason."""
    actor = await current_actor(request)
    templates._admin(actor)
    form = await request.form()
    kind = str(form.get("kind") or "")
    reason = str(form.get("reason") or "")[:500]
    upload = form.get("file")
    values = {"kind": kind, "reason": reason}
    if kind not in templates.KINDS:
        return await _reports(request, actor, status_code=400, template_values=values,
                              template_errors={"kind": "请选择模板用于哪种报表"})
    content = await upload.read(templates.MAX_BYTES + 1) if hasattr(upload, "read") else b""
    try:
        await templates.save(kind, getattr(upload, "filename", "") or "", content, actor, reason)
    except InvalidInput as refused:
        return await _reports(request, actor, status_code=400, template_values=values,
                              template_errors={e.key: e.message for e in refused.errors})
    back = dict(request.query_params)
    return Redirect(f"/console/reports?{urlencode({**back, 'done': f'已更换{templates.KINDS[kind]}的文字材料模板'})}",
                    status_code=303)


@post("/reports/templates/{kind:str}/revert")
async def template_revert(request: Request, kind: FromPath[str]) -> Response:
    actor = await current_actor(request)
    if kind not in templates.KINDS:
        raise NotFound("没有这种报表")
    done = await templates.revert(kind, actor)
    what = f"{templates.KINDS[kind]}已恢复默认模板" if done else f"{templates.KINDS[kind]}本来就在用默认模板"
    return Redirect(f"/console/reports?{urlencode({**dict(request.query_params), 'done': what})}", status_code=303)


REPORT_ROUTES = [template_file, template_upload, template_revert, reports_page, report_file, report_stylesheet, save_snapshot]
