"""The city 12345 platform (市级平台): the adapter we talk to it through, its signed inbound pushes, and
reconciliation of our states with its own.

The city's API is not public, so everything it needs from us goes through ``CityAdapter``; the one
shipped, ``HttpJsonCityAdapter``, speaks plain JSON over HTTP. Inbound pushes (transferred orders and
the city's follow-ups on them) are verified here: ``X-Huying-Timestamp`` (Unix seconds) and
``X-Huying-Signature`` = hex HMAC-SHA256 of ``timestamp + "." + body`` with ``HUYING_CITY_SECRET``;
older than five minutes, or a signature already seen, is refused.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import time
from typing import Annotated, Literal, Protocol

import httpx
import msgspec

from core.channels import Kind
from core.db import write_transaction
from core.errors import FieldError, InvalidInput, NotFound, Unauthorized, field_errors
from core.lifecycle import TERMINAL
from core.model import Actor, Citizen, OrderRecord

MAX_SKEW_SECONDS = 300
# the outbox topic of our status pushes to the city: written by the built-in ``core.builtins.city_sync``
# (which delivers it), read here by reconciliation; the core owns the name, the built-in uses it
TOPIC = "city_platform.status"
CITY = Actor(name="市级平台", role="city", kind="system")
FOLLOW_UP_ACTIONS = {"urge": "city_urge", "supplement": "city_supplement", "withdraw": "city_withdraw"}
RECENTLY_CLOSED = dt.timedelta(days=3)

CityNumber = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class CityOrder(msgspec.Struct, tag="order", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """An order the city transferred down: its own number, received time and time limit are kept."""

    city_number: CityNumber
    received_at: dt.datetime
    kind: Kind
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    citizen: Citizen = Citizen()
    anonymous: bool = False
    address: Annotated[str, msgspec.Meta(max_length=255)] = ""
    area: Annotated[str, msgspec.Meta(max_length=64)] = ""
    time_limit: dt.datetime | None = None  # the city's due time for the reply


class CityFollowUp(msgspec.Struct, tag="follow_up", tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """The city's own step on an order it transferred: 催办 (urge), 补充材料 (supplement), 撤单 (withdraw)."""

    city_number: CityNumber
    follow_up_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    kind: Literal[tuple(FOLLOW_UP_ACTIONS)]  # type: ignore[valid-type]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    at: dt.datetime | None = None


CityPush = CityOrder | CityFollowUp


# -- the adapter -------------------------------------------------------------------------------------

class CityAdapter(Protocol):
    async def push(self, payload: dict, key: str) -> None:
        """Deliver one change of a transferred order; ``key`` is the same on every retry."""

    async def states(self, city_numbers: list[str]) -> dict[str, str]:
        """The city's current state of each order it knows, by its number."""


class HttpJsonCityAdapter:
    """POST the change as JSON to ``HUYING_CITY_PLATFORM_URL`` with an ``Idempotency-Key``; ask
    ``HUYING_CITY_STATES_URL`` with ``{"numbers": [...]}`` for ``{"states": {number: status}}``."""

    def __init__(self, settings):
        self.settings = settings

    async def push(self, payload: dict, key: str) -> None:
        if not self.settings.city_platform_url:
            raise RuntimeError("HUYING_CITY_PLATFORM_URL is not configured")
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.settings.city_platform_url, json=payload,
                                         headers={"Idempotency-Key": key})
            response.raise_for_status()

    async def states(self, city_numbers: list[str]) -> dict[str, str]:
        if not self.settings.city_states_url:
            raise RuntimeError("HUYING_CITY_STATES_URL is not configured")
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(self.settings.city_states_url, json={"numbers": city_numbers})
            response.raise_for_status()
            return msgspec.convert(response.json(), dict[str, dict[str, str]])["states"]


def adapter_for(settings) -> CityAdapter:
    return HttpJsonCityAdapter(settings)


