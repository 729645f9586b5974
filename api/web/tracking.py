"""What a citizen may read about an order: found by number and query code, shown without staff names,
phone numbers or internal notes; and the published replies of channels that publish them."""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import Any

from core.channels import KINDS, Channel
from core.sla_rules import snapshot_of
from core.lifecycle import CITIZEN_SITUATIONS, CITIZEN_STATUSES, GOOD_SATISFACTION, SATISFACTION
from core.clock import SHANGHAI as LOCAL_TZ
from core.tables import Department, Order, OrderEvent

REPLY_ACTIONS = ("reply", "resolve_at_intake")
# statuses in which the reply has been accepted by the centre and may be shown
ANSWERED = frozenset({"completed", "appealing", "archived"})
PUBLISHED = ("completed", "archived")
STATUS_NOTES = {
    "received": "您的诉求已受理，正在确定承办单位。",
    "dispatched": "已转交承办单位，等待签收。",
    "returned": "承办单位认为不属于其职责，热线中心正在重新确定承办单位。",
    "accepted": "承办单位正在办理。",
    "replied": "承办单位已答复，热线中心正在审核答复内容。",
    "completed": "已办结。欢迎您对办理情况进行评价。",
    "appealing": "已办结，评价结果正在复核。",
    "suspended": "办理暂停（例如等待补充材料），恢复后继续计时。",
    "archived": "已办结归档。",
    "merged": "与相同诉求的工单合并办理。",
}
# how each status change reads in the citizen's timeline (the staff words, e.g. 待回访, mean little to them)
PUBLIC_STEPS = {
    "received": "重新确定承办单位",
    "dispatched": "已转交承办单位",
    "returned": "承办单位申请退回，热线中心审核中",
    "accepted": "承办单位正在办理",
    "replied": "承办单位已答复，热线中心审核中",
    "completed": "已办结",
    "appealing": "评价结果复核中",
    "suspended": "暂停办理",
    "archived": "已办结归档",
    "merged": "与相同诉求的工单合并办理",
}
NOT_FOUND = "工单编号或查询码不正确，请核对后重新输入。"
_DUMMY_CODE = "ZZZZZZZZ"


def local_time(value: Any) -> str:
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if not isinstance(value, dt.datetime):
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


def normalise_number(text: str) -> str:
    return re.sub(r"\s+", "", text or "").upper()[:32]


async def find_order(number: str, query_code: str) -> dict | None:
    """The order when both match; the same None for an unknown number and a wrong code, and the code
    is compared in constant time."""
    number = normalise_number(number)
    code = re.sub(r"\s+", "", query_code or "").upper()[:16]
    if not number or not code:
        return None
    row = await Order.select().where(Order.number == number).output(load_json=True).first()
    expected = row["query_code"] if row else _DUMMY_CODE
    if not hmac.compare_digest(expected.encode(), code.encode()) or row is None or not row["query_code"]:
        return None
    return row


def _reply_of(event: dict) -> str:
    payload = event.get("payload") or {}
    return (payload.get("public_reply") or payload.get("reply") or "").strip()


def _citizen_status(order: dict) -> tuple[str, str]:
    """The status in the citizen's words, and what happens next."""
    rating = order["rating"]
    if order["status"] == "accepted" and order.get("rework_count"):
        return CITIZEN_SITUATIONS["reworking"], "承办单位正在重新办理，办结后会给您新的答复，您可以再次评价。"
    if order["status"] == "completed" and rating and not (
            rating.get("satisfaction") in GOOD_SATISFACTION and rating.get("resolved")):
        return (CITIZEN_SITUATIONS["rated_unhappy"],
                "热线中心会复核您的评价：需要时会要求承办单位重新办理，并给您新的答复；"
                "承办单位如有异议，可在 3 个工作日内向热线中心说明情况。结果会显示在这里。")
    return CITIZEN_STATUSES.get(order["status"], order["status"]), STATUS_NOTES.get(order["status"], "")


def _expected_reply(order: dict, channel: Channel | None) -> dict[str, Any] | None:
    """When the department's answer is due (the handling deadline), moved by an approved extension
    and set anew by a rework; None once answered or closed."""
    handle = (order.get("deadlines") or {}).get("handle")
    if not handle or handle.get("done") or order["status"] in ("completed", "appealing", "archived", "merged"):
        return None
    # the limits the order was received under (core/sla_rules.py); the plugin's for an older order
    limits = order.get("sla_limits") or (snapshot_of(channel.sla, order["kind"]) if channel else None)
    urgent = order["priority"] == "urgent"
    if limits is None:
        span = ""
    elif urgent:
        span = f"{limits['urgent_natural_hours']} 小时"
    else:
        span = f"{limits['handle_days']} 个工作日"
    return {"date": local_time(dt.datetime.fromisoformat(handle["due"])), "span": span, "urgent": urgent,
            "extended": bool(handle.get("extended")), "reworked": bool(order.get("rework_count"))}


