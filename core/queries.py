"""Reading orders: one order (404 for whoever may not see it), its events, and searches.

Every read applies ``core.visibility``, so a department's handler never learns that another
department's order exists.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec
from piccolo.columns.combination import WhereRaw

from core.db import read_transaction
from core.errors import NotFound
from core.listing import COUNT_CAP, KPI_DIMENSIONS, handle_overdue, kpi_clause, open_part, refresh_facts
from core.search import ORDER_INDEX
from core.model import Actor, EventRecord, OrderRecord, as_record
from core.tables import Order, OrderEvent
from core.visibility import scope, visible

_FLAG_SQL = {
    "sqlite": "flags LIKE {} ESCAPE '\\'",
    "postgres": "flags::text LIKE {} ESCAPE '\\'",
}

if TYPE_CHECKING:
    from core.orders import OrderService


class OrderPage(msgspec.Struct, kw_only=True):
    items: list[OrderRecord]
    total: int  # counted up to COUNT_CAP + 1 (bounded work for any filter); see total_capped
    page: int
    page_size: int
    total_capped: bool = False  # more than COUNT_CAP orders match: ``total`` is a lower bound


class OrderQueries:
    def __init__(self, service: OrderService):
        self.service = service

    async def load(self, number: str, actor: Actor) -> OrderRecord:
        """The order, inside the caller's transaction; 404 when it is missing or not the actor's."""
        return await read_order(number, actor)

    async def events(self, order_id: int) -> list[EventRecord]:
        rows = await OrderEvent.select().where(OrderEvent.order_id == order_id).order_by(
            OrderEvent.id).output(load_json=True)
        return [msgspec.convert(r, EventRecord, strict=False) for r in rows]

    async def get(self, number: str, actor: Actor) -> OrderRecord:
        async with read_transaction(self.service.engine):
            return await self.load(number, actor)

    async def detail(self, number: str, actor: Actor) -> tuple[OrderRecord, list[EventRecord]]:
        """The order and its audit trail, read in one transaction."""
        async with read_transaction(self.service.engine):
            order = await self.load(number, actor)
            return order, await self.events(order.id)

    async def search(self, actor: Actor, *, status: str | None = None, channel: str | None = None,
                     department: str | None = None, kind: str | None = None, q: str | None = None,
                     received_from: dt.datetime | None = None, received_to: dt.datetime | None = None,
                     priority: str | None = None, flag: str | None = None, deadline: str | None = None,
                     area: str | None = None, source: str | None = None,
                     kpi: str | None = None, kpi_from: dt.date | None = None, kpi_to: dt.date | None = None,
                     part: str | None = None, page: int = 1, page_size: int = 20) -> OrderPage:
        """One page of the orders this actor may see. ``deadline`` is the state of the open deadlines:
        "overdue" (超期: one is past due), "at_risk" (临期: one has used 80 % of its time), "normal";
        or "handle_overdue" (办理超期: what the KPI 超期未办结量 counts now, ``core.listing.handle_overdue``).
        ``kpi`` (with ``kpi_from``/``kpi_to``, checked by ``core.listing.kpi_errors``) keeps the orders
        that KPI count counts, exactly as the console's order list does. ``part="open"``: 协办未办结
        (``core.listing.open_part``)."""
        filtered = any(v is not None for v in (status, channel, department, kind, priority, flag, deadline, area,
                                                source, received_from, received_to, kpi, part))
        if q and q.strip() and not filtered and page * page_size <= COUNT_CAP:
            found = await self._newest_matches(actor, q, page, page_size)
            if found is not None:
                return found
        where = scope(actor)
        for column, value in ((Order.status, status), (Order.channel, channel),
                              (Order.department, department), (Order.kind, kind), (Order.priority, priority),
                              (Order.area, area), (Order.source, source)):
            if value:
                where.append(column == value)
        if part == "open":
            where.append(open_part(actor))
        if flag:  # the flags JSON array holds each flag quoted, in both backends' JSON text
            escaped = flag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(WhereRaw(_FLAG_SQL[self.service.engine.engine_type], f'%"{escaped}"%'))
        if deadline:
            now = self.service.clock()
            if deadline == "handle_overdue":
                where.append(handle_overdue(now))
            elif deadline == "overdue":
                where.append(Order.due_at < now)
            elif deadline == "at_risk":
                where.append((Order.due_at >= now) & (Order.at_risk_at <= now))
            else:
                where.append(Order.due_at.is_null() | (Order.at_risk_at > now))
        if q and q.strip():
            await self.service.index.settled()
            where.append(self.service.index.where(q, actor))
        if received_from:
            where.append(Order.received_at >= received_from)
        if received_to:
            where.append(Order.received_at < received_to)
        if kpi and kpi_to:
            await refresh_facts()
            named = {"channel": channel, "department": department, "area": area}
            where.append(kpi_clause(kpi, kpi_from, kpi_to, {d: named[d] for d in KPI_DIMENSIONS if named[d]}))
        query = Order.select().output(load_json=True)
        matching = Order.select(Order.id)
        for clause in where:
            query = query.where(clause)
            matching = matching.where(clause)
        async with read_transaction(self.service.engine):
            total = await self.service.count_up_to(matching, COUNT_CAP)
            rows = await query.order_by(Order.id, ascending=False).limit(page_size).offset(
                (page - 1) * page_size)
        return OrderPage(items=[as_record(r) for r in rows], total=min(total, COUNT_CAP), page=page,
                         page_size=page_size, total_capped=total > COUNT_CAP)

    async def _newest_matches(self, actor: Actor, q: str, page: int, page_size: int) -> OrderPage | None:
        """A search by words alone on PostgreSQL, answered from the index table (see
        ``TextIndex.newest``) when the index alone decides what this actor may see: the centre sees
        every order, a department's handler searches its own department's documents. None otherwise."""
        service = self.service
        if service.engine.engine_type != "postgres" or (actor.role != "handler" and scope(actor)):
            return None
        await service.index.settled()
        query = service.index.query(q, actor)
        if not query:
            return OrderPage(items=[], total=0, page=page, page_size=page_size)
        async with read_transaction(service.engine):
            ids, total = await ORDER_INDEX.newest(service.engine, query, wanted=page * page_size, cap=COUNT_CAP)
            ids = ids[(page - 1) * page_size:]
            rows = await Order.select().where(Order.id.is_in(ids or [0])).output(load_json=True)
        rows = [r for r in rows if visible(r, actor)]  # the index and the orders agree; checked all the same
        rows.sort(key=lambda r: r["id"], reverse=True)
        return OrderPage(items=[as_record(r) for r in rows], total=min(total, COUNT_CAP), page=page,
                         page_size=page_size, total_capped=total > COUNT_CAP)


# -- reads for plugins (re-exported by core.plugin_api) ----------------------------------------------

async def read_order(number: str, actor: Actor) -> OrderRecord:
    """The order as ``actor`` may see it; ``NotFound`` (404) when it is missing or not theirs, so a
    plugin's own route is authorised exactly like ``GET /api/orders/{number}``."""
    row = await Order.select().where(Order.number == number).output(load_json=True).first()
    if row is None or not visible(row, actor):
        raise NotFound(f"工单 {number} 不存在")
    return as_record(row)


async def order_ids(*, channel: str, department: str | None = None) -> list[int]:
    """The ids of a channel's orders (one department's, when given): how a plugin narrows its own
    rows, which keep plain order ids, to what a report covers."""
    query = Order.select(Order.id).where(Order.channel == channel)
    if department is not None:
        query = query.where(Order.department == department)
    return [r["id"] for r in await query]
