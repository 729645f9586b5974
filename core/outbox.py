"""The transactional outbox: messages written with the change that causes them, delivered by a job.

A message is only ever created inside the action's transaction (``Outbox.send`` collects, the service
writes), so a rollback takes it away too; delivery retries with back-off until the remote side takes
it, so nothing is lost when Redis, a worker or the remote platform is down.

Messages of one topic about one order are delivered in the order they were written: while an earlier
one is pending, the later ones wait (an abandoned message no longer holds the others back). A message
keeps its id for life, so a deliverer sends it as an idempotency key and a retry after a crash is
recognised by the remote side as the same message.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from core import clock
from core.tables import OutboxEvent, OutboxMessage

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=1)
STATES = {"pending": "待发送", "delivered": "已送达", "abandoned": "已放弃"}


class Outbox:
    """Collects the messages an action sends; written in the action's own transaction."""

    def __init__(self, order_number: str | None = None):
        self.order_number = order_number
        self.messages: list[tuple[str, dict[str, Any], dt.timedelta | None]] = []

    def send(self, topic: str, payload: dict[str, Any], *, hold: dt.timedelta | None = None) -> None:
        """``hold``: not delivered before that long after the change (never settled at once), so a
        change following within the hold can still replace it (see ``supersede``)."""
        self.messages.append((topic, payload, hold))

    async def write(self, now: dt.datetime, at_once: dict[str, Any] | None = None) -> int:
        """One row per message through the service's insert path (an intake writes one or two; the
        ORM's object and query building cost more than the insert itself); returns how many were
        queued. A topic in ``at_once`` whose handler takes the message (returns true) is settled in
        this transaction instead (a text message with no gateway to go to: its record is the delivery),
        so nothing waits in the outbox for a job to copy it."""
        from core.db import insert_row

        queued = 0
        for topic, payload, hold in self.messages:
            handler = None if hold else (at_once or {}).get(topic)
            if handler is not None and await handler({"id": None, "topic": topic, "order_number": self.order_number,
                                                      "payload": payload}):
                continue
            queued += 1
            await insert_row(OutboxMessage, {"topic": topic, "order_number": self.order_number, "payload": payload,
                                             "attempts": 0, "next_attempt_at": now + (hold or dt.timedelta()),
                                             "delivered_at": None,
                                             "last_error": "", "created_at": now, "abandoned_at": None,
                                             "abandon_reason": ""})
        return queued


async def supersede(topic: str, order_number: str, wanted, reason: str, now: dt.datetime) -> list[dict]:
    """Take back this order's messages of ``topic`` that ``wanted(payload)`` picks and that no
    delivery has claimed yet (a held message): they are abandoned with ``reason`` (recorded in
    ``outbox_events``) inside the caller's transaction, and returned for the caller to replace."""
    rows = await (OutboxMessage.select().where(_PENDING & (OutboxMessage.topic == topic)
                                               & (OutboxMessage.order_number == order_number)
                                               & (OutboxMessage.attempts == 0))
                  .order_by(OutboxMessage.id).output(load_json=True))
    taken = []
    for row in rows:
        if not wanted(row["payload"] or {}):
            continue
        won = await (OutboxMessage.update({OutboxMessage.abandoned_at: now, OutboxMessage.abandon_reason: reason})
                     .where((OutboxMessage.id == row["id"]) & (OutboxMessage.attempts == 0) & _PENDING)
                     .returning(OutboxMessage.id))
        if won:  # not claimed by a delivery meanwhile
            await OutboxEvent.insert(OutboxEvent(message_id=row["id"], action="supersede", actor="system",
                                                 reason=reason, created_at=now))
            taken.append(row)
    return taken


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=10 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


def idempotency_key(message: dict) -> str:
    """The stable id a deliverer sends with a message: the same on every attempt, on every worker."""
    return f"huying-outbox-{message['id']}"


_PENDING = OutboxMessage.delivered_at.is_null() & OutboxMessage.abandoned_at.is_null()


async def _queues(due: list[dict]) -> dict[tuple[str, str], list[int]]:
    """For each (topic, order) among ``due``, the ids of all its pending messages, oldest first."""
    numbers = sorted({m["order_number"] for m in due if m["order_number"]})
    queues: dict[tuple[str, str], list[int]] = {}
    for start in range(0, len(numbers), 500):
        rows = await (OutboxMessage.select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.order_number)
                      .where(_PENDING & OutboxMessage.order_number.is_in(numbers[start:start + 500]))
                      .order_by(OutboxMessage.id))
        for row in rows:
            queues.setdefault((row["topic"], row["order_number"]), []).append(row["id"])
    return queues


