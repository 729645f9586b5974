"""Replies flow back to the message boards (区红网, 区人民网) and special-line API clients.

A board posts its citizens' messages through ``POST /api/channels/{code}/orders`` with an API key
scoped to its channels and its own message id as ``external_id`` (a re-send returns the first order).
When the centre approves the reply (or an agent answers at intake), the answer is written to the
outbox and POSTed to the ``reply_url`` of the key that brought the message in, with the message's
stable id as ``Idempotency-Key``. The contract is in ``docs/board-connector.md``.
"""

from __future__ import annotations

import httpx

from core.hookspecs import hookimpl
from core.outbox import idempotency_key

TOPIC = "board.reply"
REPLYING_ACTIONS = ("approve", "resolve_at_intake")


@hookimpl
def on_transition(channel, order, event, outbox):
    if (order.source == "city_transfer" or not order.external_id or event.action not in REPLYING_ACTIONS
            or event.to_status != "completed"):
        return
    message = {"external_id": order.external_id, "number": order.number, "at": event.created_at.isoformat()}
    if event.action == "resolve_at_intake":
        message["reply"] = event.payload.get("reply", "")
    outbox.send(TOPIC, message)


async def _origin(number: str) -> tuple[dict | None, str]:
    """The API key that brought the order in (if one did) and the reply the centre approved."""
    from core.tables import ApiKey, Order, OrderEvent

    order = await Order.select(Order.id).where(Order.number == number).first()
    if order is None:
        return None, ""
    events = await (OrderEvent.select(OrderEvent.action, OrderEvent.actor, OrderEvent.role, OrderEvent.payload)
                    .where((OrderEvent.order_id == order["id"]) & OrderEvent.action.is_in(["intake", "reply"]))
                    .order_by(OrderEvent.id).output(load_json=True))
    intake = next((e for e in events if e["action"] == "intake"), None)
    replies = [e for e in events if e["action"] == "reply"]
    reply = (replies[-1]["payload"].get("public_reply") or replies[-1]["payload"].get("reply", "")) if replies else ""
    if intake is None or intake["role"] != "integration" or not intake["actor"].startswith("api:"):
        return None, reply
    key = await ApiKey.select(ApiKey.name, ApiKey.reply_url).where(
        ApiKey.name == intake["actor"].removeprefix("api:")).order_by(ApiKey.id, ascending=False).first()
    return key, reply


async def post_reply(message: dict, settings) -> None:
    payload = dict(message["payload"])
    key, reply = await _origin(payload["number"])
    if key is None:
        return  # typed in by the centre: there is no board to answer
    if not key["reply_url"]:
        raise RuntimeError(f"API key {key['name']!r} has no reply_url for approved replies")
    payload.setdefault("reply", reply)
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(key["reply_url"], json=payload, headers={"Idempotency-Key": idempotency_key(message)})
        response.raise_for_status()


post_reply.label = "网络留言答复"


@hookimpl
def outbox_deliverers():
    return {TOPIC: post_reply}
