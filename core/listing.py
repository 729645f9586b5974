"""Lists of orders for people at work: sort, paging, counts, the caller's history and duplicates,
all in the database. Which orders a list holds is ``core.order_filter`` (the API's list uses the same
filter), so every list, count and export is scoped by the same rule as a single read: a handler sees
only its own department's orders, an integration only its channels'.

``OrderLists`` is a part of the order service (``OrderService.lists``), given the service it serves.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec
from piccolo.columns.combination import WhereRaw
from piccolo.query import OrderByRaw
from piccolo.querystring import QueryString

from core import duplicates
from core.calendar import DEADLINE_STATE_LABELS
from core.channels import KINDS, SOURCES
from core.confidential import HIDDEN
from core.db import read_transaction
from core.errors import FieldError, Forbidden, InvalidInput
from core.joint import PART_STATUSES
from core.lifecycle import OPEN_STATUSES, STATUSES, TERMINAL
from core.model import Actor
from core.order_filter import (  # the filter's names, also imported from here by the console
    DEADLINE_FILTERS, FACTS_CRITERIA, KPI_DIMENSIONS, KPI_FILTERS, LIST_FLAGS, NONE, REPEAT_CALLER_DAYS,
    REPEAT_CALLER_ORDERS, OrderFilter, dimensions_of, kpi_span, NO_FILTER, clauses, handle_overdue,
    kpi_clause, kpi_errors, kpi_label, open_part, parse_filter, refresh_facts, warning_orders,
)
from core.reports import kpis
from core.tables import Department, Order
from core.visibility import mask_phone, scope

if TYPE_CHECKING:
    from core.orders import OrderService

__all__ = ["OrderLists", "OrderFilter", "parse_filter", "kpi_errors", "kpi_label", "kpi_clause", "handle_overdue",
           "open_part", "refresh_facts", "LIST_FLAGS", "DEADLINE_FILTERS", "KPI_FILTERS", "KPI_DIMENSIONS", "NONE",
           "SORTS", "COUNT_CAP"]

REPEAT_CALLER_REFRESH = dt.timedelta(seconds=60)  # who called 3 times in 30 days changes slowly
HISTORY_DAYS = 90  # the agent's caller-history panel
DUPLICATE_CANDIDATES = 300  # 疑似重复: orders read to compare with one page's rows, at most
MAX_PAGE = 10_000
COUNT_CAP = 2_000  # a list's total is counted up to here ("2000 件以上"): bounded work whatever the filter
CALENDAR_DAYS = 30  # beyond this, working time over a deadline is estimated (5 of 7 days, 8 hours)
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

class OrderLists:
    """The lists of the order service; reads the service's clock, engine, index and channels at each
    call (the clock is replaced to replay history)."""

    def __init__(self, service: OrderService):
        self.service = service

    # -- scope and clauses ------------------------------------------------------------------------

    async def repeat_callers(self) -> list[str]:
        """The phones with at least three orders in the last 30 days. Found by one pass over that
        window and kept for a minute (and until this process takes an order): a supervisor's home
        counts them on every view, and the set barely moves in a minute."""
        now = self.service.clock()
        cached = getattr(self, "_repeat_callers", None)
        if cached is not None and abs(now - cached[0]) < REPEAT_CALLER_REFRESH:
            return cached[1]
        rows = await self.service.engine.run_querystring(QueryString(
            "SELECT citizen_phone FROM orders WHERE received_at >= {} AND citizen_phone <> '' "
            "GROUP BY citizen_phone HAVING COUNT(*) >= {}", now - dt.timedelta(days=REPEAT_CALLER_DAYS),
            REPEAT_CALLER_ORDERS))
        phones = sorted(r["citizen_phone"] for r in rows)
        self._repeat_callers = (now, phones)
        return phones

    def forget_repeat_callers(self) -> None:
        self._repeat_callers = None

    async def clauses(self, actor: Actor, f: OrderFilter) -> list:
        """The filter's clauses (``core.order_filter.clauses``), with what they need read first (the
        repeat callers)."""
        repeat = await self.repeat_callers() if f.flag == "repeat_caller" else ()
        listed = await warning_orders(f.warning) if f.warning else ()
        return clauses(f, actor, self.service.clock(), self.service.index, repeat, listed)

    # -- reads ----------------------------------------------------------------------------------------

    async def listing(self, actor: Actor, f: OrderFilter, *, sort: str = "received_desc", page: int = 1,
                   page_size: int = 20, with_total: bool = True) -> dict:
        """One page of summaries and the total; the page is cut in the database."""
        if sort not in SORTS:
            raise InvalidInput([FieldError("sort", "不支持这种排序", "query")])
        page = max(1, min(page, MAX_PAGE))
        column, ascending, _ = SORTS[sort]
        if f.q.strip():
            await self.service.index.settled()
        if f.kpi:
            await refresh_facts()
        if f.kpi and column == "received_at" and self._on_facts(actor, f):
            # the page's orders are read by id: without the KPI's own subquery over all its facts, and
            # with the dimensions compared as expressions, so no dimension's index is walked instead
            # (a street's index holds 70,000 orders at 410,000, read in full for 30 ids)
            bare = msgspec.structs.replace(f, kpi="", kpi_from=None, kpi_to=None,
                                           **{name: "" for name in KPI_DIMENSIONS})
            rest = await self.clauses(actor, bare) + [
                WhereRaw(f"COALESCE(orders.{name}, '') = {{}}", value) for name, value in dimensions_of(f).items()]
            return await self._kpi_page(actor, f, rest, ascending, page, page_size, with_total)
        where = await self.clauses(actor, f)
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
        async with read_transaction(self.service.engine):
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
        asked = {k for k, v in msgspec.structs.asdict(f).items() if v != getattr(NO_FILTER, k)}
        return asked <= FACTS_CRITERIA

    async def _kpi_page(self, actor: Actor, f: OrderFilter, where: list, ascending: bool, page: int,
                        page_size: int, with_total: bool) -> dict:
        """One page of a KPI list, cut on report_facts: its narrow rows hold the count's moment, the
        dimensions and the receiving time, so the page's ids and the total come from its indexes
        without reading the orders behind a month's completions; then the page's orders are read by
        id through the filter's other clauses (scope, dimensions), so a row the facts and orders
        disagree on is left out."""
        dimensions = dimensions_of(f)
        s, e, as_of = kpi_span(f.kpi_from, f.kpi_to)
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
        async with read_transaction(self.service.engine):
            ids = [r["order_id"] for r in await self.service.engine.run_querystring(ids_sql)]
            query = Order.select(*SUMMARY_COLUMNS).output(load_json=True).where(Order.id.is_in(ids or [0]))
            for clause in where:
                query = query.where(clause)
            rows = {r["id"]: r for r in await query}
            total = (await self.service.engine.run_querystring(count_sql))[0]["n"] if with_total else None
            names = await self.department_names()
        return {"items": [self.summary(rows[i], actor, names) for i in ids if i in rows], "total": total,
                "page": page, "page_size": page_size, "total_capped": total is not None and total > COUNT_CAP}

    async def count_up_to(self, ids, cap: int) -> int:
        """How many rows ``ids`` selects, counted no further than ``cap + 1``: a broad filter over a
        year of orders costs the same as a narrow one."""
        capped = QueryString("SELECT COUNT(*) AS n FROM ({}) AS capped", ids.limit(cap + 1).querystrings[0])
        return (await self.service.engine.run_querystring(capped))[0]["n"]

    async def count(self, actor: Actor, queues: dict[str, OrderFilter]) -> dict[str, int]:
        """How many orders each named filter holds, in one read transaction."""
        found = {}
        if any(f.kpi for f in queues.values()):
            await refresh_facts()
        async with read_transaction(self.service.engine):
            for name, f in queues.items():
                query = Order.count()
                for clause in await self.clauses(actor, f):
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
        now = self.service.clock()
        if now > due_at:
            state = "overdue"
            if now - due_at > dt.timedelta(days=CALENDAR_DAYS):  # long overdue: counted in days, cheaply
                return {"state": state, "label": DEADLINE_STATE_LABELS[state], "due": due_at.isoformat(),
                        "hours": -round((now - due_at).days * 8 * 5 / 7, 1)}
            hours = -self.service.sla.calendar.working_seconds_between(due_at, now) / 3600
        else:
            state = "at_risk" if at_risk_at is not None and now >= at_risk_at else "normal"
            hours = self.service.sla.calendar.working_seconds_between(now, due_at) / 3600
        return {"state": state, "label": DEADLINE_STATE_LABELS[state], "hours": round(hours, 1),
                "due": due_at.isoformat()}

    def summary(self, row: dict, actor: Actor, names: dict[str, str]) -> dict:
        """One row of a list as this actor may see it (phone masked, a protected reporter hidden)."""
        channel = self.service.channels.get(row["channel"])
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
            "received_at": row["received_at"], "deadline": None if row["status"] in TERMINAL else self.deadline_of(row["due_at"], row["at_risk_at"]),
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
        since = self.service.clock() - dt.timedelta(days=HISTORY_DAYS)
        recent = self.service.clock() - dt.timedelta(days=REPEAT_CALLER_DAYS)
        base = (Order.citizen_phone == phone) & (Order.received_at >= since)
        async with read_transaction(self.service.engine):
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
        """Add each row's caller order count (90 days, the 重复来电 hint) and its suspected duplicates:
        open orders of the same place received within a week whose texts say the same matter
        (``core.duplicates``; the same caller alone is not enough). Bounded whatever the list: the
        rows' own texts are read by number, each place's candidates from its (area, time) or
        (address, time) index, newest first and at most ``DUPLICATE_CANDIDATES`` for the page shared
        between its places; the words are compared in Python. A closed or merged row has none (it
        can no longer be merged), and no closed or merged order is offered as one."""
        if not items:
            return items
        phones = sorted({i["_phone"] for i in items if i.get("_phone")})
        since = self.service.clock() - dt.timedelta(days=HISTORY_DAYS)
        text = (Order.number, Order.area, Order.address, Order.subject, Order.received_at, Order.status,
                QueryString(f"SUBSTR({{}}, 1, {duplicates.TEXT_CHARS})", Order.content, alias="head"))
        async with read_transaction(self.service.engine):
            by_phone = await Order.select(Order.number, Order.citizen_phone, Order.received_at).where(
                Order.citizen_phone.is_in(phones) & (Order.received_at >= since)) if phones else []
            own = [r for r in await Order.select(*text).where(Order.number.is_in([i["number"] for i in items]))
                   if r["status"] not in TERMINAL]
            candidates = {r["number"]: r for r in own}  # the page's rows are each other's candidates
            around = _candidates(own)
            for r in await self.service.engine.run_querystring(around) if around else ():
                candidates.setdefault(r["number"], r)
        found = duplicates.find(own, list(candidates.values()))
        for item in items:
            same_phone = [r for r in by_phone if r["citizen_phone"] == item.get("_phone") and r["number"] != item["number"]]
            item["caller_orders"] = len(same_phone)
            item["duplicates"] = [r["number"] for r in found.get(item["number"], [])]
            item["duplicate_orders"] = [  # for the order page: what each one is about
                {"number": r["number"], "subject": r["subject"], "received_at": r["received_at"],
                 "status_label": STATUSES[r["status"]]} for r in found.get(item["number"], [])]
        return items


def _candidates(own: list[dict]) -> QueryString | None:
    """One statement reading each place's open orders around the rows (its 街道's by the (area, time)
    index, the rows' addresses' by the (address, time) one), newest first, each place's cut at its
    share of ``DUPLICATE_CANDIDATES``."""
    places: dict[str, list[dict]] = {}
    for r in own:
        if r["area"]:
            places.setdefault(r["area"], []).append(r)
    addressed = [r for r in own if r["address"]]
    if not places and not addressed:  # no place named: nothing is in the same place
        return None
    each = max(10, DUPLICATE_CANDIDATES // (len(places) + bool(addressed)))
    head = (f"SELECT * FROM (SELECT number, area, address, subject, received_at, status, "
            f"SUBSTR(content, 1, {duplicates.TEXT_CHARS}) AS head FROM orders WHERE ")
    tail = (f" AND received_at >= {{}} AND received_at <= {{}} AND status NOT IN ({', '.join(repr(s) for s in sorted(TERMINAL))}) "
            f"ORDER BY received_at DESC LIMIT {each}) AS place")
    parts, values = [], []
    for i, (area, rows) in enumerate(sorted(places.items())):
        parts.append(f"{head}area = {{}}{tail}{i}")
        values += [area, min(r["received_at"] for r in rows) - duplicates.WINDOW,
                   max(r["received_at"] for r in rows) + duplicates.WINDOW]
    if addressed:
        addresses = sorted({r["address"] for r in addressed})
        parts.append(f"{head}address IN ({', '.join('{}' for _ in addresses)}){tail}{len(parts)}")
        values += [*addresses, min(r["received_at"] for r in addressed) - duplicates.WINDOW,
                   max(r["received_at"] for r in addressed) + duplicates.WINDOW]
    return QueryString(" UNION ALL ".join(parts), *values) if parts else None
