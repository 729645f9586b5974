"""我的通知 in the console: the newest staff notices addressed to the user's role and department, the
new ones marked; opening the list counts them as read (the header's count starts again from zero)."""

from __future__ import annotations

from litestar import Request, Response, get
from litestar.response import ServerSentEvent

from api.console.centre import _render
from api.console.session import current_actor
from api.live_stream import event_stream
from core import notices

LISTED = 100


@get("/notifications")
async def notifications_page(request: Request) -> Response:
    actor = await current_actor(request)
    found = await notices.latest(actor, LISTED)
    if found:
        await notices.mark_read(actor, found[0]["id"])
    return await _render(request, actor, "notifications.html", items=found, notices_unread=0)


@get("/notifications/stream")
async def notifications_stream(request: Request) -> ServerSentEvent:
    """The signed-in user's notices as they are delivered, on the console's session (its cookie is
    kept to ``/console``; other clients listen at ``/api/notifications/stream`` with a token)."""
    actor = await current_actor(request)
    return event_stream(request.app.state.platform.live, notices.topics(actor))


NOTICE_ROUTES = [notifications_page, notifications_stream]
