"""答复模板 page: a department's own reply wording, kept by its handlers (their own department only)
and by supervisors and admins (any department, chosen with a picker). The rules are the core's
(``core.reply_templates``); a refused form comes back with the message beside its field and what
was typed."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from core import reply_templates
from core.errors import Conflict, Forbidden, InvalidInput
from core.model import Actor
from core.tables import Department

KEEPERS = frozenset({"handler", *reply_templates.MANAGERS})


async def _keeper(request: Request) -> Actor:
    actor = await current_actor(request)
    if actor.role not in KEEPERS:
        raise Forbidden("只有承办单位、督办员和管理员可以管理答复模板")
    return actor


def _text(form, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


async def _page(request: Request, actor: Actor, department: str, *, status_code: int = 200,
                errors: dict | None = None, values: dict | None = None) -> Response:
    departments = await Department.select(Department.code, Department.name).order_by(Department.sort).order_by(
        Department.code)
    if actor.role == "handler":
        department = actor.department or ""
    elif not department and departments:
        department = departments[0]["code"]
    return await render_page(request, actor, "reply_templates.html", status_code=status_code, department=department,
                        departments=departments, department_name=next(
                            (d["name"] for d in departments if d["code"] == department), department),
                        templates=await reply_templates.list_for(department), generic=reply_templates.GENERIC,
                        errors=errors or {}, values=values or {}, done=request.query_params.get("done", ""))


def _field_errors(error: InvalidInput | Conflict) -> dict[str, str]:
    found: dict[str, str] = {}
    for e in error.extra or []:
        found.setdefault(getattr(e, "key", "_form"), getattr(e, "message", error.detail))
    return found or {"_form": error.detail}


def _back(department: str, what: str) -> Redirect:
    return Redirect(f"/console/templates?{urlencode({'department': department, 'done': what})}", status_code=303)


@get("/templates")
async def templates_page(request: Request) -> Response:
    actor = await _keeper(request)
    return await _page(request, actor, request.query_params.get("department", ""))


@post("/templates")
async def templates_add(request: Request) -> Response:
    actor = await _keeper(request)
    form = await request.form()
    department = _text(form, "department") or actor.department or ""
    name, text = _text(form, "name"), _text(form, "text")
    try:
        await reply_templates.add(actor, department, name, text)
    except (InvalidInput, Conflict) as error:
        return await _page(request, actor, department, status_code=400, errors={"add": _field_errors(error)},
                           values={"add": {"name": name, "text": text}})
    return _back(department, f"已添加模板「{name.strip()}」")


@post("/templates/{template_id:int}/edit")
async def templates_edit(request: Request, template_id: FromPath[int]) -> Response:
    actor = await _keeper(request)
    row = await reply_templates.get(template_id)
    form = await request.form()
    name, text = _text(form, "name"), _text(form, "text")
    try:
        await reply_templates.update(actor, template_id, name, text)
    except (InvalidInput, Conflict) as error:
        return await _page(request, actor, row["department"], status_code=400,
                           errors={template_id: _field_errors(error)}, values={template_id: {"name": name, "text": text}})
    return _back(row["department"], f"已保存模板「{name.strip()}」")


@post("/templates/{template_id:int}/delete")
async def templates_delete(request: Request, template_id: FromPath[int]) -> Response:
    actor = await _keeper(request)
    row = await reply_templates.get(template_id)
    await reply_templates.delete(actor, template_id)
    return _back(row["department"], f"已删除模板「{row['name']}」")


TEMPLATE_ROUTES = [templates_page, templates_add, templates_edit, templates_delete]
