"""我的通知 in the console: the newest staff notices addressed to the user's role and department, the
new ones marked; opening the list counts them as read (the header's count starts again from zero)."""

from __future__ import annotations

from litestar import Request, Response, get

from api.console.session import current_actor
from core import notices

LISTED = 100


@get("/notifications")
async def notifications_page(request: Request) -> Response:
    from api.console.centre import _render

    actor = await current_actor(request)
    found = await notices.latest(actor, LISTED)
    if found:
        await notices.mark_read(actor, found[0]["id"])
    return await _render(request, actor, "notifications.html", items=found, notices_unread=0)


NOTICE_ROUTES = [notifications_page]
