"""Reply templates (答复模板) over the API: the same rules as the console page (``core.reply_templates``):
a handler reads and keeps their own department's, supervisors and admins any department's."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.schemas import errors
from core import reply_templates
from core.errors import FieldError, Forbidden, InvalidInput
from core.model import Actor

TAGS = ["答复模板"]


class TemplateIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new template; ``department`` defaults to the handler's own (required for supervisors and admins)."""

    name: Annotated[str, msgspec.Meta(max_length=reply_templates.NAME_LIMIT, description="模板名称")]
    text: Annotated[str, msgspec.Meta(max_length=reply_templates.TEXT_LIMIT,
                                      description="模板内容，「{subject}」换成工单标题")]
    department: Annotated[str, msgspec.Meta(max_length=64, description="承办单位代码")] = ""


class TemplateChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(max_length=reply_templates.NAME_LIMIT, description="模板名称")]
    text: Annotated[str, msgspec.Meta(max_length=reply_templates.TEXT_LIMIT, description="模板内容")]


def _shown(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "department": row["department"], "name": row["name"], "text": row["text"],
            "created_by": row["created_by"], "created_at": row["created_at"].isoformat(),
            "updated_by": row["updated_by"], "updated_at": row["updated_at"].isoformat()}


def _department(actor: Actor, asked: str | None) -> str:
    if actor.role == "handler":
        if asked and asked != actor.department:
            raise Forbidden("只能查看本单位的答复模板")
        return actor.department or ""
    if actor.role not in reply_templates.MANAGERS:
        raise Forbidden("只有承办单位、督办员和管理员可以管理答复模板")
    if not asked:
        raise InvalidInput([FieldError("department", "请指定承办单位", "query")])
    return asked


@get("/api/reply-templates", tags=TAGS, summary="一个承办单位的答复模板（本单位的在前，随后是通用模板）",
     responses=errors(400, 401, 403))
async def list_templates(actor: NamedDependency[Actor],
                         department: FromQuery[Annotated[str, msgspec.Meta(max_length=64)] | None] = None,
                         ) -> dict[str, Any]:
    code = _department(actor, department)
    return {"department": code, "items": [_shown(r) for r in await reply_templates.list_for(code)],
            "generic": [{"name": n, "text": t} for n, t in reply_templates.GENERIC.items()]}


@post("/api/reply-templates", tags=TAGS, summary="添加答复模板（承办单位只能为本单位添加）", status_code=201,
      responses=errors(400, 401, 403, 409, 413))
async def add_template(data: JSONBody[TemplateIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    department = data.department or (actor.department if actor.role == "handler" else "") or ""
    return _shown(await reply_templates.add(actor, department, data.name, data.text))


@put("/api/reply-templates/{template_id:int}", tags=TAGS, summary="修改答复模板",
     responses=errors(400, 401, 403, 404, 409, 413))
async def change_template(template_id: FromPath[int], data: JSONBody[TemplateChange],
                          actor: NamedDependency[Actor]) -> dict[str, Any]:
    return _shown(await reply_templates.update(actor, template_id, data.name, data.text))


@delete("/api/reply-templates/{template_id:int}", tags=TAGS, summary="删除答复模板", status_code=204,
        responses=errors(400, 401, 403, 404))
async def delete_template(template_id: FromPath[int], actor: NamedDependency[Actor]) -> None:
    await reply_templates.delete(actor, template_id)


ROUTES = [list_templates, add_template, change_template, delete_template]
