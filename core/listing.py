"""Lists of orders for people at work: filters, search, sort, paging and counts, all in the database.

``OrderLists`` is part of the order service (``OrderService`` inherits it), so every list, count,
caller history and export is scoped by the same rule as a single read: a handler sees only its own
department's orders, an integration only its channels'. The soonest open deadline and the instant
it turns 临期 are columns (``due_at``, ``at_risk_at``), so deadline filters and the queues' order by
deadline are plain indexed comparisons, never computed in Python over many rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import operator
from typing import Annotated, Any, Literal

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.query import OrderByRaw

from core import clock
from core.calendar import DEADLINE_STATE_LABELS
from core.channels import FLAGS, KINDS, SOURCES, field
from core.confidential import HIDDEN
from core.db import read_transaction
from core.difficult import FLAGS as DIFFICULT_FLAGS
from core.errors import FieldError, Forbidden, InvalidInput, field_errors
from core.joint import PART_STATUSES
from core.lifecycle import OPEN_STATUSES, STATUSES
from core.model import Actor
from core.reports import kpis
from core.reports.periods import epoch
from core.visibility import assisted_by, mask_phone, scope
from core.tables import Department, Order

REPEAT_CALLER_DAYS = 30  # DESIGN.md: 重复来电 is the same caller within 30 days
REPEAT_CALLER_ORDERS = 3
REPEAT_CALLER_REFRESH = dt.timedelta(seconds=60)  # who called 3 times in 30 days changes slowly
REPEAT_CALLERS_LISTED = 1_000  # named in the query up to this many; beyond, a sub-select
HISTORY_DAYS = 90  # the agent's caller-history panel
DUPLICATE_DAYS = 7  # 疑似重复: same phone or same subject within this many days
MAX_PAGE = 10_000
COUNT_CAP = 2_000  # a list's total is counted up to here ("2000 件以上"): bounded work whatever the filter
CALENDAR_DAYS = 30  # beyond this, working time over a deadline is estimated (5 of 7 days, 8 hours)
QUERY_MAX = 100
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)  # the dates a list filter takes
KPI_FILTERS: dict[str, str] = {name: kpis.BY_NAME[name].label for name in kpis.LISTABLE}
KPI_DIMENSIONS = ("channel", "department", "area")  # matched on the facts too when a KPI filter is set
# a KPI list using no other criterion is paged on report_facts alone (see OrderLists._kpi_page)
FACTS_CRITERIA = frozenset({"kpi", "kpi_from", "kpi_to", *KPI_DIMENSIONS})
# the department or street filter's value for "none": 未派单/中心办结, 未填写 (a department code
# starts with a letter, so "-" is never one), so the KPI page's rows without a value open a list too
NONE = "-"

LIST_FLAGS: dict[str, str] = {**FLAGS, "repeat_caller": "重复来电", "imported": "历史导入",
                              "import_review": "导入待核", **DIFFICULT_FLAGS}  # the last two: core/history_import.py
# 超期 is any open deadline past due (派单、签收、办理、回访、申诉); 办理超期 the orders the KPI 超期未办结量
# counts right now: in handling, the handling deadline past with no reply (core.reports.kpis.OPEN_OVERDUE)
DEADLINE_FILTERS: dict[str, str] = {**DEADLINE_STATE_LABELS, "handle_overdue": "办理超期（超期未办结）"}
IN_HANDLING = ("received", "dispatched", "returned", "accepted", "replied")
SORTS: dict[str, tuple[str, bool, str]] = {  # name: (column, ascending, 中文)
    "received_desc": ("received_at", False, "受理时间（新→旧）"),
    "received_asc": ("received_at", True, "受理时间（旧→新）"),
    "due": ("due_at", True, "时限（最紧→最松）"),
    "updated_desc": ("updated_at", False, "最近办理"),
    "number": ("number", True, "工单编号"),
}
SUMMARY_COLUMNS = (Order.id, Order.number, Order.channel, Order.kind, Order.source, Order.subject,
                   Order.citizen_name, Order.citizen_phone, Order.anonymous, Order.area, Order.category,
                   Order.status, Order.department, Order.suggested_department, Order.suggestion_reason,
                   Order.priority, Order.received_at, Order.due_at, Order.at_risk_at, Order.flags,
                   Order.rework_count, Order.rating, Order.updated_at, Order.version, Order.assisting)

Short = Annotated[str, msgspec.Meta(max_length=64)]


class OrderFilter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """What a list shows; every criterion is optional and they all apply together."""

    status: Annotated[Short, field("状态", choices=STATUSES)] = ""
    statuses: tuple[str, ...] = ()  # a queue spanning several statuses
    channel: Annotated[Short, field("渠道")] = ""
    kind: Annotated[Short, field("诉求类型", choices=KINDS)] = ""
    department: Annotated[Short, field("承办单位", "“-”：未派单或中心办结")] = ""
    area: Annotated[Short, field("街道（乡镇）", "“-”：未填写街道")] = ""
    source: Annotated[Short, field("来源", choices=SOURCES)] = ""
    deadline: Annotated[Literal["", "normal", "at_risk", "overdue", "handle_overdue"],
                        field("时限状态", choices=DEADLINE_FILTERS)] = ""
    flag: Annotated[Literal["", "mass_incident", "repeat_caller", "imported", "import_review", "difficult",
                            "difficult_requested"],
                    field("预警标记", choices=LIST_FLAGS)] = ""
    q: Annotated[str, field("搜索", "工单编号、电话、姓名或内容中的文字", max_length=QUERY_MAX)] = ""
    received_from: Annotated[dt.date | None, field("受理日期从")] = None
    received_to: Annotated[dt.date | None, field("受理日期到")] = None
    # the orders one KPI count counts (core.reports.kpis) over the local days [kpi_from, kpi_to]:
    # 派单工单数 by first dispatch, 办结量 by completion, 回访量 by callback, 受理量 by intake;
    # 超期未办结量 as of the end of kpi_to (kpi_from is not used)
    kpi: Annotated[Literal[("", *KPI_FILTERS)], field("统计口径", choices=KPI_FILTERS)] = ""  # type: ignore[valid-type]
    kpi_from: Annotated[dt.date | None, field("统计日期从")] = None
    kpi_to: Annotated[dt.date | None, field("统计日期到")] = None
    unrated: bool = False  # completed and not yet called back
    rated_badly: bool = False  # rated 不满意 or 未解决
    open_supervision: bool = False  # a 督办 not yet answered
    pending_extension: bool = False  # an extension waiting for the centre
    rework: bool = False  # sent back at least once
    open_only: bool = False
    lead_only: bool = False  # a handler: the orders its department leads (主办), not those it assists
    open_part: bool = False  # an assisting part still open (待签收/协办中): a handler's own, or any for the centre


_NO_FILTER = OrderFilter()


def parse_filter(params: dict[str, Any]) -> OrderFilter:
    """A filter from query parameters; a bad value is named (400), never silently ignored."""
    data = {k: v for k, v in params.items() if k in OrderFilter.__struct_fields__ and v not in ("", None)}
    try:
        found = msgspec.convert(data, OrderFilter, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_errors(exc), "筛选条件有误") from None
    errors = []
    if found.status and found.status not in STATUSES:
        errors.append(FieldError("status", "没有这个状态", "query"))
    if any(s not in STATUSES for s in found.statuses):
        errors.append(FieldError("statuses", "没有这个状态", "query"))
    if found.kind and found.kind not in KINDS:
        errors.append(FieldError("kind", "没有这个诉求类型", "query"))
    if found.received_from and found.received_to and found.received_from > found.received_to:
        errors.append(FieldError("received_to", "结束日期不能早于开始日期", "query"))
    errors += [FieldError(name, "日期须在 2000-01-01 至 2100-12-31 之间", "query")
               for name in ("received_from", "received_to") if not _in_range(getattr(found, name))]
    errors += kpi_errors(found.kpi, found.kpi_from, found.kpi_to)
    if errors:
        raise InvalidInput(errors, "筛选条件有误")
    return found


def _in_range(day: dt.date | None) -> bool:
    return day is None or FIRST_DAY <= day <= LAST_DAY


def kpi_errors(kpi: str, start: dt.date | None, end: dt.date | None) -> list[FieldError]:
    """What is wrong with a KPI filter (the list's and the API's), each naming its parameter."""
    errors = [FieldError(name, "日期须在 2000-01-01 至 2100-12-31 之间", "query")
              for name, day in (("kpi_from", start), ("kpi_to", end)) if not _in_range(day)]
    if not kpi:
        if start or end:
            errors.append(FieldError("kpi", "给出统计日期时须选择统计口径", "query"))
        return errors
    if end is None:
        errors.append(FieldError("kpi_to", "须给出统计截止日期", "query"))
    if kpi == "open_overdue":
        if start is not None:
            errors.append(FieldError("kpi_from", "期末超期未办结只按截止日期统计，不用开始日期", "query"))
    elif start is None:
        errors.append(FieldError("kpi_from", "须给出统计开始日期", "query"))
    elif end is not None and start > end:
        errors.append(FieldError("kpi_to", "结束日期不能早于开始日期", "query"))
    return errors


def _kpi_span(start: dt.date | None, end: dt.date) -> tuple[int, int, int | None]:
    """[s, e) of the local days [start, end], and now when ``end`` is today or later: a period still
    running takes its 超期未办结 as of now, as the KPI tables do (``core.reports.periods.running``)."""
    e = epoch(end + dt.timedelta(days=1))
    now = int(clock.now().timestamp())
    return (epoch(start) if start else 0), e, (now if now < e else None)


def kpi_clause(kpi: str, start: dt.date | None, end: dt.date, dimensions: dict[str, str]) -> WhereRaw:
    """The orders the KPI count ``kpi`` counts over the local days [start, end] with these dimension
    values, read from ``report_facts`` by the same condition the KPI tables sum (``kpis.members``)."""
    s, e, as_of = _kpi_span(start, end)
    return WhereRaw(f"orders.id IN ({kpis.members(kpi, s, e, dimensions, as_of)})", *dimensions.values())


def handle_overdue(now: dt.datetime) -> WhereRaw:
    """办理超期, read on the orders themselves: in handling (not completed, merged, withdrawn or
    suspended) with the handling deadline past and no reply: exactly the orders the KPI
    超期未办结量 counts at this instant. Every such order is 超期 on its chip too (its soonest open
    deadline is at latest the handling one), so ``due_at`` narrows the search through its index."""
    from core.reports.dialect import dialect

    d = dialect()
    statuses = ", ".join(f"'{s}'" for s in IN_HANDLING)
    return WhereRaw(f"orders.status IN ({statuses}) AND orders.due_at < {{}} "
                    f"AND {d.json_text('orders.deadlines', 'handle', 'done')} IS NULL "
                    f"AND {d.json_epoch('orders.deadlines', 'handle', 'due')} < {int(now.timestamp())}", now)


def _dimensions(f: OrderFilter) -> dict[str, str]:
    """The filter's KPI dimensions as report_facts holds them ("" for none: NONE)."""
    return {name: "" if getattr(f, name) == NONE else getattr(f, name)
            for name in KPI_DIMENSIONS if getattr(f, name)}