# -- inbound ---------------------------------------------------------------------------------------------

def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


async def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes,
                 now: float | None = None) -> None:
    """Refuse (401) a push that is unsigned, wrongly signed, stale, or a replay of one already taken."""
    from core.tables import InboundPush

    if not secret:
        raise Unauthorized("未配置市级平台对接密钥（HUYING_CITY_SECRET），拒绝推送")
    if not timestamp or not signature:
        raise Unauthorized("缺少签名（X-Huying-Timestamp、X-Huying-Signature）")
    try:
        sent = int(timestamp)
    except ValueError:
        raise Unauthorized("X-Huying-Timestamp 须为 Unix 秒") from None
    now = time.time() if now is None else now
    if abs(now - sent) > MAX_SKEW_SECONDS:
        raise Unauthorized("推送已过期（时间戳与当前相差超过 5 分钟）")
    if not hmac.compare_digest(sign(secret, timestamp, body), signature.strip().lower()):
        raise Unauthorized("签名不正确")
    moment = dt.datetime.fromtimestamp(now, dt.timezone.utc)
    async with write_transaction(InboundPush._meta.db):
        await InboundPush.delete().where(
            InboundPush.received_at < moment - dt.timedelta(seconds=2 * MAX_SKEW_SECONDS))
        if await InboundPush.exists().where(InboundPush.signature == signature.strip().lower()):
            raise Unauthorized("重复的推送（已处理过同一签名）")
        await InboundPush.insert(InboundPush(signature=signature.strip().lower(), received_at=moment))


def decode(body: bytes) -> CityOrder | CityFollowUp:
    try:
        return msgspec.json.decode(body, type=CityPush)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_errors(exc)) from None
    except msgspec.DecodeError:
        raise InvalidInput([FieldError("body", "请求体不是有效的 JSON")]) from None


async def take(platform, push: CityOrder | CityFollowUp) -> tuple[int, OrderRecord]:
    """Record a verified push: a new transferred order (201; the same city number again answers 200
    with the first order) or a follow-up on one (an audited event on its timeline)."""
    from core.orders import IntakeRequest

    if isinstance(push, CityOrder):
        request = IntakeRequest(kind=push.kind, subject=push.subject, content=push.content, source="city_transfer",
                                citizen=push.citizen, anonymous=push.anonymous, address=push.address,
                                area=push.area, received_at=push.received_at, external_id=push.city_number)
        if push.time_limit is not None and push.time_limit.tzinfo is None:
            raise InvalidInput([FieldError("time_limit", "时间须带时区，例如 2026-11-28T09:30:00+08:00")])
        if push.time_limit is not None and push.received_at.tzinfo and push.time_limit <= push.received_at:
            raise InvalidInput([FieldError("time_limit", "办理时限须晚于市级平台受理时间")])
        return await platform.orders.intake(platform.channels.default.code, request, CITY,
                                            handle_due=push.time_limit)
    return await follow_up(platform, push)


async def follow_up(platform, push: CityFollowUp) -> tuple[int, OrderRecord]:
    from core.intake import DUPLICATE_KEY
    from core.tables import IdempotencyKey, Order, OrderEvent

    order = await Order.select(Order.id, Order.number).where(
        (Order.source == "city_transfer") & (Order.external_id == push.city_number)).first()
    if order is None:
        raise NotFound(f"市级工单 {push.city_number} 不存在", [FieldError("city_number", "未找到该市级工单")])
    events = await OrderEvent.select(OrderEvent.payload).where(
        (OrderEvent.order_id == order["id"]) & OrderEvent.action.is_in(list(FOLLOW_UP_ACTIONS.values()))).output(
        load_json=True)
    if any(e["payload"].get("follow_up_id") == push.follow_up_id for e in events):
        return 200, await platform.orders.get(order["number"], CITY)
    payload = {"follow_up_id": push.follow_up_id, "text": push.text,
               "at": push.at.isoformat() if push.at else None}
    # copies of one follow-up racing each other: the database's unique key on idempotency_keys lets
    # one through; the others' insert fails (on PostgreSQL once the first commits) and they answer 200
    key = hashlib.sha256(f"{push.city_number}\x1f{push.follow_up_id}".encode()).hexdigest()
    try:
        async with write_transaction(platform.engine):
            await IdempotencyKey.insert(IdempotencyKey(
                scope="city:follow_up", key=key, request_hash=key, status_code=201,
                response={"number": order["number"]}, created_at=platform.orders.clock()))
            result = await platform.orders.act(order["number"], FOLLOW_UP_ACTIONS[push.kind], payload, CITY)
    except DUPLICATE_KEY:
        return 200, await platform.orders.get(order["number"], CITY)
    platform.orders.outbox_written()  # the action's messages are committed only now
    return 201, result.order


