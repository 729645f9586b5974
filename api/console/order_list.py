"""The order list (工单查询, and every queue a role's home links to) and each user's saved views of it.

The list is dense for a working day: one line a row, the filter form folded behind 筛选条件 with the
criteria in force shown beside it. A view (保存为视图) keeps the list's filter under a name for the
user who saved it (``core.saved_views``); its links sit at the top of the list and on the home page.
A name refused comes back beside its field with what was typed.
"""

from __future__ import annotations

import functools
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console import queues
from api.console.order_page import departments
from api.console.pages import platform_of, render_page
from core.areas import check as check_area
from api.console.session import current_actor
from core import saved_views
from core.channels import KINDS, SOURCES, field_labels
from core.errors import Conflict, FieldError, InvalidInput
from core.lifecycle import STATUSES
from core.listing import LIST_FLAGS, SORTS, OrderFilter, kpi_label, parse_filter
from core.model import Actor
from core.order_filter import query_pairs, read_params
from core.reports.tables import EarlyWarning
from core.reports.warnings import KINDS as WARNING_KINDS

PAGE_SIZE = 30
DEADLINE_STATES = {"normal": "正常", "at_risk": "临期", "overdue": "超期", "handle_overdue": "办理超期"}
# the criteria of the folded form, shown beside it while they are in force
SHOWN_CRITERIA = ("status", "channel", "kind", "department", "area", "deadline", "source", "flag",
                  "received_from", "received_to")


@functools.cache
def _filter_labels() -> dict[str, str]:
    return {name: label for name, label in field_labels(OrderFilter).items() if label != name}


def _in_force(params: dict[str, Any], channels: dict[str, str], names: dict[str, str]) -> list[str]:
    """The folded form's criteria now in force, in words: 「状态：待派单」「承办单位：住房和城乡建设局」."""
    values = {"status": STATUSES, "channel": channels, "kind": KINDS, "deadline": DEADLINE_STATES,
              "source": SOURCES, "flag": LIST_FLAGS, "department": {"-": "未派单/中心办结", **names},
              "area": {"-": "未填写"}}
    labels = {**_filter_labels(), "received_from": "受理从", "received_to": "受理到"}
    return [f"{labels.get(key, key)}：{values.get(key, {}).get(params[key], params[key])}"
            for key in SHOWN_CRITERIA if params.get(key)]


async def _warning_of(value) -> dict | None:
    """The early warning whose orders the list shows (its title and kind, for the chip above the list)."""
    if not (isinstance(value, str) and value.isdigit() and len(value) < 10):
        return None
    row = await EarlyWarning.select(EarlyWarning.id, EarlyWarning.kind, EarlyWarning.title).where(
        EarlyWarning.id == int(value)).first()
    if row is None:
        return {"id": int(value), "title": "（预警不存在）", "kind_label": "预警"}
    return {**row, "kind_label": WARNING_KINDS.get(row["kind"], "预警")}


