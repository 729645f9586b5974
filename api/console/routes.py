"""The console's pages: sign-in, each role's home, the order list and export, the order detail with
its actions, the agent's phone intake with caller history, and the dispatcher's and handler's queues.
Administration lives in ``api/console/admin.py``.

Every handler resolves the signed-in user first and reads and acts only through the order service.
A refused action shows the form again with what was typed; one that lost a race (409) says so and
shows the order as it is now.
"""

from __future__ import annotations

import io
import secrets
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.console import queues
from api.console.forms import (
    GENERAL,
    PRIORITIES,
    channel_fields,
    check_fields,
    file_errors,
    intake_fields,
    read_values,
)
from api.console.admin import ADMIN_ROUTES
from api.console.order_list import ORDER_LIST_ROUTES
from api.console.callbacks import CALLBACK_ROUTES, back_to_queue
from api.console.centre import related_articles
from api.console.centre import CENTRE_ROUTES
from api.console.reply_templates import TEMPLATE_ROUTES
from api.console.maintenance import MAINTENANCE_ROUTES
from api.console.notices import NOTICE_ROUTES
from api.console.reports import REPORT_ROUTES
from api.console.sla_rules import SLA_RULE_ROUTES
from api.console.retention import RETENTION_ROUTES
from api.console.surveys import SURVEY_ROUTES
from api.console.meetings import MEETING_ROUTES
from api.console.merge import MERGE_ROUTES
from api.console.areas import AREA_ROUTES
from api.console.netboards import NETBOARD_ROUTES
from api.console.people import PEOPLE_ROUTES
from api.console.people_settings import SETTINGS_ROUTES as PEOPLE_SETTINGS_ROUTES
from api.console.telephony import TELEPHONY_ROUTES
from api.console.order_page import action_fields, departments, detail
from api.console.pages import ERROR_HANDLERS, STATIC, console_of, local_time, platform_of, render_page
from api.presenter import present, present_result
from api.console.session import COOKIE, current_actor
from api.web.protection import csrf_middleware, security_headers
from api.client import client_address
from core import access_audit, saved_views
from core.department_names import match as match_department
from core.auth import active_user
from core.channels import KINDS
from core.errors import Conflict, Forbidden, HuyingError, InvalidInput, NotFound, TooManyRequests, Unauthorized
from core.lifecycle import OPEN_STATUSES
from core.listing import SORTS, OrderFilter, parse_filter
from core.order_filter import read_params
from core.model import Actor
from core.intake import IntakeRequest
from core.storage import AttachmentRefused
from core.areas import check as check_area
from core.categories import paths as category_paths, resolve as resolve_category

EXPORT_LIMIT = 5000
BULK_LIMIT = 100


# -- sign-in --------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    return target if isinstance(target, str) and target.startswith("/console") and "//" not in target else "/console"


@get("/login")
async def login_page(request: Request, next: FromQuery[str | None] = None) -> Response:
    return console_of(request).render(request, "login.html", me=None, nav=[], values={}, error="",
                                    next=_safe_next(next), notice=request.query_params.get("notice", ""))


@post("/login")
async def login_submit(request: Request) -> Response:
    """The API's sign-in policy (throttled, audited) behind the form; a new session on success."""
    form = await request.form()
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")[:256]
    target = _safe_next(form.get("next"))
    address = client_address(request)
    sessions = console_of(request).sessions
    headers = {}
    try:
        if not username or not password:
            raise Unauthorized("请输入用户名和密码")
        user = await platform_of(request).sign_in.sign_in(username, password, address=address, via="console")
    except (Unauthorized, TooManyRequests) as refused:
        if isinstance(refused, TooManyRequests):
            headers["retry-after"] = str(refused.retry_after)
        response = console_of(request).render(request, "login.html", status_code=refused.status_code, me=None,
                                            nav=[], values={"username": username}, error=refused.detail, next=target)
        response.headers.update(headers)
        return response
    if previous := await sessions.find(request.cookies.get(COOKIE)):
        await sessions.end(previous)  # a new key on every sign-in: a planted cookie is never promoted
    response = Redirect(target, status_code=303)
    response.set_cookie(sessions.cookie(await sessions.open(user, address)))
    return response


