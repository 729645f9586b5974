"""The maintenance record in the console: 故障报告 (any member of staff reports a fault; the admin and
auditor read the log, the admin appends what was done, entry by entry) and 月度巡检 (the kept
inspections, each as a page or a .docx, and an inspection run now)."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.session import current_actor
from api.console.centre import _render as render
from core import access_audit, clock, incidents, inspections
from core.calendar import SHANGHAI
from core.errors import Forbidden, NotFound
from core.users import display_names

async def _render(request: Request, actor, name: str, *, status_code: int = 200, **context) -> Response:
    return await render(request, actor, name, status_code=status_code, **context)


def _done(path: str, what: str) -> Redirect:
    return Redirect(f"{path}?{urlencode({'done': what})}", status_code=303)


def _text(form, name: str, limit: int) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


async def _faults_page(request: Request, actor, *, status_code: int = 200, values: dict | None = None,
                       errors: dict | None = None) -> Response:
    readers = actor.role in access_audit.READERS
    return await _render(request, actor, "faults.html", status_code=status_code, values=values or {},
                         errors=errors or {}, faults=await incidents.listing() if readers else [], readers=readers)


@get("/faults")
async def faults_page(request: Request) -> Response:
    return await _faults_page(request, await current_actor(request))


@post("/faults")
async def fault_report(request: Request) -> Response:
    """Any member of staff reports a fault: what, since when, what it affects; they are its reporter."""
    actor = await current_actor(request)
    form = await request.form()
    values = {"title": _text(form, "title", 200), "impact": _text(form, "impact", 4000),
              "occurred_at": _text(form, "occurred_at", 16)}
    errors = {}
    if not values["title"]:
        errors["title"] = "请写明故障现象"
    try:
        occurred = dt.datetime.fromisoformat(values["occurred_at"]).replace(tzinfo=SHANGHAI) if values["occurred_at"] \
            else None
    except ValueError:
        occurred, errors["occurred_at"] = None, "时间格式应为 年-月-日 时:分"
    if errors:
        return await _faults_page(request, actor, status_code=400, values=values, errors=errors)
    made = await incidents.record(title=values["title"], occurred_at=occurred or clock.now(),
                                  impact=values["impact"], recorded_by=actor.name, reported_by=actor.name)
    target = f"/console/faults/{made['id']}" if actor.role in access_audit.READERS else "/console/faults"
    return _done(target, "已报告故障，运维人员会跟进处理")


@get("/faults/{incident_id:int}")
async def fault_page(request: Request, incident_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    if actor.role not in access_audit.READERS:
        raise Forbidden("只有管理员和审计员可以查看故障记录")
    found = await incidents.detail(incident_id)
    if found is None:
        raise NotFound(f"故障记录 {incident_id} 不存在")
    return await _render(request, actor, "fault.html", fault=found, kinds=incidents.UPDATE_KINDS,
                         may_update=actor.role == "admin")


@post("/faults/{incident_id:int}/updates")
async def fault_update(request: Request, incident_id: FromPath[int]) -> Response:
    """The admin appends one entry (method, measure, progress or result); nothing earlier is changed."""
    actor = await current_actor(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以填写故障处理记录")
    form = await request.form()
    kind, text = _text(form, "kind", 16), _text(form, "text", 4000)
    if kind not in incidents.UPDATE_KINDS or not text:
        found = await incidents.detail(incident_id)
        if found is None:
            raise NotFound(f"故障记录 {incident_id} 不存在")
        return await _render(request, actor, "fault.html", status_code=400, fault=found, kinds=incidents.UPDATE_KINDS,
                             may_update=True, error="请选择记录类型并填写内容")
    found = await incidents.add_update(incident_id, kind=kind, text=text, author=actor.name,
                                       resolved=True if form.get("resolved") == "on" else None)
    if found is None:
        raise NotFound(f"故障记录 {incident_id} 不存在")
    return _done(f"/console/faults/{incident_id}", f"已追加{incidents.UPDATE_KINDS[kind]}")


# -- the monthly inspection ------------------------------------------------------------------------------

async def _inspector(request: Request):
    actor = await current_actor(request)
    if actor.role not in access_audit.READERS:
        raise Forbidden("只有管理员和审计员可以查看巡检记录")
    return actor


@get("/admin/inspections")
async def inspections_page(request: Request) -> Response:
    actor = await _inspector(request)
    return await _render(request, actor, "inspections.html", kept=await inspections.listing(),
                         may_run=actor.role == "admin")


@post("/admin/inspections")
async def inspection_run(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以运行巡检")
    kept = await inspections.run(request.app.state.platform, actor.name)
    return _done("/console/admin/inspections", f"巡检完成：{kept['outcome_label']}")


@get("/admin/inspections/{inspection_id:int}")
async def inspection_document(request: Request, inspection_id: FromPath[int]) -> Response:
    """One kept inspection as a page, or as a .docx (``?format=docx``)."""
    await _inspector(request)
    found = await inspections.get(inspection_id)
    if found is None:
        raise NotFound(f"巡检记录 {inspection_id} 不存在")
    facts, names = await inspections.context(found), await display_names()
    if request.query_params.get("format") == "docx":
        return Response(inspections.docx(found, facts, names), media_type=inspections.DOCX, headers={
            "Content-Disposition": f'attachment; filename="inspection-{found["month"]}-{found["id"]}.docx"'})
    return Response(inspections.html(found, facts, names), media_type="text/html; charset=utf-8",
                    headers={"cache-control": "no-store"})


MAINTENANCE_ROUTES = [faults_page, fault_report, fault_page, fault_update, inspections_page, inspection_run,
                      inspection_document]
