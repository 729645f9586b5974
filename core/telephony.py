"""Telephony (CTI): the PBX pushes call events, the platform keeps the call log and pops the caller.

Modelled on the generic CTI interface of helpdesks such as Zammad: each PBX is a *connection* with a
secret token in its push address; it posts ``newCall``, ``answer``, ``hangup`` (with a ``cause``) and
``recording`` events naming the PBX's ``callId``. Every event of a call lands on one row of ``calls``
(``call_key`` = connection and call id, unique), whatever the order the events arrive in; a repeated
event is recognised by its unique ``call_events.dedupe`` key and changes nothing, so nothing is
counted twice. The outcome, wait and talk seconds are recomputed from the times known after each
event. A blocked caller's ``newCall`` is answered ``{"action": "reject", "reason": "busy"}``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from typing import Annotated, Any, Literal

import msgspec
from piccolo.engine.postgres import PostgresEngine

from core import clock
from core.db import read_transaction, run, write_transaction
from core.errors import FieldError, Forbidden, InvalidInput, NotFound, Unauthorized
from core.model import Actor
from core.outbox import Outbox
from core.storage import AttachmentRefused, sniff
from core.tables import BlockedNumber, Call, CallDial, CallEvent, CallLink, CtiConnection, SettingChange, User
from core.visibility import mask_phone

EVENTS = {"newCall": "来电振铃", "answer": "接听", "hangup": "挂断", "recording": "录音"}
CAUSES = {"normalClearing": "正常挂断", "busy": "忙线", "cancel": "主叫放弃", "noAnswer": "无人接听",
          "congestion": "线路拥塞", "notFound": "号码不存在", "forwarded": "已转接"}
OUTCOMES = {"ringing": "振铃中", "talking": "通话中", "answered": "已接听", "short": "短通话",
            "missed": "未接", "abandoned": "排队放弃", "forwarded": "已转接", "blocked": "已拦截"}
DIRECTIONS = {"in": "呼入", "out": "呼出"}
CALLBACKS = {"pending": "待回拨", "called_back": "已回拨", "unreachable": "回拨未接通", "not_needed": "无需回拨"}
MISSED = ("missed", "abandoned")
SHORT_CALL_SECONDS = 10  # an answered call shorter than this is a 短通话 (a slip, a silent line)
CLOCK_SKEW = dt.timedelta(days=2)  # a PBX timestamp further than this from our clock is refused
LIST_LIMIT = 200
RECORDING_TOPIC = "cti.recording"
ORIGINATE_TOPIC = "cti.originate"
ORIGINATE_EXPIRY = dt.timedelta(minutes=10)  # a click-to-call not delivered by then is abandoned, never dialled late
RECORDING_LIMIT = 15 * 1024 * 1024  # bytes of one recording, fetched or uploaded
RECORDING_TIMEOUT = 20.0  # seconds to fetch one recording from the PBX
CONNECTION_TTL = 30.0  # seconds a process trusts its copy of the connections
# A callback's 外呼 (click-to-call from the callback desk): what its outbound call settled on the callback
DIAL_RESULTS = {"": "等待通话结果", "answered": "已接通", "no_answer": "未接通", "wrong_number": "号码错误",
                "forwarded": "已转接", "manual": "话务员已先记录结果", "closed": "回访已结束，未再记录",
                "expired": "外呼未送达电话系统"}
DIAL_WINDOW = dt.timedelta(minutes=10)  # an outbound call to the number this soon after a 外呼 is taken as it
# the order events a 外呼 writes (labels for the timeline) and the labels of their fields
ORDER_EVENTS = {"callback_dial": "外呼回访", "callback_call": "回访外呼接通"}
EVENT_FIELDS = {"extension": "分机号", "wait_seconds": "振铃秒数", "talk_seconds": "通话秒数"}

Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+*#\-() ]*$")]


class CtiEvent(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    """One pushed event; unknown fields (a PBX's own extras) are ignored, as Zammad ignores them."""

    event: Literal["newCall", "answer", "hangup", "recording"]
    callId: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    from_: Phone = msgspec.field(default="", name="from")
    to: Phone = ""
    direction: Literal["in", "out"] | None = None
    user: Annotated[str, msgspec.Meta(max_length=64)] | list[Annotated[str, msgspec.Meta(max_length=64)]] = ""
    answeringNumber: Annotated[str, msgspec.Meta(max_length=32)] = ""
    queue: Annotated[str, msgspec.Meta(max_length=64)] = ""
    cause: Literal["normalClearing", "busy", "cancel", "noAnswer", "congestion", "notFound", "forwarded", ""] = ""
    timestamp: Annotated[str, msgspec.Meta(max_length=40)] | float | None = None
    url: Annotated[str, msgspec.Meta(max_length=1000, pattern=r"^(https?://.*)?$")] = ""
    # the originate request's reference, echoed by a PBX that can (links an outbound call to its 外呼)
    reference: Annotated[str, msgspec.Meta(max_length=64)] = ""


def parse_event(data: dict) -> CtiEvent:
    """A pushed body (JSON or form fields) as an event, or a 400 naming the bad field."""
    if "user[]" in data and "user" not in data:  # Zammad's form encoding of the agents' names
        data["user"] = data.pop("user[]")
    if isinstance(data.get("user"), list):
        data["user"] = data["user"][:10]
    try:
        event = msgspec.convert(data, CtiEvent, strict=False)
    except msgspec.ValidationError as exc:
        from core.intake import field_errors

        errors = [FieldError("from" if e.key == "from_" else e.key, e.message) for e in field_errors(exc)]
        raise InvalidInput(errors, "事件内容有误：" + "；".join(f"{e.key}: {e.message}" for e in errors)) from None
    if event.event == "newCall" and event.direction is None:
        raise InvalidInput([FieldError("direction", "来电振铃事件须注明方向 in 或 out")], "事件内容有误：缺少 direction")
    if event.event == "hangup" and not event.cause:
        raise InvalidInput([FieldError("cause", "挂断事件须注明原因 cause")], "事件内容有误：缺少 cause")
    if event.event == "recording" and not event.url:
        raise InvalidInput([FieldError("url", "录音事件须给出录音地址 url")], "事件内容有误：缺少 url")
    return event


def event_time(event: CtiEvent) -> dt.datetime:
    """The PBX's time of the event (ISO 8601 with a zone, or Unix seconds), or ours when it sends none."""
    now = clock.now()
    if event.timestamp in (None, ""):
        return now
    try:
        if isinstance(event.timestamp, (int, float)):
            at = dt.datetime.fromtimestamp(float(event.timestamp), dt.timezone.utc)
        elif event.timestamp.replace(".", "", 1).isdigit():
            at = dt.datetime.fromtimestamp(float(event.timestamp), dt.timezone.utc)
        else:
            at = dt.datetime.fromisoformat(event.timestamp)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput([FieldError("timestamp", "时间应为带时区的 ISO 8601 时间或 Unix 秒数")], "事件内容有误：timestamp") from None
    if at.tzinfo is None:
        raise InvalidInput([FieldError("timestamp", "时间须带时区，如 2026-12-07T10:00:00+08:00")], "事件内容有误：timestamp")
    if abs(at - now) > CLOCK_SKEW:
        raise InvalidInput([FieldError("timestamp", "时间与平台时钟相差超过 2 天")], "事件内容有误：timestamp")
    return at


def settle(call: dict) -> dict:
    """Outcome, wait and talk seconds from the times known so far (any order of arrival)."""
    ringing, answered, ended = call["ringing_at"], call["answered_at"], call["ended_at"]
    wait = talk = None
    if ringing and (answered or ended):
        wait = max(0, round(((answered or ended) - ringing).total_seconds()))
    if answered and ended:
        talk = max(0, round((ended - answered).total_seconds()))
    if call["blocked"]:
        outcome = "blocked"
    elif answered and not ended:
        outcome = "talking"
    elif answered:
        outcome = "short" if talk < SHORT_CALL_SECONDS else "answered"
    elif not ended:
        outcome = "ringing"
    elif call["cause"] == "forwarded":
        outcome = "forwarded"
    elif call["queue"] and call["cause"] in ("cancel", "normalClearing"):
        outcome = "abandoned"  # the caller gave up while waiting in a queue
    else:
        outcome = "missed"
    callback = call["callback"]
    if call["direction"] == "in" and outcome in MISSED and not callback:
        callback = "pending"
    elif outcome not in MISSED and callback == "pending":  # a late answer event: it was not missed
        callback = ""
    return {"outcome": outcome, "wait_seconds": wait, "talk_seconds": talk, "callback": callback}


CALL_COLUMNS = ("id", "call_key", "connection_id", "call_id", "direction", "number", "from_number", "to_number",
                "queue", "extension", "agent", "ringing_at", "answered_at", "ended_at", "cause", "outcome",
                "wait_seconds", "talk_seconds", "blocked", "recording_url", "recording_key", "recording_type",
                "recording_shared", "callback", "callback_by", "callback_at", "updated_at")
INSERT_CALL = (
    "INSERT INTO calls (call_key, connection_id, call_id, direction, number, from_number, to_number, queue, "
    "extension, agent, cause, outcome, blocked, recording_url, recording_key, recording_type, recording_shared, "
    "callback, callback_by, updated_at) VALUES ({}, {}, {}, {}, '', '', '', '', '', '', '', 'ringing', FALSE, '', '', "
    "'', FALSE, '', '', {}) ON CONFLICT (call_key) DO NOTHING")
INSERT_EVENT = ("INSERT INTO call_events (call_key, event, dedupe, payload, pbx_at, received_at) "
                "VALUES ({}, {}, {}, {}, {}, {}) ON CONFLICT (dedupe) DO NOTHING RETURNING id")
SELECT_CALL = f"SELECT {', '.join(CALL_COLUMNS)} FROM calls WHERE call_key = {{}}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Telephony:
    """The platform's telephony: connections, the push, the call log, blocked numbers."""

    def __init__(self, engine, live, *, orders=None, settings=None):
        self.engine = engine
        self.live = live
        self.orders = orders  # core.orders.OrderService: a callback's 外呼 records on its order
        self.settings = settings
        self._connections: dict[str, dict | None] = {}
        self._loaded_at = 0.0
        self.outbox_written = lambda: None  # wakes the delivery job (set by the app, as the order service's)

    # -- connections --------------------------------------------------------------------------------

    async def create_connection(self, name: str, actor: Actor, *, signed: bool = False) -> dict:
        """A new PBX connection: its token (the push address) and signing secret, shown this once."""
        if actor.role != "admin":
            raise Forbidden("只有管理员可以添加电话系统对接")
        name = name.strip()
        if not 1 <= len(name) <= 64:
            raise InvalidInput([FieldError("name", "名称为 1–64 个字")], "请求内容有误：name")
        token, secret = secrets.token_urlsafe(24), secrets.token_hex(24)
        async with write_transaction(self.engine):
            row = (await CtiConnection.insert(CtiConnection(
                name=name, token_hash=_hash(token), secret=secret, signed=signed, created_by=actor.name,
                created_at=clock.now())).returning(CtiConnection.id))[0]
            await SettingChange.insert(SettingChange(setting="cti_connection", item=name, new_value={"signed": signed},
                                                     reason="添加电话系统对接", actor=actor.name, role=actor.role,
                                                     created_at=clock.now()))
        self._connections.clear()
        return {"id": row["id"], "name": name, "token": token, "secret": secret, "signed": signed,
                "push_url": f"/api/cti/{token}"}

    async def connections(self, actor: Actor) -> list[dict]:
        if actor.role != "admin":
            raise Forbidden("只有管理员可以查看电话系统对接")
        rows = await CtiConnection.select(CtiConnection.id, CtiConnection.name, CtiConnection.signed,
                                          CtiConnection.active, CtiConnection.created_by, CtiConnection.created_at)
        return rows

    async def connection(self, token: str) -> dict:
        """The active connection of a push address, or 404 (nothing is written for a stranger)."""
        if time.monotonic() - self._loaded_at > CONNECTION_TTL:
            self._connections.clear()
            self._loaded_at = time.monotonic()
        key = _hash(token)
        if key not in self._connections:
            if len(self._connections) > 1000:  # strangers' guesses never fill the memory
                self._connections.clear()
            self._connections[key] = await CtiConnection.select(
                CtiConnection.id, CtiConnection.secret, CtiConnection.signed).where(
                (CtiConnection.token_hash == key) & (CtiConnection.active == True)).first()  # noqa: E712
        found = self._connections[key]
        if found is None:
            raise NotFound("没有这个电话系统对接")
        return found

    @staticmethod
    def check_signature(connection: dict, body: bytes, signature: str | None) -> None:
        """``X-Huying-Signature: sha256=<hex HMAC-SHA256 of the body under the connection's secret>``:
        checked whenever sent, required when the connection is ``signed``."""
        if not signature:
            if connection["signed"]:
                raise Unauthorized("此对接要求签名（X-Huying-Signature）")
            return
        expected = "sha256=" + hmac.new(connection["secret"].encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.strip()):
            raise Unauthorized("签名不符（X-Huying-Signature）")

    # -- the push -----------------------------------------------------------------------------------

    async def receive(self, connection: dict, event: CtiEvent) -> dict:
        """Apply one event; the answer tells the PBX what to do (reject a blocked caller)."""
        at = event_time(event)
        key = f"{connection['id']}:{event.callId}"
        users = [event.user] if isinstance(event.user, str) else event.user
        users = [u for u in users if u]
        now = clock.now()
        popped = dialled = None
        postgres = isinstance(self.engine, PostgresEngine)
        async with write_transaction(self.engine):  # precompiled statements: this path takes every event
            await run(self.engine, INSERT_CALL, key, connection["id"], event.callId, event.direction or "in", now)
            fresh = await run(self.engine, INSERT_EVENT, key, event.event, f"{key}|{event.event}",
                              msgspec.json.encode(msgspec.to_builtins(event)).decode(), at, now)
            call = dict((await run(self.engine, SELECT_CALL + (" FOR UPDATE" if postgres else ""), key))[0])
            if not fresh:  # the PBX sent this one before: it changes nothing
                return {"call_id": event.callId, "duplicate": True, **self._instruction(call)}
            changes = self._apply(call, event, at)
            if event.event == "newCall" and call["direction"] == "in" and call["number"]:
                if await run(self.engine, "SELECT 1 AS found FROM blocked_numbers WHERE number = {}", call["number"]):
                    changes["blocked"] = call["blocked"] = True
            if event.event == "answer":
                agent = await self._agent(event.answeringNumber, users)
                if agent:
                    changes["agent"] = call["agent"] = agent
                    popped = agent
            call.update(changes)
            settled = settle(call)
            if call["direction"] == "out" and settled["outcome"] in ("answered", "short") \
                    and call["outcome"] not in ("answered", "short") and call["number"]:
                await Call.update({Call.callback: "called_back", Call.callback_by: call["agent"] or "pbx",
                                   Call.callback_at: at}).where(
                    (Call.number == call["number"]) & (Call.callback.is_in(["pending", "unreachable"])))
            elif call["direction"] == "out" and settled["outcome"] in MISSED and call["outcome"] not in MISSED \
                    and call["number"]:  # a call-back that reached nobody: 回拨未接通, still in the list
                await Call.update({Call.callback: "unreachable", Call.callback_by: call["agent"] or "pbx",
                                   Call.callback_at: at}).where(
                    (Call.number == call["number"]) & (Call.callback == "pending"))
            changes.update(settled)
            call.update(settled)
            names = sorted(changes)
            await run(self.engine, f"UPDATE calls SET {', '.join(f'{n} = {{}}' for n in names)}, updated_at = {{}} "
                                   "WHERE call_key = {}", *(changes[n] for n in names), now, key)
            if call["direction"] == "out" and self.orders is not None:
                dialled = await self._follow_dial(call, event, users)
            if "recording_url" in changes:  # fetched by the delivery job, with retries (core/builtins/telephony.py)
                box = Outbox()
                box.send(RECORDING_TOPIC, {"call_id": key, "url": event.url})
                await box.write(now)
        if event.event == "recording":
            self.outbox_written()
        if popped and event.event == "answer" and call["direction"] == "in":
            await self.live.publish(f"user:{popped}", "call.answered", {
                "call_id": key, "number": call["number"], "direction": call["direction"], "queue": call["queue"]})
        if call["direction"] == "out" and self.orders is not None and dialled:  # the callback desk shows it
            await self.live.publish(f"user:{dialled['agent']}", "callback.call", {
                "order": dialled["order_number"], "outcome": call["outcome"], "result": dialled["result"]})
        return {"call_id": event.callId, "duplicate": False, **self._instruction(call)}

    @staticmethod
    def _instruction(call: dict | None) -> dict:
        return {"action": "reject", "reason": "busy"} if call and call["blocked"] else {}

    @staticmethod
    def _apply(call: dict, event: CtiEvent, at: dt.datetime) -> dict:
        """The fields this event fills; earlier knowledge is kept (a late newCall fills only blanks)."""
        changes: dict[str, Any] = {}

        def fill(name, value):
            if value and not call[name]:
                changes[name] = call[name] = value

        if event.direction and event.event == "newCall":
            changes["direction"] = call["direction"] = event.direction
        fill("from_number", event.from_)
        fill("to_number", event.to)
        fill("queue", event.queue)
        number = call["from_number"] if call["direction"] == "in" else call["to_number"]
        if event.event == "newCall" and number and number != call["number"]:  # it alone knows the direction
            changes["number"] = call["number"] = number
        fill("number", number)
        if event.event == "newCall":
            fill("ringing_at", at)
        elif event.event == "answer":
            fill("answered_at", at)
            fill("extension", event.answeringNumber)
        elif event.event == "hangup":
            fill("ended_at", at)
            fill("cause", event.cause)
        elif event.event == "recording":
            fill("recording_url", event.url)
        return changes

    async def _agent(self, extension: str, users: list[str]) -> str:
        """The username of the agent who answered: by extension, else by a named user."""
        for name in ([extension] if extension else []) + users:
            rows = await run(self.engine, "SELECT username FROM users WHERE (extension = {} OR username = {}) "
                                          "AND active = {} ORDER BY CASE WHEN extension = {} THEN 0 ELSE 1 END LIMIT 1", name, name, True, name)
            if rows:
                return rows[0]["username"]
        return ""

    # -- the call log -------------------------------------------------------------------------------

    async def calls(self, actor: Actor, *, number: str = "", outcome: str = "", callback: str = "",
                    limit: int = 50) -> list[dict]:
        """Calls newest first, with their linked orders; centre staff only (they carry full numbers)."""
        if not actor.in_centre:
            raise Forbidden("只有中心人员可以查看来电记录")
        problems = []
        if outcome and outcome not in OUTCOMES:
            problems.append(FieldError("outcome", "没有这个通话结果", "query"))
        if callback and callback not in CALLBACKS:
            problems.append(FieldError("callback", "没有这个回拨状态", "query"))
        if not 1 <= limit <= LIST_LIMIT:
            problems.append(FieldError("limit", f"条数应在 1 到 {LIST_LIMIT} 之间", "query"))
        if len(number) > 32:
            problems.append(FieldError("number", "号码最长 32 位", "query"))
        if problems:
            raise InvalidInput(problems, "查询参数有误")
        where = [Call.id > 0]
        if number:
            where.append(Call.number == number.strip())
        if outcome:
            where.append(Call.outcome == outcome)
        if callback:
            where.append(Call.callback == callback)
        clause = where[0]
        for w in where[1:]:
            clause = clause & w
        async with read_transaction(self.engine):
            rows = await Call.select().where(clause).order_by(Call.id, ascending=False).limit(limit)
            links = await self._links([r["call_key"] for r in rows])
        return [present(r, links.get(r["call_key"], []), full_number=True) for r in rows]

    async def missed(self, actor: Actor, *, limit: int = 100) -> list[dict]:
        """未接来电 waiting for a callback, oldest first (the one who waited longest is called first)."""
        if not actor.in_centre:
            raise Forbidden("只有中心人员可以查看未接来电")
        rows = await Call.select().where(Call.callback.is_in(["pending", "unreachable"])).order_by(
            Call.id).limit(min(max(limit, 1), LIST_LIMIT))
        return [present(r, [], full_number=True) for r in rows]

    async def set_callback(self, call_key: str, outcome: str, actor: Actor) -> dict:
        """The outcome of calling back a missed call, recorded with who and when (audited)."""
        if not actor.in_centre:
            raise Forbidden("只有中心人员可以回拨")
        if outcome not in ("called_back", "unreachable", "not_needed"):
            raise InvalidInput([FieldError("outcome", "回拨结果应为 called_back、unreachable 或 not_needed")],
                               "请求内容有误：outcome")
        now = clock.now()
        async with write_transaction(self.engine):
            call = await Call.select().where(Call.call_key == call_key).first()
            if call is None:
                raise NotFound("没有这通电话")
            if call["outcome"] not in MISSED:
                raise InvalidInput([FieldError("outcome", "这通电话已接听，无需回拨")], "这通电话已接听，无需回拨")
            await Call.update({Call.callback: outcome, Call.callback_by: actor.name, Call.callback_at: now,
                               Call.updated_at: now}).where(Call.call_key == call_key)
            await CallEvent.insert(CallEvent(call_key=call_key, event="callback", dedupe=f"{call_key}|callback|{now.isoformat()}",
                                             payload={"outcome": outcome, "by": actor.name}, received_at=now))
            call.update(callback=outcome, callback_by=actor.name, callback_at=now)
        return present(call, [], full_number=True)

    async def link_order(self, call_key: str, order_number: str, actor: Actor) -> bool:
        """Link an order to the call it was recorded from; an unknown call links nothing."""
        async with write_transaction(self.engine):
            if not await Call.exists().where(Call.call_key == call_key):
                return False
            if not await CallLink.exists().where((CallLink.call_key == call_key) & (CallLink.order_number == order_number)):
                await CallLink.insert(CallLink(call_key=call_key, order_number=order_number, linked_by=actor.name,
                                               linked_at=clock.now()))
        return True

    async def call(self, call_key: str, actor: Actor) -> dict:
        if not actor.in_centre:
            raise Forbidden("只有中心人员可以查看来电记录")
        row = await Call.select().where(Call.call_key == call_key[:160]).first()
        if row is None:
            raise NotFound("没有这通电话")
        links = await self._links([call_key])
        return present(row, links.get(call_key, []), full_number=True)

    async def recent(self, number: str, *, limit: int = 10) -> list[dict]:
        """That number's latest calls, for the caller history beside the intake form (centre only)."""
        if not number:
            return []
        rows = await Call.select().where(Call.number == number).order_by(Call.id, ascending=False).limit(limit)
        links = await self._links([r["call_key"] for r in rows])
        return [present(r, links.get(r["call_key"], []), full_number=True) for r in rows]

    async def calls_of_order(self, order_number: str) -> list[dict]:
        """The calls an order was recorded from, for its page: numbers masked as the order's own (its
        audited reveal stays the way to the full number)."""
        keys = [r["call_key"] for r in await CallLink.select(CallLink.call_key).where(CallLink.order_number == order_number)]
        if not keys:
            return []
        rows = await Call.select().where(Call.call_key.is_in(keys)).order_by(Call.id)
        return [present(r, [order_number], full_number=False) for r in rows]

    async def _links(self, keys: list[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        if keys:
            for r in await CallLink.select(CallLink.call_key, CallLink.order_number).where(CallLink.call_key.is_in(keys)):
                found.setdefault(r["call_key"], []).append(r["order_number"])
        return found

    # -- recordings ---------------------------------------------------------------------------------

    async def store_recording(self, call_key: str, data: bytes, store, *, via: str) -> str:
        """Keep a call's recording in the attachment store (MP3, M4A or AMR); its content type."""
        if len(data) > RECORDING_LIMIT:
            raise InvalidInput([FieldError("body", f"录音超过 {RECORDING_LIMIT // (1024 * 1024)} MB")], "录音过大")
        try:
            content_type = sniff(data)
        except AttachmentRefused as refused:
            raise InvalidInput([FieldError("body", str(refused))], "录音格式不支持") from None
        if not content_type.startswith("audio/"):
            raise InvalidInput([FieldError("body", "录音应为 MP3、M4A 或 AMR 音频")], "录音格式不支持")
        key = store.save(data, content_type)
        now = clock.now()
        async with write_transaction(self.engine):
            old = await Call.select(Call.recording_key).where(Call.call_key == call_key).first()
            if old is None:
                store.delete(key)
                raise NotFound("没有这通电话")
            await Call.update({Call.recording_key: key, Call.recording_type: content_type, Call.updated_at: now}).where(
                Call.call_key == call_key)
            await CallEvent.insert(CallEvent(call_key=call_key, event="recorded", dedupe=f"{call_key}|recorded|{key}",
                                             payload={"via": via, "bytes": len(data), "type": content_type},
                                             received_at=now))
        if old["recording_key"]:
            store.delete(old["recording_key"])
        return content_type

    async def recording(self, call_key: str, actor: Actor, store, *, address: str = "") -> tuple[bytes, str]:
        """A recording to play: the centre's staff, or the department of a linked order when the
        centre shared it; every playback is in the access audit."""
        from core import access_audit
        from core.tables import Order

        call = await Call.select(Call.recording_key, Call.recording_type, Call.recording_shared).where(
            Call.call_key == call_key[:160]).first()
        if call is None or not call["recording_key"]:
            raise NotFound("没有这段录音")
        if not actor.in_centre:
            numbers = [r["order_number"] for r in await CallLink.select(CallLink.order_number).where(
                CallLink.call_key == call_key)]
            mine = numbers and actor.department and await Order.exists().where(
                Order.number.is_in(numbers) & (Order.department == actor.department))
            if not (call["recording_shared"] and mine):
                raise NotFound("没有这段录音")
        await access_audit.record("play_recording", actor=actor.name, role=actor.role, address=address,
                                  target=call_key, detail={"type": call["recording_type"]})
        return store.open(call["recording_key"]), call["recording_type"]

    async def share_recording(self, call_key: str, shared: bool, actor: Actor) -> None:
        """Let the linked orders' departments hear a recording (or no longer): supervisors and admins."""
        if actor.role not in ("supervisor", "admin"):
            raise Forbidden("只有督办员和管理员可以共享录音")
        now = clock.now()
        async with write_transaction(self.engine):
            if not await Call.exists().where((Call.call_key == call_key) & (Call.recording_key != "")):
                raise NotFound("没有这段录音")
            await Call.update({Call.recording_shared: shared, Call.updated_at: now}).where(Call.call_key == call_key)
            await CallEvent.insert(CallEvent(call_key=call_key, event="share", dedupe=f"{call_key}|share|{now.isoformat()}",
                                             payload={"shared": shared, "by": actor.name}, received_at=now))

    # -- click-to-call ------------------------------------------------------------------------------

    async def originate(self, call_key: str, actor: Actor, *, address: str = "") -> dict:
        """Ask the PBX to call a missed caller back from the agent's extension (外呼), through the
        outbox; the outbound call's own events then land in the log and settle the callback."""
        from core import access_audit

        if not actor.in_centre:
            raise Forbidden("只有中心人员可以外呼")
        now = clock.now()
        async with write_transaction(self.engine):
            me = await User.select(User.extension).where(User.username == actor.name).first()
            if not me or not me["extension"]:
                raise InvalidInput([FieldError("extension", "你还没有分机号，请管理员先设置")], "没有分机号，无法外呼")
            call = await Call.select(Call.number).where(Call.call_key == call_key[:160]).first()
            if call is None or not call["number"]:
                raise NotFound("没有这通电话")
            box = Outbox()
            box.send(ORIGINATE_TOPIC, {"number": call["number"], "extension": me["extension"], "agent": actor.name,
                                       "reference": call_key})
            await box.write(now)
            await access_audit.record("originate", actor=actor.name, role=actor.role, address=address,
                                      target=call_key, detail={"extension": me["extension"]})
        self.outbox_written()
        return {"number": call["number"], "extension": me["extension"]}

    # -- the callback desk's 外呼 ----------------------------------------------------------------------

    async def dial_order(self, number: str, actor: Actor, *, address: str = "") -> dict:
        """外呼 for an order's callback: the PBX rings the agent's extension, then the citizen (through
        the outbox to the originate interface). The request carries a ``reference`` that the outbound
        call's events may echo; without it the call is recognised by the number and the extension
        within ``DIAL_WINDOW``. Its outcome then lands in the callback (``_follow_dial``)."""
        from core import access_audit
        from core.lifecycle import Refusal, _callback_open, _not_yet_rated
        from core.errors import Conflict

        if actor.role not in ("agent", "admin"):
            raise Forbidden("只有话务员和管理员可以外呼回访")
        if not (self.settings and self.settings.cti_originate_url):
            raise Conflict("未配置电话系统的外呼接口，请手动拨打市民电话后记录回访结果")
        now = clock.now()
        async with write_transaction(self.engine):
            order = await self.orders.get(number, actor)  # 404 for an order this user may not see
            try:
                if order.status != "completed":
                    raise Refusal("该工单没有待进行的回访")
                _not_yet_rated(order, now)
                _callback_open(order, now)
            except Refusal as refusal:
                raise Conflict(refusal.reason) from None
            me = await User.select(User.extension).where(User.username == actor.name).first()
            if not me or not me["extension"]:
                raise InvalidInput([FieldError("extension", "你还没有分机号，请管理员先设置")], "没有分机号，无法外呼")
            phone = order.citizen_phone
            if order.citizen_sealed:  # a protected reporter: the PBX still needs the number
                phone = msgspec.json.decode(self.orders.sealer.open(order.citizen_sealed))[1]
            if not phone:
                raise Conflict("该工单没有市民电话，无法外呼")
            reference = f"cb-{secrets.token_hex(8)}"
            await CallDial.insert(CallDial(reference=reference, order_number=number, number=phone,
                                           extension=me["extension"], agent=actor.name, requested_at=now))
            box = Outbox()  # not queued behind an earlier 外呼 of the order that the PBX never took
            box.send(ORIGINATE_TOPIC, {"number": phone, "extension": me["extension"], "agent": actor.name,
                                       "reference": reference, "order": number})
            await box.write(now)
            await self.orders.note(number, "callback_dial", actor, reason="经电话系统外呼市民",
                                   payload={"extension": me["extension"]})
            await access_audit.record("originate", actor=actor.name, role=actor.role, address=address,
                                      target=number, detail={"extension": me["extension"], "reference": reference})
        self.outbox_written()
        return {"order": number, "reference": reference, "extension": me["extension"]}

    async def dials_of_order(self, number: str) -> list[dict]:
        """The callback desk's 外呼 of an order, newest first, each with its outbound call (times, wait
        and talk seconds) and what it settled; the number masked (the order's reveal shows it)."""
        dials = await CallDial.select().where(CallDial.order_number == number).order_by(
            CallDial.id, ascending=False).limit(20)
        keys = [d["call_key"] for d in dials if d["call_key"]]
        calls = {c["call_key"]: c for c in await Call.select().where(Call.call_key.is_in(keys))} if keys else {}
        return [{"reference": d["reference"], "extension": d["extension"], "agent": d["agent"],
                 "requested_at": d["requested_at"], "result": d["result"],
                 "result_label": DIAL_RESULTS.get(d["result"], ""), "settled_at": d["settled_at"],
                 "call": present(calls[d["call_key"]], [number], full_number=False) if d["call_key"] in calls else None}
                for d in dials]

    async def _follow_dial(self, call: dict, event: CtiEvent, users: list[str]) -> dict | None:
        """Inside the push's transaction: link an outbound call to the 外呼 it answers (by the echoed
        reference, else by number and extension within ``DIAL_WINDOW``) and to the order; once the call
        has ended, record its outcome on the callback: not answered (noAnswer, busy, congestion, cancel)
        is an attempt 未接通 with its retry, ``notFound`` one 号码错误; an answered call is noted on the
        order and leaves the rating to the agent. Nothing is recorded twice, nor over the agent's own."""
        key = call["call_key"]
        dial = await CallDial.select().where(CallDial.call_key == key).first()
        if dial is None:
            if event.reference:
                dial = await CallDial.select().where(
                    (CallDial.reference == event.reference) & (CallDial.call_key == "")).first()
            elif event.event == "newCall" and call["number"] and call["ringing_at"]:  # once, when it rings
                candidates = await CallDial.select().where(
                    (CallDial.number == call["number"]) & (CallDial.call_key == "")
                    & (CallDial.requested_at >= call["ringing_at"] - DIAL_WINDOW)
                    & (CallDial.requested_at <= call["ringing_at"] + dt.timedelta(minutes=1))).order_by(
                    CallDial.id, ascending=False).limit(10)
                dial = next((d for d in candidates if call["from_number"] in ("", d["extension"])
                             or d["agent"] in users or d["extension"] in users), None)
            if dial is None:
                return None
            await CallDial.update({CallDial.call_key: key}).where(CallDial.id == dial["id"])
            await CallLink.insert(CallLink(call_key=key, order_number=dial["order_number"], linked_by=dial["agent"],
                                           linked_at=clock.now()))
            dial["call_key"] = key
        if dial["result"] or call["outcome"] in ("ringing", "talking", "blocked"):
            return dial
        dial["result"] = await self._settle_dial(dial, call)
        await CallDial.update({CallDial.result: dial["result"], CallDial.settled_at: clock.now()}).where(
            CallDial.id == dial["id"])
        return dial

    async def _settle_dial(self, dial: dict, call: dict) -> str:
        from core.errors import HuyingError
        from core.tables import Order, OrderEvent

        number = dial["order_number"]
        order = await Order.select(Order.id).where(Order.number == number).first()
        user = await User.select(User.role, User.department).where(
            (User.username == dial["agent"]) & (User.active == True)).first()  # noqa: E712
        if order is None or user is None:
            return "closed"
        actor = Actor(name=dial["agent"], role=user["role"], department=user["department"])
        if call["outcome"] in ("answered", "short", "forwarded"):  # noted even when rated during the call
            talk = call["talk_seconds"] or 0
            reason = ("外呼已转接" if call["outcome"] == "forwarded" else
                      f"外呼接通，通话 {talk // 60} 分 {talk % 60} 秒，请记录市民评价")
            await self.orders.note(number, "callback_call", actor, reason=reason,
                                   payload={"wait_seconds": call["wait_seconds"], "talk_seconds": call["talk_seconds"]})
            return "forwarded" if call["outcome"] == "forwarded" else "answered"
        if await OrderEvent.exists().where((OrderEvent.order_id == order["id"])
                                           & OrderEvent.action.is_in(["callback", "callback_attempt"])
                                           & (OrderEvent.created_at >= dial["requested_at"])):
            return "manual"  # the agent recorded this callback's outcome before the PBX's hang-up came
        outcome = "wrong_number" if call["cause"] == "notFound" else "no_answer"
        note = f"外呼{CAUSES.get(call['cause']) or '未接通'}"
        if call["wait_seconds"] is not None:
            note += f"（响铃 {call['wait_seconds']} 秒）"
        try:
            await self.orders.act(number, "callback_attempt", {"outcome": outcome, "note": note}, actor)
        except HuyingError:  # the callback closed meanwhile (rated, archived): nothing more to record
            return "closed"
        return outcome

    # -- blocked numbers ----------------------------------------------------------------------------

    async def blocked(self, actor: Actor) -> list[dict]:
        if actor.role not in ("admin", "supervisor"):
            raise Forbidden("只有管理员和督办员可以查看屏蔽号码")
        return await BlockedNumber.select(BlockedNumber.number, BlockedNumber.note, BlockedNumber.created_by,
                                          BlockedNumber.created_at).order_by(BlockedNumber.id)

    async def block(self, number: str, note: str, actor: Actor) -> None:
        if actor.role != "admin":
            raise Forbidden("只有管理员可以屏蔽号码")
        async with write_transaction(self.engine):
            await BlockedNumber.insert(BlockedNumber(number=number, note=note, created_by=actor.name,
                                                     created_at=clock.now())).on_conflict(
                target=BlockedNumber.number, action="DO NOTHING")
            await SettingChange.insert(SettingChange(setting="blocked_number", item=number, new_value={"note": note},
                                                     reason=note, actor=actor.name, role=actor.role, created_at=clock.now()))

    async def unblock(self, number: str, actor: Actor) -> None:
        if actor.role != "admin":
            raise Forbidden("只有管理员可以解除屏蔽")
        async with write_transaction(self.engine):
            if not await BlockedNumber.exists().where(BlockedNumber.number == number):
                raise NotFound("这个号码没有被屏蔽")
            await BlockedNumber.delete().where(BlockedNumber.number == number)
            await SettingChange.insert(SettingChange(setting="blocked_number", item=number, old_value={"blocked": True},
                                                     reason="解除屏蔽", actor=actor.name, role=actor.role, created_at=clock.now()))

    # -- extensions ---------------------------------------------------------------------------------

    async def set_extension(self, username: str, extension: str, actor: Actor, *, address: str = "") -> None:
        """An agent's phone extension (分机号), by which the PBX's answer events name them; one per user."""
        from core import access_audit

        if actor.role != "admin":
            raise Forbidden("只有管理员可以设置分机号")
        if extension and not (extension.isdigit() and len(extension) <= 32):
            raise InvalidInput([FieldError("extension", "分机号为 1–32 位数字")], "请求内容有误：extension")
        async with write_transaction(self.engine):
            user = await User.select(User.id).where(User.username == username).first()
            if user is None:
                raise NotFound("没有这个用户")
            if extension and await User.exists().where((User.extension == extension) & (User.username != username)):
                raise InvalidInput([FieldError("extension", f"分机号 {extension} 已分配给其他人")], "分机号已被占用")
            await User.update({User.extension: extension or None}).where(User.id == user["id"])
            await access_audit.record("account_changed", actor=actor.name, role=actor.role, address=address,
                                      target=username, detail={"change": "extension", "extension": extension})


SERVICE_SECONDS = 20  # the service level counts calls answered within this many seconds
STALE = dt.timedelta(hours=4)  # a call with no hang-up for this long lost its event: not a line in use


async def lines_now(now: dt.datetime, *, plan: int) -> dict:
    """The board's telephone figures: lines in use against the plan, calls waiting, and today's
    answer rate and service level (inbound calls that ended today, blocked ones left out)."""
    from core.calendar import SHANGHAI

    local = now.astimezone(SHANGHAI)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    recent = now - STALE
    async with read_transaction(Call._meta.db):
        talking = await Call.count().where((Call.outcome == "talking") & (Call.answered_at >= recent))
        waiting = await Call.count().where((Call.outcome == "ringing") & (Call.direction == "in") & (Call.ringing_at >= recent))
        ended = await Call.select(Call.outcome, Call.wait_seconds).where(
            (Call.direction == "in") & (Call.ended_at >= midnight) & (Call.blocked == False)).limit(100_000)  # noqa: E712
    answered = [c for c in ended if c["outcome"] in ("answered", "short")]
    quick = [c for c in answered if c["wait_seconds"] is not None and c["wait_seconds"] <= SERVICE_SECONDS]
    offered = [c for c in ended if c["outcome"] in ("answered", "short", "missed", "abandoned")]
    return {"lines_in_use": talking, "plan_lines": plan, "over_plan": talking > plan, "waiting": waiting,
            "offered_today": len(offered), "answered_today": len(answered),
            "answer_rate": round(len(answered) / len(offered), 4) if offered else None,
            "service_level": round(len(quick) / len(offered), 4) if offered else None,
            "service_seconds": SERVICE_SECONDS}


class Handling(msgspec.Struct, kw_only=True):
    """Measured talk seconds of answered calls: per (channel, local hour) and per hour where a cell has
    at least the minimum of calls, the overall mean, and how many calls were measured."""

    by_cell: dict[tuple[str, int], float]
    by_hour: dict[int, float]
    overall: float
    calls: int
    cell_calls: dict[tuple[str, int], int]


async def handling_by_channel(since: dt.datetime, channels: dict[str, str], *, minimum: int = 5) -> Handling:
    """Talk seconds per hour and per channel: a call's channel is its ``queue`` when the queue names a
    channel (its code or its name), else the channel of the order recorded from it, else none (it then
    counts for its hour and overall only)."""
    from core.calendar import SHANGHAI
    from core.tables import Order

    by_name = {**{name: code for code, name in channels.items()}, **{code: code for code in channels}}
    rows = await Call.select(Call.call_key, Call.answered_at, Call.talk_seconds, Call.queue).where(
        Call.outcome.is_in(["answered", "short"]) & (Call.answered_at >= since)).limit(200_000)
    unplaced = [r["call_key"] for r in rows if r["queue"] not in by_name]
    linked: dict[str, str] = {}
    for start in range(0, len(unplaced), 500):  # bounded statements, whatever the volume
        keys = unplaced[start:start + 500]
        links = await CallLink.select(CallLink.call_key, CallLink.order_number).where(CallLink.call_key.is_in(keys))
        numbers = {link["order_number"] for link in links}
        of = {o["number"]: o["channel"] for o in await Order.select(Order.number, Order.channel).where(
            Order.number.is_in(list(numbers)))} if numbers else {}
        for link in sorted(links, key=lambda item: item["order_number"]):
            linked.setdefault(link["call_key"], of.get(link["order_number"], ""))
    cells: dict[tuple[str, int], list[int]] = {}
    hours: dict[int, list[int]] = {}
    for r in rows:
        hour = r["answered_at"].astimezone(SHANGHAI).hour
        talk = r["talk_seconds"] or 0
        hours.setdefault(hour, []).append(talk)
        channel = by_name.get(r["queue"]) or linked.get(r["call_key"], "")
        if channel in channels:
            cells.setdefault((channel, hour), []).append(talk)
    total = sum(sum(v) for v in hours.values())
    return Handling(by_cell={k: sum(v) / len(v) for k, v in cells.items() if len(v) >= minimum},
                    by_hour={h: sum(v) / len(v) for h, v in hours.items() if len(v) >= minimum},
                    overall=total / len(rows) if rows else 0.0, calls=len(rows),
                    cell_calls={k: len(v) for k, v in cells.items()})


def present(row: dict, orders: list[str], *, full_number: bool) -> dict:
    """A call as the API and the console show it: labels beside codes, numbers masked outside the centre."""
    number = row["number"] if full_number else mask_phone(row["number"])
    return {
        "call_id": row["call_key"], "pbx_call_id": row["call_id"], "number": number,
        "direction": row["direction"], "direction_label": DIRECTIONS.get(row["direction"], ""),
        "outcome": row["outcome"], "outcome_label": OUTCOMES.get(row["outcome"], ""),
        "ringing_at": row["ringing_at"], "answered_at": row["answered_at"], "ended_at": row["ended_at"],
        "wait_seconds": row["wait_seconds"], "talk_seconds": row["talk_seconds"],
        "agent": row["agent"], "extension": row["extension"], "queue": row["queue"],
        "cause": row["cause"], "cause_label": CAUSES.get(row["cause"], ""),
        "callback": row["callback"], "callback_label": CALLBACKS.get(row["callback"], ""),
        "callback_by": row["callback_by"], "callback_at": row["callback_at"],
        "has_recording": bool(row["recording_key"]), "recording_shared": row["recording_shared"], "orders": orders,
    }
