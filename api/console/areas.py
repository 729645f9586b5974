"""街道（乡镇） page under 系统管理: the list an order's 街道 is chosen from (``core.areas``, the same as
``GET/POST/PATCH /api/areas``): each street with the other names it answers to, in use or not, and a
form to add one. A renamed street keeps its old name as another name."""

from __future__ import annotations

from litestar import Request, Response, get, post
from litestar.params import FromPath

from api.console.admin import _admin, _done, _render, _text
from core import areas
from core.errors import HuyingError


async def _page(request: Request, actor, *, status_code: int = 200, values: dict | None = None,
                errors: dict | None = None) -> Response:
    return await _render(request, actor, "admin_areas.html", status_code=status_code,
                         areas=await areas.listed(include_inactive=True), values=values or {}, errors=errors or {})


def _errors(refused: HuyingError, prefix: str = "") -> dict:
    return {prefix + e.key: e.message for e in refused.extra or []} or {"_form": refused.detail}


@get("/admin/areas")
async def areas_page(request: Request) -> Response:
    return await _page(request, await _admin(request))


@post("/admin/areas")
async def areas_add(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {"name": _text(form, "name", 64), "aliases": _text(form, "aliases", 255)}
    try:
        await areas.add(areas.AreaIn(name=values["name"] or " ", aliases=values["aliases"],
                                     sort=len(await areas.listed(include_inactive=True))))
    except HuyingError as refused:
        return await _page(request, actor, status_code=refused.status_code, values=values,
                           errors=_errors(refused))
    request.app.state.platform.orders.forget_reference_data()
    return _done("/console/admin/areas", f"已添加「{values['name']}」")


@post("/admin/areas/{area_id:int}")
async def areas_change(request: Request, area_id: FromPath[int]) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {f"{area_id}.name": _text(form, "name", 64), f"{area_id}.aliases": _text(form, "aliases", 255)}
    try:
        changed = await areas.change(area_id, areas.AreaChange(
            name=values[f"{area_id}.name"] or " ", aliases=values[f"{area_id}.aliases"],
            active=form.get("active") == "on"))
    except HuyingError as refused:
        return await _page(request, actor, status_code=refused.status_code, values=values,
                           errors=_errors(refused, f"{area_id}."))
    request.app.state.platform.orders.forget_reference_data()
    return _done("/console/admin/areas", f"已保存「{changed['name']}」")


AREA_ROUTES = [areas_page, areas_add, areas_change]
