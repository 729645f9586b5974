"""答复模板: each department keeps its own reply wording; the centre-wide defaults (通用) follow them on
every reply form. A handler manages only their own department's templates, admins and supervisors
any department's. Settings have no general audit trail, so each row keeps who created it and who
last changed it, and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import clock
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.tables import Department, ReplyTemplate

NAME_LIMIT = 20
TEXT_LIMIT = 1000
MANAGERS = frozenset({"admin", "supervisor"})

# The centre-wide defaults, shown to everyone after a department's own. ``{subject}`` is the order's.
GENERIC: dict[str, str] = {
    "已办结": "经核查，您反映的「{subject}」问题属实。我单位已于  月  日安排人员到现场处理，目前问题已解决。感谢您对我们工作的支持。",
    "正在办理": "您反映的「{subject}」问题已收悉。经核查，该问题涉及……，我单位已制定整改方案，预计于  月  日前完成，届时将再次回复。",
    "政策解释": "您咨询的「{subject}」问题，根据《……》第  条规定，……。如有疑问，可拨打我单位咨询电话……。",
    "不属实": "经我单位工作人员现场核查，您反映的「{subject}」情况与实际不符：……。如您有新的线索，欢迎继续反映。",
}

# What a template may name, stored as ``{key}`` and shown to people as 〔label〕; either spelling is
# accepted when a template is saved, and both fill in the same value.
PLACEHOLDERS: dict[str, str] = {"subject": "诉求标题"}


def shown(text: str) -> str:
    """A template as people read and edit it: 〔诉求标题〕 rather than ``{subject}``."""
    for key, label in PLACEHOLDERS.items():
        text = text.replace("{" + key + "}", f"〔{label}〕")
    return text


def stored(text: str) -> str:
    """A template as typed (〔诉求标题〕) in the form it is kept and filled in (``{subject}``)."""
    for key, label in PLACEHOLDERS.items():
        text = text.replace(f"〔{label}〕", "{" + key + "}")
    return text


def may_manage(actor: Actor, department: str) -> bool:
    return actor.role in MANAGERS or (actor.role == "handler" and bool(department) and actor.department == department)


def _check_manager(actor: Actor, department: str) -> None:
    if not may_manage(actor, department):
        raise Forbidden("只能管理本单位的答复模板" if actor.role == "handler" else "无权管理答复模板")


async def list_for(department: str | None) -> list[dict[str, Any]]:
    """The department's own templates by name (none for no department)."""
    if not department:
        return []
    return await ReplyTemplate.select().where(ReplyTemplate.department == department).order_by(ReplyTemplate.name)


def _validate(name: Any, text: Any) -> tuple[str, str]:
    name = name.strip() if isinstance(name, str) else ""
    text = stored(text.strip()) if isinstance(text, str) else ""
    errors = []
    if not name:
        errors.append(FieldError("name", "请填写模板名称"))
    elif len(name) > NAME_LIMIT:
        errors.append(FieldError("name", f"模板名称不能超过 {NAME_LIMIT} 个字"))
    if not text:
        errors.append(FieldError("text", "请填写模板内容"))
    elif len(text) > TEXT_LIMIT:
        errors.append(FieldError("text", f"模板内容不能超过 {TEXT_LIMIT} 个字"))
    for field, value in (("name", name), ("text", text)):
        if any(ord(c) < 32 and c not in "\n\t" for c in value):
            errors.append(FieldError(field, "不能含有控制字符"))
    if errors:
        raise InvalidInput(errors, "答复模板填写有误")
    return name, text


async def _check_department(department: str) -> None:
    if not department or not await Department.exists().where(Department.code == department):
        raise InvalidInput([FieldError("department", "承办单位不存在")], "答复模板填写有误")


async def _taken(department: str, name: str, other_than: int | None = None) -> bool:
    query = ReplyTemplate.exists().where((ReplyTemplate.department == department) & (ReplyTemplate.name == name))
    if other_than is not None:
        query = query.where(ReplyTemplate.id != other_than)
    return await query


DUPLICATE = "本单位已有同名模板"


async def add(actor: Actor, department: str, name: Any, text: Any) -> dict[str, Any]:
    _check_manager(actor, department)
    name, text = _validate(name, text)
    await _check_department(department)
    if await _taken(department, name):
        raise Conflict(DUPLICATE, [FieldError("name", DUPLICATE)])
    now = clock.now()
    try:
        rows = await ReplyTemplate.insert(ReplyTemplate(department=department, name=name, text=text, created_by=actor.name,
                                                        created_at=now, updated_by=actor.name, updated_at=now))
    except Exception as error:  # the unique index: a concurrent add of the same name won
        if await _taken(department, name):
            raise Conflict(DUPLICATE, [FieldError("name", DUPLICATE)]) from error
        raise
    return await get(rows[0]["id"])


async def get(template_id: int) -> dict[str, Any]:
    row = await ReplyTemplate.select().where(ReplyTemplate.id == template_id).first()
    if row is None:
        raise NotFound("答复模板不存在")
    return row


async def update(actor: Actor, template_id: int, name: Any, text: Any) -> dict[str, Any]:
    row = await get(template_id)
    _check_manager(actor, row["department"])
    name, text = _validate(name, text)
    if await _taken(row["department"], name, other_than=template_id):
        raise Conflict(DUPLICATE, [FieldError("name", DUPLICATE)])
    try:
        await ReplyTemplate.update({ReplyTemplate.name: name, ReplyTemplate.text: text,
                                    ReplyTemplate.updated_by: actor.name,
                                    ReplyTemplate.updated_at: clock.now()}).where(
            ReplyTemplate.id == template_id)
    except Exception as error:
        if await _taken(row["department"], name, other_than=template_id):
            raise Conflict(DUPLICATE, [FieldError("name", DUPLICATE)]) from error
        raise
    return await get(template_id)


async def delete(actor: Actor, template_id: int) -> None:
    row = await get(template_id)
    _check_manager(actor, row["department"])
    await ReplyTemplate.delete().where(ReplyTemplate.id == template_id)
