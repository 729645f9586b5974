"""Intake (受理): check a new request and record it as an order, with its audit event, in one transaction.

Everything that needs no database (the channel's fields and validators, the phone, the time) is
checked before the write lock is taken; routing, deadlines and sealing are prepared outside it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

import asyncpg
import msgspec

from core.clock import SHANGHAI
from core.areas import check as check_area
from core.attachments import NewAttachment
from core.channels import KINDS, SOURCES, Channel, Kind
from core.db import insert_row, run, write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound, field_errors
from core.model import ROLES, Actor, Citizen, OrderRecord, as_record
from core.routing import Suggestion, suggest
from core.tables import IdempotencyKey, Order
from core.visibility import visible

if TYPE_CHECKING:
    from core.orders import OrderService

LOCAL_TZ = SHANGHAI
DUPLICATE_KEY = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)
NUMBER_PREFIX = "XJ"
INTAKE_ROLES = frozenset({"agent", "dispatcher", "admin", "integration", "citizen", "city"})
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|[2-9]\d{6,7})$")
QUERY_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 letters: a byte mod 32 is unbiased


def query_code() -> str:
    """Eight letters a citizen can read out (no I/O/0/1), from one call to the system's randomness
    (a ``secrets.choice`` per letter costs a system call each)."""
    return "".join(QUERY_CODE_ALPHABET[b % 32] for b in secrets.token_bytes(8))

# one of ``core.channels.SOURCES``: the fixed ways in and the message boards (an admin adds boards)
Source = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$",
                                     description="来源：phone 电话、city_transfer 市级转派、web_form 网页表单、"
                                                 "hongwang 区红网、renminwang 区人民网、netboard 其他网络留言、"
                                                 "mailbox 信箱、api 接口，或管理员添加的留言板代码（GET /api/netboards）")]


class IntakeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new citizen request, the same for every channel; ``details`` holds the channel's fields."""

    kind: Kind
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    source: Source = "api"
    citizen: Citizen = Citizen()
    anonymous: bool = False
    address: Annotated[str, msgspec.Meta(max_length=255)] = ""
    area: Annotated[str, msgspec.Meta(max_length=64, description=(
        "街道（乡镇）：GET /api/areas 列出的名称；其别名或名称的一部分（梅溪湖）只对应一个时按该名称记录，"
        "否则 400 并在 extra 中说明（key 为 area）；可不填"))] = ""
    category: Annotated[str, msgspec.Meta(max_length=128)] = ""
    priority: Literal["normal", "urgent"] = "normal"
    received_at: dt.datetime | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    details: dict[str, Any] = {}


def nul_errors(value: Any, key: str = "") -> list[FieldError]:
    """A NUL character in any text: PostgreSQL cannot store one, so neither backend takes it (every
    way in, API, web form and CLI, comes through the service)."""
    if isinstance(value, str):
        return [FieldError(key or "body", "不能包含空字符（\\0）")] if "\x00" in value else []
    if isinstance(value, dict):
        return [e for k, v in value.items() for e in nul_errors(v, f"{key}.{k}" if key else str(k))]
    if isinstance(value, (list, tuple)):
        return [e for i, v in enumerate(value) for e in nul_errors(v, f"{key}.{i}" if key else str(i))]
    return []


def convert(data: Any, type_: Any, prefix: str = "") -> Any:
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_errors(exc, prefix)) from None


async def unruled_suggestion(service: OrderService, code: str, *, subject: str, content: str, kind: str,
                             category: str, area: str) -> Suggestion | None:
    """The suggestion for an order no routing rule fires for: a department the citizen names (城管, by
    an alias), else the learned model's best guess (rules always win over both)."""
    from core.department_names import named_in_text

    named = named_in_text(f"{subject}\n{content}", await service.reference.directory())
    if named.code:
        return Suggestion(named.code, f"诉求中提到「{named.by}」")
    if service.learned is not None:
        await service.learned.refresh()
        top = service.learned.best(channel=code, kind=kind, category=category, area=area, subject=subject,
                                   content=content)
        if top is not None:
            return Suggestion(top.department, top.reason[:255])
    return None


