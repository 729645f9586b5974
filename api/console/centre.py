"""The centre's overview pages: KPIs by department, channel and street for a period, early warnings
with acknowledgement, the real-time board, the knowledge base (search, and review for the centre's
reviewers) and the city reconciliation differences.

Each page reads through the same core functions as its JSON API (``core.reports``, ``core.city``,
the knowledge base service) and applies the same role rule; none computes a figure of its own.
"""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from core import clock
from api.console.pages import render_page
from api.console.session import current_actor
from core import city
from core.errors import Conflict, Forbidden, InvalidInput
from core.knowledge import READERS, REVIEWERS, Review
from core.lifecycle import STATUSES
from core.listing import NONE
from core.model import CENTRE_ROLES, Actor
from core.reports import board, warnings
from core.reports.build import kpi_tables
from core.reports.html import tone
from core.reports.periods import KINDS as PERIOD_KINDS
from core.reports.periods import period, today

# The counts and rates shown per row of the KPI tables, in this order (names from core.reports.kpis).
KPI_COUNTS = ("intake", "dispatched", "completed", "open_overdue", "callbacks")
KPI_RATES = ("resolved_at_intake_rate", "on_time_accept_rate", "on_time_completion_rate", "callback_rate",
             "satisfaction_rate", "return_rate")
# The counts whose orders the order list can show exactly: the intake of a period is "received within
# those days"; the others are the list's KPI filter (``kpi``), read off the same report_facts rows by
# the same condition as the count (core.reports.kpis.members).
LINKED_COUNTS = ("intake", "dispatched", "completed", "open_overdue", "callbacks")
KPI_DIMENSIONS = ("department", "channel", "area")
DIMENSION_FILTERS = {"department": "department", "channel": "channel", "area": "area"}
KNOWLEDGE_PANEL_SIZE = 5
BOARD_REFRESH_SECONDS = {"page": 60, "wall": 30}  # the board reads its figures again this often
WALL_HOURS = 12
WARNINGS_RESCAN = dt.timedelta(minutes=1)  # the reports job scans every minute; a page view without jobs as often
REFUSED = {
    "centre": "只有中心人员可以查看统计和看板",
    "warnings": "只有中心人员和承办单位可以查看预警",
    "acknowledge": "只有中心人员可以确认预警",
    "knowledge": "无权查看知识库",
    "review": "只有中心督办员或管理员可以审核知识",
    "reconciliation": "只有督办员和管理员可以查看对账差异",
}
DONE = {"acknowledge": "已确认预警", "approve": "已通过并发布", "return": "已退回"}


async def _render(request: Request, actor: Actor, name: str, *, status_code: int = 200, **context) -> Response:
    return await render_page(request, actor, name, status_code=status_code,
                       done=request.query_params.get("done", ""), **context)


def _done(path: str, what: str) -> Redirect:
    return Redirect(f"{path}?{urlencode({'done': what})}", status_code=303)


async def _centre(request: Request, rule: str = "centre") -> Actor:
    actor = await current_actor(request)
    if actor.role not in CENTRE_ROLES:
        raise Forbidden(REFUSED[rule])
    return actor


# -- KPIs -------------------------------------------------------------------------------------------

def _order_link(name: str, dimension: str | None, value: str, start: dt.date, end: dt.date) -> str:
    """The order list showing exactly the orders the count ``name`` counts over [start, end] (end
    inclusive) with this value (an empty one, not dispatched or no street, as the filter's NONE)."""
    if name == "intake":
        params = {"received_from": start.isoformat(), "received_to": end.isoformat()}
    elif name == "open_overdue":  # a state at the period's end (now, while it runs)
        params = {"kpi": name, "kpi_to": end.isoformat()}
    else:
        params = {"kpi": name, "kpi_from": start.isoformat(), "kpi_to": end.isoformat()}
    params["sort"] = "received_desc"
    if dimension:
        params[DIMENSION_FILTERS[dimension]] = value or NONE
    return "/console/orders?" + urlencode(params)


