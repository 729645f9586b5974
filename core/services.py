"""What plugin code may do at run time, typed: ``PluginServices`` (read, find, record and act on
orders, one transaction, files on an order, the departments) and ``WorkingCalendar`` (working time).

A plugin receives them, never the platform: an action's effect or validator as ``ctx.services`` and
``ctx.calendar``, a plugin's route as the ``services`` dependency (``services:
NamedDependency[PluginServices]``), a plugin's job as its argument. ``OrderServices`` is the one
implementation, over the order service, so everything a plugin does goes through the same checks,
audit events and outbox as the API. Re-exported by ``core.plugin_api``.
"""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from core.model import Actor, OrderRecord

if TYPE_CHECKING:  # annotations only (core.attachments reads the lifecycle, which names these protocols)
    from core.attachments import AttachmentRecord
    from core.intake import IntakeRequest
    from core.orders import OrderService
    from core.storage import AttachmentStore


@runtime_checkable
class WorkingCalendar(Protocol):
    """Working time on the centre's calendar (official holidays, 调休, the centre's own days)."""

    def add_working_days(self, start: dt.datetime, days: int) -> dt.datetime: ...

    def add_working_hours(self, start: dt.datetime, hours: float) -> dt.datetime: ...

    def working_seconds_between(self, start: dt.datetime, end: dt.datetime) -> float: ...


@runtime_checkable
class PluginServices(Protocol):
    """The orders as plugin code may use them. Every write joins the caller's transaction when there
    is one (``transaction``), else is its own; each is audited like any user's."""

    def now(self) -> dt.datetime:
        """The platform's now (a replay of history sets it; never read the system clock)."""
        ...

    async def read(self, number: str, actor: Actor) -> OrderRecord:
        """The order as ``actor`` may see it; ``NotFound`` (404) otherwise, as ``GET /api/orders/{number}``."""
        ...

    async def find(self, *, number: str | None = None, source: str | None = None,
                   external_id: str | None = None) -> OrderRecord | None:
        """One order by our number or by the sender's own id (within ``source``), whoever may see it:
        for checking a reference, never to be shown to a user as it is."""
        ...

    async def intake(self, channel: str, request: IntakeRequest, actor: Actor) -> OrderRecord:
        """Record a new order on ``channel`` (the same checks as ``POST /api/channels/{code}/orders``)."""
        ...

    async def act(self, number: str, action: str, payload: dict[str, Any] | None, actor: Actor) -> OrderRecord:
        """Take a lifecycle action as ``actor`` (role, status, payload and validators checked); the order after it."""
        ...

    async def note(self, number: str, action: str, actor: Actor, *, reason: str = "",
                   payload: dict[str, Any] | None = None) -> None:
        """An audited event on an order that changes nothing else (a record of work done elsewhere)."""
        ...

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        """``async with services.transaction():`` several writes, and the plugin's own rows, all or nothing."""
        ...

    async def attachments(self, number: str, actor: Actor) -> list[AttachmentRecord]:
        """The files on an order ``actor`` may see, oldest first."""
        ...

    async def attach(self, number: str, filename: str, data: bytes, actor: Actor) -> AttachmentRecord:
        """Keep a file on an open order (judged by its content, audited with an ``attach`` event)."""
        ...

    def open_attachment(self, key: str) -> bytes:
        """The stored bytes of a file listed on an order (by its ``AttachmentRecord.key``)."""
        ...

    async def departments(self) -> frozenset[str]:
        """The codes of the departments taking new orders."""
        ...


class OrderServices:
    """``PluginServices`` over the platform's order service and attachment store."""

    def __init__(self, orders: OrderService, store: AttachmentStore):
        self._orders = orders
        self._store = store

    def now(self) -> dt.datetime:
        return self._orders.clock()

    async def read(self, number: str, actor: Actor) -> OrderRecord:
        return await self._orders.get(number, actor)

    async def find(self, *, number: str | None = None, source: str | None = None,
                   external_id: str | None = None) -> OrderRecord | None:
        return await self._orders.find(number=number, source=source, external_id=external_id)

    async def intake(self, channel: str, request: IntakeRequest, actor: Actor) -> OrderRecord:
        return (await self._orders.intake(channel, request, actor))[1]

    async def act(self, number: str, action: str, payload: dict[str, Any] | None, actor: Actor) -> OrderRecord:
        return (await self._orders.act(number, action, payload, actor)).order

    async def note(self, number: str, action: str, actor: Actor, *, reason: str = "",
                   payload: dict[str, Any] | None = None) -> None:
        await self._orders.note(number, action, actor, reason=reason, payload=payload)

    def transaction(self) -> AbstractAsyncContextManager[Any]:
        return self._orders.transaction()

    async def attachments(self, number: str, actor: Actor) -> list[AttachmentRecord]:
        return await self._orders.attachments(number, actor)

    async def attach(self, number: str, filename: str, data: bytes, actor: Actor) -> AttachmentRecord:
        return await self._orders.attach(number, filename, data, actor, self._store)

    def open_attachment(self, key: str) -> bytes:
        return self._store.open(key)

    async def departments(self) -> frozenset[str]:
        return await self._orders.reference.active_departments()
