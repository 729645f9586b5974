"""The order service: intake and lifecycle actions, each in one transaction with its audit event.

This is the one code path for every way in (API, web form, CLI, demo): validation, routing, SLA
deadlines, the optimistic version check that makes the loser of a race get 409, the audit event, the
channel's hooks and the outbox are all applied here, and either all of it is committed or none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import re
import secrets
from collections.abc import Callable
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from core.channels import KINDS, SOURCES
from core.confidential import HIDDEN, Sealer
from core.db import current_engine, insert_row, read_transaction, write_transaction
from core.errors import Conflict, FieldError, Forbidden, HuyingError, InvalidInput, NotFound
from core.lifecycle import STATUSES, TERMINAL, ActionContext, Refusal
from core.model import CENTRE_ROLES, ROLES, Actor, Citizen, EventRecord, OrderRecord
from core.outbox import Outbox
from core.routing import RuleCache, Suggestion, suggest
from core.search import OrderSearch, Sealed
from core.tables import Counter, Department, IdempotencyKey, Order, OrderEvent

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
NUMBER_PREFIX = "XJ"
INTAKE_ROLES = frozenset({"agent", "dispatcher", "admin", "integration", "citizen"})
PHONE = re.compile(r"^(1[3-9]\d{9}|0\d{2,3}-?\d{7,8}|[2-9]\d{6,7})$")
QUERY_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"

Kind = Literal["consult", "help", "complaint", "report", "suggestion", "praise"]
Source = Literal["phone", "city_transfer", "web_form", "netboard", "mailbox", "api"]


class IntakeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A new citizen request, the same for every channel; ``details`` holds the channel's fields."""

    kind: Kind
    subject: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]
    source: Source = "api"
    citizen: Citizen = Citizen()
    anonymous: bool = False
    address: Annotated[str, msgspec.Meta(max_length=255)] = ""
    area: Annotated[str, msgspec.Meta(max_length=64)] = ""
    category: Annotated[str, msgspec.Meta(max_length=128)] = ""
    priority: Literal["normal", "urgent"] = "normal"
    received_at: dt.datetime | None = None
    external_id: Annotated[str, msgspec.Meta(min_length=1, max_length=128)] | None = None
    details: dict[str, Any] = {}


_AT = re.compile(r" - at `\$(?:\.)?(.*)`$")


def field_errors(exc: msgspec.ValidationError, prefix: str = "") -> list[FieldError]:
    """Turn msgspec's message ("... - at `$.a.b`") into a FieldError naming ``prefix.a.b``."""
    message = str(exc)
    match = _AT.search(message)
    path = match.group(1) if match else ""
    message = _AT.sub("", message)
    path = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    key = ".".join(p for p in (prefix, path) if p)
    if not key:  # "Object missing required field `x`" is reported at the parent
        missing = re.search(r"field `([^`]+)`", message)
        key = ".".join(p for p in (prefix, missing.group(1) if missing else "") if p) or "body"
    elif "missing required field" in message:
        missing = re.search(r"field `([^`]+)`", message)
        key = f"{key}.{missing.group(1)}" if missing else key
    return [FieldError(key=key, message=message)]


def convert(data: Any, type_: Any, prefix: str = "") -> Any:
    try:
        return msgspec.convert(data, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_errors(exc, prefix)) from None


def mask_phone(phone: str) -> str:
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone[:3] + "****"
    return "*" * len(phone)