@get("/kpis")
async def kpi_page(request: Request) -> Response:
    actor = await _centre(request)
    kind = str(request.query_params.get("period") or "monthly")
    errors = []
    if kind not in PERIOD_KINDS:
        kind = "monthly"
        errors.append("period")
    try:
        start = dt.date.fromisoformat(str(request.query_params.get("start") or today().isoformat()))
        if not dt.date(2000, 1, 1) <= start <= dt.date(2100, 12, 31):
            raise ValueError
    except ValueError:
        start = today()
        errors.append("start")
    report = await kpi_tables(request.app.state.platform, kind, start, KPI_DIMENSIONS)
    first = dt.date.fromisoformat(report["period"]["start"])
    # a running period links through today (its 超期未办结 as of now); one not begun through its start
    last = dt.date.fromisoformat(report["period"]["through"] or report["period"]["start"])
    tables = []
    for dimension in KPI_DIMENSIONS:
        rows = [{**row, "links": {name: _order_link(name, dimension, row["value"], first, last)
                                  for name in LINKED_COUNTS}}
                for row in report["breakdowns"][dimension]["rows"]]
        tables.append({"dimension": dimension, "title": report["breakdowns"][dimension]["title"], "rows": rows})
    change = report["change"]["previous"]
    totals = {"counts": report["counts"], "rates": report["rates"],
              "links": {name: _order_link(name, None, "", first, last) for name in LINKED_COUNTS},
              "change": {name: {"value": change[name], "tone": tone(change[name], report["directions"][name])}
                         for name in (*KPI_COUNTS, *KPI_RATES)}}
    labels = {d["name"]: d for d in report["definitions"]}
    previous = period(kind, first).previous().start.isoformat()
    following = (period(kind, first).end).isoformat()
    begun = period(kind, first).end <= today()  # the next period has begun: worth a link
    return await _render(request, actor, "kpis.html", status_code=400 if errors else 200, report=report,
                         tables=tables, totals=totals, labels=labels, counts=KPI_COUNTS, rates=KPI_RATES,
                         kinds=PERIOD_KINDS, kind=kind, start=start.isoformat(), errors=errors,
                         previous=previous, following=following if begun else "")


# -- the real-time board --------------------------------------------------------------------------------

@get("/board")
async def board_page(request: Request) -> Response:
    """The board; ``?wall=1``: for a screen on the wall (large type, no navigation), refreshing itself."""
    actor = await _centre(request)
    snapshot = await board.snapshot(request.app.state.platform)
    now_hour = dt.datetime.fromisoformat(snapshot["as_of"]).hour
    hours = [h for h in snapshot["intake_by_hour"] if h["hour"] <= now_hour]  # later hours are still to come
    peak = max((h["total"] for h in hours), default=0) or 1
    statuses = snapshot["open_by_status"]
    most = max((s["count"] for s in statuses), default=0) or 1
    wall = request.query_params.get("wall") == "1"
    if wall:  # one screen, no scrolling: the latest hours
        hours = hours[-WALL_HOURS:]
    return await _render(request, actor, "board.html", board=snapshot, hours=hours, peak=peak, most=most,
                         wall=wall, refresh=BOARD_REFRESH_SECONDS["wall" if wall else "page"],
                         **({"calendar_banner": None} if wall else {}),
                         status_links={s["status"]: "/console/orders?" + urlencode({"status": s["status"]})
                                       for s in statuses})


# -- the staffing forecast ---------------------------------------------------------------------------------

DAY_TYPES = {"workday": "工作日", "weekend": "周末", "holiday": "节假日"}


@get("/forecast")
async def forecast_page(request: Request) -> Response:
    """话务预测: the coming weeks' calls per hour, the lines they need, and each hour's handling time per
    channel with where it came from (its label, never its code)."""
    from core.reports import forecast

    actor = await _centre(request)
    platform = request.app.state.platform
    raw = str(request.query_params.get("weeks") or "1")
    weeks = int(raw) if raw.isdigit() and 1 <= int(raw) <= 8 else None
    plan = await forecast.plan(weeks=weeks or 1, calendar=platform.calendar,
                               channels={c.code: c.name for c in platform.channels})
    return await _render(request, actor, "forecast.html", status_code=200 if weeks else 400, plan=plan,
                         weeks=weeks or 1, weeks_typed=raw[:8], error="" if weeks else "预测周数应为 1 到 8 之间的整数",
                         day_types=DAY_TYPES)


# -- early warnings ----------------------------------------------------------------------------------------

def _may_see_warnings(actor: Actor) -> None:
    if actor.role not in CENTRE_ROLES and actor.role != "handler":
        raise Forbidden(REFUSED["warnings"])


async def _warnings_page(request: Request, actor: Actor, *, status_code: int = 200, banner: str = "") -> Response:
    platform = request.app.state.platform
    kind = str(request.query_params.get("kind") or "")
    if kind not in warnings.KINDS:
        kind = ""
    state = str(request.query_params.get("state") or "open")
    acknowledged = {"open": False, "acknowledged": True}.get(state)
    now = clock.now()
    scanned = getattr(request.app.state, "warnings_scanned_at", None)
    # a page view lists: scanning is the reports job's, every minute; only an application running no
    # jobs (its workers are elsewhere or absent) scans here, at most as often
    if getattr(request.app.state, "jobs", None) is None and (scanned is None or now - scanned >= WARNINGS_RESCAN):
        await warnings.scan(platform)
        request.app.state.warnings_scanned_at = now
    found = await warnings.listing(kind=kind or None, acknowledged=acknowledged,
                                   department=actor.department if actor.role == "handler" else None)
    names = await platform.orders.department_names()
    return await _render(request, actor, "warnings.html", status_code=status_code, items=found["items"],
                         kinds=warnings.KINDS, kind=kind, state=state, names=names,
                         may_acknowledge=actor.role in warnings.ACKNOWLEDGING_ROLES, banner=banner)