async def list_page(request: Request, actor: Actor, source, *, saving: dict[str, str] | None = None,
                    status_code: int | None = None) -> Response:
    """The list for the query parameters in ``source`` (a mapping); ``saving`` is a view being saved
    that was refused (its name as typed and the reason)."""
    params = read_params(source)
    sort = str(source.get("sort") or saved_views.DEFAULT_SORT)
    try:
        page = max(1, int(source.get("page") or 1))
    except ValueError:
        page = 1
    queue = queues.find(actor.role, str(source.get("queue") or ""))
    error = ""
    kpi = ""
    platform = platform_of(request)
    streets = await platform.orders.reference.areas()
    if params.get("area") and params["area"] != "-":  # 梅溪湖 lists the orders of 梅溪湖街道
        params["area"] = check_area(params["area"], streets)[0]
    try:
        found = parse_filter(params)
        kpi = kpi_label(found.kpi, found.kpi_from, found.kpi_to)
        result = await platform.orders.listing(actor, found, sort=sort if sort in SORTS else saved_views.DEFAULT_SORT,
                                               page=page, page_size=PAGE_SIZE)
    except InvalidInput as bad:  # each message under the field's own label: 「统计日期从：日期格式不正确…」
        named = _filter_labels()
        error = "；".join(f"{named[e.key]}：{e.message}" if e.key in named else e.message for e in bad.errors)
        result = {"items": [], "total": 0, "page": 1, "page_size": PAGE_SIZE}
    if actor.in_centre and result["items"]:
        await platform.orders.mark_duplicates(result["items"])
    pairs = query_pairs(params) + [("sort", sort)]
    filter_query = urlencode(pairs)  # what a view keeps
    query = urlencode(pairs + ([("queue", queue.key)] if queue else []))
    without_kpi = urlencode([(k, v) for k, v in pairs if k not in ("kpi", "kpi_from", "kpi_to")]
                            + ([("queue", queue.key)] if queue else []))
    pages = max(1, -(-(result["total"] or 0) // PAGE_SIZE))
    if result.get("total_capped"):  # beyond the counted total: page on while pages come back full
        pages = max(pages, page + (len(result["items"]) == PAGE_SIZE))
    warning = await _warning_of(params.get("warning"))
    views = await saved_views.views_of(actor)
    shown_view = saved_views.current(views, filter_query) if not error else None
    all_departments = await departments()
    channels = list(platform.channels)
    in_force = _in_force(params, {c.code: c.name for c in channels}, {d["code"]: d["name"] for d in all_departments})
    return await render_page(request, actor, "orders.html", result=result, params=params, sort=sort, sorts=SORTS,
                             query=query, filter_query=filter_query, page=page, pages=pages, queue=queue,
                             error=error, kpi=kpi, without_kpi=without_kpi, in_force=in_force, warning=warning,
                             views=views, shown_view=shown_view, saving=saving or {},
                             statuses=STATUSES, kinds=KINDS, flags=LIST_FLAGS, deadline_states=DEADLINE_STATES,
                             sources=SOURCES, channels=channels, departments=all_departments,
                             areas=[a["name"] for a in streets], status_code=status_code or (400 if error else 200))


@get("/orders")
async def order_list(request: Request) -> Response:
    return await list_page(request, await current_actor(request), request.query_params)


# -- saved views ------------------------------------------------------------------------------------

def _text(form, name: str, limit: int) -> str:
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


@post("/views")
async def view_save(request: Request) -> Response:
    """保存为视图: the list's filter under a name; back on the list it was saved from, the new view
    among the links on top. A refused name comes back beside the field, the list as it was."""
    actor = await current_actor(request)
    form = await request.form()
    name = _text(form, "name", 200)
    query = _text(form, "query", saved_views.QUERY_LIMIT + 1)
    try:
        view = await saved_views.save(actor, name, query)
    except (InvalidInput, Conflict) as refused:
        reason = next((e.message for e in refused.extra or [] if isinstance(e, FieldError)), refused.detail)
        return await list_page(request, actor, dict(_pairs(query)), saving={"name": name, "error": reason},
                               status_code=refused.status_code)
    done = urlencode({"done": f"已保存视图「{view['name']}」"})
    return Redirect(f"/console/orders?{view['query']}&{done}", status_code=303)


def _pairs(query: str) -> list[tuple[str, str]]:
    """A list's query string as pairs, without the page's own messages."""
    return [(k, v) for k, v in parse_qsl(query.lstrip("?"))[:100] if k not in ("done", "refused")]


@get("/views/{view_id:int}")
async def view_open(request: Request, view_id: FromPath[int]) -> Response:
    """A view's link: the list with its filter (another user's view is not found)."""
    view = await saved_views.get(await current_actor(request), view_id)
    return Redirect(f"/console/orders?{view['query']}", status_code=303)


@post("/views/{view_id:int}/delete")
async def view_delete(request: Request, view_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    view = await saved_views.delete(actor, view_id)
    form = await request.form()
    back = _pairs(_text(form, "back", saved_views.QUERY_LIMIT))
    done = urlencode([*back, ("done", f"已删除视图「{view['name']}」")])
    return Redirect(f"/console/orders?{done}", status_code=303)


ORDER_LIST_ROUTES = [order_list, view_save, view_open, view_delete]
