"""The order service: the one writer of orders. Every way in (API, web form, CLI, demo, plugins)
goes through it, so validation, routing, deadlines, the version check, the audit event, the
channel's hooks and the outbox are applied the same way, and each change is one transaction.

It is split along its seams: ``core.intake`` records new orders, ``core.actions`` applies lifecycle
actions, ``core.attachments`` keeps files, ``core.queries`` reads (through ``core.visibility``).
Presentation (what an API answer looks like) belongs to the API layer (``api.presenter``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import msgspec

from core.actions import ActionDesk, ActionResult
from core.attachments import AttachmentDesk, AttachmentRecord, NewAttachment
from core.confidential import Sealer
from core.db import insert_row
from core.intake import LOCAL_TZ, IntakeDesk, IntakeRequest, convert, field_errors
from core.model import Actor, EventRecord, OrderRecord
from core.outbox import Outbox
from core.queries import OrderPage, OrderQueries
from core.reference import ReferenceData
from core.search import OrderSearch, Sealed
from core.tables import OrderEvent

__all__ = ["OrderService", "IntakeRequest", "ActionResult", "AttachmentRecord", "NewAttachment", "OrderPage",
           "LOCAL_TZ", "convert", "field_errors"]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OrderService:
    def __init__(self, channels, sla, sealer: Sealer | None, engine):
        self.channels = channels
        self.sla = sla
        self.sealer = sealer
        self.engine = engine
        self.reference = ReferenceData()
        self.outbox_written: Callable[[], None] = lambda: None  # wakes the delivery job after a commit
        self.clock: Callable[[], dt.datetime] = _now  # replaced only to replay history (demo data)
        self.intake_desk = IntakeDesk(self)
        self.action_desk = ActionDesk(self)
        self.attachment_desk = AttachmentDesk(self)
        self.queries = OrderQueries(self)
        self.index = OrderSearch(channels, engine, Sealed(sealer.secret if sealer else ""),
                                 sealer.open if sealer else (lambda value: value))
        self.learned = None  # the dispatch model (core.suggestions.Learned), asked when no rule matches

    # -- writes -------------------------------------------------------------------------------------

    def check_intake(self, code: str, request: IntakeRequest, actor: Actor):
        return self.intake_desk.check(code, request, actor)

    async def intake(self, code: str, request: IntakeRequest, actor: Actor, *,
                     idempotency_key: str | None = None,
                     attachments: list[NewAttachment] | tuple = ()) -> tuple[int, OrderRecord]:
        return await self.intake_desk.intake(code, request, actor, idempotency_key=idempotency_key,
                                             attachments=attachments)

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
        self.channels.hook(order.channel, "on_transition")(channel=channel, order=order, event=event,
                                                           outbox=outbox)
        return await outbox.write(now)

    # -- reads --------------------------------------------------------------------------------------

    async def get(self, number: str, actor: Actor) -> OrderRecord:
        return await self.queries.get(number, actor)

    async def detail(self, number: str, actor: Actor) -> tuple[OrderRecord, list[EventRecord]]:
        return await self.queries.detail(number, actor)

    async def search(self, actor: Actor, **filters) -> OrderPage:
        return await self.queries.search(actor, **filters)

    async def attachments(self, number: str, actor: Actor) -> list[AttachmentRecord]:
        return await self.attachment_desk.list(number, actor)

    def forget_reference_data(self) -> None:
        """Departments and routing rules are cached; call after changing them."""
        self.reference.forget()