@get("/warnings")
async def warnings_page(request: Request) -> Response:
    actor = await current_actor(request)
    _may_see_warnings(actor)
    return await _warnings_page(request, actor)


@post("/warnings/{warning_id:int}/acknowledge")
async def warnings_acknowledge(request: Request, warning_id: FromPath[int]) -> Response:
    actor = await _centre(request, "acknowledge")
    form = await request.form()
    note = str(form.get("note") or "").strip()[:1000]
    try:
        await warnings.acknowledge(warning_id, actor, note)
    except Conflict as lost:
        return await _warnings_page(request, actor, status_code=409, banner=lost.detail)
    except InvalidInput as refused:
        return await _warnings_page(request, actor, status_code=400, banner=refused.errors[0].message)
    return _done("/console/warnings", DONE["acknowledge"])


# -- the knowledge base --------------------------------------------------------------------------------------

async def related_articles(platform, order: dict, actor: Actor) -> list[dict]:
    """Published articles in force matching the order's subject, then its category's last level, then
    the whole category (each through the API's own search), at most ``KNOWLEDGE_PANEL_SIZE``."""
    if actor.role not in READERS:
        return []
    found: dict[int, dict] = {}
    category = order.get("category") or ""
    for text in (order.get("subject") or "", category.rsplit("/", 1)[-1], category.replace("/", " ")):
        if not text.strip() or len(found) >= KNOWLEDGE_PANEL_SIZE:
            continue
        try:
            result = await platform.knowledge.list(actor, q=text[:100], page_size=KNOWLEDGE_PANEL_SIZE)
        except InvalidInput:
            continue
        for item in result["items"]:
            if item.get("published"):
                found.setdefault(item["id"], item)
    return list(found.values())[:KNOWLEDGE_PANEL_SIZE]


async def _knowledge_page(request: Request, actor: Actor, *, status_code: int = 200, values: dict | None = None,
                          errors: dict | None = None) -> Response:
    knowledge = request.app.state.platform.knowledge
    q = str(request.query_params.get("q") or "").strip()[:100]
    search_error = ""
    try:
        published = await knowledge.list(actor, q=q or None, state=None if q else "published", page_size=50)
    except InvalidInput as bad:
        search_error = "；".join(e.message for e in bad.errors)
        published = {"items": [], "total": 0}
    pending = None
    if actor.role in REVIEWERS:
        pending = await knowledge.list(actor, state="pending", page_size=50)
    names = await request.app.state.platform.orders.department_names()
    return await _render(request, actor, "knowledge.html", status_code=status_code, q=q, published=published,
                         pending=pending, names=names, values=values or {}, errors=errors or {},
                         search_error=search_error)


@get("/knowledge")
async def knowledge_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role not in READERS:
        raise Forbidden(REFUSED["knowledge"])
    return await _knowledge_page(request, actor)


@post("/knowledge/{article_id:int}/review")
async def knowledge_review(request: Request, article_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    if actor.role not in REVIEWERS:
        raise Forbidden(REFUSED["review"])
    form = await request.form()
    decision = str(form.get("decision") or "")
    reason = str(form.get("reason") or "").strip()[:500]
    try:
        review = msgspec.convert({"decision": decision, "reason": reason}, Review)
        await request.app.state.platform.knowledge.review(article_id, review, actor)
    except msgspec.ValidationError:
        return await _knowledge_page(request, actor, status_code=400, values={article_id: reason},
                                     errors={article_id: "decision"})
    except InvalidInput:
        return await _knowledge_page(request, actor, status_code=400, values={article_id: reason},
                                     errors={article_id: "reason"})
    except Conflict as lost:
        return await _knowledge_page(request, actor, status_code=409, values={article_id: reason},
                                     errors={article_id: lost.detail})
    return _done("/console/knowledge", DONE[decision])


# -- city reconciliation --------------------------------------------------------------------------------------

@get("/admin/reconciliation")
async def reconciliation_page(request: Request) -> Response:
    actor = await current_actor(request)
    if actor.role not in ("admin", "supervisor"):
        raise Forbidden(REFUSED["reconciliation"])
    resolved = request.query_params.get("resolved") in ("1", "true")
    try:
        page = max(1, min(100000, int(request.query_params.get("page") or 1)))
    except ValueError:
        page = 1
    found = await city.discrepancies(include_resolved=resolved, page=page, page_size=50)
    pages = max(1, -(-found["total"] // 50))
    return await _render(request, actor, "reconciliation.html", found=found, resolved=resolved, page=page,
                         pages=pages, statuses=STATUSES, query=urlencode({"resolved": "1"} if resolved else {}))


CENTRE_ROUTES = [kpi_page, board_page, forecast_page, warnings_page, warnings_acknowledge, knowledge_page, knowledge_review,
                 reconciliation_page]

