"""Administration pages (admin only): departments, users, routing rules, calendar, API keys, outbox."""

from __future__ import annotations

from litestar import Request, Response, get

from api.console.session import current_actor
from core.errors import Forbidden


async def _admin(request: Request):
    actor = await current_actor(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以进入系统管理")
    return actor


@get("/admin")
async def admin_index(request: Request) -> Response:
    from api.console.routes import _page

    actor = await _admin(request)
    return await _page(request, actor, "admin_index.html")


ADMIN_ROUTES = [admin_index]
