"""承办单位 changed over the API (admin): rename, move, aliases, contacts, disable or enable, each change
audited (``core.departments``); a new one named in Chinese gets a generated code."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.schemas import errors
from core import departments
from core.errors import Forbidden
from core.model import CENTRE_ROLES, Actor

TAGS = ["单位"]


class NewDepartment(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="单位名称")]
    code: Annotated[str, msgspec.Meta(max_length=64, description="代码；留空或为中文时按名称拼音生成")] = ""
    parent: Annotated[str, msgspec.Meta(max_length=64)] | None = None


@get("/api/departments/{code:str}", tags=TAGS, responses=errors(400, 401, 403, 404),
     summary="一个承办单位：别名、联系人、是否启用、在办工单（待改派）和变更记录")
async def get_department(code: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看单位详情")
    found = await departments.get(code)
    return {**found, "open_orders": await departments.open_orders(code), "history": await departments.history(code)}


@put("/api/departments/{code:str}", tags=TAGS, responses=errors(400, 401, 403, 404, 413),
     summary="修改承办单位（管理员）：名称、上级、别名、联系人、停用或启用；停用后不再派单，答复列出待改派的在办工单")
async def change_department(request: Request, code: FromPath[str], data: JSONBody[departments.DepartmentChange],
                            actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await departments.update(request.app.state.platform, code, data, actor)


@post("/api/departments", tags=TAGS, status_code=201, responses=errors(400, 401, 403, 413),
      summary="新增承办单位（管理员）；代码留空或为中文时按名称拼音生成（水务局 → shuiwuju）")
async def add_department(request: Request, data: JSONBody[NewDepartment], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await departments.create(request.app.state.platform, data.code, data.name, data.parent, actor)


@post("/api/departments/{code:str}/merge", tags=TAGS, status_code=200, responses=errors(400, 401, 403, 404, 409, 413),
      summary="合并承办单位（管理员）：全部工单（在办和已办结）、人员、下级单位、规则等转入目标单位，"
              "每件工单记一条合并记录；原名称和别名成为目标单位的别名，原单位停用。"
              "不能并入自己、已停用的单位或本单位的下级单位（400，字段 into）")
async def merge_department(request: Request, code: FromPath[str], data: JSONBody[departments.MergeRequest],
                           actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await departments.merge(request.app.state.platform, code, data.into, data.reason, actor)


ROUTES = [get_department, change_department, add_department, merge_department]
