"""The centre's own routing rules edited by an admin: keywords, criteria, department and position (the
order in which rules are tried), with a preview of what the change would do to the recent orders
before it is saved, and every saved change audited in ``setting_changes``. Rules a channel declares
are its plugin's (they are stored again at every start) and are not edited here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from core import clock
from core.areas import check as check_area
from core.channels import KINDS
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.routing import RuleSpec, first_match, in_order, load_rules
from core.tables import Order, RoutingRule, SettingChange

SETTING = "routing_rule"
PREVIEW_DAYS = 30
PREVIEW_ORDERS = 2000  # the newest orders of those days a preview runs the rules over
PREVIEW_LISTED = 100
Keyword = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class RuleEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    keywords: Annotated[list[Keyword], msgspec.Meta(max_length=50)] = []
    department: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    position: Annotated[int, msgspec.Meta(ge=0, le=10000)] = 50
    area: Annotated[str, msgspec.Meta(max_length=64)] = ""
    kind: Annotated[str, msgspec.Meta(max_length=32)] = ""
    category: Annotated[str, msgspec.Meta(max_length=128)] = ""
    reason: Annotated[str, msgspec.Meta(max_length=255)] = ""


def _editable(row: dict | None) -> dict:
    if row is None:
        raise NotFound("规则不存在")
    if row["origin"] != "admin":
        raise Conflict("这条规则由渠道插件提供，每次启动时按插件的声明恢复，不能在这里修改")
    return row


async def check(platform, edit: RuleEdit) -> None:
    errors = []
    if edit.department not in await platform.orders.reference.active_departments():
        errors.append(FieldError("department", "承办单位不存在或已停用"))
    if edit.kind and edit.kind not in KINDS:
        errors.append(FieldError("kind", "没有这个诉求类型"))
    if edit.area.strip():  # a rule names a street as orders record it (梅溪湖 → 梅溪湖街道), or it never matches
        area, problem = check_area(edit.area, await platform.orders.reference.areas())
        if problem is None:
            edit.area = area
        else:
            errors.append(problem)
    if not edit.keywords and not (edit.area or edit.kind or edit.category):
        errors.append(FieldError("keywords", "请至少填写一个关键词，或指定街道、类型、分类"))
    if errors:
        raise InvalidInput(errors)


async def preview(platform, rule_id: int, edit: RuleEdit) -> dict[str, Any]:
    """Which of the last ``PREVIEW_DAYS`` days' orders (the newest ``PREVIEW_ORDERS``) the rules would
    send elsewhere with this edit: each with the department the rules pick now and would pick then."""
    row = _editable(await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first())
    rules = await load_rules()
    edited = RuleSpec(department=edit.department, keywords=tuple(edit.keywords), category=edit.category,
                      area=edit.area, kind=edit.kind, reason=edit.reason or row["reason"], position=edit.position,
                      channel=row["channel"], id=rule_id)
    after_rules = [r for r in rules if r.id != rule_id] + [edited]
    since = clock.now() - dt.timedelta(days=PREVIEW_DAYS)
    orders = await (Order.select(Order.number, Order.subject, Order.content, Order.category, Order.area, Order.kind,
                                 Order.channel, Order.details)
                    .where(Order.received_at >= since).order_by(Order.received_at, ascending=False)
                    .limit(PREVIEW_ORDERS).output(load_json=True))
    changed = []
    for order in orders:
        fields = {"subject": order["subject"], "content": order["content"], "category": order["category"] or "",
                  "area": order["area"] or "", "kind": order["kind"], "details": order["details"] or {}}
        before = first_match(in_order(rules, order["channel"]), **fields)
        after = first_match(in_order(after_rules, order["channel"]), **fields)
        was, will = before[0].department if before else None, after[0].department if after else None
        if was != will:
            changed.append({"number": order["number"], "subject": order["subject"], "before": was, "after": will})
    return {"orders": len(orders), "days": PREVIEW_DAYS, "changed": len(changed), "items": changed[:PREVIEW_LISTED]}


async def update(platform, rule_id: int, edit: RuleEdit, actor: Actor) -> dict[str, Any]:
    """Save the edit and audit it (old → new); every process follows within the rules' refresh."""
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改派单规则")
    row = _editable(await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first())
    await check(platform, edit)
    new = msgspec.to_builtins(edit)
    new["reason"] = new["reason"] or f"关键词：{'、'.join(edit.keywords)}"
    old = {k: row[k] for k in new}
    changed = {k: v for k, v in new.items() if old[k] != v}
    if changed:
        async with write_transaction(RoutingRule._meta.db):
            await RoutingRule.update({getattr(RoutingRule, k): v for k, v in changed.items()}).where(
                RoutingRule.id == rule_id)
            await SettingChange.insert(SettingChange(
                setting=SETTING, scope=row["channel"] or "", item=str(rule_id), old_value={k: old[k] for k in changed},
                new_value=changed, reason=new["reason"], actor=actor.name, role=actor.role, created_at=clock.now()))
        platform.orders.forget_reference_data()
    return {"id": rule_id, **new, "changed": sorted(changed)}


async def history(rule_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return await (SettingChange.select().where((SettingChange.setting == SETTING) & (SettingChange.item == str(rule_id)))
                  .order_by(SettingChange.id, ascending=False).limit(limit).output(load_json=True))


async def toggle(platform, rule_id: int, actor: Actor) -> bool:
    """Stop or start using a rule (audited); the answer is whether it is in use now."""
    row = await RoutingRule.select(RoutingRule.active, RoutingRule.channel).where(RoutingRule.id == rule_id).first()
    if row is None:
        raise NotFound("规则不存在")
    async with write_transaction(RoutingRule._meta.db):
        await RoutingRule.update({RoutingRule.active: not row["active"]}).where(RoutingRule.id == rule_id)
        await SettingChange.insert(SettingChange(
            setting=SETTING, scope=row["channel"] or "", item=str(rule_id), old_value={"active": row["active"]},
            new_value={"active": not row["active"]}, reason="启用" if not row["active"] else "停用",
            actor=actor.name, role=actor.role, created_at=clock.now()))
    platform.orders.forget_reference_data()
    return not row["active"]