@post("/logout")
async def logout(request: Request) -> Response:
    """Ends the session on the server (the cookie is worthless from now on, wherever it was copied)."""
    sessions = console_of(request).sessions
    session = await sessions.find(request.cookies.get(COOKIE))
    if session is not None:
        await sessions.end(session)
        user = await active_user(session.user_id)
        if user is not None:
            await access_audit.record("logout", actor=user.username, role=user.role, address=client_address(request),
                                      detail={"via": "console"})
    response = Redirect("/console/login?notice=已退出登录", status_code=303)
    response.set_cookie(sessions.expired_cookie())
    return response


# -- home -----------------------------------------------------------------------------------------

@get("/")
async def home(request: Request) -> Response:
    actor = await current_actor(request)
    mine = queues.QUEUES.get(actor.role, [])
    counts = await platform_of(request).orders.count(actor, {q.key: q.filter for q in mine})
    first = mine[0] if mine else None
    items = []
    if first:
        items = (await platform_of(request).orders.listing(actor, first.filter, sort=first.sort, page_size=10,
                                                         with_total=False))["items"]
    return await render_page(request, actor, "home.html", queues=mine, counts=counts, first=first, items=items,
                             views=await saved_views.views_of(actor))


# -- the order list and its export ----------------------------------------------------------------

@get("/orders/export.xlsx")
async def order_export(request: Request) -> Response:
    """The current filter as a spreadsheet (at most ``EXPORT_LIMIT`` rows, cut in the database)."""
    import xlsxwriter

    actor = await current_actor(request)
    found = parse_filter(read_params(request.query_params))
    sort = request.query_params.get("sort") or "received_desc"
    rows = await platform_of(request).orders.rows_for_export(actor, found, sort=sort if sort in SORTS else "received_desc",
                                                           limit=EXPORT_LIMIT)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("工单")
    bold = book.add_format({"bold": True})
    header = ["工单编号", "受理时间", "渠道", "诉求类型", "标题", "状态", "承办单位", "时限状态", "时限", "街道",
              "来电人", "联系电话", "预警"]
    sheet.write_row(0, 0, header, bold)
    for i, r in enumerate(rows, start=1):
        deadline = r["deadline"] or {}
        sheet.write_row(i, 0, [r["number"], local_time(r["received_at"]), r["channel_name"], r["kind_label"],
                               r["subject"], r["status_label"], r["department_name"], deadline.get("label", ""),
                               local_time(deadline.get("due")), r["area"], r["citizen_name"], r["citizen_phone"],
                               "、".join(r["flags"])])
    sheet.set_column(0, 0, 20)
    sheet.set_column(4, 4, 40)
    book.close()
    return Response(buffer.getvalue(), media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"content-disposition": "attachment; filename*=UTF-8''orders.xlsx",
                             "cache-control": "no-store"})


# -- the order detail and its actions -------------------------------------------------------------