def kpi_label(kpi: str, start: dt.date | None, end: dt.date | None) -> str:
    """The KPI filter in words, as the list shows it: 「办结时间 2026-11-01 至 2026-11-30」."""
    if not kpi or end is None:
        return ""
    if kpi == "open_overdue":
        if _kpi_span(None, end)[2] is not None:
            return f"期末超期未办结（截至此刻 {clock.local_now():%m-%d %H:%M}）"
        return f"期末超期未办结（截至 {end.isoformat()} 日终）"
    count = kpis.BY_NAME[kpi]
    span = f"{kpis.MOMENTS[count.moment]} {start.isoformat() if start else ''} 至 {end.isoformat()}"
    return f"{count.label}：{span}" if count.when else span


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, clock.SHANGHAI)


def _json_has(column: str, fragment: str) -> WhereRaw:
    """A JSON column's text contains ``fragment`` (stored compact by orjson on both backends)."""
    return WhereRaw(f"CAST({column} AS TEXT) LIKE {{}}", f"%{fragment}%")


def open_part(actor: Actor):
    """协办未办结: for a department's handler, the orders on which its own part is open (待签收 or
    协办中); for the centre, every order with an open part."""
    if actor.role == "handler":
        return assisted_by(actor.department, open_only=True)
    return _json_has("assisting", '"status":"pending"') | _json_has("assisting", '"status":"accepted"')


