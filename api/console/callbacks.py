"""The agent's callback desk: the 待回访 queue with each order's reply and tries, one click to open an
order with the citizen's number shown (the reveal audited with the reason 回访, nothing typed), and
on the order the reply being rated beside the outcome buttons (满意/基本满意/不满意, 未接通, 拒访,
号码错误), each one click that lands back in the queue."""

from __future__ import annotations

import datetime as dt
from urllib.parse import quote, urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect
from litestar.params import FromPath

from api.client import client_address
from api.console.order_page import detail
from api.console.pages import console_of, platform_of, render_page
from api.console.session import current_actor
from api.presenter import present_result
from core import access_audit
from core.callbacks import REVEAL_REASON, policy_of, replies_being_rated
from core.errors import Forbidden, HuyingError
from core.listing import OrderFilter
from core.tables import Order

CALLERS = frozenset({"agent", "admin"})  # who may record a callback (core.lifecycle)
PAGE_SIZE = 30
QUEUE = "/console/callbacks"


def _check(actor) -> None:
    if actor.role not in CALLERS:
        raise Forbidden("只有话务员和管理员可以回访")


@get("/callbacks")
async def callback_queue(request: Request) -> Response:
    """待回访 by the callback deadline (a 未接通 moves it on), each row with the reply being rated."""
    actor = await current_actor(request)
    _check(actor)
    platform = platform_of(request)
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    result = await platform.orders.listing(actor, OrderFilter(unrated=True), sort="due", page=page,
                                           page_size=PAGE_SIZE)
    numbers = [o["number"] for o in result["items"]]
    replies = await replies_being_rated(numbers)
    rows = await Order.select(Order.number, Order.deadlines).where(Order.number.is_in(numbers or [""])).output(
        load_json=True)
    tries = {r["number"]: (r["deadlines"] or {}).get("callback") or {} for r in rows}
    now = platform.orders.clock()
    items = []
    for o in result["items"]:
        callback = tries.get(o["number"], {})
        retry = callback.get("retry_at")
        items.append({**o, "reply": replies.get(o["number"]), "attempts": int(callback.get("attempts") or 0),
                      "retry_at": retry, "waiting": bool(retry and dt.datetime.fromisoformat(retry) > now)})
    pages = max(1, -(-(result["total"] or 0) // PAGE_SIZE))
    return await render_page(request, actor, "callbacks.html", items=items, total=result["total"], page=page, pages=pages,
                       tries=policy_of(platform.orders).tries, names=await platform.orders.department_names(),
                       surveys=[s for s in await platform.surveys.listing(actor) if s["open"]],
                       done=request.query_params.get("done", "")[:40], number=request.query_params.get("number", "")[:32])


@post("/callbacks/{number:str}/call")
async def callback_call(request: Request, number: FromPath[str]) -> Response:
    """One click from the queue: the number is revealed for the callback (the reveal audited as an
    order event with the reason 回访, and the view in the access audit) and the order opens with the
    callback form beside its reply."""
    actor = await current_actor(request)
    _check(actor)
    platform = platform_of(request)
    result = await platform.orders.act(number, "reveal_contact", {"reason": REVEAL_REASON}, actor)
    await access_audit.record_view(actor, number, client_address(request), via="console")
    return await detail(request, actor, number, order=present_result(platform, result, actor), back="callbacks",
                         banner="完整号码已显示（回访，已记录在案），请拨打后记录回访结果。")


@post("/callbacks/{number:str}/dial")
async def callback_dial(request: Request, number: FromPath[str]) -> Response:
    """外呼 from the callback desk: the PBX rings my extension, then the citizen; the call's outcome
    lands in the callback by itself (``core.telephony``), and the desk shows the call."""
    actor = await current_actor(request)
    _check(actor)
    try:
        placed = await platform_of(request).telephony.dial_order(number[:32], actor, address=client_address(request))
    except HuyingError as refused:
        if refused.status_code in (403, 404):
            raise
        return await detail(request, actor, number, back="callbacks", banner=refused.detail, banner_kind="error",
                             status_code=refused.status_code)
    done = f"外呼已发出，电话系统先振铃分机 {placed['extension']} 再呼叫市民；未接通将自动记入回访，接通后请记录评价"
    return Redirect(f"/console/orders/{quote(number[:32])}?" + urlencode({"back": "callbacks", "done": done}),
                    status_code=303)  # a reload of the page never asks the PBX again


@get("/callbacks/{number:str}/dials")
async def callback_dials(request: Request, number: FromPath[str]) -> Response:
    """The desk's 外呼 table alone: the page refreshes it when the PBX reports the call (live event)."""
    actor = await current_actor(request)
    _check(actor)
    platform = platform_of(request)
    await platform.orders.get(number[:32], actor)  # 404 for an order this user may not see
    return console_of(request).render(request, "_callback_dials.html", me=actor, number=number[:32],
                                    dials=await platform.telephony.dials_of_order(number[:32]))


def back_to_queue(number: str, label: str) -> str:
    return f"{QUEUE}?{urlencode({'done': label, 'number': number})}"


CALLBACK_ROUTES = [callback_queue, callback_call, callback_dial, callback_dials]