class IntakeDesk:
    """Records new orders: one path for the API, the web forms, the CLI and the demo data."""

    def __init__(self, service: OrderService):
        self.service = service

    def check(self, code: str, request: IntakeRequest, actor: Actor) -> tuple[Channel, Any]:
        """Validate everything that needs no database; returns (channel, details Struct)."""
        service = self.service
        channel = service.channels.get(code)
        if channel is None:
            raise NotFound(f"渠道 {code} 不存在")
        if actor.role not in INTAKE_ROLES:
            raise Forbidden(f"{ROLES.get(actor.role, actor.role)}不能受理工单")
        if actor.role == "agent" and not actor.trained:
            raise Forbidden("尚未完成岗前培训（未登记「已培训上岗」），不能受理工单；请参加培训并由管理员登记培训结果")
        if not actor.may_use_channel(code):
            raise Forbidden(f"该 API Key 无权向渠道「{channel.name}」提交工单")
        if request.source == "city_transfer" and actor.role != "city" and (
                request.external_id is not None or actor.kind == "api_key"):
            # the city's numbers are claimed by its signed push only: a number filed first by anyone
            # else would take the city's real order (answered as a repeat) and its status messages
            raise Forbidden("市级转派工单只能由市级平台签名推送（POST /api/integrations/city/orders）",
                            [FieldError("source", "市级工单号只能由市级平台推送；中心手工登记的市级转派件不填 external_id"
                                        if actor.kind != "api_key" else "对接系统不能以市级转派的来源提交工单")])
        errors: list[FieldError] = nul_errors(msgspec.to_builtins(request))
        if errors:
            raise InvalidInput(errors)
        if request.source not in SOURCES:
            errors.append(FieldError("source", f"没有这个来源，可选：{'、'.join(f'{c} {n}' for c, n in SOURCES.items())}"))
        if request.kind not in channel.kinds:
            allowed = "、".join(KINDS[k] for k in channel.kinds)
            errors.append(FieldError("kind", f"「{channel.name}」受理的诉求类型为：{allowed}"))
        phone = request.citizen.phone.strip()
        if phone and not PHONE.match(phone):
            errors.append(FieldError("citizen.phone", "联系电话格式不正确（手机号11位，或座机号）"))
        if request.anonymous and not channel.anonymous_allowed:
            errors.append(FieldError("anonymous", f"「{channel.name}」需要留下联系人和电话，不能匿名"))
        elif not request.anonymous and not phone:
            errors.append(FieldError("citizen.phone", "请留下联系电话，便于办理和回访" + (
                "；不愿留名请选择匿名" if channel.anonymous_allowed else "")))
        if channel.contact_name_required and not request.citizen.name.strip():
            errors.append(FieldError("citizen.name", f"请填写{channel.wording.name_label}"))
        if request.received_at is not None:
            problem = self._received_at_problem(request.received_at)
            if problem:
                errors.append(FieldError("received_at", problem))
        details = None
        if channel.fields is not None:
            try:
                details = msgspec.convert(request.details, channel.fields, strict=False)
            except msgspec.ValidationError as exc:
                errors.extend(field_errors(exc, "details"))
        elif request.details:
            errors.append(FieldError("details", "该渠道没有专属字段"))
        if not errors:
            intake = msgspec.to_builtins(request)
            for found in service.channels.hooks(code).validate_intake(channel=channel, intake=intake,
                                                                       details=details):
                errors.extend(found or ())
        if errors:
            raise InvalidInput(errors)
        return channel, details

    async def resolve_area(self, request: IntakeRequest, actor: Actor) -> tuple[IntakeRequest, FieldError | None]:
        """街道 as one name of the list (``core.areas``): what was typed resolved to it (梅溪湖 →
        梅溪湖街道), or the field's error. The city platform's transfers are never refused for it: a
        name the list does not know is kept as the city sent it."""
        if not request.area.strip():
            return (msgspec.structs.replace(request, area="") if request.area else request), None
        area, error = check_area(request.area, await self.service.reference.areas())
        if error is not None and actor.role == "city":
            return request, None
        return (msgspec.structs.replace(request, area=area) if area != request.area else request), error

    def _received_at_problem(self, received_at: dt.datetime) -> str | None:
        """Deadlines are counted from ``received_at``: it must be a plausible recent instant
        (``Settings.received_at_max_age_days`` back at most, not in the future)."""
        if received_at.tzinfo is None:
            return "时间须带时区，例如 2026-11-28T09:30:00+08:00"
        now, max_age = self.service.clock(), self.service.received_at_max_age
        try:
            moment = received_at.astimezone(dt.timezone.utc)
        except OverflowError:  # year 1 with a positive offset is before the first representable instant
            moment = None
        if moment is None or moment < now - max_age:
            return f"受理时间不能早于 {max_age.days} 天前"
        if moment > now + dt.timedelta(minutes=5):
            return "受理时间不能晚于当前时间"
        return None

    async def intake(self, code: str, request: IntakeRequest, actor: Actor, *,
                     idempotency_key: str | None = None,
                     attachments: Sequence[NewAttachment] = (),
                     handle_due: dt.datetime | None = None) -> tuple[int, OrderRecord]:
        """Record a request as a new order, with any files the citizen sent (already in the store);
        returns (HTTP status, the order). A repeat (same Idempotency-Key, or same source and
        external id) returns the first order and records nothing. ``handle_due`` keeps a time limit
        the sender set (the city platform's) instead of the channel's own."""
        service = self.service
        await service.sources.refresh()
        request, area_error = await self.resolve_area(request, actor)
        try:
            channel, details = self.check(code, request, actor)
        except InvalidInput as refused:
            if area_error is None:
                raise
            raise InvalidInput([*refused.errors, area_error]) from None
        if area_error is not None:
            raise InvalidInput([area_error])
        if channel.location_field and not request.address.strip():  # the channel's own place is the address
            place = getattr(details, channel.location_field, "")
            if isinstance(place, str) and place.strip():
                request = msgspec.structs.replace(request, address=place.strip()[:255])
        await service.sla.refresh()
        now = service.clock()
        received_at = (request.received_at or now).astimezone(dt.timezone.utc)
        request_hash = hashlib.sha256(msgspec.json.encode([code, request])).hexdigest() if idempotency_key else ""
        scope = f"{actor.kind}:{actor.name}"
        priority, flags, reasons = request.priority, [], []
        intake = {**msgspec.to_builtins(request), "received_at": received_at.isoformat()}
        for assessment in service.channels.hooks(code).assess_intake(channel=channel, intake=intake,
                                                                      details=details):
            if assessment is None:
                continue
            if assessment.priority == "urgent":
                priority = "urgent"
            flags.extend(f for f in assessment.flags if f not in flags)
            reasons.extend(assessment.reasons)
        suggestion = suggest(await service.reference.routing(code), subject=request.subject,
                             content=request.content, category=request.category,
                             area=request.area, kind=request.kind,
                             details=msgspec.to_builtins(details) if details is not None else None)
        if suggestion is None:
            suggestion = await unruled_suggestion(service, code, subject=request.subject, content=request.content,
                                                  kind=request.kind, category=request.category, area=request.area)
        citizen_name, citizen_phone = request.citizen.name.strip(), request.citizen.phone.strip()
        citizen_sealed = ""
        stored_details = msgspec.to_builtins(details) if details is not None else {}
        if channel.protect_reporter:
            citizen_sealed = service.sealer.seal(msgspec.json.encode([citizen_name, citizen_phone]).decode())
            citizen_name, citizen_phone = "", ""
        for name in channel.confidential:
            if isinstance(stored_details.get(name), str):
                stored_details[name] = service.sealer.seal(stored_details[name])
        row = {
            "query_code": query_code(),
            "channel": code, "kind": request.kind, "source": request.source,
            "subject": request.subject.strip(), "content": request.content.strip(),
            "citizen_name": citizen_name, "citizen_phone": citizen_phone, "citizen_sealed": citizen_sealed,
            "anonymous": request.anonymous, "address": request.address, "area": request.area,
            "category": request.category,
            "details": stored_details,
            "status": "received", "status_before_suspend": None, "department": None,
            "suggested_department": suggestion.department if suggestion else None,
            "suggestion_reason": suggestion.reason if suggestion else "",
            "priority": priority, "received_at": received_at, "flags": flags,
            "sla_limits": (limits := service.sla.limits_now(code, request.kind)),
            "deadlines": (deadlines := service.sla.at_intake(channel=code, kind=request.kind, priority=priority,
                                                             received_at=received_at, limits=limits)),
            **service.sla.summary(deadlines),
            "rating": None, "external_id": request.external_id, "version": 1,
            "created_at": now, "updated_at": now,
        }
        words = service.index.words(as_record({**row, "id": 0, "number": ""}))  # segmenting stays outside the lock
        if handle_due is not None:
            row["deadlines"]["handle"]["due"] = handle_due.astimezone(dt.timezone.utc).isoformat()
        # Only the database work holds the write lock; everything above was prepared outside it.
        # Copies of one request racing on PostgreSQL: the loser's insert meets the winner's unique key
        # once the winner commits; it then runs again and finds the winner's order.
        for attempt in (1, 2):
            try:
                return await self._store(row, request, actor, scope, idempotency_key, request_hash, reasons,
                                         attachments, now, words)
            except DUPLICATE_KEY:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def _store(self, row: dict, request: IntakeRequest, actor: Actor, scope: str,
                     idempotency_key: str | None, request_hash: str, reasons: list[str],
                     attachments: Sequence[NewAttachment], now: dt.datetime,
                     words: list[str]) -> tuple[int, OrderRecord]:
        service = self.service
        priority, flags = row["priority"], row["flags"]
        number = None
        if (service.engine.engine_type == "postgres" and service.engine.current_transaction.get() is None
                and not idempotency_key and not request.external_id):
            # The day's counter row stays locked until the transaction that bumps it commits: inside
            # the intake's transaction every concurrent intake would queue behind it (about 350 a
            # second on PostgreSQL, one process or two). Taken in a statement of its own, it is locked
            # for that statement only; an intake failing later leaves a gap in the day's numbers. A
            # request that may be a repeat (an Idempotency-Key, an external id) takes its number
            # inside, so repeats never use one up.
            number = await self._next_number(now)
        async with write_transaction(service.engine):
            if idempotency_key:
                seen = await IdempotencyKey.select().where(
                    (IdempotencyKey.scope == scope) & (IdempotencyKey.key == idempotency_key)).output(
                    load_json=True).first()
                if seen is not None:
                    if seen["request_hash"] != request_hash:
                        raise Conflict("该 Idempotency-Key 已用于另一个不同的请求")
                    first = await Order.select().where(Order.number == seen["response"]["number"]).output(
                        load_json=True).first()
                    # a citizen's key is the random token of the form page they were given, so the same
                    # request under it is their own repeat: the receipt again, not a refusal
                    if first is None or first["channel"] != row["channel"] or not (
                            actor.role == "citizen" or visible(first, actor)):
                        raise Conflict("该 Idempotency-Key 已用于另一个不同的请求")
                    return seen["status_code"], as_record(first)
            if request.external_id:
                # the repeat is the sender's own: same channel, and an order the caller may see; another
                # channel's order under the same number is neither returned nor overwritten (409)
                first = await Order.select().where((Order.source == request.source)
                                                   & (Order.external_id == request.external_id)).output(
                    load_json=True).first()
                if first is not None:
                    if first["channel"] != row["channel"] or not visible(first, actor):
                        raise Conflict("该外部编号（external_id）已被另一渠道的工单使用",
                                       [FieldError("external_id", "已被另一渠道的工单使用，请换一个编号")])
                    return 200, as_record(first)
            row = {**row, "number": number or await self._next_number(now)}
            order = as_record({**row, "id": await insert_row(Order, row)})
            await service.index.add(order.id, [row["number"].lower(), *words])
            sent = await service.record_event(order, "intake", actor, None, "received", "；".join(reasons),
                                              {"source": request.source, "priority": priority, "flags": flags},
                                              now)
            for file in attachments:
                await service.attachment_desk.record(order, file, actor, now)
            if idempotency_key:
                await IdempotencyKey.insert(IdempotencyKey(scope=scope, key=idempotency_key,
                                                           request_hash=request_hash, status_code=201,
                                                           response={"number": order.number}, created_at=now))
        if sent:
            service.outbox_written()
        return 201, order

    async def _next_number(self, now: dt.datetime) -> str:
        day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
        rows = await run(self.service.engine, "INSERT INTO counters (key, value) VALUES ({}, 1) "
                         "ON CONFLICT (key) DO UPDATE SET value = counters.value + 1 RETURNING value", f"order:{day}")
        return f"{NUMBER_PREFIX}{day}{rows[0]['value']:06d}"