@get("/orders/{number:str}")
async def order_detail(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    back = "callbacks" if request.query_params.get("back") == "callbacks" else ""  # opened from the callback desk
    page = await detail(request, actor, number, back=back)  # a number the user may not see is a 404 and not recorded


    await access_audit.record_view(actor, number, client_address(request), via="console")
    return page


@post("/orders/{number:str}/uphold-and-dispatch")
async def uphold_and_dispatch(request: Request, number: FromPath[str]) -> Response:
    """同意退单并改派 in one step: the return is upheld and the order dispatched to the department chosen
    (never the one that returned it), as two audited steps of the lifecycle."""
    actor = await current_actor(request)
    platform = platform_of(request)
    order = present(platform, await platform.orders.get(number, actor), actor)
    form = await request.form()
    typed = str(form.get("department") or "").strip()[:64]
    note = str(form.get("note") or "").strip()[:4000]
    found = match_department(typed, await platform.orders.reference.directory()).code if typed else None
    department = found if found in await platform.orders.reference.active_departments() else ""
    refusal = ("请选择改派的承办单位" if not typed else "承办单位不存在或已停用" if not department
               else "不能改派给退单的单位" if department == order["department"] else "")
    if refusal:
        return await detail(request, actor, number, order=order, status_code=400, banner_kind="conflict",
                             banner=f"未能同意退单并改派：{refusal}")
    try:
        await platform.orders.act(number, "uphold_return", {"note": note}, actor)
        await platform.orders.act(number, "dispatch", {"department": department, "note": note}, actor)
    except (Conflict, Forbidden, InvalidInput) as refused:
        return await detail(request, actor, number, status_code=refused.status_code, banner_kind="conflict",
                             banner=f"未能同意退单并改派：{refused.detail}。下面是工单的最新状态。")
    return Redirect(f"/console/orders/{quote(number)}?{urlencode({'done': '同意退单并改派'})}", status_code=303)


@post("/orders/{number:str}/act/{name:str}")
async def order_act(request: Request, number: FromPath[str], name: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = platform_of(request)
    order = present(platform, await platform.orders.get(number, actor), actor)
    action = platform.channels.lifecycle(order["channel"]).get(name)
    if action is None:
        raise NotFound(f"没有「{name}」这个操作")
    form = await request.form()
    fields = action_fields(platform, order, action)
    data, values = read_values(form, fields)
    for f in fields:  # a department typed in the searchable picker (its name or an alias: 城管) is its code
        if f.widget == "department" and isinstance(data.get(f.name), str) and data[f.name]:
            found = match_department(data[f.name], await platform.orders.reference.directory())
            data[f.name] = found.code or data[f.name]  # ambiguous or unknown: the action says why
    errors = check_fields({"": action.payload}, fields, data)
    if action.reveals_contact and not str(data.get("reason") or "").strip():
        errors["reason"] = "请写明查看完整号码的原因（将记录在案）"
    from_queue = name == "dispatch" and form.get("back") == "dispatch"
    queue = {"q": str(form.get("q") or "")[:100], "page": _queue_page(form.get("page"))}
    if from_queue and errors:  # refused in the queue: said in the queue, beside the other orders
        why = "；".join(f"{next((f.label for f in fields if f.name == k), '')}{v}" for k, v in errors.items())
        return await _dispatch_page(request, actor, **queue, status_code=400,
                                    outcome={"label": "派单", "done": [], "failed": [(number, why)]})
    if errors:
        return await detail(request, actor, number, order=order, status_code=400, open_action=name,
                             values={name: values}, errors={name: errors}, back=str(form.get("back") or "")[:16])
    seen_version = str(form.get("version") or "")
    back = "callbacks" if form.get("back") == "callbacks" else ""
    if from_queue:
        try:
            await platform.orders.act(number, name, data, actor)
        except HuyingError as refused:  # said with the field's own words (「zj」可能是：…), not only "refused"
            why = "；".join(e.message for e in getattr(refused, "errors", None) or ()) or refused.detail
            return await _dispatch_page(request, actor, **queue, status_code=refused.status_code,
                                        outcome={"label": "派单", "done": [], "failed": [(number, why)]})
        return Redirect(f"/console/dispatch?{urlencode({**queue, 'dispatched': number})}", status_code=303)
    try:
        result = await platform.orders.act(number, name, data, actor)
    except InvalidInput as refused:
        return await detail(request, actor, number, status_code=400, open_action=name, values={name: values},
                             errors={name: file_errors({}, refused.errors, fields)}, back=back)
    except Conflict as lost:
        stale = seen_version and seen_version != str((await platform.orders.get(number, actor)).version)
        return await detail(
            request, actor, number, status_code=409, banner_kind="conflict",
            banner=(f"未能执行「{action.label}」：{lost.detail}。"
                    + ("您打开这个页面之后，工单已被他人处理；" if stale else "")
                    + "下面是工单的最新状态，请核对后再操作。"))
    except Forbidden as refused:
        return await detail(request, actor, number, status_code=403, banner_kind="conflict",
                             banner=f"未能执行「{action.label}」：{refused.detail}")
    if action.reveals_contact:
        return await detail(request, actor, number, order=present_result(platform, result, actor),
                             banner="完整号码已显示，本次查看已记录在案（仅本页显示，刷新后重新隐藏）。")
    if back:  # recorded from the callback desk: straight back to the queue for the next call
        return Redirect(back_to_queue(number, action.label), status_code=303)
    return Redirect(f"/console/orders/{number}?{urlencode({'done': action.label})}", status_code=303)


@post("/orders/{number:str}/attachments", request_max_body_size=11 * 1024 * 1024)
async def order_attach(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = platform_of(request)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await detail(request, actor, number, status_code=400, banner_kind="conflict", banner="请选择要上传的文件")
    try:
        await platform.orders.attach(number, upload.filename, await upload.read(), actor, platform.attachments)
    except AttachmentRefused as refused:
        return await detail(request, actor, number, status_code=400, banner_kind="conflict", banner=str(refused))
    except (Conflict, Forbidden) as refused:
        return await detail(request, actor, number, status_code=refused.status_code, banner_kind="conflict",
                             banner=refused.detail)
    return Redirect(f"/console/orders/{number}?{urlencode({'done': '上传附件'})}", status_code=303)


@get("/orders/{number:str}/attachments/{key:str}")
async def order_attachment(request: Request, number: FromPath[str], key: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = platform_of(request)
    found = next((msgspec.to_builtins(a) for a in await platform.orders.attachments(number, actor) if a.key == key),
                 None)
    if found is None:
        raise NotFound("附件不存在")
    inline = found["content_type"].startswith("image/")

    return Response(platform.attachments.open(key), media_type=found["content_type"], headers={
        "content-disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(found['filename'])}",
        "cache-control": "private, max-age=3600"})


# -- the agent's phone intake -------------------------------------------------------------------------

async def _intake_context(platform, values: dict, errors: dict) -> dict:
    channels = list(platform.channels)
    return {"channels": channels, "common": intake_fields(),
            "own": {c.code: channel_fields(c) for c in channels}, "values": values, "errors": errors,
            "general": errors.get(GENERAL, ""), "categories": await category_paths(), "kinds": KINDS,
            "areas": [a["name"] for a in await platform.orders.reference.areas()],
            "priorities": PRIORITIES, "submission": values.get("_submission") or secrets.token_urlsafe(18),
            "fresh": not errors and not values.get("call_id")}


@get("/intake")
async def intake_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role not in ("agent", "dispatcher", "admin"):
        raise Forbidden("只有话务员、派单员和管理员可以受理来电")
    platform = platform_of(request)
    values = {"channel": "hotline" if platform.channels.get("hotline") else next(iter(platform.channels)).code,
              "kind": "complaint", "priority": "normal"}
    history = None
    call_id = str(request.query_params.get("call") or "")[:160]
    if call_id:  # the screen pop: the answered call's number and its caller's history
        call = await platform.telephony.call(call_id, actor)
        values.update({"citizen.phone": call["number"], "call_id": call_id})
        history = await _history(platform, actor, call["number"])
    return await render_page(request, actor, "intake.html", history=history, follow_up=True,
                       **await _intake_context(platform, values, {}))


async def _history(platform, actor: Actor, phone: str) -> dict:
    """The caller's orders and, beside them, the calls from that number."""
    history = await platform.orders.caller_history(actor, phone)
    history["calls"] = await platform.telephony.recent(phone)
    for item in history["items"]:  # an open order can take this call as 追加来电
        item["open"] = item["status"] in OPEN_STATUSES
    return history


def _read_intake(platform, form):
    """The intake form as typed: its channel, the common and the channel's own fields, the values to
    record and the values to show again."""
    code = str(form.get("channel") or "")
    channel = platform.channels.get(code)
    common = intake_fields()
    own = channel_fields(channel) if channel else []
    data, values = read_values(form, common + own)
    values.update({"channel": code, "_submission": str(form.get("_submission") or "")[:64],
                   "call_id": str(form.get("call_id") or "")[:160],
                   "resolve_reply": str(form.get("resolve_reply") or "").strip()[:4000],
                   "article": str(form.get("article") or "").strip()[:12]})
    return code, channel, common, own, data, values


@post("/intake")
async def intake_submit(request: Request) -> Response:
    actor = await current_actor(request)
    platform = platform_of(request)
    form = await request.form()
    code, channel, common, own, data, values = _read_intake(platform, form)
    errors = {} if channel else {"channel": "请选择渠道"}
    resolve = form.get("resolve") == "1"  # 受理并即时办结: recorded and answered on the spot in one press
    reply = values["resolve_reply"]
    if resolve and not reply:
        errors["resolve_reply"] = "请写明当场答复市民的内容，再受理并即时办结"
    if channel:
        errors.update(check_fields({"": IntakeRequest, "citizen.": _citizen(), "details.": channel.fields},
                                   common + own, data))
    if data.get("category"):
        found, candidates = resolve_category(data["category"], await category_paths())
        if found:
            data["category"] = values["category"] = found
        else:
            errors["category"] = (f"「{data['category']}」对应多个分类，请选择其一：{'、'.join(candidates[:5])}"
                                  if candidates else "请从分类列表中选择（可输入分类名称的任一部分查找）")
    if str(data.get("area") or "").strip():  # 街道 from the list: 梅溪湖 is filed as 梅溪湖街道
        area, problem = check_area(str(data["area"]), await platform.orders.reference.areas())
        if problem is None:
            data["area"] = area
        else:
            errors["area"] = problem.message
    history = None
    phone = str((data.get("citizen") or {}).get("phone") or "")
    if phone:
        history = await _history(platform, actor, phone)
    if not errors:
        data["source"] = "phone"
        data.setdefault("citizen", {})
        data.setdefault("details", {})
        try:
            request_ = msgspec.convert(data, IntakeRequest, strict=False)
            _, made = await platform.orders.intake(code, request_, actor, idempotency_key=values["_submission"] or None)
            if values["call_id"]:  # recorded from a popped call: the call log links the two
                await platform.telephony.link_order(values["call_id"], made.number, actor)
            if resolve:
                try:
                    answer = {"reply": reply}
                    if values["article"].isdigit():  # the knowledge answer cited from the panel, counted with it
                        answer["article"] = int(values["article"])
                    await platform.orders.act(made.number, "resolve_at_intake", answer, actor)
                except HuyingError:  # recorded all the same: the order page's 即时办结 form says why
                    return Redirect(f"/console/orders/{made.number}?{urlencode({'done': '受理'})}"
                                    "#action-resolve_at_intake", status_code=303)
                return Redirect(f"/console/orders/{made.number}?{urlencode({'done': '受理并即时办结'})}",
                                status_code=303)
            return Redirect(f"/console/orders/{made.number}?{urlencode({'done': '受理'})}", status_code=303)
        except msgspec.ValidationError as exc:
            from core.intake import field_errors

            errors = file_errors({}, field_errors(exc), common + own)
        except InvalidInput as refused:
            errors = file_errors({}, refused.errors, common + own)
        except Conflict as refused:
            errors = {GENERAL: refused.detail}
    return await render_page(request, actor, "intake.html", status_code=400, history=history, follow_up=True,
                       **await _intake_context(platform, values, errors))


@post("/intake/follow-up/{number:str}")
async def intake_follow_up(request: Request, number: FromPath[str]) -> Response:
    """追加来电 from the caller history: the call being typed is added to the caller's open order as a
    催办 in their words (one step, nothing retyped), instead of a second order for the same case."""
    actor = await current_actor(request)
    platform = platform_of(request)
    form = await request.form()
    text = str(form.get("content") or "").strip()
    call_id = str(form.get("call_id") or "")[:160]
    if not text:
        values = _read_intake(platform, form)[-1]
        phone = values.get("citizen.phone") or ""
        history = await _history(platform, actor, phone) if phone else None
        errors = {"content": "请先在“来电内容”里记下来电人这次说的话，再追加到工单"}
        return await render_page(request, actor, "intake.html", status_code=400, history=history, follow_up=True,
                           **await _intake_context(platform, values, errors))
    await platform.orders.act(number[:32], "caller_follow_up", {"text": text[:4000]}, actor)
    if call_id:
        await platform.telephony.link_order(call_id, number, actor)
    return Redirect(f"/console/orders/{quote(number)}?{urlencode({'done': '追加来电'})}", status_code=303)


@get("/keepalive")
async def keepalive(request: Request) -> Response:
    """Typing is activity: the intake page calls this while a call is being written down, so a long
    call does not end in an expired session and a lost form."""
    await current_actor(request)
    return Response(b"", status_code=204, headers={"cache-control": "no-store"})


def _citizen():
    from core.model import Citizen

    return Citizen


@get("/caller-history")
async def caller_history(request: Request, phone: FromQuery[str] = "") -> Response:
    """The history panel as an HTML fragment, fetched while the agent types the number."""
    actor = await current_actor(request)
    phone = phone.strip()[:20]
    history = await _history(platform_of(request), actor, phone) if len(phone) >= 7 else None
    return console_of(request).render(request, "_history.html", history=history, follow_up=True)


@get("/intake/knowledge")
async def intake_knowledge(request: Request, subject: FromQuery[str] = "", category: FromQuery[str] = "") -> Response:
    """The knowledge panel beside the intake form as an HTML fragment: published articles matching
    what the agent has typed so far, each with its answer to cite for 受理并即时办结."""
    actor = await current_actor(request)
    typed = {"subject": subject.strip()[:100], "category": category.strip()[:200]}
    articles = await related_articles(platform_of(request), typed, actor) if any(typed.values()) else []
    return console_of(request).render(request, "_intake_knowledge.html", articles=articles, typed=any(typed.values()),
                                      names=await platform_of(request).orders.department_names())


# -- queues with bulk actions ----------------------------------------------------------------------

QUEUE_PAGE = 50  # rows of a queue page


async def _dispatch_page(request: Request, actor: Actor, *, q: str = "", page: int = 1, outcome: dict | None = None,
                         status_code: int = 200) -> Response:
    """The 待派单 queue, one page of it, with what was just done (or refused) in a banner on top."""
    platform = platform_of(request)
    result = await platform.orders.listing(actor, OrderFilter(status="received", q=q), sort="due", page=page,
                                           page_size=QUEUE_PAGE)
    await platform.orders.mark_duplicates(result["items"])
    pages = max(1, -(-result["total"] // QUEUE_PAGE))
    return await render_page(request, actor, "dispatch.html", status_code=status_code, result=result, q=q, outcome=outcome,
                       departments=await departments(dispatchable=True), page=min(page, pages), pages=pages)


def _queue_page(value) -> int:
    try:
        return max(1, min(int(str(value or "1")[:6]), 10_000))
    except ValueError:
        return 1


@get("/dispatch")
async def dispatch_queue(request: Request) -> Response:
    """待派单 by the soonest dispatch deadline, with suggestions, duplicates and bulk dispatch; a
    dispatch made from a row, or a merge confirmed from it, comes back here with its result, so the
    dispatcher never leaves the queue."""
    actor = await current_actor(request)
    if actor.role not in ("dispatcher", "admin"):
        raise Forbidden("只有派单员可以派单")
    platform = platform_of(request)
    q = str(request.query_params.get("q") or "")[:100]
    outcome = None
    sent = str(request.query_params.get("dispatched") or "")[:32]
    if sent:
        order = await platform.orders.get(sent, actor)
        names = await platform.orders.department_names()
        outcome = {"label": "派单", "done": [f"{sent} → {names.get(order.department or '', '承办单位')}"], "failed": []}
    merged = str(request.query_params.get("merged") or "")[:32]
    if merged and not sent:  # back from 并入此单's confirmation
        try:
            order = await platform.orders.get(merged, actor)
        except NotFound:  # a link edited by hand: the queue as it is
            order = None
        if order is not None and order.status == "merged":
            outcome = {"label": "合并", "done": [f"{merged} 并入 {order.merged_into}"], "failed": []}
    return await _dispatch_page(request, actor, q=q, page=_queue_page(request.query_params.get("page")),
                                outcome=outcome)


@post("/bulk/{name:str}")
async def bulk_action(request: Request, name: FromPath[str]) -> Response:
    """Dispatch (each to its suggestion or to one chosen department) or accept several orders; each
    goes through the service on its own, and the page tells which succeeded and why others did not."""
    actor = await current_actor(request)
    if name not in ("dispatch", "accept", "supervise"):
        raise NotFound("没有这个批量操作")
    platform = platform_of(request)
    form = await request.form()
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str) and n][:BULK_LIMIT]
    if name == "supervise":
        return await _bulk_supervise(platform, actor, form, numbers)
    department = str(form.get("department") or "")
    done, failed = [], []
    for number in numbers:
        try:
            payload: dict[str, Any] = {}
            if name == "dispatch":
                order = await platform.orders.get(number, actor)
                target = department or order.suggested_department
                if not target:
                    raise InvalidInput([], "没有建议承办单位，请选择单位后再派")
                payload = {"department": target}
            await platform.orders.act(number, name, payload, actor)
            done.append(number)
        except HuyingError as refused:
            failed.append((number, refused.detail))
    label = "派单" if name == "dispatch" else "签收"
    if not numbers:
        failed.append(("", f"请先勾选要{label}的工单"))
    outcome = {"label": label, "done": done, "failed": failed}
    if name == "dispatch":
        return await _dispatch_page(request, actor, outcome=outcome, status_code=200 if done or not failed else 409)
    result = await platform.orders.listing(actor, OrderFilter(status="dispatched", lead_only=True), sort="due", page_size=50)
    return await render_page(request, actor, "accept.html", result=result, outcome=outcome,
                       status_code=200 if done or not failed else 409)


async def _bulk_supervise(platform, actor: Actor, form, numbers: list[str]) -> Response:
    """督办 or 催办 several orders of a list at once (the 超期 list, a warning's orders): each through the
    lifecycle on its own, then back to the same list with what was done and what was refused, and why."""
    kind = "urge" if form.get("kind") == "urge" else "supervise"
    label = "催办" if kind == "urge" else "督办"
    back = str(form.get("back") or "")[:2000]
    note = str(form.get("note") or "").strip()[:4000]
    due = str(form.get("due_days") or "2")[:3]
    payload = {"kind": kind, "note": note, "due_days": int(due) if due.isdigit() and 1 <= int(due) <= 30 else 2}
    done, failed = [], []
    if not numbers:
        failed.append(f"请先勾选要{label}的工单")
    elif not note:
        failed.append(f"请写明{label}要求")
    else:
        for number in numbers:
            try:
                await platform.orders.act(number, "supervise", payload, actor)
                done.append(number)
            except HuyingError as refused:
                failed.append(f"{number} 未能{label}：{refused.detail}")
    said = "；".join(([f"{label} {len(done)} 件"] if done else []) + failed)[:600]
    query = urlencode([(k, v) for k, v in parse_qsl(back) if k not in ("done", "refused")]
                      + [("done" if done else "refused", said)])
    return Redirect(f"/console/orders?{query}", status_code=303)


@get("/accept")
async def accept_queue(request: Request) -> Response:
    actor = await current_actor(request)
    result = await platform_of(request).orders.listing(actor, OrderFilter(status="dispatched", lead_only=True), sort="due", page_size=50)
    return await render_page(request, actor, "accept.html", result=result, outcome=None)


# -- errors -----------------------------------------------------------------------------------------

def console_router(secret: str) -> Router:
    static = create_static_files_router(path="/static", directories=[STATIC], name="console-static",
                                        include_in_schema=False, cache_control=CacheControlHeader(max_age=86400))
    return Router(
        path="/console",
        route_handlers=[login_page, login_submit, logout, home, *ORDER_LIST_ROUTES, order_export, order_detail, order_act,
                        uphold_and_dispatch, order_attach, order_attachment, intake_page, intake_submit, intake_follow_up, keepalive, caller_history, intake_knowledge,
                        dispatch_queue, bulk_action, accept_queue, static, *ADMIN_ROUTES, *CENTRE_ROUTES,
                        *TEMPLATE_ROUTES, *SLA_RULE_ROUTES, *RETENTION_ROUTES, *CALLBACK_ROUTES, *SURVEY_ROUTES,
                        *MEETING_ROUTES, *NETBOARD_ROUTES, *AREA_ROUTES, *REPORT_ROUTES, *NOTICE_ROUTES, *MAINTENANCE_ROUTES,
                        *PEOPLE_ROUTES, *PEOPLE_SETTINGS_ROUTES, *TELEPHONY_ROUTES, *MERGE_ROUTES],
        middleware=[security_headers, csrf_middleware(secret)],
        exception_handlers=ERROR_HANDLERS,
        include_in_schema=False,
    )