async def deliver_due(deliverers: dict[str, Any], settings: Any, *, now: dt.datetime | None = None,
                      batch: int = 100, lease: dt.timedelta = LEASE, delivered: Any = None) -> dict[str, int]:
    """Deliver every message that is due and first in its order's queue. Each is claimed first (a
    lease) so two workers never send the same message at once; a worker that dies mid-delivery
    leaves the claim to expire, and the message is sent again, with the same id, after the lease.
    A failure records the error and schedules the next attempt. ``delivered(message)`` is awaited
    after each delivery is recorded (to tell open browsers)."""
    now = now or clock.now()
    due = await (OutboxMessage.select()
                 .where(_PENDING & (OutboxMessage.next_attempt_at <= now))
                 .order_by(OutboxMessage.id).limit(batch).output(load_json=True))
    queues = await _queues(due)
    counts = {"delivered": 0, "failed": 0}
    for message in due:
        queue = queues.get((message["topic"], message["order_number"]))
        if queue and queue[0] != message["id"]:
            continue  # an earlier change of this order is still on its way
        claimed = await (OutboxMessage.update({OutboxMessage.next_attempt_at: now + lease,
                                               OutboxMessage.attempts: message["attempts"] + 1})
                         .where((OutboxMessage.id == message["id"])
                                & (OutboxMessage.attempts == message["attempts"]) & _PENDING)
                         .returning(OutboxMessage.id))
        if not claimed:
            continue
        attempts = message["attempts"] + 1
        deliver = deliverers.get(message["topic"])
        try:
            if deliver is None:
                raise LookupError(f"no deliverer for topic {message['topic']!r}")
            await deliver(message, settings)
        except Exception as exc:  # the remote side's failure is data here, not a crash
            log.warning("outbox message %s (%s) failed: %s", message["id"], message["topic"], exc)
            await OutboxMessage.update({OutboxMessage.last_error: f"{type(exc).__name__}: {exc}"[:2000],
                                        OutboxMessage.next_attempt_at: now + backoff(attempts)}).where(
                OutboxMessage.id == message["id"])
            counts["failed"] += 1
        else:
            await OutboxMessage.update({OutboxMessage.delivered_at: clock.now(),
                                        OutboxMessage.last_error: ""}).where(OutboxMessage.id == message["id"])
            counts["delivered"] += 1
            if queue:
                queue.pop(0)
            if delivered is not None:
                await delivered(message)
    return counts


UNLABELLED_TOPIC = "未命名的消息类型"


def topic_labels(deliverers: dict[str, Any], topics) -> dict[str, str]:
    """How people read each outbox topic: the ``label`` its deliverer declares."""
    return {topic: getattr(deliverers.get(topic), "label", "") or UNLABELLED_TOPIC for topic in topics}


def collect_deliverers(pm) -> dict[str, Any]:
    deliverers: dict[str, Any] = {}
    for mapping in pm.hook.outbox_deliverers():
        deliverers.update(mapping)
    return deliverers


# -- operations ---------------------------------------------------------------------------------------

def state_of(row: dict) -> str:
    if row["delivered_at"] is not None:
        return "delivered"
    return "abandoned" if row["abandoned_at"] is not None else "pending"


def _where_state(state: str):
    if state == "delivered":
        return OutboxMessage.delivered_at.is_not_null()
    if state == "abandoned":
        return OutboxMessage.abandoned_at.is_not_null()
    return _PENDING


async def list_messages(*, topic: str | None = None, state: str | None = None, order_number: str | None = None,
                        page: int = 1, page_size: int = 50) -> dict:
    query, count = OutboxMessage.select().output(load_json=True), OutboxMessage.count()
    for clause in ([OutboxMessage.topic == topic] if topic else []) + \
                  ([_where_state(state)] if state else []) + \
                  ([OutboxMessage.order_number == order_number] if order_number else []):
        query, count = query.where(clause), count.where(clause)
    rows = await query.order_by(OutboxMessage.id, ascending=False).limit(page_size).offset((page - 1) * page_size)
    return {"items": [{**row, "state": state_of(row), "state_label": STATES[state_of(row)]} for row in rows],
            "total": await count, "page": page, "page_size": page_size}


async def _operate(message_id: int, action: str, actor: str, reason: str, changes: dict, allowed: set[str],
                   now: dt.datetime) -> dict:
    from core.db import write_transaction
    from core.errors import Conflict, NotFound

    async with write_transaction(OutboxMessage._meta.db):
        row = await OutboxMessage.select().where(OutboxMessage.id == message_id).output(load_json=True).first()
        if row is None:
            raise NotFound(f"消息 {message_id} 不存在")
        if state_of(row) not in allowed:
            raise Conflict(f"消息当前状态为「{STATES[state_of(row)]}」，不能执行此操作")
        await OutboxMessage.update(changes).where(OutboxMessage.id == message_id)
        await OutboxEvent.insert(OutboxEvent(message_id=message_id, action=action, actor=actor, reason=reason,
                                             created_at=now))
        row = await OutboxMessage.select().where(OutboxMessage.id == message_id).output(load_json=True).first()
    return {**row, "state": state_of(row), "state_label": STATES[state_of(row)]}


async def retry(message_id: int, actor: str, reason: str) -> dict:
    """Send a pending or abandoned message again now (same id: the remote side sees the same message)."""
    now = clock.now()
    return await _operate(message_id, "retry", actor, reason,
                          {OutboxMessage.next_attempt_at: now, OutboxMessage.abandoned_at: None,
                           OutboxMessage.abandon_reason: ""}, {"pending", "abandoned"}, now)


async def abandon(message_id: int, actor: str, reason: str) -> dict:
    """Give up on a pending message, with the reason; the order's later messages then go ahead."""
    now = clock.now()
    return await _operate(message_id, "abandon", actor, reason,
                          {OutboxMessage.abandoned_at: now, OutboxMessage.abandon_reason: reason},
                          {"pending"}, now)


async def history(message_id: int) -> list[dict]:
    return await OutboxEvent.select().where(OutboxEvent.message_id == message_id).order_by(OutboxEvent.id)
