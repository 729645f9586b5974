"""疑难工单: the centre marks an order difficult (a complex matter, several departments, a group
incident) with a reason, or a department asks for it and the centre approves or declines. A difficult
order's handling deadline moves on by the 疑难工单延长时限 rule (``difficult_days``, a time limit the
centre sets per channel beside the others, counted in working days on the calendar). The mark is a
flag on the order, so lists filter on it; every step is a lifecycle side action, audited on the
timeline like the rest.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from core.channels import field
from core.clock import SHANGHAI
from core.lifecycle import EVENT_DETAILS, HANDLER, Action, ActionContext, Refusal, Text, _states
from core.model import OrderRecord

DIFFICULT = "difficult"
REQUESTED = "difficult_requested"
FLAGS: dict[str, str] = {DIFFICULT: "疑难工单", REQUESTED: "疑难待认定"}
DECIDERS = frozenset({"dispatcher", "supervisor", "admin"})
# while the order is still being handled (after the answer is approved there is nothing to extend)
HANDLING = _states("received", "dispatched", "returned", "accepted", "replied", "suspended")


class DifficultReason(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, field("疑难原因", "为什么难办：涉及多个单位、历史遗留、群体诉求……", widget="textarea")]


class DifficultDecision(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, field("说明", widget="textarea")]


def _not_difficult(order: OrderRecord, now: dt.datetime) -> None:
    if DIFFICULT in order.flags:
        raise Refusal("该工单已是疑难工单")


def _not_requested(order: OrderRecord, now: dt.datetime) -> None:
    if REQUESTED in order.flags:
        raise Refusal("已有待认定的疑难申请")


def _requested(order: OrderRecord, now: dt.datetime) -> None:
    if REQUESTED not in order.flags:
        raise Refusal("没有待认定的疑难申请")


def _without_request(order: OrderRecord) -> list[str]:
    return [f for f in order.flags if f != REQUESTED]


def _mark(ctx: ActionContext) -> dict[str, Any]:
    """The flag, and the handling deadline moved on by the order's 疑难工单延长时限."""
    limits = ctx.sla.limits_of(ctx.order)
    days = int(limits.get("difficult_days") or ctx.sla.limits_now(ctx.order.channel, ctx.order.kind)["difficult_days"])
    changes: dict[str, Any] = {"flags": [*_without_request(ctx.order), DIFFICULT]}
    details: dict[str, Any] = {"extended_days": days}
    handle = ctx.order.deadlines.get("handle")
    if handle and not handle.get("done"):
        due = ctx.sla.calendar.add_working_days(dt.datetime.fromisoformat(handle["due"]), days)
        changes["deadlines"] = {**ctx.order.deadlines, "handle": {**handle, "due": due.isoformat(), "extended": True}}
        details["handle_due"] = f"{due.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
    changes[EVENT_DETAILS] = details
    return changes


def _request(ctx: ActionContext) -> dict[str, Any]:
    return {"flags": [*ctx.order.flags, REQUESTED]}


def _decline(ctx: ActionContext) -> dict[str, Any]:
    return {"flags": _without_request(ctx.order)}


async def received_count(start: dt.datetime, end: dt.datetime, filters: dict[str, str]) -> int:
    """The orders received in [start, end) that are difficult now (the reports' 疑难工单), read off the
    receiving-time index; ``filters`` are the report's (channel, department, area, kind)."""
    from piccolo.columns.combination import WhereRaw

    from core.tables import Order

    query = Order.count().where((Order.received_at >= start) & (Order.received_at < end)
                                & WhereRaw("CAST(flags AS TEXT) LIKE {}", f'%"{DIFFICULT}"%'))
    for name, value in filters.items():
        query = query.where(getattr(Order, name) == value)
    return await query


CITIZEN_NOTE = "您反映的问题经热线中心认定为疑难问题，办理期限相应延长"

DIFFICULT_ACTIONS: tuple[Action, ...] = (
    Action(name="mark_difficult", label="认定疑难", sources=HANDLING, target=None, roles=DECIDERS,
           payload=DifficultReason, effect=_mark, requires=(_not_difficult,), citizen_label=CITIZEN_NOTE),
    Action(name="request_difficult", label="申请疑难", sources=_states("dispatched", "accepted"), target=None,
           roles=HANDLER, department_bound=True, payload=DifficultReason, effect=_request,
           requires=(_not_difficult, _not_requested)),
    Action(name="approve_difficult", label="同意疑难申请", sources=HANDLING, target=None, roles=DECIDERS,
           payload=DifficultDecision, effect=_mark, requires=(_requested,), citizen_label=CITIZEN_NOTE),
    Action(name="decline_difficult", label="不同意疑难申请", sources=HANDLING, target=None, roles=DECIDERS,
           payload=DifficultDecision, effect=_decline, requires=(_requested,)),
)
