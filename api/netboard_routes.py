"""Message boards as sources: 区红网 and 区人民网 built in, others added by an admin
(``core.sources``); a board posts its messages with its code as ``source``."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from api.schemas import errors
from core.model import Actor
from core.sources import check_reader

TAGS = ["网络留言板"]


class NewBoard(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    code: Annotated[str, msgspec.Meta(max_length=32, description="来源代码：小写字母开头，字母、数字、下划线")]
    name: Annotated[str, msgspec.Meta(max_length=64, description="留言板名称，如：区政务留言板")]


@get("/api/netboards", tags=TAGS, summary="网络留言板（各为一个来源，计入特色工单）", responses=errors(401, 403))
async def list_boards(request: Request, actor: NamedDependency[Actor]) -> dict[str, Any]:
    check_reader(actor)
    return {"items": await request.app.state.platform.orders.sources.listing()}


@post("/api/netboards", tags=TAGS, summary="添加网络留言板（仅管理员）", status_code=201,
      responses=errors(400, 401, 403, 409))
async def add_board(request: Request, data: JSONBody[NewBoard], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await request.app.state.platform.orders.sources.add(data.code, data.name, actor)


ROUTES = [list_boards, add_board]
