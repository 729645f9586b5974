"""Reading orders: one order (404 for whoever may not see it), its events, and searches.

Every read applies ``core.visibility``, so a department's handler never learns that another
department's order exists.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from core.db import read_transaction
from core.errors import NotFound
from core.listing import COUNT_CAP
from core.order_filter import NO_FILTER, OrderFilter, refresh_facts
from core.search import ORDER_INDEX
from core.model import Actor, EventRecord, OrderRecord, as_record
from core.tables import Order, OrderEvent
from core.visibility import scope, visible


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

    async def search(self, actor: Actor, f: OrderFilter, *, page: int = 1, page_size: int = 20) -> OrderPage:
        """One page of the orders this actor may see that ``f`` selects, newest first: the same orders
        the console lists for the same filter (``core.order_filter``)."""
        plain = f.q.strip() and msgspec.structs.replace(f, q="") == NO_FILTER
        if plain and page * page_size <= COUNT_CAP and not await Order.exists().where(
                Order.number == f.q.strip().upper()):  # an order's number is found by itself, not by words
            found = await self._newest_matches(actor, f.q.strip(), page, page_size)
            if found is not None:
                return found
        service = self.service
        if f.q.strip():
            await service.index.settled()
        if f.kpi:
            await refresh_facts()
        where = await service.lists.clauses(actor, f)
        query = Order.select().output(load_json=True)
        matching = Order.select(Order.id)
        for clause in where:
            query = query.where(clause)
            matching = matching.where(clause)
        async with read_transaction(service.engine):
            total = await service.lists.count_up_to(matching, COUNT_CAP)
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
