"""Notices to staff: one outbox topic for every message the platform sends its own people.

The SLA sweep's 临期/超期 notices, new early warnings, knowledge answers about to lapse, and the
invitations and decisions of coordination meetings (``core.meetings``) are all
written here with the change that causes them. Delivery (``core.builtins.notifications``) records
each one for ``GET /api/notifications`` and, when ``HUYING_NOTIFY_URL`` is set, also posts it to the
centre's messaging gateway. A recipient is ``department:<code>`` or ``role:<role>``.
"""

from __future__ import annotations

from typing import Any

STAFF_TOPIC = "notify.staff"
TEMPLATES: dict[str, str] = {  # template name: the text, filled from the notice's fields
    "sla": "工单{number}「{subject}」{note}",
    "warning": "预警：{title}。{explanation}",
    "knowledge_expiring": "知识「{question}」将于 {valid_until} 失效，请及时修订",
    "meeting": "协调会通知：「{title}」定于 {at} 在{place}召开，涉及工单 {orders}，请派员参加",
    "meeting_decision": "协调会「{title}」议定事项：{task}，请于 {due} 前办结并在工作台标记完成",
}


def staff_notice(outbox, to: str, template: str, **fields: Any) -> None:
    """Queue one notice in ``outbox`` (written in the caller's transaction)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown staff notice template {template!r}")
    outbox.send(STAFF_TOPIC, {"to": to, "template": template, **fields})


def text_of(payload: dict) -> str:
    """The notice as staff read it (a notice queued before templates existed is an SLA notice)."""
    return TEMPLATES[payload.get("template", "sla")].format(**payload)
