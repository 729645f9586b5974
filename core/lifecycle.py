"""The order lifecycle, declared as one table of actions (DESIGN.md).

Each ``Action`` names the statuses it leaves, the status it enters, the roles that may take it,
whether the actor must belong to the order's department, the payload it takes and its effect on the
order. The service (``core.orders``) checks them in a fixed order — role, department, status, payload,
validators — and refuses with the reason. Channels add actions through the ``workflow_actions`` hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Annotated, Any, Literal

import msgspec

from core.model import Actor, OrderRecord

STATUSES: dict[str, str] = {
    "received": "待派单",
    "dispatched": "待签收",
    "returned": "退单待审",
    "accepted": "办理中",
    "replied": "待审核",
    "completed": "待回访",
    "appealing": "申诉审核中",
    "suspended": "挂起",
    "archived": "已归档",
    "merged": "已合并",
}
TERMINAL = frozenset({"archived", "merged"})
OPEN_STATUSES = frozenset(STATUSES) - TERMINAL

SATISFACTION: dict[str, str] = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
GOOD_SATISFACTION = frozenset({"satisfied", "basically_satisfied"})

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]


# -- payloads ---------------------------------------------------------------------------------------

class Note(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: str = ""


class DispatchPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    note: str = ""


class ReasonPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Text


class ReplyPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reply: Text
    public_reply: str = ""  # what the citizen may read; defaults to the reply


class CallbackPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    satisfaction: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    resolved: bool
    note: str = ""


# -- the declaration --------------------------------------------------------------------------------

class ActionContext(msgspec.Struct, kw_only=True):
    """What an effect or validator sees: the order before the action, the payload, who, when."""

    order: OrderRecord
    payload: Any
    actor: Actor
    now: dt.datetime
    departments: frozenset[str] = frozenset()
    sla: Any = None  # core.sla.SlaClock


class Refusal(Exception):
    """A validator's "no", with the reason shown to the user and the HTTP status it maps to."""

    def __init__(self, reason: str, status_code: int = 409, key: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.key = key


Effect = Callable[[ActionContext], dict[str, Any]]
Validator = Callable[[ActionContext], None]  # raises Refusal


class Action(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str
    sources: frozenset[str]
    target: str | Callable[[ActionContext], str] | None  # None: a side step, status unchanged
    roles: frozenset[str]
    department_bound: bool = False  # a handler must belong to the order's department
    payload: type[msgspec.Struct] = Note
    effect: Effect | None = None
    validators: tuple[Validator, ...] = ()

    def target_for(self, ctx: ActionContext) -> str:
        if self.target is None:
            return ctx.order.status
        return self.target(ctx) if callable(self.target) else self.target


def _states(*names: str) -> frozenset[str]:
    unknown = set(names) - set(STATUSES)
    assert not unknown, unknown
    return frozenset(names)


CENTRE_DISPATCH = frozenset({"dispatcher", "admin"})
HANDLER = frozenset({"handler"})


# -- effects ----------------------------------------------------------------------------------------

def _mark_done(deadlines: dict, name: str, now: dt.datetime) -> dict:
    deadlines = {k: dict(v) for k, v in deadlines.items()}
    if name in deadlines and not deadlines[name].get("done"):
        deadlines[name]["done"] = now.isoformat()
    return deadlines


def _assign(ctx: ActionContext) -> dict[str, Any]:
    if ctx.payload.department not in ctx.departments:
        raise Refusal("承办单位不存在", 400, key="department")
    deadlines = _mark_done(ctx.order.deadlines, "dispatch", ctx.now)
    deadlines["accept"] = ctx.sla.deadline("accept", ctx.now, ctx.order)
    return {"department": ctx.payload.department, "deadlines": deadlines}


def _accept(ctx: ActionContext) -> dict[str, Any]:
    return {"deadlines": _mark_done(ctx.order.deadlines, "accept", ctx.now)}


def _back_to_centre(ctx: ActionContext) -> dict[str, Any]:
    return {"department": None}


def _reply(ctx: ActionContext) -> dict[str, Any]:
    details = dict(ctx.order.details)
    return {"details": details, "deadlines": _mark_done(ctx.order.deadlines, "handle", ctx.now)}


def _complete(ctx: ActionContext) -> dict[str, Any]:
    deadlines = dict(ctx.order.deadlines)
    deadlines["callback"] = ctx.sla.deadline("callback", ctx.now, ctx.order)
    return {"deadlines": deadlines}


def _rate(ctx: ActionContext) -> dict[str, Any]:
    deadlines = _mark_done(ctx.order.deadlines, "callback", ctx.now)
    good = ctx.payload.satisfaction in GOOD_SATISFACTION and ctx.payload.resolved
    if not good:
        deadlines["appeal"] = ctx.sla.deadline("appeal", ctx.now, ctx.order)
    rating = {"satisfaction": ctx.payload.satisfaction, "resolved": ctx.payload.resolved,
              "note": ctx.payload.note, "rated_at": ctx.now.isoformat(), "valid": True}
    return {"rating": rating, "deadlines": deadlines}


def _after_rating(ctx: ActionContext) -> str:
    good = ctx.payload.satisfaction in GOOD_SATISFACTION and ctx.payload.resolved
    return "archived" if good else "completed"


def _not_yet_rated(ctx: ActionContext) -> None:
    if ctx.order.rating is not None:
        raise Refusal("该工单已回访，不能重复回访")


def _rated(ctx: ActionContext) -> None:
    if ctx.order.rating is None:
        raise Refusal("工单尚未回访，不能归档")


def _redispatch_elsewhere(ctx: ActionContext) -> None:
    if ctx.payload.department == ctx.order.department:
        raise Refusal("改派的承办单位与当前相同", 400, key="department")


# -- the table ---------------------------------------------------------------------------------------

CORE_ACTIONS: tuple[Action, ...] = (
    Action(name="dispatch", label="派单", sources=_states("received"), target="dispatched",
           roles=CENTRE_DISPATCH, payload=DispatchPayload, effect=_assign),
    Action(name="redispatch", label="改派", sources=_states("dispatched"), target="dispatched",
           roles=CENTRE_DISPATCH, payload=DispatchPayload, effect=_assign,
           validators=(_redispatch_elsewhere,)),
    Action(name="accept", label="签收", sources=_states("dispatched"), target="accepted",
           roles=HANDLER, department_bound=True, effect=_accept),
    Action(name="return", label="退单", sources=_states("dispatched"), target="returned",
           roles=HANDLER, department_bound=True, payload=ReasonPayload),
    Action(name="uphold_return", label="同意退单", sources=_states("returned"), target="received",
           roles=CENTRE_DISPATCH, payload=Note, effect=_back_to_centre),
    Action(name="reject_return", label="驳回退单", sources=_states("returned"), target="dispatched",
           roles=CENTRE_DISPATCH, payload=ReasonPayload),
    Action(name="reply", label="答复", sources=_states("accepted"), target="replied",
           roles=HANDLER, department_bound=True, payload=ReplyPayload, effect=_reply),
    Action(name="approve", label="审核通过", sources=_states("replied"), target="completed",
           roles=CENTRE_DISPATCH, effect=_complete),
    Action(name="reject_reply", label="审核退回", sources=_states("replied"), target="accepted",
           roles=CENTRE_DISPATCH, payload=ReasonPayload),
    Action(name="callback", label="回访", sources=_states("completed"), target=_after_rating,
           roles=frozenset({"agent", "admin"}), payload=CallbackPayload, effect=_rate,
           validators=(_not_yet_rated,)),
    Action(name="archive", label="归档", sources=_states("completed"), target="archived",
           roles=frozenset({"dispatcher", "supervisor", "admin"}), validators=(_rated,)),
)


class Lifecycle:
    """The core actions plus any a channel adds; looked up by name."""

    def __init__(self, actions: Iterable[Action]):
        self.actions: dict[str, Action] = {}
        for action in actions:
            if action.name in self.actions:
                raise ValueError(f"action {action.name!r} is declared twice")
            unknown = (action.sources | ({action.target} if isinstance(action.target, str) else set())) - set(STATUSES)
            if unknown:
                raise ValueError(f"action {action.name!r} names unknown statuses {sorted(unknown)}")
            self.actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self.actions.get(name)

    def available(self, status: str) -> list[Action]:
        return [a for a in self.actions.values() if status in a.sources]
