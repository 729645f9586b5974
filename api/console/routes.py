"""The console's pages: sign-in, each role's home, the order list and export, the order detail with
its actions, the agent's phone intake with caller history, and the dispatcher's and handler's queues.
Administration lives in ``api/console/admin.py``.

Every handler resolves the signed-in user first and reads and acts only through the order service.
A refused action shows the form again with what was typed; one that lost a race (409) says so and
shows the order as it is now.
"""

from __future__ import annotations

import functools
import io
import secrets
from typing import Any
from urllib.parse import quote, urlencode

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect
from litestar.static_files import create_static_files_router

from api.console import STATIC, queues
from api.console.forms import (
    GENERAL,
    PRIORITIES,
    channel_fields,
    check_fields,
    file_errors,
    intake_fields,
    read_values,
    struct_fields,
)
from api.console.callbacks import CALLBACK_ROUTES, back_to_queue, desk
from api.console.centre import CENTRE_ROUTES, related_articles
from api.console.reply_templates import TEMPLATE_ROUTES
from api.console.maintenance import MAINTENANCE_ROUTES
from api.console.notices import NOTICE_ROUTES
from api.console.reports import REPORT_ROUTES
from api.console.sla_rules import SLA_RULE_ROUTES
from api.console.surveys import SURVEY_ROUTES
from api.console.meetings import MEETING_ROUTES
from api.console.netboards import NETBOARD_ROUTES
from api.console.people import PEOPLE_ROUTES
from api.console.people_settings import SETTINGS_ROUTES as PEOPLE_SETTINGS_ROUTES
from api.console.telephony import TELEPHONY_ROUTES
from api.console.panels import order_panels
from api.presenter import present, present_result
from api.console.session import COOKIE, NotSignedIn, current_actor
from api.web.protection import csrf_middleware, security_headers
from api.web.tracking import publishes_replies
from api.client import client_address
from core import access_audit, notices
from core.departments import match as match_department
from core.auth import active_user
from core.users import display_names
from core.surveys import EVENTS as SURVEY_EVENTS
from core.channels import KINDS, SOURCES, describe_fields
from core.errors import Conflict, Forbidden, HuyingError, InvalidInput, NotFound, TooManyRequests, Unauthorized
from core.callbacks import CLOSED_LABELS
from core.lifecycle import OPEN_STATUSES, RETURN_REASONS, STATUSES
from core.listing import LIST_FLAGS, SORTS, OrderFilter, kpi_label, parse_filter
from core.model import Actor, actor_label
from core.intake import IntakeRequest
from core import meetings, reply_templates, site_visits, telephony
from core.knowledge import READERS
from core.sla import DEADLINE_LABELS
from core.storage import AttachmentRefused
from core.tables import Department
from core.categories import paths as category_paths, resolve as resolve_category

PAGE_SIZE = 30
EXPORT_LIMIT = 5000
BULK_LIMIT = 100
EVENT_LABELS = {"intake": "受理", "attach": "上传附件", "calendar_reschedule": "工作日历调整时限",
                "department_merged": "单位合并", **SURVEY_EVENTS,
                **meetings.EVENTS, **site_visits.EVENTS, **telephony.ORDER_EVENTS}
INTAKE_CHOICES = {"source": SOURCES, "priority": PRIORITIES}
DEADLINE_STATES = {"normal": "正常", "at_risk": "临期", "overdue": "超期", "handle_overdue": "办理超期"}


def _console(request: Request):
    return request.app.state.console


def _platform(request: Request):
    return request.app.state.platform


def calendar_banner(platform, actor: Actor | None) -> str | None:
    """Admins and supervisors are told while next year's holidays are still provisional (see
    ``core.calendar_admin.banner``)."""
    from core import calendar_admin

    if actor is None or actor.role not in ("admin", "supervisor"):
        return None
    today = platform.orders.clock().astimezone(platform.calendar.tz).date()
    return calendar_admin.banner(platform.calendar, today)


