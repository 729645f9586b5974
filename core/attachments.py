"""Files on an order (evidence, photos, letters): the bytes in the attachment store, the list in the
``attachments`` table, and an ``attach`` audit event for each, written in the same transaction.

Staff upload to an open order; a citizen's web form hands its files to the intake, so the order and
its files are recorded together.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import msgspec

from core.db import read_transaction, write_transaction
from core.errors import Conflict, Forbidden
from core.lifecycle import STATUSES, TERMINAL
from core.model import CENTRE_ROLES, Actor, OrderRecord
from core.storage import check_file, clean_filename
from core.tables import Attachment

if TYPE_CHECKING:
    from core.orders import OrderService

UPLOAD_ROLES = CENTRE_ROLES | {"handler"}


class NewAttachment(msgspec.Struct, frozen=True, kw_only=True):
    """A file already in the store, to be listed on an order."""

    key: str
    filename: str
    content_type: str
    size: int


class AttachmentRecord(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    created_at: dt.datetime


class AttachmentDesk:
    def __init__(self, service: OrderService):
        self.service = service

    async def attach(self, number: str, filename: str, data: bytes, actor: Actor, store) -> AttachmentRecord:
        """Keep a file on an open order; judged by its content, audited like an action."""
        content_type = await check_file(data)  # off the event loop: an image is decoded whole
        service = self.service
        now = service.clock()
        async with write_transaction(service.engine):
            order = await service.queries.load(number, actor)
            if actor.role not in UPLOAD_ROLES:
                raise Forbidden("无权上传附件")
            if order.status in TERMINAL:
                raise Conflict(f"工单已{STATUSES[order.status]}，不能再上传附件")
            key = store.save(data, content_type)
            record = await self.record(order, NewAttachment(key=key, filename=clean_filename(filename),
                                                            content_type=content_type, size=len(data)),
                                       actor, now)
        return record

    async def record(self, order: OrderRecord, file: NewAttachment, actor: Actor,
                     now: dt.datetime) -> AttachmentRecord:
        """List a stored file on the order with its audit event, inside the caller's transaction."""
        record = AttachmentRecord(**msgspec.structs.asdict(file), uploaded_by=actor.name, created_at=now)
        fields = msgspec.structs.asdict(record)
        await Attachment.insert(Attachment(order_id=order.id, **fields))
        payload = {k: v for k, v in fields.items() if k != "created_at"}
        await self.service.record_event(order, "attach", actor, order.status, order.status, "", payload, now)
        return record

    async def list(self, number: str, actor: Actor) -> list[AttachmentRecord]:
        async with read_transaction(self.service.engine):
            order = await self.service.queries.load(number, actor)
            return await attachments_of(order)


async def attachments_of(order: OrderRecord, *, keys: list[str] | None = None) -> list[AttachmentRecord]:
    """The files on an order (optionally only those with the given keys), oldest first."""
    query = Attachment.select().where(Attachment.order_id == order.id)
    if keys is not None:
        query = query.where(Attachment.key.is_in(list(keys) or [""]))
    rows = await query.order_by(Attachment.id)
    return [msgspec.convert({k: v for k, v in r.items() if k not in ("id", "order_id")}, AttachmentRecord)
            for r in rows]