# -- reconciliation ------------------------------------------------------------------------------------------

async def reconcile(platform, adapter: CityAdapter | None = None) -> dict:
    """Compare our state of each open (or just closed) transferred order with the city's; keep each
    difference until a later run finds it gone."""
    from core.outbox import _PENDING
    from core.tables import CityDiscrepancy, Order, OutboxMessage

    adapter = adapter or adapter_for(platform.settings)
    now = platform.orders.clock()
    rows = await (Order.select(Order.number, Order.external_id, Order.status)
                  .where((Order.source == "city_transfer") & Order.external_id.is_not_null()
                         & (Order.status.not_in(sorted(TERMINAL)) | (Order.updated_at >= now - RECENTLY_CLOSED)))
                  .order_by(Order.id))
    theirs: dict[str, str] = {}
    for start in range(0, len(rows), 200):
        theirs.update(await adapter.states([r["external_id"] for r in rows[start:start + 200]]))
    pending = {}
    if rows:
        for message in await OutboxMessage.select(OutboxMessage.order_number).where(
                _PENDING & (OutboxMessage.topic == TOPIC)):
            pending[message["order_number"]] = pending.get(message["order_number"], 0) + 1
    differences = {r["number"]: (r, theirs.get(r["external_id"], "missing")) for r in rows
                   if theirs.get(r["external_id"], "missing") != r["status"]}
    async with write_transaction(platform.engine):
        open_rows = await CityDiscrepancy.select().where(CityDiscrepancy.resolved_at.is_null())
        known = {d["order_number"]: d for d in open_rows}
        for number, discrepancy in known.items():
            if number not in differences:
                await CityDiscrepancy.update({CityDiscrepancy.resolved_at: now}).where(
                    CityDiscrepancy.id == discrepancy["id"])
        for number, (row, city_state) in differences.items():
            values = {"ours": row["status"], "theirs": city_state[:64], "pending_messages": pending.get(number, 0)}
            if number in known:
                await CityDiscrepancy.update({getattr(CityDiscrepancy, k): v for k, v in values.items()}).where(
                    CityDiscrepancy.id == known[number]["id"])
            else:
                await CityDiscrepancy.insert(CityDiscrepancy(order_number=number, external_id=row["external_id"],
                                                             found_at=now, **values))
    return {"compared": len(rows), "differences": len(differences),
            "resolved": len([n for n in known if n not in differences])}


async def discrepancies(*, include_resolved: bool = False, page: int = 1, page_size: int = 50) -> dict:
    from core.tables import CityDiscrepancy

    query, count = CityDiscrepancy.select(), CityDiscrepancy.count()
    if not include_resolved:
        query, count = query.where(CityDiscrepancy.resolved_at.is_null()), count.where(
            CityDiscrepancy.resolved_at.is_null())
    rows = await query.order_by(CityDiscrepancy.id, ascending=False).limit(page_size).offset((page - 1) * page_size)
    return {"items": rows, "total": await count, "page": page, "page_size": page_size}
