"""协调会 pages: the meetings list with the form to call one (supervisors and admins; opened from an
order's page with that order filled in), one meeting with its minutes form and decisions (each owner
department marks its own done), the minutes as a .docx, and the decisions across meetings (the
supervisor's overdue list). Rules and visibility are the core's (``core.meetings``), the same as
``/api/meetings``; a refused form comes back with each message beside its field and what was typed."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from core.calendar import local_iso
from core.clock import SHANGHAI
from core.errors import Conflict, Forbidden, InvalidInput
from core.meeting_minutes import minutes_docx
from core.meetings import CALLERS, DECISION_STATES, DecisionDone, Minutes, NewMeeting
from core.model import Actor
from core.tables import Department
from core.users import display_names

DECISION_ROWS = 3  # empty decision rows the minutes form offers beyond those already written
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _text(form, name: str, limit: int = 20_000) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def _errors(error: InvalidInput | Conflict) -> dict[str, str]:
    found: dict[str, str] = {}
    for e in error.extra or []:
        found.setdefault(getattr(e, "key", "_form"), getattr(e, "message", error.detail))
    return found or {"_form": error.detail}


async def _departments() -> list[dict]:
    return await Department.select(Department.code, Department.name).order_by(Department.sort).order_by(Department.code)


async def _render(request: Request, actor: Actor, name: str, **context) -> Response:
    return await render_page(request, actor, name, **context)


async def _list_page(request: Request, actor: Actor, *, status_code: int = 200, values: dict | None = None,
                     errors: dict | None = None) -> Response:
    meetings = request.app.state.platform.meetings
    order = _text(request.query_params, "order", 32)
    return await _render(request, actor, "meetings.html", status_code=status_code,
                         meetings=await meetings.listing(actor), may_call=actor.role in CALLERS,
                         departments=await _departments(), values=values or {"orders": order}, errors=errors or {},
                         done=request.query_params.get("done", ""))


@get("/meetings")
async def meetings_page(request: Request) -> Response:
    return await _list_page(request, await current_actor(request))


def _local_instant(text: str) -> str:
    """A datetime-local value (the centre's wall clock) as an instant with its zone."""
    try:
        return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).isoformat()
    except ValueError:
        return text


