"""并入此单, looked at before it is done: the two orders side by side (number, time, caller as this
user may see them, place, subject, content, status, department), then a confirmation. Only the
confirmation (a POST, with the console's CSRF token) merges, through the lifecycle's ``merge``
action like every change; opened from the 待派单 queue, the dispatcher comes back to the queue with
the result on top, as after a dispatch from a row.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import platform_of, render_page
from api.console.session import current_actor
from api.presenter import present
from core.errors import Conflict, HuyingError, NotFound
from core.lifecycle import TERMINAL
from core.model import Actor

MAX_NUMBER = 32
MAX_REASON = 4000


def _queue(values) -> dict[str, str]:
    """Where a preview opened from the 待派单 queue goes back to (its search and page)."""
    if values.get("back") != "dispatch":
        return {}
    page = str(values.get("page") or "1")[:6]
    return {"q": str(values.get("q") or "")[:100], "page": page if page.isdigit() and page != "0" else "1"}


async def _preview(request: Request, actor: Actor, number: str, into: str, reason: str, queue: dict[str, str], *,
                   error: str = "", status_code: int = 200) -> Response:
    platform = platform_of(request)
    order = present(platform, await platform.orders.get(number, actor), actor)  # one this user may not see: 404
    target = None
    problem = ""  # why this pair cannot be merged as things stand
    if not into:
        problem = "请填写要并入的工单编号"
    elif into == number:
        problem = "不能把工单合并到它自己"
    else:
        try:
            target = present(platform, await platform.orders.get(into, actor), actor)
        except NotFound:
            problem = f"工单 {into} 不存在"
    if not problem and not any(a["name"] == "merge" for a in order["actions"]):
        problem = f"本工单{order['status_label']}，不能合并" if order["status"] != "received" else "您不能合并这张工单"
    if not problem and target and target["status"] in TERMINAL:
        problem = f"工单 {into} {target['status_label']}，不能并入"
    return await render_page(
        request, actor, "merge.html", status_code=status_code, order=order, target=target, into=into,
        reason=reason, queue=queue, error=error or problem, may_confirm=not problem,
        names=await platform.orders.department_names(),
        back=f"/console/dispatch?{urlencode(queue)}" if queue else f"/console/orders/{quote(number)}")


@get("/orders/{number:str}/merge")
async def merge_preview(request: Request, number: FromPath[str]) -> Response:
    """The two orders side by side, with the confirmation and a way back; nothing changes here."""
    actor = await current_actor(request)
    params = request.query_params
    into = str(params.get("into") or "").strip()[:MAX_NUMBER]
    reason = str(params.get("reason") or "").strip()[:MAX_REASON] or (f"与 {into} 为同一诉求" if into else "")
    return await _preview(request, actor, number, into, reason, _queue(params))


@post("/orders/{number:str}/merge")
async def merge_confirm(request: Request, number: FromPath[str]) -> Response:
    """The confirmation: the ``merge`` action, audited like any other; a refusal shows the preview
    again with the reason (and the orders as they are now)."""
    actor = await current_actor(request)
    platform = platform_of(request)
    form = await request.form()
    into = str(form.get("into") or "").strip()[:MAX_NUMBER]
    reason = str(form.get("reason") or "").strip()[:MAX_REASON]
    queue = _queue(form)
    seen = str(form.get("version") or "")
    try:
        await platform.orders.act(number, "merge", {"into": into, "reason": reason}, actor)
    except HuyingError as refused:
        why = "；".join(e.message for e in getattr(refused, "errors", None) or ()) or refused.detail
        if isinstance(refused, Conflict) and seen and seen != str((await platform.orders.get(number, actor)).version):
            why += "（您打开预览之后，工单已被他人处理）"
        return await _preview(request, actor, number, into, reason, queue, status_code=refused.status_code,
                              error=f"未能合并：{why}")
    if queue:
        return Redirect(f"/console/dispatch?{urlencode({**queue, 'merged': number})}", status_code=303)
    return Redirect(f"/console/orders/{quote(number)}?{urlencode({'done': '合并'})}", status_code=303)


MERGE_ROUTES = [merge_preview, merge_confirm]
