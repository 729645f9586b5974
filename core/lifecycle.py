"""The order lifecycle, declared as one table of actions (the table in docs/architecture.md).

Each ``Action`` names the statuses it leaves, the status it enters, the roles that may take it,
whether the actor must belong to the order's department, the payload it takes and its effect on the
order. The service (``core.orders``) checks them in a fixed order — role, department, status, payload,
validators — and refuses with the reason. Channels add actions through the ``workflow_actions`` hook.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from core.callbacks import CLOSED_AS, CLOSED_LABELS, OUTCOMES, attempt_closes, local, policy_of
from core.channels import Channel, field
from core.clock import SHANGHAI
from core.knowledge import cite
from core.model import Actor, OrderRecord
from core.services import PluginServices, WorkingCalendar

if TYPE_CHECKING:  # annotations only: both import this module
    from core.orders import OrderService
    from core.sla import SlaClock

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
# What the citizen reads about the same statuses (the tracking page): their words, not the centre's
# work queues. ``CITIZEN_SITUATIONS`` name the states within a status that read differently to them.
CITIZEN_STATUSES: dict[str, str] = {
    "received": "已受理",
    "dispatched": "已转交承办单位",
    "returned": "正在重新确定承办单位",
    "accepted": "办理中",
    "replied": "已答复，正在审核",
    "completed": "已办结，请您评价",
    "appealing": "评价复核中",
    "suspended": "暂停办理",
    "archived": "已办结",
    "merged": "已合并办理",
}
CITIZEN_SITUATIONS: dict[str, str] = {
    "reworking": "重新办理中",  # accepted again after an unhappy rating
    "rated_unhappy": "已办结，正在复核您的评价",  # completed, rated 不满意 or 未解决, awaiting the centre
}
TERMINAL = frozenset({"archived", "merged"})
OPEN_STATUSES = frozenset(STATUSES) - TERMINAL

SATISFACTION: dict[str, str] = {"satisfied": "满意", "basically_satisfied": "基本满意", "unsatisfied": "不满意"}
GOOD_SATISFACTION = frozenset({"satisfied", "basically_satisfied"})

TEXT_LIMIT = 4000  # every text an action takes is bounded: notes and replies are read by people
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=TEXT_LIMIT)]
OptionalText = Annotated[str, msgspec.Meta(max_length=TEXT_LIMIT)]


# -- payloads ---------------------------------------------------------------------------------------

class Note(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[OptionalText, field("备注", widget="textarea")] = ""


class DispatchPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    department: Annotated[str, field("承办单位", widget="department", min_length=1, max_length=64)]
    note: Annotated[OptionalText, field("派单说明", "承办单位会看到这段说明", widget="textarea")] = ""


class ReasonPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, field("理由", widget="textarea")]


RETURN_REASONS = {"not_ours": "不属于本单位职责", "wrong_area": "不在本单位辖区", "wrong_category": "诉求分类有误",
                  "missing_info": "诉求信息不全，无法办理", "other": "其他"}


class ReturnPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason_type: Annotated[Literal["not_ours", "wrong_area", "wrong_category", "missing_info", "other"],
                           field("退单类型", choices=RETURN_REASONS)] = "not_ours"
    reason: Annotated[Text, field("退单理由", widget="textarea")]
    suggested_department: Annotated[str, field("建议承办单位", "知道该由哪个单位办理就选上，派单员改派时会预先选好",
                                               widget="department", max_length=64)] = ""


class ReplyPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reply: Annotated[Text, field("答复内容", "办理经过和结果，中心审核时会看到", widget="textarea")]
    public_reply: Annotated[OptionalText, field("公开答复", "渠道公开答复时市民看到的文字；不填则公开上面的答复",
                                                widget="textarea")] = ""  # defaults to the reply


class CallbackPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    satisfaction: Annotated[Literal[tuple(SATISFACTION)],
                            field("满意度", choices=SATISFACTION)]
    resolved: Annotated[bool, field("问题是否已解决")]
    note: Annotated[OptionalText, field("回访记录", widget="textarea")] = ""


class CallbackAttemptPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    outcome: Annotated[Literal[tuple(OUTCOMES)], field("回访结果", choices=OUTCOMES)]
    note: Annotated[OptionalText, field("回访记录", widget="textarea")] = ""


class ResolvePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reply: Annotated[Text, field("答复内容", "当场答复市民的内容", widget="textarea")]
    # the knowledge-base answer used, if any (its number)
    article: Annotated[int, field("引用知识", "所引用知识库条目的编号，可不填", ge=1)] | None = None


class MergePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    into: Annotated[str, field("并入工单编号", "例如 XJ20261128000001", min_length=1, max_length=32)]
    reason: Annotated[OptionalText, field("合并理由")] = ""


class ExtensionRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    days: Annotated[int, field("延期工作日数", ge=1, le=30)]
    reason: Annotated[Text, field("延期理由", widget="textarea")]


class Decision(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[OptionalText, field("说明", widget="textarea")] = ""


class AppealPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[Text, field("申诉理由", widget="textarea")]
    evidence: Annotated[str, field("佐证说明", widget="textarea", max_length=4000)] = ""
    # keys of files uploaded to the order
    attachments: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]],
                           field("佐证附件", "先在工单上上传附件", widget="attachments", max_length=20)] = []


class SupervisePayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[Text, field("督办要求", widget="textarea")]
    kind: Annotated[Literal["supervise", "urge"], field("类型", choices={"supervise": "督办", "urge": "催办"})] = "supervise"
    due_days: Annotated[int, field("回复期限（工作日）", ge=1, le=30)] = 2


class CallerFollowUp(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[Text, field("来电人补充内容", widget="textarea")]


class SupervisionAnswer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    supervision: Annotated[int, field("督办记录", widget="supervision", ge=1)]
    answer: Annotated[Text, field("回复内容", widget="textarea")]


class CommentPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Annotated[Text, field("备注内容", widget="textarea")]


# -- the declaration --------------------------------------------------------------------------------

class ActionContext(msgspec.Struct, kw_only=True):
    """What an effect or validator sees: the order before the action, the payload, who, when."""

    order: OrderRecord
    payload: Any
    actor: Actor
    now: dt.datetime
    departments: frozenset[str] = frozenset()
    channel: Channel | None = None  # the order's channel declaration
    services: PluginServices | None = None  # what a plugin's effect may do (note on another order, ...)
    sla: SlaClock | None = None  # the core's own effects: deadlines by the order's limits
    orders: OrderService | None = None  # the core's own effects: the centre's callback policy

    @property
    def calendar(self) -> WorkingCalendar:
        """Working time on the centre's calendar, for a deadline a plugin's effect sets."""
        return self.sla.calendar


class Refusal(Exception):
    """A validator's "no", with the reason shown to the user and the HTTP status it maps to."""

    def __init__(self, reason: str, status_code: int = 409, key: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.status_code = status_code
        self.key = key


Effect = Callable[[ActionContext], dict[str, Any]]  # may be async (it runs inside the transaction)
# An effect may return this key with facts for the audited event (merged into its payload; its
# "reason" becomes the event's reason): what the effect decided, recorded where reports can count it.
EVENT_DETAILS = "_event"
Validator = Callable[[ActionContext], None]  # raises Refusal; may be async
# A condition on the order alone (raises Refusal): checked when the action is taken, and when the
# actions a caller may take now are listed, so the list never offers what would be refused.
Requirement = Callable[[OrderRecord, dt.datetime], None]


class Action(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    label: str
    sources: frozenset[str]
    target: str | Callable[[ActionContext], str] | None  # None: a side step, status unchanged
    roles: frozenset[str]
    department_bound: bool = False  # a handler must belong to the order's department
    # a handler must belong to an assisting (协办) department whose part is in one of these statuses
    part_bound: frozenset[str] = frozenset()
    payload: type[msgspec.Struct] = Note
    reveals_contact: bool = False  # the answer shows the citizen's full phone number (audited)
    citizen_label: str = ""  # how a side step reads on the citizen's timeline; empty keeps it internal
    effect: Effect | None = None
    requires: tuple[Requirement, ...] = ()
    validators: tuple[Validator, ...] = ()

    def target_for(self, ctx: ActionContext) -> str:
        if self.target is None:
            return ctx.order.status
        return self.target(ctx) if callable(self.target) else self.target


def _states(*names: str) -> frozenset[str]:
    unknown = set(names) - set(STATUSES)
    if unknown:
        raise ValueError(f"unknown statuses {sorted(unknown)}")
    return frozenset(names)


CENTRE_DISPATCH = frozenset({"dispatcher", "admin"})
CENTRE_OVERSIGHT = frozenset({"supervisor", "admin"})
CENTRE = frozenset({"agent", "dispatcher", "supervisor", "admin"})
STAFF = CENTRE | {"handler"}
HANDLER = frozenset({"handler"})


# -- effects ----------------------------------------------------------------------------------------

def _mark_done(deadlines: dict, name: str, now: dt.datetime) -> dict:
    deadlines = {k: dict(v) for k, v in deadlines.items()}
    if name in deadlines and not deadlines[name].get("done"):
        deadlines[name]["done"] = now.isoformat()
    return deadlines


def _assign(ctx: ActionContext) -> dict[str, Any]:
    if ctx.payload.department not in ctx.departments:  # the departments taking new orders
        raise Refusal("承办单位不存在", 400, key="department")
    deadlines = _mark_done(ctx.order.deadlines, "dispatch", ctx.now)
    deadlines["accept"] = ctx.sla.deadline("accept", ctx.now, ctx.order)
    return {"department": ctx.payload.department, "deadlines": deadlines}


def _accept(ctx: ActionContext) -> dict[str, Any]:
    return {"deadlines": _mark_done(ctx.order.deadlines, "accept", ctx.now)}


def _returned(ctx: ActionContext) -> dict[str, Any]:
    """The returning department may say who should handle it instead; that (never the department
    returning it) becomes the suggestion the dispatcher's form starts from."""
    suggested = ctx.payload.suggested_department
    if suggested and suggested not in ctx.departments:
        raise Refusal("建议的承办单位不存在或已停用", 400, key="suggested_department")
    if suggested and suggested == ctx.order.department:
        raise Refusal("建议的承办单位不能是退单的本单位", 400, key="suggested_department")
    return {"suggested_department": suggested or None,
            "suggestion_reason": "退单单位建议" if suggested else "",
            "deadlines": _mark_done(ctx.order.deadlines, "accept", ctx.now)}  # answered, by returning it


def _return_rejected(ctx: ActionContext) -> dict[str, Any]:
    """驳回退单: the department has the order again and a fresh time to 签收 it, from the ruling."""
    deadlines = {k: dict(v) for k, v in ctx.order.deadlines.items()}
    deadlines["accept"] = ctx.sla.deadline("accept", ctx.now, ctx.order)
    return {"deadlines": deadlines}


def _back_to_centre(ctx: ActionContext) -> dict[str, Any]:
    return {"department": None}


def _reply(ctx: ActionContext) -> dict[str, Any]:
    """The answer ends the handling clock; an extension still waiting for a decision is withdrawn with
    it (more time for an order already answered is moot, and it must not sit 待审批 for ever)."""
    details = dict(ctx.order.details)
    changes: dict[str, Any] = {"details": details, "deadlines": _mark_done(ctx.order.deadlines, "handle", ctx.now)}
    pending = _pending_extension(ctx.order)
    if pending:
        withdrawn = {**pending, "status": "withdrawn", "decided_by": ctx.actor.name, "decided_at": ctx.now.isoformat(),
                     "decision_reason": "已答复，延期申请随之撤回"}
        changes["extensions"] = [withdrawn if e is pending else e for e in ctx.order.extensions]
    return changes


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


def _not_yet_rated(order: OrderRecord, now: dt.datetime) -> None:
    if order.rating is not None:
        raise Refusal("该工单已回访，不能重复回访")


def _rated(order: OrderRecord, now: dt.datetime) -> None:
    if order.rating is None:
        raise Refusal("工单尚未回访，不能归档")


def rated_badly(order: OrderRecord) -> bool:
    """A valid rating that is not 满意/基本满意 with the matter resolved."""
    rating = order.rating
    return bool(rating) and rating.get("valid", True) and not (
        rating["satisfaction"] in GOOD_SATISFACTION and rating["resolved"])


def part_status(order: OrderRecord, department: str | None) -> str | None:
    """The status of ``department``'s assisting part (协办) on the order; None when it has none."""
    return next((p["status"] for p in order.assisting if p["department"] == department), None)


def status_label(order: OrderRecord) -> str:
    """The status as people read it: a completed order rated badly waits for appeal or rework."""
    if order.status == "completed" and rated_badly(order):
        return "待申诉/重办"
    return STATUSES[order.status]


def _redispatch_elsewhere(ctx: ActionContext) -> None:
    if ctx.payload.department == ctx.order.department:
        raise Refusal("改派的承办单位与当前相同", 400, key="department")


async def _resolve_at_intake(ctx: ActionContext) -> dict[str, Any]:
    if ctx.payload.article is not None:  # counted in the same transaction as the resolution
        await cite(ctx.payload.article, ctx.order.number, ctx.actor, ctx.now)
    deadlines = _mark_done(_mark_done(ctx.order.deadlines, "dispatch", ctx.now), "handle", ctx.now)
    callback = _resolved_needs_callback(ctx)
    if callback:
        deadlines["callback"] = ctx.sla.deadline("callback", ctx.now, ctx.order)
    return {"deadlines": deadlines, "department": None, EVENT_DETAILS: {"callback": callback}}


def _resolved_needs_callback(ctx: ActionContext) -> bool:
    return policy_of(ctx.orders).resolved_needs_callback(ctx.order.number)


def _after_resolving(ctx: ActionContext) -> str:
    """Waits for a callback when the centre's policy picks it (HUYING_RESOLVED_AT_INTAKE_CALLBACK);
    otherwise the answer given on the call closes it: archived, no callback owed."""
    return "completed" if _resolved_needs_callback(ctx) else "archived"


def _callback_open(order: OrderRecord, now: dt.datetime) -> None:
    callback = (order.deadlines or {}).get("callback")
    if callback is None or callback.get("done"):
        raise Refusal("该工单没有待进行的回访")


def _callback_attempt(ctx: ActionContext) -> dict[str, Any]:
    """One call that did not end in a rating. 未接通 is tried again ``retry_hours`` working hours
    later and the callback deadline moves with it; the last try, 拒访 and 号码错误 close the callback."""
    policy = policy_of(ctx.orders)
    outcome = ctx.payload.outcome
    deadlines = {k: dict(v) for k, v in ctx.order.deadlines.items()}
    callback = deadlines["callback"]
    attempt = int(callback.get("attempts") or 0) + 1
    callback["attempts"] = attempt
    closed = attempt_closes(ctx.order, outcome, policy)
    details: dict[str, Any] = {"attempt": attempt, "tries": policy.tries, "closed": closed}
    if closed:
        callback["done"] = ctx.now.isoformat()
        callback["outcome"] = CLOSED_AS[outcome]
        callback.pop("retry_at", None)
        details["closed_as"] = CLOSED_AS[outcome]
        summary = f"{OUTCOMES[outcome]}（第 {attempt} 次），{CLOSED_LABELS[CLOSED_AS[outcome]]}，不计入满意度"
    else:
        retry_at = ctx.sla.calendar.add_working_hours(ctx.now, policy.retry_hours)
        due = max(dt.datetime.fromisoformat(callback["due"]),
                  ctx.sla.calendar.add_working_hours(retry_at, policy.retry_hours))
        callback.update(retry_at=retry_at.isoformat(), due=due.isoformat())
        callback.pop("marked", None)  # the moved deadline is watched afresh
        summary = f"{OUTCOMES[outcome]}（第 {attempt} 次，共 {policy.tries} 次），{local(retry_at)} 后再次回访"
    details["reason"] = f"{summary}：{ctx.payload.note}" if ctx.payload.note else summary
    return {"deadlines": deadlines, EVENT_DETAILS: details}


def _after_attempt(ctx: ActionContext) -> str:
    return "archived" if attempt_closes(ctx.order, ctx.payload.outcome, policy_of(ctx.orders)) else "completed"


async def _merge_target_exists(ctx: ActionContext) -> None:
    from core.tables import Order

    if ctx.payload.into == ctx.order.number:
        raise Refusal("不能把工单合并到它自己", 400, key="into")
    target = await Order.select(Order.status).where(Order.number == ctx.payload.into).first()
    if target is None:
        raise Refusal(f"工单 {ctx.payload.into} 不存在", 400, key="into")
    if target["status"] in TERMINAL:
        raise Refusal(f"工单 {ctx.payload.into} {STATUSES[target['status']]}，不能并入", 409, key="into")


def _reporter_hidden(channel: Any, actor: Actor) -> bool:
    """A tip-off reporter's contact is never shown outside the centre."""
    return bool(channel and channel.protect_reporter) and not actor.in_centre


def _may_reveal_contact(ctx: ActionContext) -> None:
    """A department's handler may call the citizen back (12345 practice), stating why; never a
    protected reporter."""
    if _reporter_hidden(ctx.channel, ctx.actor):
        raise Refusal("举报人身份保密，承办单位不能查看联系方式", 403)
    if not ctx.actor.in_centre and not ctx.payload.reason.strip():
        raise Refusal("请说明查看完整号码的原因（例如：电话联系市民核实情况）", 400, key="reason")


def _merge(ctx: ActionContext) -> dict[str, Any]:
    return {"merged_into": ctx.payload.into}


def _suspend(ctx: ActionContext) -> dict[str, Any]:
    return {"status_before_suspend": ctx.order.status, "suspended_at": ctx.now}


def _resume_target(ctx: ActionContext) -> str:
    return ctx.order.status_before_suspend or "received"


def _resume(ctx: ActionContext) -> dict[str, Any]:
    """The clock restarts: each open deadline moves on by the working time spent suspended."""
    paused_hours = ctx.sla.calendar.working_seconds_between(ctx.order.suspended_at, ctx.now) / 3600
    deadlines = {}
    for name, d in ctx.order.deadlines.items():
        d = dict(d)
        if not d.get("done") and paused_hours:
            due = dt.datetime.fromisoformat(d["due"])
            d["due"] = ctx.sla.calendar.add_working_hours(due, paused_hours).isoformat()
            d["paused_hours"] = round(d.get("paused_hours", 0) + paused_hours, 2)
        deadlines[name] = d
    return {"status_before_suspend": None, "suspended_at": None, "deadlines": deadlines}


def _pending_extension(order: OrderRecord) -> dict | None:
    return next((e for e in order.extensions if e["status"] == "requested"), None)


def _can_request_extension(order: OrderRecord, now: dt.datetime) -> None:
    handle = order.deadlines.get("handle")
    if handle is None or handle.get("done"):
        raise Refusal("该工单没有进行中的办理时限")
    if now > dt.datetime.fromisoformat(handle["due"]):
        raise Refusal("办理时限已过，延期须在到期前申请")
    if _pending_extension(order):
        raise Refusal("已有待审批的延期申请")


def _request_extension(ctx: ActionContext) -> dict[str, Any]:
    extension = {"id": len(ctx.order.extensions) + 1, "days": ctx.payload.days, "reason": ctx.payload.reason,
                 "status": "requested", "requested_by": ctx.actor.name, "requested_at": ctx.now.isoformat()}
    return {"extensions": [*ctx.order.extensions, extension]}


def _has_pending_extension(order: OrderRecord, now: dt.datetime) -> None:
    if not _pending_extension(order):
        raise Refusal("没有待审批的延期申请")


def _decide_extension(approved: bool) -> Effect:
    def decide(ctx: ActionContext) -> dict[str, Any]:
        pending = _pending_extension(ctx.order)
        decided = {**pending, "status": "approved" if approved else "rejected", "decided_by": ctx.actor.name,
                   "decided_at": ctx.now.isoformat(), "decision_reason": ctx.payload.reason}
        changes: dict[str, Any] = {"extensions": [decided if e is pending else e for e in ctx.order.extensions]}
        if approved:
            handle = dict(ctx.order.deadlines["handle"])
            handle["due"] = ctx.sla.calendar.add_working_days(
                dt.datetime.fromisoformat(handle["due"]), pending["days"]).isoformat()
            handle["extended"] = True
            changes["deadlines"] = {**ctx.order.deadlines, "handle": handle}
        return changes
    return decide


def _rated_badly(order: OrderRecord, now: dt.datetime) -> None:
    rating = order.rating
    if rating is None:
        raise Refusal("工单尚未回访")
    if rating["satisfaction"] in GOOD_SATISFACTION and rating["resolved"]:
        raise Refusal("回访评价为满意且已解决，无需重办或申诉")


def _rework_target(ctx: ActionContext) -> str:
    """Back to the department that handled it; an order no department ever had (resolved at
    intake) goes back to the dispatchers, since no one else could act on it."""
    return "accepted" if ctx.order.department else "received"


def _rework(ctx: ActionContext) -> dict[str, Any]:
    """重办 is a new round of handling: its own 办理 deadline counted from now."""
    deadlines = _mark_done(_mark_done(ctx.order.deadlines, "appeal", ctx.now), "callback", ctx.now)
    deadlines["handle"] = ctx.sla.deadline("handle", ctx.now, ctx.order)
    if not ctx.order.department:
        reworked = msgspec.structs.replace(ctx.order, deadlines=deadlines)
        deadlines["dispatch"] = ctx.sla.deadline("dispatch", ctx.now, reworked)
    return {"rework_count": ctx.order.rework_count + 1, "rating": None, "deadlines": deadlines}


def _not_yet_appealed(order: OrderRecord, now: dt.datetime) -> None:
    if (order.rating or {}).get("appeal"):
        raise Refusal("该评价已申诉过，不能再次申诉")


def _within_appeal_window(order: OrderRecord, now: dt.datetime) -> None:
    window = order.deadlines.get("appeal")
    if window is None or now > dt.datetime.fromisoformat(window["due"]):
        if window is None:
            raise Refusal("该工单没有申诉期限")
        due = dt.datetime.fromisoformat(window["due"]).astimezone(SHANGHAI)
        raise Refusal(f"已超过申诉期限（{due:%Y-%m-%d %H:%M} 前）")


def _appeal(ctx: ActionContext) -> dict[str, Any]:
    appeal = {"reason": ctx.payload.reason, "evidence": ctx.payload.evidence,
              "attachments": ctx.payload.attachments, "by": ctx.actor.name, "at": ctx.now.isoformat()}
    deadlines = _mark_done(ctx.order.deadlines, "appeal", ctx.now)
    deadlines["appeal_review"] = ctx.sla.deadline("appeal_review", ctx.now, ctx.order)  # the centre's turn
    return {"rating": {**ctx.order.rating, "appeal": appeal}, "deadlines": deadlines}


def _rule_on_appeal(upheld: bool) -> Effect:
    def rule(ctx: ActionContext) -> dict[str, Any]:
        rating = dict(ctx.order.rating)
        rating["appeal"] = {**rating["appeal"], "decision": "upheld" if upheld else "rejected",
                            "decided_by": ctx.actor.name, "decided_at": ctx.now.isoformat(),
                            "decision_reason": ctx.payload.reason}
        if upheld:
            rating["valid"] = False  # an overturned rating leaves the KPIs
        return {"rating": rating, "deadlines": _mark_done(ctx.order.deadlines, "appeal_review", ctx.now)}
    return rule


def _supervision(ctx: ActionContext, kind: str, note: str, due_days: int, **extra: Any) -> dict[str, Any]:
    """The order's supervisions with one more 督办/催办 for the department holding it, to answer by a
    working day ``due_days`` ahead."""
    supervision = {"id": len(ctx.order.supervisions) + 1, "kind": kind, "note": note,
                   "department": ctx.order.department, "issued_by": ctx.actor.name,
                   "issued_at": ctx.now.isoformat(),
                   "due": ctx.sla.calendar.add_working_days(ctx.now, due_days).isoformat(),
                   "answer": None, "answered_by": None, "answered_at": None, **extra}
    return {"supervisions": [*ctx.order.supervisions, supervision]}


def _supervise(ctx: ActionContext) -> dict[str, Any]:
    return _supervision(ctx, ctx.payload.kind, ctx.payload.note, ctx.payload.due_days)


def _caller_follow_up(ctx: ActionContext) -> dict[str, Any]:
    """追加来电: the caller rings again about an open order; their words reach the department as a
    催办 it answers, instead of a second order that splits the case."""
    return _supervision(ctx, "urge", ctx.payload.text, FOLLOW_UP_DUE_DAYS, from_caller=True)


FOLLOW_UP_DUE_DAYS = 2


def _has_open_supervision(order: OrderRecord, now: dt.datetime) -> None:
    if not any(s["answer"] is None for s in order.supervisions):
        raise Refusal("没有待回复的督办")


def _open_supervision(ctx: ActionContext) -> None:
    found = next((s for s in ctx.order.supervisions if s["id"] == ctx.payload.supervision), None)
    if found is None:
        raise Refusal("督办记录不存在", 400, key="supervision")
    if found["answer"] is not None:
        raise Refusal("该督办已回复")


def _answer_supervision(ctx: ActionContext) -> dict[str, Any]:
    answered = [{**s, "answer": ctx.payload.answer, "answered_by": ctx.actor.name,
                 "answered_at": ctx.now.isoformat()} if s["id"] == ctx.payload.supervision else s
                for s in ctx.order.supervisions]
    return {"supervisions": answered}


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
           roles=HANDLER, department_bound=True, payload=ReturnPayload, effect=_returned),
    Action(name="uphold_return", label="同意退单", sources=_states("returned"), target="received",
           roles=CENTRE_DISPATCH, payload=Note, effect=_back_to_centre),
    Action(name="reject_return", label="驳回退单", sources=_states("returned"), target="dispatched",
           roles=CENTRE_DISPATCH, payload=ReasonPayload, effect=_return_rejected),
    Action(name="reply", label="答复", sources=_states("accepted"), target="replied",
           roles=HANDLER, department_bound=True, payload=ReplyPayload, effect=_reply),
    Action(name="approve", label="审核通过", sources=_states("replied"), target="completed",
           roles=CENTRE_DISPATCH, effect=_complete),
    Action(name="reject_reply", label="审核退回", sources=_states("replied"), target="accepted",
           roles=CENTRE_DISPATCH, payload=ReasonPayload),
    # a citizen rates online through the tracking page, once the query code has been checked
    Action(name="callback", label="回访", sources=_states("completed"), target=_after_rating,
           citizen_label="收到您的评价",
           roles=frozenset({"agent", "admin", "citizen"}), payload=CallbackPayload, effect=_rate,
           requires=(_not_yet_rated,)),
    Action(name="archive", label="归档", sources=_states("completed"), target="archived",
           roles=frozenset({"dispatcher", "supervisor", "admin"}), requires=(_rated,)),
    Action(name="callback_attempt", label="回访未成功", sources=_states("completed"), target=_after_attempt,
           roles=frozenset({"agent", "admin"}), payload=CallbackAttemptPayload, effect=_callback_attempt,
           requires=(_not_yet_rated, _callback_open)),
    Action(name="resolve_at_intake", label="即时办结", sources=_states("received"), target=_after_resolving,
           roles=frozenset({"agent", "admin"}), payload=ResolvePayload, effect=_resolve_at_intake),
    Action(name="merge", label="合并", sources=_states("received"), target="merged",
           roles=CENTRE_DISPATCH, payload=MergePayload, effect=_merge, validators=(_merge_target_exists,)),
    Action(name="suspend", label="挂起", sources=_states("received", "accepted"), target="suspended",
           roles=frozenset({"dispatcher", "supervisor", "admin"}), payload=ReasonPayload, effect=_suspend),
    Action(name="resume", label="恢复", sources=_states("suspended"), target=_resume_target,
           roles=frozenset({"dispatcher", "supervisor", "admin"}), effect=_resume),
    Action(name="request_extension", label="申请延期", sources=_states("accepted"), target=None,
           roles=HANDLER, department_bound=True, payload=ExtensionRequest, effect=_request_extension,
           requires=(_can_request_extension,)),
    Action(name="approve_extension", label="批准延期", sources=_states("accepted", "suspended"), target=None,
           citizen_label="承办单位申请延期办理，已获批准，答复期限相应顺延",
           roles=frozenset({"dispatcher", "supervisor", "admin"}), payload=Decision,
           effect=_decide_extension(True), requires=(_has_pending_extension,)),
    Action(name="reject_extension", label="驳回延期", sources=_states("accepted", "suspended"), target=None,
           roles=frozenset({"dispatcher", "supervisor", "admin"}), payload=Decision,
           effect=_decide_extension(False), requires=(_has_pending_extension,)),
    Action(name="rework", label="重办", sources=_states("completed"), target=_rework_target,
           citizen_label="因您对答复不满意或问题未解决，热线中心已要求承办单位重新办理",
           roles=CENTRE_DISPATCH, payload=ReasonPayload, effect=_rework, requires=(_rated_badly,)),
    Action(name="appeal", label="申诉", sources=_states("completed"), target="appealing",
           roles=HANDLER, department_bound=True, payload=AppealPayload, effect=_appeal,
           requires=(_rated_badly, _not_yet_appealed, _within_appeal_window)),
    Action(name="uphold_appeal", label="申诉成立", sources=_states("appealing"), target="archived",
           citizen_label="经热线中心复核，本件按规定办结归档",
           roles=CENTRE_OVERSIGHT, payload=Decision, effect=_rule_on_appeal(True)),
    Action(name="reject_appeal", label="申诉驳回", sources=_states("appealing"), target="completed",
           citizen_label="经热线中心复核，维持您的评价，将督促承办单位继续办理",
           roles=CENTRE_OVERSIGHT, payload=ReasonPayload, effect=_rule_on_appeal(False)),
    Action(name="supervise", label="督办", sources=OPEN_STATUSES, target=None,
           roles=CENTRE_OVERSIGHT, payload=SupervisePayload, effect=_supervise),
    Action(name="caller_follow_up", label="追加来电", sources=OPEN_STATUSES, target=None,
           roles=CENTRE, payload=CallerFollowUp, effect=_caller_follow_up),
    Action(name="answer_supervision", label="回复督办", sources=OPEN_STATUSES, target=None,
           roles=HANDLER, department_bound=True, payload=SupervisionAnswer, effect=_answer_supervision,
           requires=(_has_open_supervision,), validators=(_open_supervision,)),
    Action(name="comment", label="备注", sources=OPEN_STATUSES, target=None, roles=STAFF,
           department_bound=True, payload=CommentPayload),
    Action(name="reveal_contact", label="查看完整号码", sources=frozenset(STATUSES), target=None,
           roles=STAFF, department_bound=True, payload=Decision, reveals_contact=True,
           validators=(_may_reveal_contact,)),
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
            if not action.roles:
                raise ValueError(f"action {action.name!r} names no role that may take it")
            if not (isinstance(action.payload, type) and issubclass(action.payload, msgspec.Struct)):
                raise ValueError(f"action {action.name!r}: payload must be a msgspec.Struct")
            self.actions[action.name] = action

    def get(self, name: str) -> Action | None:
        return self.actions.get(name)

    def available(self, status: str) -> list[Action]:
        return [a for a in self.actions.values() if status in a.sources]

    def offered(self, order: OrderRecord, actor: Actor, now: dt.datetime, channel: Any = None) -> list[Action]:
        """What this actor can really do to this order now: the status, the role, the department
        and every requirement on the order allow it."""
        offered = []
        for action in self.available(order.status):
            if actor.role not in action.roles:
                continue
            if action.reveals_contact and _reporter_hidden(channel, actor):
                continue
            if action.department_bound and actor.role == "handler" and actor.department != order.department:
                continue
            if action.part_bound and part_status(order, actor.department) not in action.part_bound:
                continue
            try:
                for requirement in action.requires:
                    requirement(order, now)
            except Refusal:
                continue
            offered.append(action)
        return offered