def _record(row: dict) -> OrderRecord:
    return msgspec.convert(row, OrderRecord, strict=False)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class OrderService:
    def __init__(self, channels, sla, sealer: Sealer | None = None):
        self.channels = channels
        self.sla = sla
        self.sealer = sealer
        self._departments: frozenset[str] | None = None
        self.rules = RuleCache()
        self.outbox_written: Callable[[], None] = lambda: None  # wakes the delivery job after a commit
        self.clock: Callable[[], dt.datetime] = _now  # replaced only to replay history (demo data)
        self.index = OrderSearch(channels, Sealed(sealer.secret if sealer else ""),
                                 sealer.open if sealer else (lambda value: value))
        self.learned = None  # the dispatch model (core.suggestions), consulted when no rule matches

    # -- reference data -----------------------------------------------------------------------------

    async def departments(self) -> frozenset[str]:
        if self._departments is None:
            self._departments = frozenset(r["code"] for r in await Department.select(Department.code))
        return self._departments

    def forget_reference_data(self) -> None:
        """Departments and routing rules are cached; call after changing them."""
        self._departments = None
        self.rules.forget()

    # -- intake -------------------------------------------------------------------------------------

    def check_intake(self, code: str, request: IntakeRequest, actor: Actor):
        """Validate everything that needs no database; returns (channel, details Struct)."""
        channel = self.channels.get(code)
        if channel is None:
            raise NotFound(f"渠道 {code} 不存在")
        if actor.role not in INTAKE_ROLES:
            raise Forbidden(f"{ROLES.get(actor.role, actor.role)}不能受理工单")
        if not actor.may_use_channel(code):
            raise Forbidden(f"该 API Key 无权向渠道「{channel.name}」提交工单")
        errors: list[FieldError] = []
        if request.kind not in channel.kinds:
            allowed = "、".join(KINDS[k] for k in channel.kinds)
            errors.append(FieldError("kind", f"「{channel.name}」受理的诉求类型为：{allowed}"))
        phone = request.citizen.phone.strip()
        if phone and not PHONE.match(phone):
            errors.append(FieldError("citizen.phone", "联系电话格式不正确（手机号11位，或座机号）"))
        if not request.anonymous and not phone:
            errors.append(FieldError("citizen.phone", "请留下联系电话，便于办理和回访；不愿留名请选择匿名"))
        if request.received_at is not None:
            if request.received_at.tzinfo is None:
                errors.append(FieldError("received_at", "时间须带时区，例如 2026-11-28T09:30:00+08:00"))
            elif request.received_at > self.clock() + dt.timedelta(minutes=5):
                errors.append(FieldError("received_at", "受理时间不能晚于当前时间"))
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
            for found in self.channels.hook(code, "validate_intake")(channel=channel, intake=intake, details=details):
                errors.extend(found or ())
        if errors:
            raise InvalidInput(errors)
        return channel, details

    async def intake(self, code: str, request: IntakeRequest, actor: Actor, *,
                     idempotency_key: str | None = None) -> tuple[int, dict]:
        """Record a request as a new order; returns (HTTP status, order view)."""
        channel, details = self.check_intake(code, request, actor)
        await self.sla.refresh()
        now = self.clock()
        received_at = (request.received_at or now).astimezone(dt.timezone.utc)
        request_hash = hashlib.sha256(msgspec.json.encode([code, request])).hexdigest() if idempotency_key else ""
        scope = f"{actor.kind}:{actor.name}"
        priority, flags, reasons = request.priority, [], []
        intake = {**msgspec.to_builtins(request), "received_at": received_at.isoformat()}
        for assessment in self.channels.hook(code, "assess_intake")(channel=channel, intake=intake, details=details):
            if assessment is None:
                continue
            if assessment.priority == "urgent":
                priority = "urgent"
            flags.extend(f for f in assessment.flags if f not in flags)
            reasons.extend(assessment.reasons)
        suggestion = suggest(await self.rules.get(), channel=code, subject=request.subject,
                             content=request.content, category=request.category,
                             area=request.area, kind=request.kind,
                             details=msgspec.to_builtins(details) if details is not None else None)
        if suggestion is None and self.learned is not None:  # rules win; the learned model fills the gap
            await self.learned.refresh()
            top = self.learned.best(channel=code, kind=request.kind, category=request.category,
                                    area=request.area, subject=request.subject, content=request.content)
            if top is not None:
                suggestion = Suggestion(top.department, top.reason[:255])
        citizen_name, citizen_phone = request.citizen.name.strip(), request.citizen.phone.strip()
        citizen_sealed = ""
        stored_details = msgspec.to_builtins(details) if details is not None else {}
        if channel.protect_reporter:
            citizen_sealed = self.sealer.seal(msgspec.json.encode([citizen_name, citizen_phone]).decode())
            citizen_name, citizen_phone = "", ""
        for name in channel.confidential:
            if isinstance(stored_details.get(name), str):
                stored_details[name] = self.sealer.seal(stored_details[name])
        row = {
            "query_code": "".join(secrets.choice(QUERY_CODE_ALPHABET) for _ in range(8)),
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
            "deadlines": self.sla.at_intake(channel=code, kind=request.kind, priority=priority,
                                            received_at=received_at),
            "rating": None, "external_id": request.external_id, "version": 1,
            "created_at": now, "updated_at": now,
        }
        words = self.index.words(_record({**row, "id": 0, "number": ""}))  # segmenting stays outside the lock
        # Only the database work holds the write lock; everything above was prepared outside it.
        async with write_transaction(current_engine()):
            if idempotency_key:
                seen = await IdempotencyKey.select().where(
                    (IdempotencyKey.scope == scope) & (IdempotencyKey.key == idempotency_key)).output(
                    load_json=True).first()
                if seen is not None:
                    if seen["request_hash"] != request_hash:
                        raise Conflict("该 Idempotency-Key 已用于另一个不同的请求")
                    return seen["status_code"], seen["response"]
            if request.external_id:
                first = await Order.select().where((Order.source == request.source)
                                                   & (Order.external_id == request.external_id)).output(
                    load_json=True).first()
                if first is not None:
                    return 200, self.view(_record(first), actor)
            row["number"] = await self._next_number(now)
            order = _record({**row, "id": await insert_row(Order, row)})
            await self.index.put(order.id, [row["number"].lower(), *words])
            sent = await self._audit(order, "intake", actor, None, "received", "；".join(reasons),
                                     {"source": request.source, "priority": priority, "flags": flags}, now)
            view = self.view(order, actor)
            if idempotency_key:
                await IdempotencyKey.insert(IdempotencyKey(scope=scope, key=idempotency_key,
                                                           request_hash=request_hash, status_code=201,
                                                           response=view, created_at=now))
        if sent:
            self.outbox_written()
        return 201, view

    async def _next_number(self, now: dt.datetime) -> str:
        day = now.astimezone(LOCAL_TZ).strftime("%Y%m%d")
        rows = await Counter.raw(
            "INSERT INTO counters (key, value) VALUES ({}, 1) "
            "ON CONFLICT (key) DO UPDATE SET value = counters.value + 1 RETURNING value", f"order:{day}")
        return f"{NUMBER_PREFIX}{day}{rows[0]['value']:06d}"

    async def _audit(self, order: OrderRecord, action: str, actor: Actor, from_status: str | None,
                     to_status: str | None, reason: str, payload: dict, now: dt.datetime) -> int:
        """Write the event and let the channel react, inside the caller's transaction; returns how
        many outbox messages the reaction sent."""
        event = EventRecord(action=action, actor=actor.name, role=actor.role, department=actor.department,
                            from_status=from_status, to_status=to_status, reason=reason, payload=payload,
                            created_at=now)
        await insert_row(OrderEvent, {"order_id": order.id, **msgspec.structs.asdict(event)})
        outbox = Outbox(order.number)
        channel = self.channels.get(order.channel)
        self.channels.hook(order.channel, "on_transition")(channel=channel, order=order, event=event,
                                                           outbox=outbox)
        return await outbox.write(now)

    # -- actions ------------------------------------------------------------------------------------

    async def act(self, number: str, name: str, payload: dict | None, actor: Actor) -> dict:
        """Apply one lifecycle action; refused with the reason when status, role, department,
        payload or a validator says no. Exactly one of two concurrent actions on an order wins."""
        await self.sla.refresh()
        now = self.clock()
        async with write_transaction(current_engine()):
            order = await self._load(number, actor)
            lifecycle = self.channels.lifecycle(order.channel)
            action = lifecycle.get(name)
            if action is None:
                raise NotFound(f"没有「{name}」这个操作")
            if actor.role not in action.roles:
                raise Forbidden(f"{ROLES.get(actor.role, actor.role)}不能执行「{action.label}」")
            if action.department_bound and actor.role == "handler" and actor.department != order.department:
                raise Forbidden(f"只有承办单位本单位的人员才能执行「{action.label}」")
            if order.status not in action.sources:
                raise Conflict(f"工单当前状态为「{STATUSES[order.status]}」，不能执行「{action.label}」")
            parsed = convert(payload or {}, action.payload)
            ctx = ActionContext(order=order, payload=parsed, actor=actor, now=now,
                                departments=await self.departments(), sla=self.sla)
            try:
                for validate in action.validators:
                    await _maybe_await(validate(ctx))
                channel = self.channels.get(order.channel)
                for vetoed in self.channels.hook(order.channel, "validate_action")(
                        channel=channel, action=action, ctx=ctx):
                    await _maybe_await(vetoed)  # an async implementation may read its own tables
                changes = await _maybe_await(action.effect(ctx)) if action.effect else {}
                target = action.target_for(ctx)
            except Refusal as refusal:
                raise _refused(refusal) from None
            after = order
            if changes or target != order.status:  # a pure record (comment, reveal) leaves the order be
                changes = {**changes, "status": target, "version": order.version + 1, "updated_at": now}
                updated = await (Order.update({getattr(Order, k): v for k, v in changes.items()})
                                 .where((Order.id == order.id) & (Order.version == order.version))
                                 .returning(Order.id))
                if not updated:
                    raise Conflict("工单已被他人处理，请刷新后重试")
                after = msgspec.structs.replace(order, **changes)
                await self.index.changed(order, after)
            data = msgspec.to_builtins(parsed)
            reason = data.get("reason") or data.get("note") or data.get("text") or ""
            sent = await self._audit(after, name, actor, order.status, target, reason, data, now)
            events = await self._events(order.id)
        if sent:
            self.outbox_written()
        return self.view(after, actor, events, reveal=action.reveals_contact)

    # -- attachments --------------------------------------------------------------------------------

    async def attach(self, number: str, filename: str, data: bytes, actor: Actor, store) -> dict:
        """Keep a file on an open order (evidence, photos); audited like an action."""
        from core.storage import sniff
        from core.tables import Attachment

        content_type = sniff(data)
        now = self.clock()
        async with write_transaction(current_engine()):
            order = await self._load(number, actor)
            if actor.role not in CENTRE_ROLES | {"handler"}:
                raise Forbidden("无权上传附件")
            if order.status in TERMINAL:
                raise Conflict(f"工单已{STATUSES[order.status]}，不能再上传附件")
            key = store.save(data, content_type)
            record = {"key": key, "filename": filename[:255] or key, "content_type": content_type,
                      "size": len(data), "uploaded_by": actor.name}
            await Attachment.insert(Attachment(order_id=order.id, created_at=now, **record))
            await self._audit(order, "attach", actor, order.status, order.status, "", record, now)
        return {**record, "created_at": now.isoformat()}

    async def attachments(self, number: str, actor: Actor) -> list[dict]:
        from core.tables import Attachment

        async with read_transaction(current_engine()):
            order = await self._load(number, actor)
            rows = await Attachment.select().where(Attachment.order_id == order.id).order_by(Attachment.id)
        return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()
                 if k not in ("id", "order_id")} for r in rows]

    # -- reads --------------------------------------------------------------------------------------

    async def _load(self, number: str, actor: Actor) -> OrderRecord:
        row = await Order.select().where(Order.number == number).output(load_json=True).first()
        if row is None or not self.visible(row, actor):
            raise NotFound(f"工单 {number} 不存在")
        return _record(row)

    def visible(self, row: dict, actor: Actor) -> bool:
        """A handler sees its own department's orders; an API key its own channels'."""
        if actor.role == "handler":
            return row["department"] == actor.department
        if actor.kind == "api_key":
            return actor.may_use_channel(row["channel"])
        return actor.role in CENTRE_ROLES

    async def _events(self, order_id: int) -> list[dict]:
        rows = await OrderEvent.select().where(OrderEvent.order_id == order_id).order_by(
            OrderEvent.id).output(load_json=True)
        return [msgspec.to_builtins(msgspec.convert(r, EventRecord, strict=False)) for r in rows]

    async def get(self, number: str, actor: Actor) -> dict:
        async with read_transaction(current_engine()):
            order = await self._load(number, actor)
            events = await self._events(order.id)
        return self.view(order, actor, events)

    async def search(self, actor: Actor, *, status: str | None = None, channel: str | None = None,
                     department: str | None = None, kind: str | None = None, q: str | None = None,
                     received_from: dt.datetime | None = None, received_to: dt.datetime | None = None,
                     page: int = 1, page_size: int = 20) -> dict:
        where = []
        if actor.role == "handler":
            where.append(Order.department == actor.department)
        elif actor.kind == "api_key" and actor.channels:
            where.append(Order.channel.is_in(list(actor.channels)))
        elif actor.role not in CENTRE_ROLES:
            raise Forbidden("无权查看工单")
        for column, value in ((Order.status, status), (Order.channel, channel),
                              (Order.department, department), (Order.kind, kind)):
            if value:
                where.append(column == value)
        if q and q.strip():
            where.append(self.index.where(q, actor))
        if received_from:
            where.append(Order.received_at >= received_from)
        if received_to:
            where.append(Order.received_at < received_to)
        query = Order.select().output(load_json=True)
        count = Order.count()
        for clause in where:
            query = query.where(clause)
            count = count.where(clause)
        async with read_transaction(current_engine()):
            total = await count
            rows = await query.order_by(Order.id, ascending=False).limit(page_size).offset(
                (page - 1) * page_size)
        return {"items": [self.view(_record(r), actor) for r in rows], "total": total,
                "page": page, "page_size": page_size}

    def _visible_identity(self, order: OrderRecord, channel, actor: Actor, reveal: bool) -> tuple[dict, dict]:
        """The citizen and the details as this actor may see them. Outside the centre a protected
        reporter and confidential fields are left out entirely; inside it they stay hidden or masked
        until revealed."""
        protected = bool(channel and channel.protect_reporter)
        confidential = set(channel.confidential) if channel else set()
        name, phone = order.citizen_name, order.citizen_phone
        if protected and order.citizen_sealed:
            name, phone = msgspec.json.decode(self.sealer.open(order.citizen_sealed))
        if reveal and actor.in_centre:
            citizen = {"name": name, "phone": phone}
        elif protected and not actor.in_centre:
            citizen = {"name": HIDDEN, "phone": ""}
        else:
            citizen = {"name": HIDDEN if protected else name, "phone": mask_phone(phone)}
        details = {}
        for key, value in order.details.items():
            if key not in confidential:
                details[key] = value
            elif actor.in_centre:
                details[key] = _open(self.sealer, value) if reveal else (HIDDEN if value else value)
        return citizen, details

    def view(self, order: OrderRecord, actor: Actor, events: list[dict] | None = None, *,
             reveal: bool = False) -> dict:
        """The order as this actor may see it: the phone masked unless a centre user revealed it
        (an audited action), staff-only fields left out for integrations and departments."""
        channel = self.channels.get(order.channel)
        citizen, details = self._visible_identity(order, channel, actor, reveal)
        lifecycle = self.channels.lifecycle(order.channel)
        view = {
            "number": order.number, "channel": order.channel, "channel_name": channel.name if channel else "",
            "kind": order.kind, "kind_label": KINDS.get(order.kind, order.kind),
            "source": order.source, "source_label": SOURCES.get(order.source, order.source),
            "subject": order.subject, "content": order.content,
            "citizen": citizen, "anonymous": order.anonymous,
            "address": order.address, "area": order.area, "category": order.category,
            "details": details, "status": order.status, "status_label": STATUSES[order.status],
            "department": order.department, "suggested_department": order.suggested_department,
            "suggestion_reason": order.suggestion_reason, "priority": order.priority,
            "received_at": order.received_at.isoformat(),
            "deadlines": self.sla.present(order.deadlines, self.clock()),
            "rating": order.rating, "external_id": order.external_id, "version": order.version,
            "rework_count": order.rework_count, "merged_into": order.merged_into,
            "suspended_at": order.suspended_at.isoformat() if order.suspended_at else None,
            "status_before_suspend": order.status_before_suspend,
            "extensions": order.extensions, "supervisions": order.supervisions, "flags": order.flags,
            "created_at": order.created_at.isoformat(), "updated_at": order.updated_at.isoformat(),
            "actions": [{"name": a.name, "label": a.label} for a in lifecycle.available(order.status)
                        if actor.role in a.roles],
        }
        if actor.in_centre:
            view["query_code"] = order.query_code
        if events is not None:
            view["events"] = events
        return view


async def _maybe_await(value):
    return await value if inspect.isawaitable(value) else value


def _open(sealer: Sealer | None, value: Any) -> Any:
    return sealer.open(value) if sealer else value


def _refused(refusal: Refusal) -> HuyingError:
    errors = [FieldError(refusal.key, refusal.reason)] if refusal.key else None
    if refusal.status_code == 400:
        return InvalidInput(errors or [FieldError("body", refusal.reason)], refusal.reason)
    if refusal.status_code == 403:
        return Forbidden(refusal.reason, errors)
    return Conflict(refusal.reason, errors)