async def refresh_facts() -> None:
    """Fold the latest events into ``report_facts`` before a KPI filter reads them, so a list shows
    what the KPI tables computed a moment ago (it costs what changed since the last refresh)."""
    from core.reports import facts

    if await facts.stale():
        await facts.refresh()


class OrderLists:
    """The list half of the order service (mixed into ``OrderService``)."""

    channels: Any
    index: Any
    sla: Any
    clock: Any
    engine: Any

    # -- scope and clauses ------------------------------------------------------------------------

    async def repeat_callers(self) -> list[str]:
        """The phones with at least three orders in the last 30 days. Found by one pass over that
        window and kept for a minute (and until this process takes an order): a supervisor's home
        counts them on every view, and the set barely moves in a minute."""
        now = self.clock()
        cached = getattr(self, "_repeat_callers", None)
        if cached is not None and abs(now - cached[0]) < REPEAT_CALLER_REFRESH:
            return cached[1]
        from piccolo.querystring import QueryString

        rows = await self.engine.run_querystring(QueryString(
            "SELECT citizen_phone FROM orders WHERE received_at >= {} AND citizen_phone <> '' "
            "GROUP BY citizen_phone HAVING COUNT(*) >= {}", now - dt.timedelta(days=REPEAT_CALLER_DAYS),
            REPEAT_CALLER_ORDERS))
        phones = sorted(r["citizen_phone"] for r in rows)
        self._repeat_callers = (now, phones)
        return phones

    def forget_repeat_callers(self) -> None:
        self._repeat_callers = None

    async def _clauses(self, actor: Actor, f: OrderFilter) -> list:
        """The filter's clauses, with what they need read first (the repeat callers)."""
        return self.clauses(actor, f, await self.repeat_callers() if f.flag == "repeat_caller" else ())

    def clauses(self, actor: Actor, f: OrderFilter, repeat_callers: list[str] | tuple = ()) -> list:
        now = self.clock()
        where = scope(actor)  # the same rule as a single read (core.visibility)
        for column, value in ((Order.status, f.status), (Order.channel, f.channel), (Order.kind, f.kind),
                              (Order.department, f.department), (Order.area, f.area), (Order.source, f.source)):
            if value == NONE and column._meta.name in ("department", "area"):
                where.append(WhereRaw(f"COALESCE(orders.{column._meta.name}, '') = ''"))
            elif value:
                where.append(column == value)
        if f.statuses:
            where.append(Order.status.is_in(list(f.statuses)))
        if f.open_only:
            where.append(Order.status.is_in(sorted(OPEN_STATUSES)))
        if f.deadline == "handle_overdue":
            where.append(handle_overdue(now))
        elif f.deadline == "overdue":
            where.append(Order.due_at < now)
        elif f.deadline == "at_risk":
            where.append((Order.at_risk_at <= now) & (Order.due_at >= now))
        elif f.deadline == "normal":
            where.append(Order.at_risk_at > now)
        if f.flag == "repeat_caller":
            if len(repeat_callers) > REPEAT_CALLERS_LISTED:  # too many to name: the window, read again
                where.append(WhereRaw(
                    "citizen_phone IN (SELECT citizen_phone FROM orders WHERE received_at >= {} "
                    "AND citizen_phone <> '' GROUP BY citizen_phone HAVING COUNT(*) >= {})",
                    now - dt.timedelta(days=REPEAT_CALLER_DAYS), REPEAT_CALLER_ORDERS))
            else:
                where.append(Order.citizen_phone.is_in(list(repeat_callers)) if repeat_callers else WhereRaw("1 = 0"))
        elif f.flag:
            where.append(_json_has("flags", f'"{f.flag}"'))
        if f.received_from:
            where.append(Order.received_at >= _local_midnight(f.received_from))
        if f.received_to:
            where.append(Order.received_at < _local_midnight(f.received_to + dt.timedelta(days=1)))
        if f.kpi and f.kpi_to:
            where.append(kpi_clause(f.kpi, f.kpi_from, f.kpi_to, _dimensions(f)))
        if f.unrated:
            where.append((Order.status == "completed") & Order.rating.is_null())
        if f.rated_badly:
            where.append(_json_has("rating", '"satisfaction":"unsatisfied"') | _json_has("rating", '"resolved":false'))
        if f.open_supervision:
            where.append(_json_has("supervisions", '"answer":null'))
        if f.pending_extension:
            where.append(_json_has("extensions", '"status":"requested"'))
        if f.rework:
            where.append(Order.rework_count > 0)
        if f.lead_only and actor.role == "handler":
            where.append(Order.department == actor.department)
        if f.open_part:
            where.append(open_part(actor))
        q = f.q.strip()
        if q:
            where.append(self._matching(q, actor))
        return where

    def _matching(self, q: str, actor: Actor):
        """The order number exactly, or the search index as the API searches it: words of the text,
        and for the centre the caller's phone or a sealed name (a department never finds by those)."""
        return (Order.number == q.upper()) | self.index.where(q, actor)

    # -- reads ----------------------------------------------------------------------------------------

    async def listing(self, actor: Actor, f: OrderFilter, *, sort: str = "received_desc", page: int = 1,
                   page_size: int = 20, with_total: bool = True) -> dict:
        """One page of summaries and the total; the page is cut in the database."""
        if sort not in SORTS:
            raise InvalidInput([FieldError("sort", "不支持这种排序", "query")])
        page = max(1, min(page, MAX_PAGE))
        column, ascending, _ = SORTS[sort]
        if f.q.strip():
            await self.index.settled()
        if f.kpi:
            await refresh_facts()
        if f.kpi and column == "received_at" and self._on_facts(actor, f):
            # the page's orders are read by id: without the KPI's own subquery over all its facts, and
            # with the dimensions compared as expressions, so no dimension's index is walked instead
            # (a street's index holds 70,000 orders at 410,000, read in full for 30 ids)
            bare = msgspec.structs.replace(f, kpi="", kpi_from=None, kpi_to=None,
                                           **{name: "" for name in KPI_DIMENSIONS})
            rest = await self._clauses(actor, bare) + [
                WhereRaw(f"COALESCE(orders.{name}, '') = {{}}", value) for name, value in _dimensions(f).items()]
            return await self._kpi_page(actor, f, rest, ascending, page, page_size, with_total)
        where = await self._clauses(actor, f)
        query = Order.select(*SUMMARY_COLUMNS).output(load_json=True)
        counted = Order.select(Order.id)
        for clause in where:
            query = query.where(clause)
            counted = counted.where(clause)
        if column == "due_at":  # nothing due sorts last on both backends
            query = query.order_by(OrderByRaw("due_at IS NULL")).order_by(Order.due_at)
        else:
            query = query.order_by(getattr(Order, column), ascending=ascending)
        query = query.order_by(Order.id, ascending=ascending).limit(page_size).offset((page - 1) * page_size)
        async with read_transaction(self.engine):
            rows = await query
            total = await self.count_up_to(counted, COUNT_CAP) if with_total else None
            names = await self.department_names()
        return {"items": [self.summary(r, actor, names) for r in rows], "total": total, "page": page,
                "page_size": page_size, "total_capped": total is not None and total > COUNT_CAP}

    @staticmethod
    def _on_facts(actor: Actor, f: OrderFilter) -> bool:
        """Whether a KPI list can be paged on report_facts: only the KPI and its dimensions are asked
        for, by the centre or a department's handler (whose scope is a department, a facts column)."""
        if actor.role != "handler" and scope(actor):
            return False
        asked = {k for k, v in msgspec.structs.asdict(f).items() if v != getattr(_NO_FILTER, k)}
        return asked <= FACTS_CRITERIA

    async def _kpi_page(self, actor: Actor, f: OrderFilter, where: list, ascending: bool, page: int,
                        page_size: int, with_total: bool) -> dict:
        """One page of a KPI list, cut on report_facts: its narrow rows hold the count's moment, the
        dimensions and the receiving time, so the page's ids and the total come from its indexes
        without reading the orders behind a month's completions; then the page's orders are read by
        id through the filter's other clauses (scope, dimensions), so a row the facts and orders
        disagree on is left out."""
        from piccolo.querystring import QueryString

        dimensions = _dimensions(f)
        s, e, as_of = _kpi_span(f.kpi_from, f.kpi_to)
        condition = kpis.member_condition(f.kpi, s, e, dimensions, as_of)
        values = list(dimensions.values())
        if actor.role == "handler":
            condition += " AND department || '' = {}"
            values.append(actor.department or "")
        direction = "ASC" if ascending else "DESC"
        ids_sql = QueryString(f"SELECT order_id FROM report_facts WHERE {condition} "
                              f"ORDER BY received {direction}, order_id {direction} LIMIT {int(page_size)} "
                              f"OFFSET {int((page - 1) * page_size)}", *values)
        count_sql = QueryString(f"SELECT COUNT(*) AS n FROM (SELECT order_id FROM report_facts WHERE {condition} "
                                f"LIMIT {COUNT_CAP + 1}) AS capped", *values)
        async with read_transaction(self.engine):
            ids = [r["order_id"] for r in await self.engine.run_querystring(ids_sql)]
            query = Order.select(*SUMMARY_COLUMNS).output(load_json=True).where(Order.id.is_in(ids or [0]))
            for clause in where:
                query = query.where(clause)
            rows = {r["id"]: r for r in await query}
            total = (await self.engine.run_querystring(count_sql))[0]["n"] if with_total else None
            names = await self.department_names()
        return {"items": [self.summary(rows[i], actor, names) for i in ids if i in rows], "total": total,
                "page": page, "page_size": page_size, "total_capped": total is not None and total > COUNT_CAP}

    async def count_up_to(self, ids, cap: int) -> int:
        """How many rows ``ids`` selects, counted no further than ``cap + 1``: a broad filter over a
        year of orders costs the same as a narrow one."""
        from piccolo.querystring import QueryString

        capped = QueryString("SELECT COUNT(*) AS n FROM ({}) AS capped", ids.limit(cap + 1).querystrings[0])
        return (await self.engine.run_querystring(capped))[0]["n"]

    async def count(self, actor: Actor, queues: dict[str, OrderFilter]) -> dict[str, int]:
        """How many orders each named filter holds, in one read transaction."""
        found = {}
        if any(f.kpi for f in queues.values()):
            await refresh_facts()
        async with read_transaction(self.engine):
            for name, f in queues.items():
                query = Order.count()
                for clause in await self._clauses(actor, f):
                    query = query.where(clause)
                found[name] = await query
        return found

    async def rows_for_export(self, actor: Actor, f: OrderFilter, *, sort: str, limit: int) -> list[dict]:
        page = await self.listing(actor, f, sort=sort, page=1, page_size=limit, with_total=False)
        return page["items"]

    async def department_names(self) -> dict[str, str]:
        cached = getattr(self, "_department_names", None)
        if cached is None:
            rows = await Department.select(Department.code, Department.name)
            cached = self._department_names = {r["code"]: r["name"] for r in rows}
        return cached

    def forget_department_names(self) -> None:
        self._department_names = None

    def deadline_of(self, due_at: dt.datetime | None, at_risk_at: dt.datetime | None) -> dict | None:
        """The soonest open deadline as a chip: 正常/临期/超期 and the working hours left (or over)."""
        if due_at is None:
            return None
        now = self.clock()
        if now > due_at:
            state = "overdue"
            if now - due_at > dt.timedelta(days=CALENDAR_DAYS):  # long overdue: counted in days, cheaply
                return {"state": state, "label": DEADLINE_STATE_LABELS[state], "due": due_at.isoformat(),
                        "hours": -round((now - due_at).days * 8 * 5 / 7, 1)}
            hours = -self.sla.calendar.working_seconds_between(due_at, now) / 3600
        else:
            state = "at_risk" if at_risk_at is not None and now >= at_risk_at else "normal"
            hours = self.sla.calendar.working_seconds_between(now, due_at) / 3600
        return {"state": state, "label": DEADLINE_STATE_LABELS[state], "hours": round(hours, 1),
                "due": due_at.isoformat()}

    def summary(self, row: dict, actor: Actor, names: dict[str, str]) -> dict:
        """One row of a list as this actor may see it (phone masked, a protected reporter hidden)."""
        channel = self.channels.get(row["channel"])
        protected = bool(channel and channel.protect_reporter)
        return {
            "number": row["number"], "subject": row["subject"], "channel": row["channel"],
            "channel_name": channel.name if channel else row["channel"],
            "kind": row["kind"], "kind_label": KINDS.get(row["kind"], row["kind"]),
            "source_label": SOURCES.get(row["source"], row["source"]),
            "citizen_name": HIDDEN if protected else row["citizen_name"],
            "citizen_phone": "" if protected else mask_phone(row["citizen_phone"]),
            "area": row["area"], "category": row["category"],
            "status": row["status"], "status_label": STATUSES[row["status"]],
            "department": row["department"], "department_name": names.get(row["department"] or "", ""),
            "suggested_department": row["suggested_department"],
            "suggested_department_name": names.get(row["suggested_department"] or "", ""),
            "suggestion_reason": row["suggestion_reason"], "priority": row["priority"],
            "received_at": row["received_at"], "deadline": self.deadline_of(row["due_at"], row["at_risk_at"]),
            "flags": [LIST_FLAGS.get(f, f) for f in row["flags"] or ()], "rework_count": row["rework_count"],
            "rating": row["rating"], "version": row["version"],
            "parts": [{"department": p["department"], "department_name": names.get(p["department"], ""),
                       "status": p["status"], "status_label": PART_STATUSES[p["status"]]}
                      for p in row.get("assisting") or ()],
            "_phone": "" if protected else row["citizen_phone"],  # for duplicate checks; never rendered
        }

    async def caller_history(self, actor: Actor, phone: str, *, limit: int = 20) -> dict:
        """That number's orders of the last 90 days, open ones first, for the agent on the call."""
        if not actor.in_centre:
            raise Forbidden("只有中心人员可以查看来电历史")
        phone = phone.strip()
        since = self.clock() - dt.timedelta(days=HISTORY_DAYS)
        recent = self.clock() - dt.timedelta(days=REPEAT_CALLER_DAYS)
        base = (Order.citizen_phone == phone) & (Order.received_at >= since)
        async with read_transaction(self.engine):
            rows = await Order.select(*SUMMARY_COLUMNS).where(base).output(load_json=True).order_by(
                Order.received_at, ascending=False).limit(200)
            total = await Order.count().where(base)
            names = await self.department_names()
        items = [self.summary(r, actor, names) for r in rows]
        items.sort(key=lambda r: r["status"] not in OPEN_STATUSES)  # stable: newest first within each
        last_30 = sum(1 for r in rows if r["received_at"] >= recent)
        return {"phone": phone, "items": items[:limit], "total": total,
                "open": sum(1 for r in rows if r["status"] in OPEN_STATUSES),
                "repeat_caller": last_30 + 1 >= REPEAT_CALLER_ORDERS,  # counting the call being taken
                "days": HISTORY_DAYS}

    async def mark_duplicates(self, items: list[dict]) -> list[dict]:
        """Add each row's caller order count (90 days) and whether it looks like a duplicate: the same
        phone or the same subject on another order within 7 days."""
        phones = sorted({i["_phone"] for i in items if i["_phone"]})
        if not items:
            return items
        window = dt.timedelta(days=DUPLICATE_DAYS)
        earliest = min(i["received_at"] for i in items) - window
        since = self.clock() - dt.timedelta(days=HISTORY_DAYS)
        # only the days around each row shown (its own subject within 7 days of it): a common subject
        # (咨询) recurs all year, and a list spanning weeks would read each subject's every order between
        around = functools.reduce(operator.or_, (
            (Order.subject == subject) & (Order.received_at >= received - window) & (Order.received_at <= received + window)
            for subject, received in sorted({(i["subject"], i["received_at"]) for i in items})))
        async with read_transaction(self.engine):
            by_phone = await Order.select(Order.number, Order.citizen_phone, Order.received_at).where(
                Order.citizen_phone.is_in(phones) & (Order.received_at >= min(since, earliest))) if phones else []
            by_subject = await Order.select(Order.number, Order.subject, Order.received_at).where(
                around & (Order.status != "merged"))
        for item in items:
            same_phone = [r for r in by_phone if r["citizen_phone"] == item["_phone"] and r["number"] != item["number"]]
            same_subject = [r for r in by_subject if r["subject"] == item["subject"] and r["number"] != item["number"]]
            close = [r["number"] for r in same_phone + same_subject if abs(r["received_at"] - item["received_at"]) <= window]
            item["caller_orders"] = sum(1 for r in same_phone if r["received_at"] >= since)
            item["duplicates"] = sorted(set(close))
        return items
