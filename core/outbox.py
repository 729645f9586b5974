"""The transactional outbox: messages written with the change that causes them, delivered by a job.

A message is only ever created inside the action's transaction (``Outbox.send`` collects, the service
writes), so a rollback takes it away too; delivery retries with back-off until the remote side takes
it, so nothing is lost when Redis, a worker or the remote platform is down.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from core.tables import OutboxMessage

log = logging.getLogger(__name__)
LEASE = dt.timedelta(minutes=2)
MAX_BACKOFF = dt.timedelta(hours=1)


class Outbox:
    """Collects the messages an action sends; written in the action's own transaction."""

    def __init__(self, order_number: str | None = None):
        self.order_number = order_number
        self.messages: list[tuple[str, dict[str, Any]]] = []

    def send(self, topic: str, payload: dict[str, Any]) -> None:
        self.messages.append((topic, payload))

    async def write(self, now: dt.datetime) -> int:
        if self.messages:
            await OutboxMessage.insert(*[
                OutboxMessage(topic=topic, order_number=self.order_number, payload=payload,
                              next_attempt_at=now, created_at=now)
                for topic, payload in self.messages])
        return len(self.messages)


def backoff(attempts: int) -> dt.timedelta:
    return min(dt.timedelta(seconds=10 * 2 ** max(attempts - 1, 0)), MAX_BACKOFF)


async def deliver_due(deliverers: dict[str, Any], settings: Any, *, now: dt.datetime | None = None,
                      batch: int = 100) -> dict[str, int]:
    """Deliver every message that is due. Each is claimed first (a short lease) so two workers never
    send the same message at once; a failure records the error and schedules the next attempt."""
    now = now or dt.datetime.now(dt.timezone.utc)
    due = await (OutboxMessage.select()
                 .where((OutboxMessage.delivered_at.is_null()) & (OutboxMessage.next_attempt_at <= now))
                 .order_by(OutboxMessage.id).limit(batch).output(load_json=True))
    counts = {"delivered": 0, "failed": 0}
    for message in due:
        claimed = await (OutboxMessage.update({OutboxMessage.next_attempt_at: now + LEASE,
                                               OutboxMessage.attempts: message["attempts"] + 1})
                         .where((OutboxMessage.id == message["id"])
                                & (OutboxMessage.attempts == message["attempts"])
                                & OutboxMessage.delivered_at.is_null())
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
            await OutboxMessage.update({OutboxMessage.delivered_at: dt.datetime.now(dt.timezone.utc),
                                        OutboxMessage.last_error: ""}).where(OutboxMessage.id == message["id"])
            counts["delivered"] += 1
    return counts


def collect_deliverers(pm) -> dict[str, Any]:
    deliverers: dict[str, Any] = {}
    for mapping in pm.hook.outbox_deliverers():
        deliverers.update(mapping)
    return deliverers