@post("/meetings")
async def meetings_call(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role not in CALLERS:
        raise Forbidden("只有督办员和管理员可以召集协调会")
    form = await request.form()
    orders = [n for n in _text(form, "orders", 2000).replace("，", " ").replace(",", " ").split() if n]
    departments = [d for d in form.getall("departments", []) if isinstance(d, str)]
    values = {"title": _text(form, "title", 200), "at": _text(form, "at", 32), "place": _text(form, "place", 200),
              "orders": " ".join(orders), "departments": departments}
    errors: dict[str, str] = {}
    if not values["title"].strip():
        errors["title"] = "请填写会议名称"
    if not values["at"]:
        errors["at"] = "请选择会议时间"
    if not orders:
        errors["orders"] = "请填写涉及的工单编号（一个或多个，用空格分开）"
    if not errors:
        try:
            data = msgspec.convert({"title": values["title"], "at": _local_instant(values["at"]),
                                    "place": values["place"], "orders": orders, "departments": departments[:40]},
                                   NewMeeting, strict=False)
            meeting = await request.app.state.platform.meetings.call(data, actor)
        except msgspec.ValidationError as exc:
            from core.intake import field_errors

            errors = {e.key.split(".")[0]: e.message for e in field_errors(exc)}
        except InvalidInput as refused:
            errors = {k.split(".")[0]: v for k, v in _errors(refused).items()}
        else:
            return Redirect(f"/console/meetings/{meeting['id']}?{urlencode({'done': '已召集协调会，会后请填写纪要'})}",
                            status_code=303)
    return await _list_page(request, actor, status_code=400, values=values, errors=errors)


async def _meeting_page(request: Request, actor: Actor, meeting_id: int, *, status_code: int = 200,
                        values: dict | None = None, errors: dict | None = None) -> Response:
    meeting = await request.app.state.platform.meetings.get(meeting_id, actor)
    rows = values.get("decisions") if values else None
    if rows is None:
        rows = [{"department": d["department"], "task": d["task"], "due": d["due"]} for d in meeting["decisions"]]
        rows += [{"department": "", "task": "", "due": ""} for _ in range(DECISION_ROWS)]
    held = dt.datetime.fromisoformat(meeting["at"]) <= request.app.state.platform.orders.clock()
    return await _render(request, actor, "meeting.html", status_code=status_code, meeting=meeting,
                         may_write=actor.role in CALLERS and held and not any(d["state"] == "done" for d in meeting["decisions"]),
                         held=held, departments=await _departments(), rows=rows,
                         text=(values or {}).get("text", meeting["minutes"]), errors=errors or {},
                         done=request.query_params.get("done", ""))


@get("/meetings/{meeting_id:int}")
async def meeting_page(request: Request, meeting_id: FromPath[int]) -> Response:
    return await _meeting_page(request, await current_actor(request), meeting_id)


@post("/meetings/{meeting_id:int}/minutes")
async def meeting_minutes(request: Request, meeting_id: FromPath[int]) -> Response:
    """Blank decision rows are left out; a row partly filled is refused beside its fields."""
    actor = await current_actor(request)
    if actor.role not in CALLERS:
        raise Forbidden("只有督办员和管理员可以填写协调会纪要")
    form = await request.form()
    text = _text(form, "text")
    rows, decisions, errors = [], [], {}
    for i in range(60):
        row = {k: _text(form, f"{k}.{i}", 1000).strip() for k in ("department", "task", "due")}
        if f"task.{i}" not in form:
            break
        rows.append(row)
        if any(row.values()):
            decisions.append((len(rows) - 1, row))
    body = []
    for index, row in decisions:
        try:
            due = dt.date.fromisoformat(row["due"])
        except ValueError:
            errors[f"decisions.{index}.due"] = "请选择完成期限"
            continue
        if not row["department"]:
            errors[f"decisions.{index}.department"] = "请选择责任单位"
        if not row["task"]:
            errors[f"decisions.{index}.task"] = "请填写议定事项"
        body.append({"department": row["department"], "task": row["task"], "due": due})
    if not text.strip():
        errors["text"] = "请填写纪要正文"
    if not errors:
        try:
            minutes = msgspec.convert({"text": text, "decisions": body}, Minutes, strict=False)
            await request.app.state.platform.meetings.write_minutes(meeting_id, minutes, actor)
        except msgspec.ValidationError as exc:
            from core.intake import field_errors

            errors = _on_rows({e.key: e.message for e in field_errors(exc)}, decisions)
        except (InvalidInput, Conflict) as refused:
            errors = _on_rows(_errors(refused), decisions)
        else:
            return Redirect(f"/console/meetings/{meeting_id}?{urlencode({'done': '纪要已保存，议定事项已记入各工单'})}",
                            status_code=303)
    return await _meeting_page(request, actor, meeting_id, status_code=400,
                               values={"text": text, "decisions": rows}, errors=errors)


def _on_rows(errors: dict[str, str], sent: list[tuple[int, dict]]) -> dict[str, str]:
    """The core names a decision by its place among those sent; the form by its row (blank rows skipped)."""
    shown = {}
    for key, message in errors.items():
        parts = key.split(".")
        if parts[0] == "decisions" and len(parts) > 2 and parts[1].isdigit() and int(parts[1]) < len(sent):
            parts[1] = str(sent[int(parts[1])][0])
        shown[".".join(parts)] = message
    return shown


@post("/meetings/{meeting_id:int}/decisions/{decision_id:int}/done")
async def decision_done(request: Request, meeting_id: FromPath[int], decision_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    form = await request.form()
    note = _text(form, "note", 1000)
    try:
        await request.app.state.platform.meetings.mark_done(meeting_id, decision_id, DecisionDone(note=note), actor)
    except Conflict as refused:
        return await _meeting_page(request, actor, meeting_id, status_code=409, errors={"_form": refused.detail})
    back = _text(form, "back", 200)
    target = back if back.startswith("/console/") and "//" not in back else f"/console/meetings/{meeting_id}"
    sep = "&" if "?" in target else "?"
    return Redirect(f"{target}{sep}{urlencode({'done': '已标记议定事项完成'})}", status_code=303)


@get("/meetings/{meeting_id:int}/minutes.docx")
async def meeting_docx(request: Request, meeting_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    meeting = await request.app.state.platform.meetings.get(meeting_id, actor)
    body = minutes_docx(meeting, await display_names(), lambda iso: dt.datetime.fromisoformat(local_iso(iso)))
    return Response(body, media_type=DOCX,
                    headers={"Content-Disposition": f'attachment; filename="meeting-{meeting_id}-minutes.docx"'})


@get("/meetings/decisions")
async def decisions_page(request: Request) -> Response:
    actor = await current_actor(request)
    state = _text(request.query_params, "state", 16)
    state = state if state in DECISION_STATES else ""
    items = await request.app.state.platform.meetings.decisions(actor, state=state)
    return await _render(request, actor, "meeting_decisions.html", items=items, state=state, states=DECISION_STATES,
                         done=request.query_params.get("done", ""))


MEETING_ROUTES = [meetings_page, meetings_call, meeting_page, meeting_minutes, decision_done, meeting_docx,
                  decisions_page]
