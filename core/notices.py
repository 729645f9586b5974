"""Notices to staff: one outbox topic for every message the platform sends its own people.

The SLA sweep's 临期/超期 notices, a 督办 issued to a department, an order a department returned, new
early warnings, the monthly and annual reports when they are generated, knowledge answers about to
lapse, and the invitations and decisions of coordination meetings (``core.meetings``) are all
written here with the change that causes them. Delivery (``core.builtins.notifications``) records
each one for ``GET /api/notifications`` and, when ``HUYING_NOTIFY_URL`` is set, also posts it to the
centre's messaging gateway. A recipient is ``department:<code>`` or ``role:<role>``: the very topics
of the live bus, so a delivered notice is also published there (``published``) and reaches the open
consoles of its recipients at once; the console counts the ones each person has not yet opened.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)

STAFF_TOPIC = "notify.staff"
LIVE_KIND = "notice"  # the kind of a notice's live event (``event:`` of the stream)
UNREAD_SHOWN = 99  # the header counts up to this many ("99+" beyond)
# where a notice opens in the console, by its template (an order's notice opens the order)
PAGES = {"warning": "/console/warnings", "report_ready": "/console/reports", "knowledge_expiring": "/console/knowledge"}
TEMPLATES: dict[str, str] = {  # template name: the text, filled from the notice's fields
    "sla": "工单{number}「{subject}」{note}",
    "warning": "预警：{title}。{explanation}",
    "knowledge_expiring": "知识「{question}」将于 {valid_until} 失效，请及时修订",
    "meeting": "协调会通知：「{title}」定于 {at} 在{place}召开，涉及工单 {orders}，请派员参加",
    "meeting_decision": "协调会「{title}」议定事项：{task}，请于 {due} 前办结并在工作台标记完成",
    "report_ready": "{title}已生成（第 {version} 版），可在「统计报表」中查看，下载 Excel 和文字材料",
    "returned": "工单{number}「{subject}」被{department_name}退回：{reason}",
    "supervision": "工单{number}「{subject}」收到{kind_label}：{note}",
    "assisting": "工单{number}「{subject}」请贵单位协办：请签收并于 {due} 前提交协办意见",
    "rework": "工单{number}「{subject}」市民回访不满意，请重新办理（第 {round} 次重办），{due} 前答复：{reason}",
}


def staff_notice(outbox, to: str, template: str, **fields: Any) -> None:
    """Queue one notice in ``outbox`` (written in the caller's transaction)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown staff notice template {template!r}")
    outbox.send(STAFF_TOPIC, {"to": to, "template": template, **fields})


def text_of(payload: dict) -> str:
    """The notice as staff read it (a notice queued before templates existed is an SLA notice)."""
    return TEMPLATES[payload.get("template", "sla")].format(**payload)


def page_of(template: str, order_number: str | None) -> str:
    if order_number:
        return f"/console/orders/{order_number}"
    return PAGES.get(template, "/console/notifications")


async def published(live, message: dict) -> None:
    """After a staff notice is delivered: to its recipients' open consoles (never fails the delivery)."""
    if message["topic"] != STAFF_TOPIC:
        return
    payload = message["payload"]
    try:
        await live.publish(payload["to"], LIVE_KIND, {
            "id": message["id"], "text": text_of(payload), "template": payload.get("template", "sla"),
            "href": page_of(payload.get("template", "sla"), payload.get("number"))})
    except Exception:
        log.warning("staff notice %s not published live", message["id"], exc_info=True)


def recipients(actor) -> list[str]:
    """Whose staff notices a user reads: their role's and their department's."""
    found = [f"role:{actor.role}"]
    if actor.department:
        found.append(f"department:{actor.department}")
    return found


def topics(actor) -> list[str]:
    """The live topics a user's browser listens to: their own, their role's, their department's."""
    return [f"user:{actor.name}", *recipients(actor)]


def _addressed(actor):
    from core.tables import TextMessage

    return (TextMessage.kind == "staff") & TextMessage.recipient.is_in(recipients(actor))


async def _last_seen(actor) -> int:
    from core.tables import NoticeRead

    row = await NoticeRead.select(NoticeRead.last_seen).where(NoticeRead.username == actor.name).first()
    return row["last_seen"] if row else 0


async def unread(actor) -> int:
    """How many notices arrived since the user last opened their list (counted up to ``UNREAD_SHOWN`` + 1)."""
    from core.tables import TextMessage

    rows = await (TextMessage.select(TextMessage.id).where(_addressed(actor) & (TextMessage.id > await _last_seen(actor)))
                  .limit(UNREAD_SHOWN + 1))
    return len(rows)


async def latest(actor, limit: int = 50) -> list[dict]:
    """The newest notices addressed to the user, each with whether it is new and where it opens."""
    from core.tables import TextMessage

    seen = await _last_seen(actor)
    rows = await (TextMessage.select(TextMessage.id, TextMessage.template, TextMessage.order_number, TextMessage.text,
                                     TextMessage.created_at)
                  .where(_addressed(actor)).order_by(TextMessage.id, ascending=False).limit(limit))
    return [{**r, "new": r["id"] > seen, "href": page_of(r["template"], r["order_number"])} for r in rows]


async def mark_read(actor, upto: int) -> None:
    """The user has seen every notice up to ``upto`` (never moves back)."""
    from core.db import run
    from core.tables import NoticeRead

    await run(NoticeRead._meta.db,
              "INSERT INTO notice_reads (username, last_seen) VALUES ({}, {}) ON CONFLICT (username) DO UPDATE "
              "SET last_seen = excluded.last_seen WHERE notice_reads.last_seen < excluded.last_seen", actor.name, upto)
