"""联合办理: an order handled by one lead (主办) department and any number of assisting (协办) ones.

A dispatcher names the assisting departments beside the lead (``dispatch``'s ``assisting``). Each
accepts its part (签收协办), submits its opinion (协办意见, text and files) by the part's own deadline,
or returns the part with a reason (退回协办); the centre adds or withdraws a part later. The lead
replies once, with the combined answer, when every part is settled (submitted, returned or
withdrawn): ``reply`` is not offered while a part is open, and the centre withdraws a part that
stalls, so no answer goes out without the opinions it waited for.

The parts live on the order (``orders.assisting``, changed by versioned actions like every other
record) and are mirrored one row per part in ``assisting_parts``, so a department's lists find the
orders it assists and the reports count each department's parts. A channel declares whether it
allows, requires or forbids joint handling (``Channel.joint_handling``); ``joint_actions`` builds
its lifecycle accordingly.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Annotated, Any

import msgspec

from core.attachments import attachments_of
from core.calendar import DEADLINE_STATE_LABELS, deadline_state, local_iso
from core.channels import field
from core.lifecycle import (
    CENTRE_DISPATCH,
    EVENT_DETAILS,
    HANDLER,
    Action,
    ActionContext,
    DispatchPayload,
    Effect,
    OptionalText,
    Refusal,
    Requirement,
    Text,
    _states,
)
from core.model import OrderRecord
from core.tables import AssistingPart

PART_STATUSES: dict[str, str] = {
    "pending": "待签收",
    "accepted": "协办中",
    "submitted": "已提交意见",
    "returned": "已退回",
    "withdrawn": "已撤销",
}
OPEN_PARTS = frozenset({"pending", "accepted"})
MAX_ASSISTING = 10  # assisting departments named at once (and open on one order)
# the order statuses in which parts are worked: before the lead's reply, never while suspended
WORKING = _states("received", "dispatched", "returned", "accepted")
CENTRE_COORDINATION = frozenset({"dispatcher", "supervisor", "admin"})

DepartmentCode = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
AttachmentKey = Annotated[str, msgspec.Meta(max_length=128)]


class JointDispatchPayload(DispatchPayload, forbid_unknown_fields=True, kw_only=True):
    assisting: Annotated[list[DepartmentCode],
                         field("协办单位", "可选多个；各协办单位签收后提交协办意见，由主办单位汇总答复",
                               widget="departments", max_length=MAX_ASSISTING)] = []


class AddAssistingPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    assisting: Annotated[list[DepartmentCode],
                         field("增加协办单位", widget="departments", min_length=1, max_length=MAX_ASSISTING)]
    note: Annotated[OptionalText, field("说明", "协办单位会看到这段说明", widget="textarea")] = ""


class WithdrawAssistingPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    department: Annotated[DepartmentCode, field("撤销哪个协办单位", widget="open_part")]
    reason: Annotated[Text, field("撤销理由", widget="textarea")]


class ReturnPartPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, field("退回理由", "例如：不属于本单位职责", widget="textarea")]


class OpinionPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    opinion: Annotated[Text, field("协办意见", "本单位办理情况和意见，主办单位汇总答复时会看到",
                                   widget="textarea")]
    attachments: Annotated[list[AttachmentKey],
                           field("附件", "先在工单上上传附件", widget="attachments", max_length=20)] = []


# -- the parts ------------------------------------------------------------------------------------

def open_parts(order: OrderRecord) -> list[dict[str, Any]]:
    return [p for p in order.assisting if p["status"] in OPEN_PARTS]


def part_due(ctx: ActionContext) -> dt.datetime:
    """A part's deadline, counted from when it is assigned: half the order's handling limit (working
    days rounded up, at least one; half the natural hours of an urgent order), and never after the
    lead's own handling deadline, so the lead has the opinions in time to answer."""
    limits = ctx.sla.limits_of(ctx.order)
    if ctx.order.priority == "urgent":
        due = ctx.now + dt.timedelta(hours=limits["urgent_natural_hours"] / 2)
    else:
        due = ctx.sla.calendar.add_working_days(ctx.now, max(1, math.ceil(limits["handle_days"] / 2)))
    handle = ctx.order.deadlines.get("handle")
    if handle and not handle.get("done"):
        due = max(ctx.now, min(due, dt.datetime.fromisoformat(handle["due"])))
    return due


async def _named(ctx: ActionContext, code: str) -> str:
    return (await ctx.orders.department_names()).get(code, "该单位")


