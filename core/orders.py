"""The order service: the one writer of orders. Every way in (API, web form, CLI, demo, plugins)
goes through it, so validation, routing, deadlines, the version check, the audit event, the
channel's hooks and the outbox are applied the same way, and each change is one transaction.

It is split along its seams: ``core.intake`` records new orders, ``core.actions`` applies lifecycle
actions, ``core.attachments`` keeps files, ``core.queries`` reads (through ``core.visibility``),
``core.listing`` lists (``lists``); which orders a list holds is ``core.order_filter``, for the
console and the API alike. Plugin code gets ``core.services.OrderServices`` over it, never the service.
Presentation (what an API answer looks like) belongs to the API layer (``api.presenter``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec

from core import clock
from core.actions import ActionDesk, ActionResult
from core.attachments import AttachmentDesk, AttachmentRecord, NewAttachment
from core.confidential import Sealer
from core.db import insert_row, write_transaction
from core.errors import NotFound
from core.intake import LOCAL_TZ, IntakeDesk, IntakeRequest, as_record, convert, field_errors
from core.listing import OrderLists
from core.order_filter import OrderFilter
from core.model import Actor, EventRecord, OrderRecord
from core.services import PluginServices
from core.outbox import Outbox
from core.queries import OrderPage, OrderQueries
from core.reference import ReferenceData
from core.search import OrderSearch, Sealed
from core.sources import SourceRegistry
from core.tables import Order, OrderEvent

__all__ = ["OrderService", "IntakeRequest", "ActionResult", "AttachmentRecord", "NewAttachment", "OrderPage",
           "LOCAL_TZ", "convert", "field_errors"]


def _now() -> dt.datetime:
    return clock.now()


class OrderService:
    """The one writer of orders, and its reads (``queries``) and lists (``lists``)."""

    def __init__(self, channels, sla, sealer: Sealer | None, engine):
        self.channels = channels
        self.sla = sla
        self.sealer = sealer
        self.engine = engine
        self.reference = ReferenceData()
        self.outbox_written: Callable[[], None] = lambda: None  # wakes the delivery job after a commit
        # topic → handler settling a message inside the action's transaction (see ``Outbox.write``)
        self.at_once: dict[str, Callable] = {}
        self.clock: Callable[[], dt.datetime] = _now  # replaced only to replay history (demo data)
        self.received_at_max_age = dt.timedelta(days=400)  # Settings.received_at_max_age_days
        self.callbacks = None  # core.callbacks.CallbackPolicy from the settings (None: the defaults)
        self.intake_desk = IntakeDesk(self)
        self.action_desk = ActionDesk(self)
        self.attachment_desk = AttachmentDesk(self)
        self.queries = OrderQueries(self)
        self.lists = OrderLists(self)
        self.index = OrderSearch(channels, engine, Sealed(sealer.secret if sealer else ""),
                                 sealer.open if sealer else (lambda value: value))
        self.sources = SourceRegistry()  # the message boards an admin added, as sources (core/sources.py)
        self.learned = None  # the dispatch model (core.suggestions.Learned), asked when no rule matches
        # what plugin code is handed (core.services.OrderServices, over this service and the store)
        self.services: PluginServices | None = None

    # -- writes -------------------------------------------------------------------------------------

    def check_intake(self, code: str, request: IntakeRequest, actor: Actor):
        return self.intake_desk.check(code, request, actor)

    async def resolve_area(self, request: IntakeRequest, actor: Actor):
        """(the request with its 街道 as a name of the list, the field's error or None)."""
        return await self.intake_desk.resolve_area(request, actor)

    async def intake(self, code: str, request: IntakeRequest, actor: Actor, *,
                     idempotency_key: str | None = None,
                     attachments: list[NewAttachment] | tuple = (),
                     handle_due: dt.datetime | None = None) -> tuple[int, OrderRecord]:
        taken = await self.intake_desk.intake(code, request, actor, idempotency_key=idempotency_key,
                                              attachments=attachments, handle_due=handle_due)
        self.lists.forget_repeat_callers()  # the caller may just have become one
        return taken

    async def act(self, number: str, name: str, payload: dict | None, actor: Actor) -> ActionResult:
        return await self.action_desk.act(number, name, payload, actor)

    async def attach(self, number: str, filename: str, data: bytes, actor: Actor, store) -> AttachmentRecord:
        return await self.attachment_desk.attach(number, filename, data, actor, store)

    async def record_event(self, order: OrderRecord, action: str, actor: Actor, from_status: str | None,
                           to_status: str | None, reason: str, payload: dict, now: dt.datetime) -> int:
        """Write the audit event and let the channel react, inside the caller's transaction; returns
        how many outbox messages the reaction sent."""
        event = EventRecord(action=action, actor=actor.name, role=actor.role, department=actor.department,
                            from_status=from_status, to_status=to_status, reason=reason, payload=payload,
                            created_at=now)
        await insert_row(OrderEvent, {"order_id": order.id, **msgspec.structs.asdict(event)})
        outbox = Outbox(order.number)
        channel = self.channels.get(order.channel)
        # an async reaction may write the plugin's own tables: the hooks object awaits it
        await self.channels.hooks(order.channel).on_transition(channel=channel, order=order, event=event, outbox=outbox)
        return await outbox.write(now, self.at_once)

    # -- for plugin code ----------------------------------------------------------------------------

    def transaction(self):
        """``async with service.transaction():`` one write transaction that the service's own writes
        (``intake``, ``act``, ``note``) join, so a plugin can make several orders and its own rows
        all-or-nothing (one imported file, say)."""
        return write_transaction(self.engine)

    async def note(self, number: str, action: str, actor: Actor, *, reason: str = "",
                   payload: dict | None = None) -> None:
        """Write an audited event on an order without changing it: a record another part of the
        system made about it (a recheck of the order, say). It joins the caller's transaction, so the
        note commits or rolls back with the work it records. Not a user action: the caller has
        already decided that the actor may do the work being recorded."""
        now = self.clock()
        async with write_transaction(self.engine):
            row = await Order.select().where(Order.number == number).output(load_json=True).first()
            if row is None:
                raise NotFound(f"工单 {number} 不存在")
            order = as_record(row)
            sent = await self.record_event(order, action, actor, order.status, order.status, reason,
                                           payload or {}, now)
        if sent:
            self.outbox_written()

    async def find(self, *, number: str | None = None, source: str | None = None,
                   external_id: str | None = None) -> OrderRecord | None:
        """One order as stored, by our number or by the sender's own id (within ``source``), whoever
        may see it: for plugin code checking a reference, never to be shown to a user as it is."""
        if number is None and external_id is None:
            raise ValueError("find needs a number or an external_id")
        query = Order.select().output(load_json=True)
        for column, value in ((Order.number, number), (Order.source, source), (Order.external_id, external_id)):
            if value is not None:
                query = query.where(column == value)
        row = await query.order_by(Order.id).first()
        return as_record(row) if row is not None else None

    # -- reads --------------------------------------------------------------------------------------

    async def get(self, number: str, actor: Actor) -> OrderRecord:
        return await self.queries.get(number, actor)

    async def detail(self, number: str, actor: Actor) -> tuple[OrderRecord, list[EventRecord]]:
        return await self.queries.detail(number, actor)

    async def search(self, actor: Actor, f: OrderFilter, *, page: int = 1, page_size: int = 20) -> OrderPage:
        return await self.queries.search(actor, f, page=page, page_size=page_size)

    # -- lists (``core.listing``), named here for the pages that show them ----------------------------

    async def listing(self, actor: Actor, f: OrderFilter, **paging) -> dict:
        return await self.lists.listing(actor, f, **paging)

    async def count(self, actor: Actor, queues: dict[str, OrderFilter]) -> dict[str, int]:
        return await self.lists.count(actor, queues)

    async def rows_for_export(self, actor: Actor, f: OrderFilter, *, sort: str, limit: int) -> list[dict]:
        return await self.lists.rows_for_export(actor, f, sort=sort, limit=limit)

    async def caller_history(self, actor: Actor, phone: str, *, limit: int = 20) -> dict:
        return await self.lists.caller_history(actor, phone, limit=limit)

    async def mark_duplicates(self, items: list[dict]) -> list[dict]:
        return await self.lists.mark_duplicates(items)

    async def department_names(self) -> dict[str, str]:
        return await self.lists.department_names()

    async def attachments(self, number: str, actor: Actor) -> list[AttachmentRecord]:
        return await self.attachment_desk.list(number, actor)

    def forget_reference_data(self) -> None:
        """Departments and routing rules are cached; call after changing them."""
        self.reference.forget()
        self.lists.forget_department_names()