async def public_view(order: dict, channel: Channel | None, platform: Any = None) -> dict[str, Any]:
    """The order as its citizen sees it: status in their words, what happens next, when the answer is
    due, public steps, every reply and rating so far (a rework keeps the earlier ones as history)."""
    events = await OrderEvent.select().where(OrderEvent.order_id == order["id"]).order_by(
        OrderEvent.id).output(load_json=True)
    names = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    lifecycle = platform.channels.lifecycle(order["channel"]) if platform is not None else None
    steps, history = [], []
    own_note = ""  # the citizen's words with their last online rating (an agent's call note stays inside)
    for event in events:
        action = lifecycle.get(event["action"]) if lifecycle is not None else None
        at = local_time(event["created_at"])
        if action is not None and action.citizen_label:
            steps.append({"at": at, "text": action.citizen_label})
        elif event["action"] != "intake" and event["from_status"] == event["to_status"]:
            continue  # side records (comments, supervision, internal steps) stay inside
        else:
            to = event["to_status"] or order["status"]
            text = PUBLIC_STEPS.get(to) or CITIZEN_STATUSES.get(to, to)
            if event["action"] == "intake":
                text = "已受理"
            elif event["action"] in ("dispatch", "redispatch") and (event.get("payload") or {}).get("department"):
                text = f"已转交{names.get(event['payload']['department'], '承办单位')}办理"
            steps.append({"at": at, "text": text})
        payload = event.get("payload") or {}
        if event["action"] in REPLY_ACTIONS and _reply_of(event):
            history.append({"at": at, "kind": "reply", "text": _reply_of(event)})
        elif event["action"] == "callback" and payload.get("satisfaction"):
            own_note = (payload.get("note") or "").strip() if event.get("role") == "citizen" else ""
            history.append({"at": at, "kind": "rating", "text": "，".join((
                SATISFACTION.get(payload["satisfaction"], ""), "已解决" if payload.get("resolved") else "未解决"))})
    # a reply is shown once the centre accepted it; the one under review stays inside
    if order["status"] not in ANSWERED:
        last_reply = max((i for i, h in enumerate(history) if h["kind"] == "reply"), default=None)
        if last_reply is not None and not any(h["kind"] == "rating" for h in history[last_reply:]):
            history = history[:last_reply] + history[last_reply + 1:]
    reply = next((h["text"] for h in reversed(history) if h["kind"] == "reply"), "") \
        if order["status"] in ANSWERED else ""
    rating = order["rating"]
    status_label, status_note = _citizen_status(order)
    return {
        "number": order["number"],
        "channel_name": channel.name if channel else "",
        "kind_label": KINDS.get(order["kind"], order["kind"]),
        "subject": order["subject"],
        "received_at": local_time(order["received_at"]),
        "status": order["status"],
        "status_label": status_label,
        "status_note": status_note,
        "department": names.get(order["department"], "") if order["department"] else "",
        "expected": _expected_reply(order, channel),
        "steps": steps,
        "reply": reply,
        "history": history,
        "earlier": len(history) > bool(reply) + bool(rating),  # more than what is shown above
        "rating": {"satisfaction": SATISFACTION.get(rating["satisfaction"], ""),
                   "resolved": "已解决" if rating.get("resolved") else "未解决", "note": own_note} if rating else None,
        "can_rate": order["status"] == "completed" and rating is None,
        "attachments": sum(1 for e in events if e["action"] == "attach"),
        "anonymous": bool(order.get("anonymous")),
    }


# -- published replies --------------------------------------------------------------------------------

def publishes_replies(channel: Channel) -> bool:
    """A channel whose citizens may consent to publication (``Channel.consent_field``)."""
    return channel.public and channel.consent_field is not None


_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)\d{4}(\d{4})(?!\d)")
_ID_CARD = re.compile(r"(?<![\dXx])(\d{6})\d{8}(\d{3}[\dXx])(?![\dXx])")


def mask_personal(text: str) -> str:
    """Hide phone and ID card numbers a citizen typed into a letter that is being published."""
    return _ID_CARD.sub(r"\1********\2", _MOBILE.sub(r"\1****\2", text))


async def published_replies(channel: Channel, page: int, page_size: int = 10) -> tuple[list[dict], int]:
    """Answered letters whose writers consented, newest first, without name, phone or address."""
    rows = await Order.select(Order.id, Order.number, Order.kind, Order.subject, Order.content,
                              Order.details, Order.received_at).where(
        (Order.channel == channel.code) & Order.status.is_in(list(PUBLISHED))).order_by(
        Order.received_at, ascending=False).output(load_json=True)
    consented = [r for r in rows if (r["details"] or {}).get(channel.consent_field) is True]
    total = len(consented)
    shown = consented[(page - 1) * page_size: page * page_size]
    replies: dict[int, dict] = {}
    if shown:
        events = await OrderEvent.select(OrderEvent.order_id, OrderEvent.payload, OrderEvent.created_at).where(
            OrderEvent.order_id.is_in([r["id"] for r in shown]) & OrderEvent.action.is_in(list(REPLY_ACTIONS))
        ).order_by(OrderEvent.id).output(load_json=True)
        for event in events:
            if _reply_of(event):
                replies[event["order_id"]] = event
    items = [{
        "kind_label": KINDS.get(r["kind"], r["kind"]),
        "subject": mask_personal(r["subject"]),
        "content": mask_personal(r["content"]),
        "received_at": local_time(r["received_at"])[:10],
        "reply": mask_personal(_reply_of(replies[r["id"]])),
        "replied_at": local_time(replies[r["id"]]["created_at"])[:10],
    } for r in shown if r["id"] in replies]
    return items, total
