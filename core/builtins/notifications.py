"""Text messages to citizens and notices to staff, written to the outbox with the change that causes
them and handed to a provider by the delivery job.

Citizens get three messages (templates below): the receipt with the query code at intake, the
completion notice (with the query code again), and the callback invitation; a call an agent answers on
the spot gets one message for both receipt and completion (``PHONE_RECEIPT_HOLD``). Nobody who filed anonymously, gave no mobile number,
or opted out gets any, and no number gets more than ``HUYING_SMS_LIMIT`` in its window. Staff notices
(the SLA sweep's 临期/超期 warnings) go to the order's department and to the centre.

The provider records every message in ``text_messages`` (the default: nothing leaves the machine);
with ``HUYING_SMS_GATEWAY_URL`` set it also posts each one to that HTTP gateway, with the outbox
message's stable id as ``Idempotency-Key``. Without a gateway the record is the delivery, so it is
made in the change's own transaction: nothing queues in the outbox for a job to copy (a burst of
intakes once left thousands of receipts waiting behind a job that copies a hundred every few seconds).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Protocol

import httpx

from core import clock
from core.hookspecs import hookimpl
from core import notices
from core.notices import STAFF_TOPIC, staff_notice, text_of
from core.outbox import idempotency_key

SMS_TOPIC = "notify.sms"
MOBILE = re.compile(r"^1[3-9]\d{9}$")
TEMPLATES = {
    "receipt": "{sign}您的诉求已受理，工单号{number}，查询码{query_code}。可凭工单号和查询码查询办理进度。",
    "completed": "{sign}您反映的问题（工单号{number}）已办结，可凭查询码{query_code}查询办理结果。感谢您的支持！",
    # a call answered on the spot: the receipt and the completion in one message
    "resolved": "{sign}您的诉求已受理并当场答复办结，工单号{number}，查询码{query_code}。可凭工单号和查询码查看答复。",
    "callback_invite": "{sign}您的工单{number}已办结，我们将于近日回访；也可凭查询码在线评价办理结果。",
}
# what the signed tracking link does for the citizen, per message (core/tracking_links.py)
LINK_LABELS = {"receipt": "查看进度", "completed": "查看答复", "resolved": "查看答复", "callback_invite": "在线评价"}
# A call taken by an agent may be answered on the spot a moment later (即时办结): its receipt waits this
# long, so that an answer within it replaces receipt and completion notice with one message.
PHONE_RECEIPT_HOLD = dt.timedelta(minutes=3)
RESOLVERS = ("agent", "admin")  # who may take 即时办结 (core.lifecycle)
SUPERVISION_LABELS = {"supervise": "督办", "urge": "催办", "follow_up": "来电人追加催办"}


class Provider(Protocol):
    """Where a text message goes after it is recorded: ``name`` is written beside each message."""

    name: str

    async def send(self, recipient: str, text: str, key: str) -> None: ...


class RecordingProvider:
    """The default: the database record is the delivery (for a centre without an SMS contract)."""

    name = "database"

    async def send(self, recipient: str, text: str, key: str) -> None:
        return None


class HttpGatewayProvider:
    """Posts ``{"to", "text", "id"}`` as JSON to an SMS gateway; a non-2xx answer is retried."""

    name = "http_gateway"

    def __init__(self, url: str, token: str = ""):
        self.url, self.token = url, token

    async def send(self, recipient: str, text: str, key: str) -> None:
        headers = {"Idempotency-Key": key}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.url, json={"to": recipient, "text": text, "id": key}, headers=headers)
            response.raise_for_status()


def provider_for(settings) -> Provider:
    if settings.sms_gateway_url:
        return HttpGatewayProvider(settings.sms_gateway_url, settings.sms_gateway_token)
    return RecordingProvider()


def parse_limit(text: str) -> tuple[int, int]:
    count, _, seconds = text.partition("/")
    return int(count), int(seconds or 86400)


# -- what each change sends -------------------------------------------------------------------------------

def _citizen_template(order, event) -> str | None:
    if event.action == "intake":
        return "receipt"
    if event.to_status == "completed" and event.action == "approve":
        return "completed"
    if event.action == "resolve_at_intake":  # completed or, with no callback owed, archived
        return "completed"
    if event.action == "schedule_callback":
        return "callback_invite"
    return None


@hookimpl
def on_transition(channel, order, event, outbox):
    template = _citizen_template(order, event)
    if template and not order.anonymous and MOBILE.match(order.citizen_phone or ""):
        message = {"template": template, "phone": order.citizen_phone, "number": order.number,
                   "query_code": order.query_code}
        if template == "completed" and event.action == "resolve_at_intake":
            return _one_message_for_the_call(outbox, message, event)
        held = template == "receipt" and order.source == "phone" and event.role in RESOLVERS
        outbox.send(SMS_TOPIC, message, hold=PHONE_RECEIPT_HOLD if held else None)
    if event.action == "sla_mark":
        recipients = ["role:dispatcher"]
        if order.department:
            recipients.insert(0, f"department:{order.department}")
        if event.payload.get("escalate") == "supervise":
            recipients.append("role:supervisor")  # the supervisor's queue
        for recipient in recipients:
            staff_notice(outbox, recipient, "sla", number=order.number, subject=order.subject, note=event.reason)
    if event.action in ("supervise", "caller_follow_up") and order.department:  # a 督办/催办 for the department
        by_caller = event.action == "caller_follow_up"  # the caller rang again: a 催办 in their words
        staff_notice(outbox, f"department:{order.department}", "supervision", number=order.number,
                     subject=order.subject,
                     kind_label=SUPERVISION_LABELS.get("follow_up" if by_caller else event.payload.get("kind"), "督办"),
                     note=event.payload.get("text" if by_caller else "note", ""))
    if event.action in ("dispatch", "redispatch", "add_assisting"):  # 联合办理: each new 协办 learns of its part
        dues = {p["department"]: p["due"] for p in order.assisting}
        for code in event.payload.get("assisting") or ():
            staff_notice(outbox, f"department:{code}", "assisting", number=order.number, subject=order.subject,
                         due=_local_minute(dues.get(code)))
    if event.action == "rework" and order.department:  # back to the department: it learns at once, with the why
        staff_notice(outbox, f"department:{order.department}", "rework", number=order.number, subject=order.subject,
                     round=order.rework_count, due=_local_minute((order.deadlines.get("handle") or {}).get("due")),
                     reason=event.reason or event.payload.get("reason", ""))
    if event.action == "return":  # the dispatchers rule on it
        return _returned(outbox, order, event)


def _local_minute(instant: str | None) -> str:
    return dt.datetime.fromisoformat(instant).astimezone(clock.SHANGHAI).strftime("%m月%d日 %H:%M") if instant else "期限内"


async def _returned(outbox, order, event) -> None:
    from core.tables import Department

    row = await Department.select(Department.name).where(Department.code == (event.department or "")).first()
    staff_notice(outbox, "role:dispatcher", "returned", number=order.number, subject=order.subject,
                 department_name=row["name"] if row else "承办单位", reason=event.payload.get("reason", ""))


async def _one_message_for_the_call(outbox, message: dict, event) -> None:
    """Answered while the receipt still waits: the receipt is taken back and one message says both
    (受理 and 办结, with the query code); otherwise the completion notice alone."""
    from core.outbox import supersede

    taken = await supersede(SMS_TOPIC, message["number"], lambda p: p.get("template") == "receipt",
                            "已并入受理并办结通知", event.created_at)
    outbox.send(SMS_TOPIC, {**message, "template": "resolved" if taken else "completed"})


# -- delivery -------------------------------------------------------------------------------------------------

async def _record(message: dict, *, kind: str, recipient: str, template: str, text: str, status: str,
                  provider: str) -> None:
    from core.tables import TextMessage

    await TextMessage.insert(TextMessage(outbox_id=message["id"], kind=kind, recipient=recipient, template=template,
                                         order_number=message["order_number"], text=text, status=status,
                                         provider=provider, created_at=clock.now()))


async def _already_handled(message: dict) -> bool:
    """A redelivery after a crash between recording and acknowledging must not record twice."""
    from core.tables import TextMessage

    return await TextMessage.exists().where(TextMessage.outbox_id == message["id"])


async def deliver_sms(message: dict, settings) -> None:
    from core.tables import SmsOptOut, TextMessage

    if message["id"] is not None and await _already_handled(message):
        return
    payload = message["payload"]
    phone, template = payload["phone"], payload["template"]
    text = TEMPLATES[template].format(sign=settings.sms_sign, **payload) + _tracking_link(template, payload, settings)
    provider = provider_for(settings)
    status = "sent" if provider.name != "database" else "recorded"
    count, seconds = parse_limit(settings.sms_limit)
    since = clock.now() - dt.timedelta(seconds=seconds)
    if await SmsOptOut.exists().where(SmsOptOut.phone == phone):
        status = "opted_out"
    elif len(await TextMessage.select(TextMessage.id).where(  # counted up to the limit, not beyond: a
            (TextMessage.recipient == phone) & TextMessage.status.is_in(["sent", "recorded"])  # number that
            & (TextMessage.created_at >= since)).limit(count)) >= count:  # called 10,000 times costs no more
        status = "rate_limited"
    else:
        await provider.send(phone, text, idempotency_key(message))
    await _record(message, kind="sms", recipient=phone, template=template, text=text, status=status,
                  provider=provider.name)


def _tracking_link(template: str, payload: dict, settings) -> str:
    """" 查看进度：https://…/t/<token>" when the public address is configured, else nothing."""
    from core.tracking_links import link

    if not settings.public_url or template not in LINK_LABELS:
        return ""
    url = link(settings.public_url, payload["number"], clock.today(), settings.secret_key, settings.tracking_link_days)
    return f"{LINK_LABELS[template]}：{url}"


async def record_sms_at_once(message: dict, settings) -> bool:
    """With no gateway configured, record the message now, in the transaction that sends it."""
    if settings.sms_gateway_url:
        return False
    await deliver_sms(message, settings)
    return True


deliver_sms.in_transaction = record_sms_at_once


async def deliver_staff(message: dict, settings) -> None:
    """Posted to the centre's gateway first when one is configured (a failure is retried by the
    outbox, with the same Idempotency-Key), then recorded for the staff to read in the platform."""
    if await _already_handled(message):
        return
    payload = message["payload"]
    text = text_of(payload)
    provider = "database"
    if settings.notify_url:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(settings.notify_url, json={**payload, "text": text},
                                         headers={"Idempotency-Key": idempotency_key(message)})
            response.raise_for_status()
        provider = "gateway"
    await _record(message, kind="staff", recipient=payload["to"], template=payload.get("template", "sla"),
                  text=text, status="sent" if provider == "gateway" else "recorded", provider=provider)


deliver_sms.label = "短信"
deliver_staff.label = "工作人员通知"


@hookimpl
def outbox_deliverers():
    return {SMS_TOPIC: deliver_sms, STAFF_TOPIC: deliver_staff}


# -- reading them back ---------------------------------------------------------------------------------------

recipients_for = notices.recipients