async def _page(request: Request, actor: Actor | None, name: str, *, status_code: int = 200, **context) -> Response:
    nav = queues.QUEUES.get(actor.role, []) if actor else []
    names = await _platform(request).orders.department_names() if actor and actor.department else {}
    context.setdefault("calendar_banner", calendar_banner(_platform(request), actor))
    if actor and "people" not in context:
        context["people"] = await display_names()
    context.setdefault("notices_unread", await notices.unread(actor) if actor else 0)
    return _console(request).render(request, name, status_code=status_code, me=actor, nav=nav,
                                    my_department=names.get(actor.department or "", "") if actor else "", **context)


# -- sign-in --------------------------------------------------------------------------------------

def _safe_next(target: str | None) -> str:
    return target if isinstance(target, str) and target.startswith("/console") and "//" not in target else "/console"


@get("/login")
async def login_page(request: Request, next: FromQuery[str | None] = None) -> Response:
    return _console(request).render(request, "login.html", me=None, nav=[], values={}, error="",
                                    next=_safe_next(next), notice=request.query_params.get("notice", ""))


@post("/login")
async def login_submit(request: Request) -> Response:
    """The API's sign-in policy (throttled, audited) behind the form; a new session on success."""
    form = await request.form()
    username = str(form.get("username") or "").strip()[:64]
    password = str(form.get("password") or "")[:256]
    target = _safe_next(form.get("next"))
    address = client_address(request)
    sessions = _console(request).sessions
    headers = {}
    try:
        if not username or not password:
            raise Unauthorized("请输入用户名和密码")
        user = await _platform(request).sign_in.sign_in(username, password, address=address, via="console")
    except (Unauthorized, TooManyRequests) as refused:
        if isinstance(refused, TooManyRequests):
            headers["retry-after"] = str(refused.retry_after)
        response = _console(request).render(request, "login.html", status_code=refused.status_code, me=None,
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
    sessions = _console(request).sessions
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
    counts = await _platform(request).orders.count(actor, {q.key: q.filter for q in mine})
    first = mine[0] if mine else None
    items = []
    if first:
        items = (await _platform(request).orders.listing(actor, first.filter, sort=first.sort, page_size=10,
                                                         with_total=False))["items"]
    return await _page(request, actor, "home.html", queues=mine, counts=counts, first=first, items=items)


# -- the order list and its export ----------------------------------------------------------------

def _list_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key in OrderFilter.__struct_fields__:
        value = request.query_params.get(key)
        if value in (None, ""):
            continue
        if key == "statuses":
            params[key] = tuple(v for v in value.split(",") if v)
        elif key in ("unrated", "rated_badly", "open_supervision", "pending_extension", "rework", "open_only",
                   "lead_only", "open_part"):
            params[key] = value in ("1", "true", "on")
        else:
            params[key] = value[:200]
    return params


async def _departments(*, dispatchable: bool = False) -> list[dict]:
    """Every department (to filter by), or those taking new orders (to dispatch to)."""
    query = Department.select(Department.code, Department.name, Department.parent, Department.aliases)
    if dispatchable:
        query = query.where(Department.active == True)  # noqa: E712  (a column comparison)
    return await query.order_by(Department.sort).order_by(Department.code).output(load_json=True)


@functools.cache
def _filter_labels() -> dict[str, str]:
    from core.channels import field_labels

    return {name: label for name, label in field_labels(OrderFilter).items() if label != name}


@get("/orders")
async def order_list(request: Request) -> Response:
    actor = await current_actor(request)
    params = _list_params(request)
    sort = request.query_params.get("sort") or "received_desc"
    try:
        page = max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        page = 1
    queue = queues.find(actor.role, request.query_params.get("queue", ""))
    error = ""
    kpi = ""
    try:
        found = parse_filter(params)
        kpi = kpi_label(found.kpi, found.kpi_from, found.kpi_to)
        result = await _platform(request).orders.listing(actor, found, sort=sort if sort in SORTS else "received_desc",
                                                         page=page, page_size=PAGE_SIZE)
    except InvalidInput as bad:  # each message under the field's own label: 「统计日期从：日期格式不正确…」
        named = _filter_labels()
        error = "；".join(f"{named[e.key]}：{e.message}" if e.key in named else e.message for e in bad.errors)
        result = {"items": [], "total": 0, "page": 1, "page_size": PAGE_SIZE}
    if actor.in_centre and result["items"]:
        await _platform(request).orders.mark_duplicates(result["items"])
    query = {**{k: (",".join(v) if isinstance(v, tuple) else ("1" if v is True else v))
                for k, v in params.items()}, "sort": sort}
    if queue:
        query["queue"] = queue.key
    without_kpi = urlencode({k: v for k, v in query.items() if k not in ("kpi", "kpi_from", "kpi_to")})
    pages = max(1, -(-(result["total"] or 0) // PAGE_SIZE))
    if result.get("total_capped"):  # beyond the counted total: page on while pages come back full
        pages = max(pages, page + (len(result["items"]) == PAGE_SIZE))
    return await _page(request, actor, "orders.html", result=result, params=params, sort=sort, sorts=SORTS,
                       query=urlencode(query), page=page, pages=pages, queue=queue, error=error,
                       kpi=kpi, without_kpi=without_kpi,
                       statuses=STATUSES, kinds=KINDS, flags=LIST_FLAGS, deadline_states=DEADLINE_STATES, sources=SOURCES,
                       channels=list(_platform(request).channels), departments=await _departments(),
                       status_code=400 if error else 200)


@get("/orders/export.xlsx")
async def order_export(request: Request) -> Response:
    """The current filter as a spreadsheet (at most ``EXPORT_LIMIT`` rows, cut in the database)."""
    import xlsxwriter

    actor = await current_actor(request)
    found = parse_filter(_list_params(request))
    sort = request.query_params.get("sort") or "received_desc"
    rows = await _platform(request).orders.rows_for_export(actor, found, sort=sort if sort in SORTS else "received_desc",
                                                           limit=EXPORT_LIMIT)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("工单")
    bold = book.add_format({"bold": True})
    header = ["工单编号", "受理时间", "渠道", "诉求类型", "标题", "状态", "承办单位", "时限状态", "时限", "街道",
              "来电人", "联系电话", "预警"]
    sheet.write_row(0, 0, header, bold)
    from api.console import local_time

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

def _action_fields(platform, order: dict, action) -> list:
    fields = struct_fields(action.payload)
    if action.name == "reply" and not publishes_replies(platform.channels.get(order["channel"])):
        fields = [f for f in fields if f.name != "public_reply"]
    return fields


def _timeline(platform, order: dict, names: dict[str, str], people: dict[str, str],
              files: dict[str, str] | None = None) -> list[dict]:
    lifecycle = platform.channels.lifecycle(order["channel"])
    shown = []
    for e in order.get("events", []):
        action = lifecycle.get(e["action"])
        described = describe_fields(action.payload) if action else []
        labels = {f.name: f.label for f in described}
        choices = {f.name: f.choices or {} for f in described}
        choices.update(INTAKE_CHOICES)
        if e["action"] in site_visits.EVENTS:
            labels.update({key: label for key, (label, _) in site_visits.TIMELINE_KEYS.items()})
            choices.update({key: known for key, (_, known) in site_visits.TIMELINE_KEYS.items()})
        details = []
        for key, value in (e["payload"] or {}).items():
            if value in ("", None, [], {}) or key in ("reason", "note", "text") and value == e["reason"]:
                continue
            if e["action"] == "attach" and key not in ("filename", "size"):  # its storage key, type, uploader
                continue
            if key in ("department", "suggested_department", "from_department"):
                value = names.get(value, value)
            elif key == "assisting" and isinstance(value, list):  # departments named by a dispatch
                value = "、".join(names.get(v, "（已删除的单位）") for v in value)
            elif key == "attachments" and isinstance(value, list) and files is not None:
                value = "、".join(files.get(v, "附件") for v in value)
            elif isinstance(value, str) and value in choices.get(key, {}):
                value = choices[key][value]
            elif isinstance(value, bool):
                value = "是" if value else "否"
            elif isinstance(value, list):
                value = "、".join(map(str, value))
            details.append((labels.get(key, {"source": "来源", "priority": "紧急程度", "flags": "预警",
                                              "filename": "文件名", "size": "大小", "attempt": "第几次回访",
                                              "tries": "回访次数上限", "closed": "回访结束", "closed_as": "结果",
                                              "callback": "需要回访", "extended_days": "顺延工作日",
                                              "handle_due": "新的办理时限", "department": "承办单位",
                                              "from_department": "原承办单位", "withdrawn_parts": "撤销的协办",
                                              **meetings.EVENT_FIELDS, **telephony.EVENT_FIELDS}.get(key, key)),
                            CLOSED_LABELS.get(value, value) if key == "closed_as" else value))
        shown.append({
            "label": action.label if action else EVENT_LABELS.get(e["action"], e["action"]),
            "actor": actor_label(e["actor"], e["role"], people),
            "department": names.get(e["department"] or "", ""),
            "from": STATUSES.get(e["from_status"] or "", ""), "to": STATUSES.get(e["to_status"] or "", ""),
            "reason": e["reason"], "details": details, "at": e["created_at"],
        })
    return shown


async def _detail(request: Request, actor: Actor, number: str, *, order: dict | None = None,
                  status_code: int = 200, open_action: str = "", values: dict | None = None,
                  errors: dict | None = None, banner: str = "", banner_kind: str = "info",
                  back: str = "") -> Response:
    platform = _platform(request)
    if order is None:
        record, events = await platform.orders.detail(number, actor)
        order = present(platform, record, actor, events)
    names = await platform.orders.department_names()
    people = await display_names()
    lifecycle = platform.channels.lifecycle(order["channel"])
    channel = platform.channels.get(order["channel"])
    attachments = [msgspec.to_builtins(a) for a in await platform.orders.attachments(number, actor)]
    callback = await desk(platform, order, actor)  # the callback form, beside the reply it rates
    actions = []
    for a in order["actions"]:
        action = lifecycle.get(a["name"])
        if action is None or action.reveals_contact or callback and a["name"] in ("callback", "callback_attempt"):
            continue
        actions.append({"name": action.name, "label": action.label, "fields": _action_fields(platform, order, action),
                        "open": action.name == open_action})
    reveal = next((a for a in order["actions"] if lifecycle.get(a["name"]) and lifecycle.get(a["name"]).reveals_contact),
                  None)
    panels = await order_panels(platform, order, actor)
    visits = await platform.site_visits.for_order(number, actor)
    fits = site_visits.purposes_for(channel, order["status"])
    knowledge = await related_articles(platform, order, actor) if actor.role in READERS else None
    returned_by = {e["department"] for e in order.get("events", []) if e["action"] == "return" and e["department"]}
    dispatch_default = order["suggested_department"] if order["suggested_department"] not in returned_by else None
    duplicates = []
    if actor.in_centre and order["status"] == "received":
        summary = {"number": order["number"], "_phone": "", "subject": order["subject"],
                   "received_at": _parse(order["received_at"])}
        await platform.orders.mark_duplicates([summary])
        duplicates = summary["duplicates"]
    return await _page(
        request, actor, "order.html", status_code=status_code, order=order, names=names, channel=channel,
        fields=[(f.label, _choice_labels(f, order["details"].get(f.name)))
                for f in describe_fields(channel.fields if channel else None)
                if order["details"].get(f.name) not in (None, "", [])],
        timeline=_timeline(platform, order, names, people, {a["key"]: a["filename"] for a in attachments}),
        people=people, attachments=attachments, actions=actions, reveal=reveal,
        panels=panels, values=values or {}, errors=errors or {}, general=(errors or {}).get(GENERAL, ""),
        banner=banner, banner_kind=banner_kind, departments=await _departments(dispatchable=True), duplicates=duplicates,
        deadline_labels=DEADLINE_LABELS, done=request.query_params.get("done", ""),
        reply_templates={"own": await reply_templates.list_for(order["department"]) if any(
            a["name"] == "reply" for a in actions) else [], "generic": reply_templates.GENERIC},
        knowledge=knowledge, callback=callback, back=back,
        meetings=await platform.meetings.for_order(number, actor),
        site_visits=visits, place_text=site_visits.place_text,
        schedule_visit=bool(fits) and site_visits.may_schedule(actor, order["department"], fits),
        calls=await platform.telephony.calls_of_order(order["number"]),
        dispatch_default=dispatch_default, pending_return=_pending_return(order, names, people, actions))


def _pending_return(order: dict, names: dict, people: dict, actions: list[dict]) -> dict | None:
    """A 退单 waiting for the dispatcher's ruling, shown at the top of the order beside its rulings."""
    if order["status"] != "returned":
        return None
    last = next((e for e in reversed(order.get("events", [])) if e["action"] == "return"), None)
    if last is None:
        return None
    payload = last["payload"] or {}
    suggested = payload.get("suggested_department") or ""
    return {"department": last["department"] or "", "department_name": names.get(last["department"] or "", "承办单位"),
            "by": actor_label(last["actor"], last["role"], people), "at": last["created_at"],
            "type": RETURN_REASONS.get(payload.get("reason_type") or "", ""),
            "reason": payload.get("reason") or last["reason"], "suggested": suggested,
            "suggested_name": names.get(suggested, "") if suggested else "",
            "may_rule": any(a["name"] == "uphold_return" for a in actions)}


@post("/orders/{number:str}/uphold-and-dispatch")
async def uphold_and_dispatch(request: Request, number: FromPath[str]) -> Response:
    """同意退单并改派 in one step: the return is upheld and the order dispatched to the department chosen
    (never the one that returned it), as two audited steps of the lifecycle."""
    actor = await current_actor(request)
    platform = _platform(request)
    order = present(platform, await platform.orders.get(number, actor), actor)
    form = await request.form()
    typed = str(form.get("department") or "").strip()[:64]
    note = str(form.get("note") or "").strip()[:4000]
    department = next((d["code"] for d in await _departments(dispatchable=True) if typed in (d["code"], d["name"])), "")
    refusal = ("请选择改派的承办单位" if not typed else "承办单位不存在或已停用" if not department
               else "不能改派给退单的单位" if department == order["department"] else "")
    if refusal:
        return await _detail(request, actor, number, order=order, status_code=400, banner_kind="conflict",
                             banner=f"未能同意退单并改派：{refusal}")
    try:
        await platform.orders.act(number, "uphold_return", {"note": note}, actor)
        await platform.orders.act(number, "dispatch", {"department": department, "note": note}, actor)
    except (Conflict, Forbidden, InvalidInput) as refused:
        return await _detail(request, actor, number, status_code=refused.status_code, banner_kind="conflict",
                             banner=f"未能同意退单并改派：{refused.detail}。下面是工单的最新状态。")
    return Redirect(f"/console/orders/{quote(number)}?{urlencode({'done': '同意退单并改派'})}", status_code=303)


def _choice_labels(f, value):
    """A channel field's value as its declaration names it: a choice by its label, a list of choices
    by theirs."""
    if not f.choices:
        return value
    if isinstance(value, list):
        return [f.choices.get(v, v) if isinstance(v, str) else v for v in value]
    return f.choices.get(value, value) if isinstance(value, str) else value


def _parse(value):
    import datetime as dt

    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value


@get("/orders/{number:str}")
async def order_detail(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    back = "callbacks" if request.query_params.get("back") == "callbacks" else ""  # opened from the callback desk
    page = await _detail(request, actor, number, back=back)  # a number the user may not see is a 404 and not recorded
    await access_audit.record_view(actor, number, client_address(request), via="console")
    return page


@post("/orders/{number:str}/act/{name:str}")
async def order_act(request: Request, number: FromPath[str], name: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
    order = present(platform, await platform.orders.get(number, actor), actor)
    action = platform.channels.lifecycle(order["channel"]).get(name)
    if action is None:
        raise NotFound(f"没有「{name}」这个操作")
    form = await request.form()
    fields = _action_fields(platform, order, action)
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
        return await _detail(request, actor, number, order=order, status_code=400, open_action=name,
                             values={name: values}, errors={name: errors}, back=str(form.get("back") or "")[:16])
    seen_version = str(form.get("version") or "")
    back = "callbacks" if form.get("back") == "callbacks" else ""
    if from_queue:
        try:
            await platform.orders.act(number, name, data, actor)
        except HuyingError as refused:
            return await _dispatch_page(request, actor, **queue, status_code=refused.status_code,
                                        outcome={"label": "派单", "done": [], "failed": [(number, refused.detail)]})
        return Redirect(f"/console/dispatch?{urlencode({**queue, 'dispatched': number})}", status_code=303)
    try:
        result = await platform.orders.act(number, name, data, actor)
    except InvalidInput as refused:
        return await _detail(request, actor, number, status_code=400, open_action=name, values={name: values},
                             errors={name: file_errors({}, refused.errors, fields)}, back=back)
    except Conflict as lost:
        stale = seen_version and seen_version != str((await platform.orders.get(number, actor)).version)
        return await _detail(
            request, actor, number, status_code=409, banner_kind="conflict",
            banner=(f"未能执行「{action.label}」：{lost.detail}。"
                    + ("您打开这个页面之后，工单已被他人处理；" if stale else "")
                    + "下面是工单的最新状态，请核对后再操作。"))
    except Forbidden as refused:
        return await _detail(request, actor, number, status_code=403, banner_kind="conflict",
                             banner=f"未能执行「{action.label}」：{refused.detail}")
    if action.reveals_contact:
        return await _detail(request, actor, number, order=present_result(platform, result, actor),
                             banner="完整号码已显示，本次查看已记录在案（仅本页显示，刷新后重新隐藏）。")
    if back:  # recorded from the callback desk: straight back to the queue for the next call
        return Redirect(back_to_queue(number, action.label), status_code=303)
    return Redirect(f"/console/orders/{number}?{urlencode({'done': action.label})}", status_code=303)


@post("/orders/{number:str}/attachments", request_max_body_size=11 * 1024 * 1024)
async def order_attach(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _detail(request, actor, number, status_code=400, banner_kind="conflict", banner="请选择要上传的文件")
    try:
        await platform.orders.attach(number, upload.filename, await upload.read(), actor, platform.attachments)
    except AttachmentRefused as refused:
        return await _detail(request, actor, number, status_code=400, banner_kind="conflict", banner=str(refused))
    except (Conflict, Forbidden) as refused:
        return await _detail(request, actor, number, status_code=refused.status_code, banner_kind="conflict",
                             banner=refused.detail)
    return Redirect(f"/console/orders/{number}?{urlencode({'done': '上传附件'})}", status_code=303)


@get("/orders/{number:str}/attachments/{key:str}")
async def order_attachment(request: Request, number: FromPath[str], key: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
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
            "priorities": PRIORITIES, "submission": values.get("_submission") or secrets.token_urlsafe(18),
            "fresh": not errors and not values.get("call_id")}


@get("/intake")
async def intake_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role not in ("agent", "dispatcher", "admin"):
        raise Forbidden("只有话务员、派单员和管理员可以受理来电")
    platform = _platform(request)
    values = {"channel": "hotline" if platform.channels.get("hotline") else next(iter(platform.channels)).code,
              "kind": "complaint", "priority": "normal"}
    history = None
    call_id = str(request.query_params.get("call") or "")[:160]
    if call_id:  # the screen pop: the answered call's number and its caller's history
        call = await platform.telephony.call(call_id, actor)
        values.update({"citizen.phone": call["number"], "call_id": call_id})
        history = await _history(platform, actor, call["number"])
    return await _page(request, actor, "intake.html", history=history, follow_up=True,
                       **await _intake_context(platform, values, {}))


async def _history(platform, actor: Actor, phone: str) -> dict:
    """The caller's orders and, beside them, the calls from that number."""
    history = await platform.orders.caller_history(actor, phone)
    history["calls"] = await platform.telephony.recent(phone)
    for item in history["items"]:  # an open order can take this call as 追加来电
        item["open"] = item["status"] in OPEN_STATUSES
    return history


@post("/intake")
async def intake_submit(request: Request) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
    form = await request.form()
    code = str(form.get("channel") or "")
    channel = platform.channels.get(code)
    common = intake_fields()
    own = channel_fields(channel) if channel else []
    data, values = read_values(form, common + own)
    values["channel"] = code
    values["_submission"] = str(form.get("_submission") or "")[:64]
    values["call_id"] = str(form.get("call_id") or "")[:160]
    errors = {} if channel else {"channel": "请选择渠道"}
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
            return Redirect(f"/console/orders/{made.number}?{urlencode({'done': '受理'})}", status_code=303)
        except msgspec.ValidationError as exc:
            from core.intake import field_errors

            errors = file_errors({}, field_errors(exc), common + own)
        except InvalidInput as refused:
            errors = file_errors({}, refused.errors, common + own)
        except Conflict as refused:
            errors = {GENERAL: refused.detail}
    return await _page(request, actor, "intake.html", status_code=400, history=history, follow_up=True,
                       **await _intake_context(platform, values, errors))


@post("/intake/follow-up/{number:str}")
async def intake_follow_up(request: Request, number: FromPath[str]) -> Response:
    """追加来电 from the caller history: the call being typed is added to the caller's open order as a
    催办 in their words (one step, nothing retyped), instead of a second order for the same case."""
    actor = await current_actor(request)
    platform = _platform(request)
    form = await request.form()
    text = str(form.get("content") or "").strip()
    call_id = str(form.get("call_id") or "")[:160]
    if not text:
        common = intake_fields()
        code = str(form.get("channel") or "")
        channel = platform.channels.get(code)
        _, values = read_values(form, common + (channel_fields(channel) if channel else []))
        values.update({"channel": code, "_submission": str(form.get("_submission") or "")[:64], "call_id": call_id})
        phone = values.get("citizen.phone") or ""
        history = await _history(platform, actor, phone) if phone else None
        errors = {"content": "请先在“来电内容”里记下来电人这次说的话，再追加到工单"}
        return await _page(request, actor, "intake.html", status_code=400, history=history, follow_up=True,
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
    history = await _history(_platform(request), actor, phone) if len(phone) >= 7 else None
    return _console(request).render(request, "_history.html", history=history, follow_up=True)


# -- queues with bulk actions ----------------------------------------------------------------------

QUEUE_PAGE = 50  # rows of a queue page


async def _dispatch_page(request: Request, actor: Actor, *, q: str = "", page: int = 1, outcome: dict | None = None,
                         status_code: int = 200) -> Response:
    """The 待派单 queue, one page of it, with what was just done (or refused) in a banner on top."""
    platform = _platform(request)
    result = await platform.orders.listing(actor, OrderFilter(status="received", q=q), sort="due", page=page,
                                           page_size=QUEUE_PAGE)
    await platform.orders.mark_duplicates(result["items"])
    pages = max(1, -(-result["total"] // QUEUE_PAGE))
    return await _page(request, actor, "dispatch.html", status_code=status_code, result=result, q=q, outcome=outcome,
                       departments=await _departments(dispatchable=True), page=min(page, pages), pages=pages)


def _queue_page(value) -> int:
    try:
        return max(1, min(int(str(value or "1")[:6]), 10_000))
    except ValueError:
        return 1


@get("/dispatch")
async def dispatch_queue(request: Request) -> Response:
    """待派单 by the soonest dispatch deadline, with suggestions, duplicates and bulk dispatch; a
    dispatch made from a row comes back here with its result, so the dispatcher never leaves the queue."""
    actor = await current_actor(request)
    if actor.role not in ("dispatcher", "admin"):
        raise Forbidden("只有派单员可以派单")
    platform = _platform(request)
    q = str(request.query_params.get("q") or "")[:100]
    outcome = None
    sent = str(request.query_params.get("dispatched") or "")[:32]
    if sent:
        order = await platform.orders.get(sent, actor)
        names = await platform.orders.department_names()
        outcome = {"label": "派单", "done": [f"{sent} → {names.get(order.department or '', '承办单位')}"], "failed": []}
    return await _dispatch_page(request, actor, q=q, page=_queue_page(request.query_params.get("page")),
                                outcome=outcome)


@post("/bulk/{name:str}")
async def bulk_action(request: Request, name: FromPath[str]) -> Response:
    """Dispatch (each to its suggestion or to one chosen department) or accept several orders; each
    goes through the service on its own, and the page tells which succeeded and why others did not."""
    actor = await current_actor(request)
    if name not in ("dispatch", "accept"):
        raise NotFound("没有这个批量操作")
    platform = _platform(request)
    form = await request.form()
    numbers = [n for n in form.getall("numbers", []) if isinstance(n, str) and n][:BULK_LIMIT]
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
    return await _page(request, actor, "accept.html", result=result, outcome=outcome,
                       status_code=200 if done or not failed else 409)


@get("/accept")
async def accept_queue(request: Request) -> Response:
    actor = await current_actor(request)
    result = await _platform(request).orders.listing(actor, OrderFilter(status="dispatched", lead_only=True), sort="due", page_size=50)
    return await _page(request, actor, "accept.html", result=result, outcome=None)


# -- errors -----------------------------------------------------------------------------------------

def _signed_out(request: Request, exc: NotSignedIn) -> Response:
    if request.url.path == "/console/live":  # an event stream is not redirected: 401 ends its retries
        return Response({"detail": exc.reason or "请先登录"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.url.path.startswith("/console/caller-history"):
        target = "/console"
    query = {"next": target}
    if exc.reason:
        query["notice"] = exc.reason
    response = Redirect(f"/console/login?{urlencode(query)}", status_code=303)
    response.set_cookie(_console(request).sessions.expired_cookie())
    return response


def _message(request: Request, status_code: int, title: str, text: str) -> Response:
    return _console(request).render(request, "message.html", status_code=status_code, me=None, nav=[],
                                    title=title, text=text)


def _huying_error(request: Request, exc: HuyingError) -> Response:
    titles = {400: "请求有误", 401: "请重新登录", 403: "无权访问", 404: "没有找到", 409: "操作未能完成"}
    return _message(request, exc.status_code, titles.get(exc.status_code, "操作未能完成"), exc.detail)


def _csrf_refused(request: Request, exc: Exception) -> Response:
    return _message(request, 403, "页面已过期，请刷新后重试",
                    "这次提交没有通过安全校验（页面打开太久或 Cookie 被清除）。请返回上一页，刷新后再提交。")


def _not_found(request: Request, exc: Exception) -> Response:
    return _message(request, 404, "没有找到这个页面", "请从工作台首页重新进入。")


def _server_error(request: Request, exc: Exception) -> Response:
    return _message(request, 500, "系统暂时无法处理", "很抱歉，系统出了点问题，刚才的操作可能没有完成。请刷新页面核对后再试。")


def console_router(secret: str) -> Router:
    from api.console.admin import ADMIN_ROUTES

    static = create_static_files_router(path="/static", directories=[STATIC], name="console-static",
                                        include_in_schema=False, cache_control=CacheControlHeader(max_age=86400))
    return Router(
        path="/console",
        route_handlers=[login_page, login_submit, logout, home, order_list, order_export, order_detail, order_act,
                        uphold_and_dispatch, order_attach, order_attachment, intake_page, intake_submit, intake_follow_up, keepalive, caller_history,
                        dispatch_queue, bulk_action, accept_queue, static, *ADMIN_ROUTES, *CENTRE_ROUTES,
                        *TEMPLATE_ROUTES, *SLA_RULE_ROUTES, *CALLBACK_ROUTES, *SURVEY_ROUTES,
                        *MEETING_ROUTES, *NETBOARD_ROUTES, *REPORT_ROUTES, *NOTICE_ROUTES, *MAINTENANCE_ROUTES,
                        *PEOPLE_ROUTES, *PEOPLE_SETTINGS_ROUTES, *TELEPHONY_ROUTES],
        middleware=[security_headers, csrf_middleware(secret)],
        exception_handlers={
            NotSignedIn: _signed_out,
            HuyingError: _huying_error,
            PermissionDeniedException: _csrf_refused,
            NotFoundException: _not_found,
            500: _server_error,
        },
        include_in_schema=False,
    )
