"""The access audit: who signed in (or failed to), which staff member opened which order, who
exported what. Written outside the order's own audit trail because reading changes nothing, and
queried by an auditor or an admin."""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import clock
from core.model import Actor
from core.tables import AccessEvent

ACTIONS: dict[str, str] = {
    "login_succeeded": "登录成功",
    "login_failed": "登录失败",
    "login_throttled": "登录受限（失败次数过多）",
    "logout": "退出登录",
    "account_changed": "账号变更",
    "view_order": "查看工单详情",
    "export": "导出",
    "survey_created": "发起满意率调查",
}
READERS = frozenset({"auditor", "admin"})


async def record(action: str, *, actor: str, role: str = "", address: str = "", target: str = "",
                 detail: dict[str, Any] | None = None) -> None:
    await AccessEvent.insert(AccessEvent(at=clock.now(), action=action,
                                         actor=actor[:128], role=role, address=address[:64],
                                         target=target[:255], detail=detail or {}))


async def record_view(actor: Actor, number: str, address: str = "", via: str = "api") -> None:
    """A staff member (not an integration, not a citizen) read an order's detail, over the API or
    on the console's order page."""
    if actor.kind == "user":
        await record("view_order", actor=actor.name, role=actor.role, address=address, target=number,
                     detail={"via": via})


async def record_export(actor: Actor, what: str, address: str = "", **detail: Any) -> None:
    await record("export", actor=actor.name, role=actor.role, address=address, target=what, detail=detail)


async def search(*, action: str | None = None, actor: str | None = None, target: str | None = None,
                 since: dt.datetime | None = None, until: dt.datetime | None = None,
                 page: int = 1, page_size: int = 50) -> dict[str, Any]:
    where = []
    for column, value in ((AccessEvent.action, action), (AccessEvent.actor, actor), (AccessEvent.target, target)):
        if value:
            where.append(column == value)
    if since:
        where.append(AccessEvent.at >= since)
    if until:
        where.append(AccessEvent.at < until)
    query = AccessEvent.select().output(load_json=True)
    count = AccessEvent.count()
    for clause in where:
        query, count = query.where(clause), count.where(clause)
    rows = await query.order_by(AccessEvent.id, ascending=False).limit(page_size).offset((page - 1) * page_size)
    items = [{"at": r["at"].isoformat(), "action": r["action"], "action_label": ACTIONS.get(r["action"], r["action"]),
              "actor": r["actor"], "role": r["role"], "address": r["address"], "target": r["target"],
              "detail": r["detail"]} for r in rows]
    return {"items": items, "total": await count, "page": page, "page_size": page_size}
