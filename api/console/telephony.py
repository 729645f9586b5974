"""Telephony in the console: the live stream that pops an answered call on the agent's screen (every
page of a centre user listens), and 来电记录 with the 未接来电 to call back, each with a ``tel:`` link
and one-click callback outcomes."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from api.live_stream import event_stream
from core.errors import Forbidden, HuyingError
from core.telephony import CALLBACKS, OUTCOMES

CALL_ROLES = frozenset({"agent", "dispatcher", "supervisor", "admin"})


@get("/live")
async def live(request: Request) -> Response:
    """Server-sent events for this user (``user:<username>``): ``call.answered`` pops the intake page."""
    actor = await current_actor(request)
    return event_stream(request.app.state.platform.live, [f"user:{actor.name}"])


@get("/calls")
async def calls_page(request: Request) -> Response:
    """来电记录 (searchable by number) and the 未接来电 waiting for a callback."""
    actor = await current_actor(request)
    if actor.role not in CALL_ROLES:
        raise Forbidden("只有中心人员可以查看来电记录")
    telephony = request.app.state.platform.telephony
    number = str(request.query_params.get("number") or "").strip()[:32]
    outcome = str(request.query_params.get("outcome") or "")
    outcome = outcome if outcome in OUTCOMES else ""
    calls = await telephony.calls(actor, number=number, outcome=outcome, limit=100)
    missed = await telephony.missed(actor)
    return await render_page(request, actor, "calls.html", calls=calls, missed=missed, number=number, outcome=outcome,
                       originate=bool(request.app.state.platform.settings.cti_originate_url),
                       outcomes=OUTCOMES, callbacks=CALLBACKS, done=request.query_params.get("done", ""))


@post("/calls/{call_id:str}/callback")
async def calls_callback(request: Request, call_id: FromPath[str]) -> Response:
    actor = await current_actor(request)
    if actor.role not in CALL_ROLES:
        raise Forbidden("只有中心人员可以回拨")
    form = await request.form()
    outcome = str(form.get("outcome") or "")
    try:
        call = await request.app.state.platform.telephony.set_callback(call_id[:160], outcome, actor)
    except HuyingError as refused:
        return Redirect("/console/calls?" + urlencode({"done": refused.detail}), status_code=303)
    return Redirect("/console/calls?" + urlencode({"done": f"{call['number']} {call['callback_label']}"}), status_code=303)


@get("/calls/{call_id:str}/recording")
async def play_recording(request: Request, call_id: FromPath[str]) -> Response:
    """The recording for the page's audio player, whole (no ranges): each playback is one audited request."""
    from api.client import client_address

    actor = await current_actor(request)
    platform = request.app.state.platform
    data, content_type = await platform.telephony.recording(call_id, actor, platform.attachments,
                                                            address=client_address(request))
    return Response(data, media_type=content_type, headers={"cache-control": "private, no-store"})


@post("/calls/{call_id:str}/share")
async def share(request: Request, call_id: FromPath[str]) -> Response:
    actor = await current_actor(request)
    form = await request.form()
    shared = str(form.get("shared") or "") == "1"
    await request.app.state.platform.telephony.share_recording(call_id[:160], shared, actor)
    back = str(form.get("back") or "")
    target = back if back.startswith("/console/") and "//" not in back else "/console/calls"
    return Redirect(f"{target}?" + urlencode({"done": "已共享录音给承办单位" if shared else "已取消共享录音"}), status_code=303)


@post("/calls/{call_id:str}/dial")
async def dial(request: Request, call_id: FromPath[str]) -> Response:
    from api.client import client_address

    actor = await current_actor(request)
    try:
        placed = await request.app.state.platform.telephony.originate(call_id, actor, address=client_address(request))
        done = f"已请电话系统从分机 {placed['extension']} 呼叫 {placed['number']}"
    except HuyingError as refused:
        done = refused.detail
    return Redirect("/console/calls?" + urlencode({"done": done}), status_code=303)


# -- administration: PBX connections and blocked numbers ------------------------------------------------

async def _telephony_page(request: Request, actor, *, status_code: int = 200, made: dict | None = None,
                          error: str = "") -> Response:
    telephony = request.app.state.platform.telephony
    return await render_page(request, actor, "admin_telephony.html", status_code=status_code,
                       connections=await telephony.connections(actor), blocked=await telephony.blocked(actor),
                       made=made, error=error, done=request.query_params.get("done", ""))


@get("/admin/telephony")
async def telephony_admin(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以进入系统管理")
    return await _telephony_page(request, actor)


@post("/admin/telephony")
async def telephony_change(request: Request) -> Response:
    """Add a PBX connection (its token shown this once), block or unblock a number."""
    actor = await current_actor(request)
    telephony = request.app.state.platform.telephony
    form = await request.form()
    op = str(form.get("op") or "")
    try:
        if op == "connect":
            made = await telephony.create_connection(str(form.get("name") or "")[:64], actor,
                                                     signed=form.get("signed") == "1")
            return await _telephony_page(request, actor, made=made)
        number = str(form.get("number") or "").strip()[:32]
        if op == "block":
            if not (3 <= len(number) and number.lstrip("+").isdigit()):
                return await _telephony_page(request, actor, status_code=400, error="号码为 3–32 位数字")
            await telephony.block(number, str(form.get("note") or "").strip()[:200], actor)
            done = f"已屏蔽 {number}"
        elif op == "unblock":
            await telephony.unblock(number, actor)
            done = f"已解除屏蔽 {number}"
        else:
            return await _telephony_page(request, actor, status_code=400, error="没有这个操作")
    except HuyingError as refused:
        if refused.status_code == 403:
            raise
        return await _telephony_page(request, actor, status_code=refused.status_code, error=refused.detail)
    return Redirect("/console/admin/telephony?" + urlencode({"done": done}), status_code=303)


TELEPHONY_ROUTES = [live, calls_page, calls_callback, play_recording, share, dial, telephony_admin, telephony_change]
