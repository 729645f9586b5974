"""Two-way sync with the city 12345 platform for every order it transferred down.

Out: each action on a ``city_transfer`` order writes one message to the outbox in the action's
transaction, carrying what the city needs to close its own order (the reply text, the return reason,
extension requests and decisions, the rating, the department). The delivery job hands it to the city
adapter with the message's stable id as ``Idempotency-Key``; messages of one order go in order.
While ``HUYING_CITY_PLATFORM_URL`` is not configured they wait in the outbox with the reason.

In: the city's follow-ups (催办, 补充材料, 撤单) are lifecycle actions only the city may take (see
``core.city`` for the signed endpoint); they land on the order's timeline like any other event.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

from core.city import TOPIC, adapter_for, reconcile
from core.hookspecs import hookimpl
from core.jobs import Job
from core.lifecycle import OPEN_STATUSES, STATUSES, Action, ActionContext

CITY_ROLES = frozenset({"city"})


# -- the city's follow-ups ---------------------------------------------------------------------------

class FollowUp(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    follow_up_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    at: Annotated[str, msgspec.Meta(max_length=64)] | None = None


def _urge(ctx: ActionContext) -> dict:
    supervision = {"id": len(ctx.order.supervisions) + 1, "kind": "urge", "note": ctx.payload.text,
                   "department": ctx.order.department, "issued_by": ctx.actor.name,
                   "issued_at": ctx.now.isoformat(), "from_city": True,
                   "due": ctx.sla.calendar.add_working_days(ctx.now, 1).isoformat(),
                   "answer": None, "answered_by": None, "answered_at": None}
    return {"supervisions": [*ctx.order.supervisions, supervision]}


CITY_ACTIONS = (
    Action(name="city_urge", label="市级催办", sources=OPEN_STATUSES, target=None, roles=CITY_ROLES,
           payload=FollowUp, effect=_urge),
    Action(name="city_supplement", label="市级补充材料", sources=frozenset(STATUSES), target=None,
           roles=CITY_ROLES, payload=FollowUp),
    Action(name="city_withdraw", label="市级撤单", sources=OPEN_STATUSES, target="archived",
           roles=CITY_ROLES, payload=FollowUp),
)


@hookimpl
def workflow_actions(channel):
    return list(CITY_ACTIONS)


# -- out -------------------------------------------------------------------------------------------------

def _what_the_city_needs(order, event) -> dict:
    data = event.payload or {}
    extra: dict = {}
    if event.action in ("reply", "resolve_at_intake"):
        extra["reply"] = data.get("public_reply") or data.get("reply", "")
    elif event.action in ("return", "uphold_return", "reject_return"):
        extra["return_reason"] = event.reason
    elif event.action == "request_extension":
        extra["extension"] = {"days": data.get("days"), "reason": data.get("reason")}
    elif event.action in ("approve_extension", "reject_extension"):
        decided = next((e for e in reversed(order.extensions) if e.get("decided_at")), {})
        extra["extension"] = {"days": decided.get("days"), "reason": decided.get("reason"),
                              "decision": decided.get("status"), "decision_reason": decided.get("decision_reason"),
                              "handle_due": (order.deadlines.get("handle") or {}).get("due")}
    elif event.action == "callback" and order.rating:
        extra["rating"] = {k: order.rating.get(k) for k in ("satisfaction", "resolved", "note")}
    elif event.action in ("uphold_appeal", "reject_appeal") and order.rating:
        extra["rating"] = {k: order.rating.get(k) for k in ("satisfaction", "resolved", "valid")}
    elif event.reason:
        extra["note"] = event.reason
    return extra


@hookimpl
def on_transition(channel, order, event, outbox):
    if order.source != "city_transfer" or not order.external_id or event.action.startswith("city_"):
        return  # the city's own follow-ups need no echo
    outbox.send(TOPIC, {
        "external_id": order.external_id,
        "number": order.number,
        "action": event.action,
        "status": event.to_status,
        "status_label": STATUSES.get(event.to_status or "", ""),
        "department": order.department,
        "at": event.created_at.isoformat(),
        **_what_the_city_needs(order, event),
    })


async def _completed_with(payload: dict) -> dict:
    """An approval carries the reply it approved and the department's name, looked up at delivery
    (they never change once approved, so every retry sends the same message)."""
    from core.tables import Department, Order, OrderEvent

    payload = dict(payload)
    if payload.get("department"):
        department = await Department.select(Department.name).where(Department.code == payload["department"]).first()
        payload["department_name"] = department["name"] if department else ""
    if payload["action"] == "approve" and "reply" not in payload:
        order = await Order.select(Order.id).where(Order.number == payload["number"]).first()
        reply = await (OrderEvent.select(OrderEvent.payload).where(
            (OrderEvent.order_id == order["id"]) & (OrderEvent.action == "reply"))
            .order_by(OrderEvent.id, ascending=False).output(load_json=True).first()) if order else None
        if reply:
            payload["reply"] = reply["payload"].get("public_reply") or reply["payload"].get("reply", "")
    return payload


async def post_status(message: dict, settings) -> None:
    from core.outbox import idempotency_key

    await adapter_for(settings).push(await _completed_with(message["payload"]), idempotency_key(message))


post_status.label = "市级平台状态回传"


@hookimpl
def outbox_deliverers():
    return {TOPIC: post_status}


async def city_reconcile(platform) -> dict:
    return await reconcile(platform)


CITY_UNREACHABLE_AFTER = dt.timedelta(hours=1)


async def watch_city_platform(now: dt.datetime | None = None) -> None:
    """The city platform counts as unreachable when a status push has been failing for an hour: an
    incident in the fault log, resolved once the pushes get through again."""
    from core import clock
    from core.incidents import close_platform_incident, open_platform_incident
    from core.tables import OutboxMessage

    now = now or clock.now()
    stuck = await (OutboxMessage.select(OutboxMessage.created_at, OutboxMessage.last_error)
                   .where((OutboxMessage.topic == TOPIC) & OutboxMessage.delivered_at.is_null()
                          & (OutboxMessage.last_error != "")
                          & (OutboxMessage.created_at <= now - CITY_UNREACHABLE_AFTER))
                   .order_by(OutboxMessage.created_at).first())
    if stuck:
        await open_platform_incident(
            "city_unreachable", "市级12345平台连续一小时无法送达",
            f"转派工单的状态回传滞留在发件箱中；最近一次错误：{stuck['last_error'][:500]}", stuck["created_at"])
    else:
        await close_platform_incident("city_unreachable", "状态回传已恢复送达")


async def city_watch(platform) -> dict:
    """The job: watch the pushes only where a city platform is configured."""
    if platform.settings.city_platform_url:
        await watch_city_platform()
    return {}


@hookimpl
def register_jobs():
    return [Job(name="city_reconcile", label="与市级平台对账", run=city_reconcile, minutes=frozenset({20})),
            Job(name="city_watch", label="市级平台送达监测", run=city_watch, minutes=frozenset(range(0, 60, 5)),
                recorded=False)]