async def _with_parts(ctx: ActionContext, codes: list[str], lead: str | None) -> list[dict[str, Any]]:
    """The order's parts with one new part (待签收) for each code; a department whose part was
    returned or withdrawn is asked again on the same part."""
    if len(set(codes)) != len(codes):
        raise Refusal("协办单位有重复", 400, key="assisting")
    for code in codes:
        if code not in ctx.departments:
            raise Refusal("协办单位不存在", 400, key="assisting")
        if code == lead:
            raise Refusal("主办单位不能同时是协办单位", 400, key="assisting")
    parts = [dict(p) for p in ctx.order.assisting]
    if len([p for p in parts if p["status"] in OPEN_PARTS]) + len(codes) > MAX_ASSISTING:
        raise Refusal(f"一张工单同时最多有 {MAX_ASSISTING} 个协办单位", 400, key="assisting")
    due = part_due(ctx).isoformat()
    for code in codes:
        existing = next((p for p in parts if p["department"] == code), None)
        if existing and existing["status"] in OPEN_PARTS:
            raise Refusal(f"「{await _named(ctx, code)}」已在协办本单", 400, key="assisting")
        part = {"department": code, "status": "pending", "assigned_at": ctx.now.isoformat(), "due": due,
                "assigned_by": ctx.actor.name, "accepted_at": None, "opinion": "", "attachments": [],
                "reason": "", "settled_at": None, "settled_by": None}
        if existing:
            parts[parts.index(existing)] = part
        else:
            parts.append(part)
    return parts


def _dispatching(base: Effect, *, required: bool) -> Effect:
    """``dispatch`` and ``redispatch`` with their assisting departments (the lead's own effect first)."""
    async def effect(ctx: ActionContext) -> dict[str, Any]:
        lead = ctx.payload.department
        if any(p["department"] == lead for p in open_parts(ctx.order)):
            raise Refusal("该单位正在协办本单，不能同时主办；请先撤销其协办", 400, key="department")
        if required and not ctx.payload.assisting and not open_parts(ctx.order):
            raise Refusal("本渠道的工单须联合办理，请至少选择一个协办单位", 400, key="assisting")
        changes = base(ctx)
        if ctx.payload.assisting:
            changes["assisting"] = await _with_parts(ctx, ctx.payload.assisting, lead)
            changes[EVENT_DETAILS] = {"assisting": ctx.payload.assisting}
        return changes
    return effect


def _settle(ctx: ActionContext, department: str, status: str, **fields: Any) -> dict[str, Any]:
    parts = [{**p, "status": status, "settled_at": ctx.now.isoformat(), "settled_by": ctx.actor.name, **fields}
             if p["department"] == department else p for p in ctx.order.assisting]
    return {"assisting": parts}


def _accept_part(ctx: ActionContext) -> dict[str, Any]:
    parts = [{**p, "status": "accepted", "accepted_at": ctx.now.isoformat()}
             if p["department"] == ctx.actor.department else p for p in ctx.order.assisting]
    return {"assisting": parts}


def _submit_opinion(ctx: ActionContext) -> dict[str, Any]:
    return _settle(ctx, ctx.actor.department, "submitted", opinion=ctx.payload.opinion,
                   attachments=list(ctx.payload.attachments))


def _return_part(ctx: ActionContext) -> dict[str, Any]:
    return _settle(ctx, ctx.actor.department, "returned", reason=ctx.payload.reason)


async def _add_assisting(ctx: ActionContext) -> dict[str, Any]:
    return {"assisting": await _with_parts(ctx, ctx.payload.assisting, ctx.order.department)}


def _withdraw_assisting(ctx: ActionContext) -> dict[str, Any]:
    return _settle(ctx, ctx.payload.department, "withdrawn", reason=ctx.payload.reason)


def _has_open_part(order: OrderRecord, now: dt.datetime) -> None:
    if not open_parts(order):
        raise Refusal("本单没有未办结的协办")


def _part_is_open(ctx: ActionContext) -> None:
    if not any(p["department"] == ctx.payload.department for p in open_parts(ctx.order)):
        raise Refusal("该单位没有未办结的协办", 400, key="department")


def _parts_settled(label: str) -> Requirement:
    """The lead answers once, with every assisting department's opinion in hand; an order is not
    closed (merged, resolved on the call) over parts still open."""
    def settled(order: OrderRecord, now: dt.datetime) -> None:
        waiting = open_parts(order)
        if waiting:
            raise Refusal(f"还有 {len(waiting)} 个协办单位未提交意见或退回，须全部办结（或由中心撤销协办）后才能{label}")
    return settled


