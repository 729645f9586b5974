"""网络留言板 page under 系统管理: the boards that are sources of their own (区红网 and 区人民网 built
in) with the code each posts as its ``source``, and a form to add one (``core.sources``, the same as
``POST /api/netboards``)."""

from __future__ import annotations

from litestar import Request, Response, get, post

from api.console.admin import _admin, _done, _render, _text
from core.errors import Conflict, InvalidInput


async def _page(request: Request, actor, *, status_code: int = 200, values: dict | None = None,
                errors: dict | None = None) -> Response:
    return await _render(request, actor, "admin_netboards.html", status_code=status_code,
                         boards=await request.app.state.platform.orders.sources.listing(),
                         values=values or {}, errors=errors or {})


@get("/admin/netboards")
async def netboards_page(request: Request) -> Response:
    return await _page(request, await _admin(request))


@post("/admin/netboards")
async def netboards_add(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {"code": _text(form, "code", 64), "name": _text(form, "name", 128)}
    try:
        await request.app.state.platform.orders.sources.add(values["code"], values["name"], actor)
    except (InvalidInput, Conflict) as refused:
        errors = {getattr(e, "key", "_form"): e.message for e in refused.extra or []} or {"_form": refused.detail}
        return await _page(request, actor, status_code=400, values=values, errors=errors)
    return _done("/console/admin/netboards", f"已添加留言板「{values['name']}」")


NETBOARD_ROUTES = [netboards_page, netboards_add]
