"""Lifecycle actions: one action on one order, checked, applied and audited in one transaction.

The checks run in a fixed order (role, department, status, payload, the action's validators, the
channel's ``validate_action``); the update carries the order's ``version``, so of two concurrent
actions exactly one wins and the other gets 409.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING

import msgspec

from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, HuyingError, InvalidInput, NotFound
from core.intake import convert, nul_errors
from core.joint import mirror_parts
from core.lifecycle import EVENT_DETAILS, STATUSES, Action, ActionContext, Refusal, part_status
from core.model import ROLES, Actor, EventRecord, OrderRecord
from core.tables import Order

if TYPE_CHECKING:
    from core.orders import OrderService


class ActionResult(msgspec.Struct, kw_only=True):
    """The order after an action, its events, and whether the answer may show the full contact."""

    order: OrderRecord
    events: list[EventRecord]
    reveal: bool = False


_DEPARTMENT_FIELDS: dict = {}  # an action's payload Struct → its department fields (read once)


class ActionDesk:
    def __init__(self, service: OrderService):
        self.service = service

    async def act(self, number: str, name: str, payload: dict | None, actor: Actor) -> ActionResult:
        """Apply one lifecycle action; refused with the reason when status, role, department,
        payload or a validator says no. Exactly one of two concurrent actions on an order wins."""
        service = self.service
        await service.sla.refresh()
        now = service.clock()
        async with write_transaction(service.engine):
            order = await service.queries.load(number, actor)
            action = service.channels.lifecycle(order.channel).get(name)
            if action is None:
                raise NotFound(f"没有「{name}」这个操作")
            self._check_actor(action, order, actor)
            if order.status not in action.sources:
                raise Conflict(f"工单当前状态为「{STATUSES[order.status]}」，不能执行「{action.label}」")
            if found := nul_errors(payload or {}):
                raise InvalidInput(found)
            payload = await self._named_departments(action, payload or {})
            parsed = convert(payload, action.payload)
            ctx = ActionContext(order=order, payload=parsed, actor=actor, now=now,
                                departments=await service.reference.active_departments(), sla=service.sla,
                                channel=service.channels.get(order.channel), orders=service,
                                services=service.services)
            try:
                await self._validate(action, ctx)
                changes = await _maybe_await(action.effect(ctx)) if action.effect else {}
                target = action.target_for(ctx)
            except Refusal as refusal:
                raise refused(refusal) from None
            decided = changes.pop(EVENT_DETAILS, None) or {}
            after = order
            if changes or target != order.status:  # a pure record (comment, reveal) leaves the order be
                changes = {**changes, "status": target, "version": order.version + 1, "updated_at": now}
                if "deadlines" in changes:  # the columns lists filter on follow the deadlines
                    changes.update(service.sla.summary(changes["deadlines"]))
                updated = await (Order.update({getattr(Order, k): v for k, v in changes.items()})
                                 .where((Order.id == order.id) & (Order.version == order.version))
                                 .returning(Order.id))
                if not updated:
                    raise Conflict("工单已被他人处理，请刷新后重试")
                after = msgspec.structs.replace(order, **changes)
                await self.service.index.changed(order, after)
                if "assisting" in changes:  # the parts table lists and reports read follows the order
                    await mirror_parts(order.id, changes["assisting"])
            data = {**msgspec.to_builtins(parsed), **decided}
            reason = data.get("reason") or data.get("note") or data.get("text") or ""
            sent = await service.record_event(after, name, actor, order.status, target, reason, data, now)
            events = await service.queries.events(order.id)
        if sent:
            service.outbox_written()
        return ActionResult(order=after, events=events, reveal=action.reveals_contact)

    async def _named_departments(self, action: Action, payload: dict) -> dict:
        """A department given by its name or alias (城管) is the department: the API and the console
        picker alike take what a dispatcher types."""
        from core.channels import describe_fields
        from core.department_names import named_in_payload

        fields = _DEPARTMENT_FIELDS.get(action.payload)
        if fields is None:
            fields = _DEPARTMENT_FIELDS[action.payload] = [
                f for f in describe_fields(action.payload) if f.widget in ("department", "departments")]
        if not fields or not any(payload.get(f.name) for f in fields):
            return payload
        reference = self.service.reference
        return await named_in_payload(fields, payload, await reference.directory(), await reference.active_departments())

    @staticmethod
    def _check_actor(action: Action, order: OrderRecord, actor: Actor) -> None:
        if actor.role not in action.roles:
            raise Forbidden(f"{ROLES.get(actor.role, actor.role)}不能执行「{action.label}」")
        if action.department_bound and actor.role == "handler" and actor.department != order.department:
            raise Forbidden(f"只有承办单位本单位的人员才能执行「{action.label}」")
        if action.part_bound and part_status(order, actor.department) not in action.part_bound:
            raise Forbidden(f"只有本单的协办单位人员才能执行「{action.label}」")

    async def _validate(self, action: Action, ctx: ActionContext) -> None:
        """The action's validators and requirements, then the channel's veto (which may read its
        own tables)."""
        for validate in action.validators:
            await _maybe_await(validate(ctx))
        for requirement in action.requires:
            requirement(ctx.order, ctx.now)
        channel = self.service.channels.get(ctx.order.channel)
        await self.service.channels.hooks(ctx.order.channel).validate_action(channel=channel, action=action, ctx=ctx)


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def refused(refusal: Refusal) -> HuyingError:
    errors = [FieldError(refusal.key, refusal.reason)] if refusal.key else None
    if refusal.status_code == 400:
        return InvalidInput(errors or [FieldError("body", refusal.reason)], refusal.reason)
    if refusal.status_code == 403:
        return Forbidden(refusal.reason, errors)
    return Conflict(refusal.reason, errors)

