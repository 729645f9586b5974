"""Notices to staff: one outbox topic for every message the platform sends its own people.

The SLA sweep's 临期/超期 notices, a 督办 issued to a department, an order a department returned, new
early warnings, the monthly and annual reports when they are generated, and knowledge answers about to lapse are all
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
    "report_ready": "{title}已生成（第 {version} 版），可在统计报表中查看、下载 Excel 和文字材料：{link}",
    "returned": "工单{number}「{subject}」被{department_name}退回：{reason}",
    "supervision": "工单{number}「{subject}」被督办：{reason}",
}


def staff_notice(outbox, to: str, template: str, **fields: Any) -> None:
    """Queue one notice in ``outbox`` (written in the caller's transaction)."""
    if template not in TEMPLATES:
        raise ValueError(f"unknown staff notice template {template!r}")
    outbox.send(STAFF_TOPIC, {"to": to, "template": template, **fields})


def text_of(payload: dict) -> str:
    """The notice as staff read it (a notice queued before templates existed is an SLA notice)."""
    return TEMPLATES[payload.get("template", "sla")].format(**payload)