async def _attachments_on_order(ctx: ActionContext) -> None:
    if not ctx.payload.attachments:
        return
    found = {a.key for a in await attachments_of(ctx.order, keys=list(ctx.payload.attachments))}
    if set(ctx.payload.attachments) - found:
        raise Refusal("所选附件不在本工单上", 400, key="attachments")


PART_ACTIONS: tuple[Action, ...] = (
    Action(name="accept_part", label="签收协办", sources=WORKING, target=None, roles=HANDLER,
           part_bound=frozenset({"pending"}), effect=_accept_part),
    Action(name="submit_opinion", label="提交协办意见", sources=WORKING, target=None, roles=HANDLER,
           part_bound=frozenset({"accepted"}), payload=OpinionPayload, effect=_submit_opinion,
           validators=(_attachments_on_order,)),
    Action(name="return_part", label="退回协办", sources=WORKING, target=None, roles=HANDLER,
           part_bound=OPEN_PARTS, payload=ReturnPartPayload, effect=_return_part),
    Action(name="add_assisting", label="增加协办", sources=_states("dispatched", "returned", "accepted"),
           target=None, roles=CENTRE_COORDINATION, payload=AddAssistingPayload, effect=_add_assisting),
    Action(name="withdraw_assisting", label="撤销协办", sources=WORKING, target=None, roles=CENTRE_COORDINATION,
           payload=WithdrawAssistingPayload, effect=_withdraw_assisting, requires=(_has_open_part,),
           validators=(_part_is_open,)),
)


def joint_actions(actions: Iterable[Action], mode: str) -> tuple[Action, ...]:
    """The core's actions as a channel's joint-handling declaration makes them: ``forbidden`` leaves
    them as they are; ``allowed`` and ``required`` let dispatch name assisting departments (required:
    at least one), keep the reply (and a merge or an answer on the call) until every part is settled,
    and add the part actions."""
    if mode == "forbidden":
        return tuple(actions)
    shaped = []
    for action in actions:
        if action.name in ("dispatch", "redispatch") and action.effect is not None:
            action = msgspec.structs.replace(action, payload=JointDispatchPayload,
                                             effect=_dispatching(action.effect, required=mode == "required"))
        elif action.name in ("reply", "merge", "resolve_at_intake"):
            action = msgspec.structs.replace(action, requires=(*action.requires, _parts_settled(action.label)))
        shaped.append(action)
    return (*shaped, *PART_ACTIONS)


# -- presenting and mirroring ---------------------------------------------------------------------

def present_parts(parts: list[dict[str, Any]], calendar, now: dt.datetime) -> list[dict[str, Any]]:
    """The parts as the API shows them: each status and deadline state with its label."""
    shown = []
    for p in parts:
        start, due = dt.datetime.fromisoformat(p["assigned_at"]), dt.datetime.fromisoformat(p["due"])
        end = dt.datetime.fromisoformat(p["settled_at"]) if p.get("settled_at") else now
        state = deadline_state(start, due, end, calendar)
        if p.get("settled_at") and state == "at_risk":
            state = "normal"
        shown.append({
            "department": p["department"], "status": p["status"], "status_label": PART_STATUSES[p["status"]],
            "due": local_iso(p["due"]), "state": state, "state_label": DEADLINE_STATE_LABELS[state],
            "opinion": p.get("opinion") or "", "attachments": p.get("attachments") or [],
            "reason": p.get("reason") or "", "assigned_at": local_iso(p["assigned_at"]),
            "assigned_by": p.get("assigned_by"), "accepted_at": local_iso(p.get("accepted_at")),
            "settled_at": local_iso(p.get("settled_at")), "settled_by": p.get("settled_by"),
        })
    return shown


async def mirror_parts(order_id: int, parts: list[dict[str, Any]]) -> None:
    """Rewrite the order's rows of ``assisting_parts`` from its parts (inside the action's transaction)."""
    await AssistingPart.delete().where(AssistingPart.order_id == order_id)
    if parts:
        await AssistingPart.insert(*[AssistingPart(
            order_id=order_id, department=p["department"], status=p["status"],
            assigned_at=dt.datetime.fromisoformat(p["assigned_at"]), due=dt.datetime.fromisoformat(p["due"]),
            settled_at=dt.datetime.fromisoformat(p["settled_at"]) if p.get("settled_at") else None)
            for p in parts])
