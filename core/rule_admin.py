"""The centre's own routing rules edited by an admin: keywords, criteria, department and position (the
order in which rules are tried), with a preview of what the change would do to the recent orders
before it is saved, and every saved change audited in ``setting_changes``. Rules a channel declares
are its plugin's (they are stored again at every start) and are not edited here.

A change of the rules in force (added, edited, stopped or started, deleted) re-suggests the orders still
waiting for dispatch (待派单) in the transaction of the change, and its audit entry counts them: the
suggestion each order shows is what the rules now say (``resuggest``). Orders already dispatched keep
theirs, and so does an order that came back from a 退单 (its suggestion is the returning department's
word, or none, and must never fall back on the department that returned it).
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
from core.intake import unruled_suggestion
from core.model import Actor
from core.routing import RuleSpec, Suggestion, first_match, in_order, load_rules, spec_of
from core.tables import Order, OrderEvent, RoutingRule, SettingChange

SETTING = "routing_rule"
PREVIEW_DAYS = 30
PREVIEW_ORDERS = 2000  # the newest orders of those days a preview runs the rules over
PREVIEW_LISTED = 100
WAITING_BATCH = 1000  # waiting orders read at a time when the rules change
UNSAVED_ID = 2 ** 62  # a rule not yet stored tries after every stored one of its position (ids grow)
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


# -- the waiting orders follow the rules ----------------------------------------------------------------

class Resuggestion(msgspec.Struct, frozen=True):
    """Orders still waiting for dispatch whose suggestion the new rules change: each group shares the
    suggestion it had and the one it gets (few groups, so few statements under the write lock)."""

    groups: dict[tuple[str | None, str, str | None, str], list[int]]

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.groups.values())


async def resuggest(platform, before: list[RuleSpec], after: list[RuleSpec]) -> Resuggestion:
    """What the rules ``after`` a change suggest for each order waiting for dispatch, where it differs
    from what the order shows. Read outside the write lock, in batches; an order neither version of
    the rules fires for keeps its suggestion (the department the citizen named, or the model's), one
    that loses its rule is asked of those again, and one that came back from a 退单 is left alone."""
    service = platform.orders
    active = await service.reference.active_departments()
    before = [r for r in before if r.department in active]  # as an intake tries them (ReferenceData.routing)
    after = [r for r in after if r.department in active]
    ordered: dict[str, tuple[list[RuleSpec], list[RuleSpec]]] = {}
    groups: dict[tuple[str | None, str, str | None, str], list[int]] = {}
    last = 0
    while True:
        rows = await (Order.select(Order.id, Order.channel, Order.subject, Order.content, Order.category, Order.area,
                                   Order.kind, Order.details, Order.suggested_department, Order.suggestion_reason)
                      .where((Order.status == "received") & (Order.id > last)).order_by(Order.id)
                      .limit(WAITING_BATCH).output(load_json=True))
        if not rows:
            break
        last = rows[-1]["id"]
        returned = {r["order_id"] for r in await OrderEvent.select(OrderEvent.order_id).where(
            OrderEvent.order_id.is_in([r["id"] for r in rows]) & (OrderEvent.action == "return"))}
        for row in rows:
            if row["id"] in returned:
                continue
            code = row["channel"]
            if code not in ordered:
                ordered[code] = (in_order(before, code), in_order(after, code))
            fields = {"subject": row["subject"], "content": row["content"], "category": row["category"] or "",
                      "area": row["area"] or "", "kind": row["kind"], "details": _opened(platform, code, row["details"])}
            was, now = first_match(ordered[code][0], **fields), first_match(ordered[code][1], **fields)
            if was is None and now is None:
                continue
            if now is not None:
                new: Suggestion | None = Suggestion(now[0].department, now[0].reason or now[1])
            else:
                new = await unruled_suggestion(service, code, subject=row["subject"], content=row["content"],
                                               kind=row["kind"], category=row["category"] or "", area=row["area"] or "")
            target = (new.department, new.reason[:255]) if new else (None, "")
            held = (row["suggested_department"], row["suggestion_reason"] or "")
            if target != held:
                groups.setdefault((*held, *target), []).append(row["id"])
    return Resuggestion(groups)


def _opened(platform, code: str, details: dict | None) -> dict:
    """The channel's fields as the rules saw them at intake (confidential ones are stored sealed)."""
    details = dict(details or {})
    channel = platform.orders.channels.get(code)
    sealer = platform.orders.sealer
    for name in (channel.confidential if channel is not None and sealer is not None else ()):
        if isinstance(details.get(name), str):
            try:
                details[name] = sealer.open(details[name])
            except Exception:  # noqa: BLE001  (a value sealed with another key matches no rule)
                pass
    return details


async def _apply(found: Resuggestion) -> int:
    """Within the rule change's transaction: each order that still waits with the suggestion it had
    takes the new one (an order dispatched meanwhile, or re-suggested by a 退单, is left alone)."""
    updated = 0
    for (old_department, old_reason, department, reason), ids in found.groups.items():
        held = (Order.suggested_department == old_department if old_department is not None
                else Order.suggested_department.is_null())
        for start in range(0, len(ids), 500):
            rows = await Order.update({Order.suggested_department: department, Order.suggestion_reason: reason}).where(
                Order.id.is_in(ids[start:start + 500]) & (Order.status == "received") & held
                & (Order.suggestion_reason == old_reason)).returning(Order.id)
            updated += len(rows)
    return updated


def _audit(row: dict, rule_id: int, old: dict | None, new: dict, reason: str, actor: Actor) -> SettingChange:
    return SettingChange(setting=SETTING, scope=row.get("channel") or "", item=str(rule_id), old_value=old,
                         new_value=new, reason=reason, actor=actor.name, role=actor.role, created_at=clock.now())


def _must_be_admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改派单规则")


async def add(platform, edit: RuleEdit, channel: str | None, actor: Actor) -> dict[str, Any]:
    """A new rule of the centre's, audited, with the waiting orders re-suggested in its transaction."""
    _must_be_admin(actor)
    await check(platform, edit)
    new = msgspec.to_builtins(edit)
    new["reason"] = new["reason"] or f"关键词：{'、'.join(edit.keywords)}"
    row = {**new, "channel": channel or None, "details": {}, "predicates": {}, "id": UNSAVED_ID}
    before = await load_rules()
    found = await resuggest(platform, before, before + [spec_of(row)])
    async with write_transaction(RoutingRule._meta.db):
        made = await RoutingRule.insert(RoutingRule(
            origin="admin", channel=row["channel"], position=edit.position, keywords=list(edit.keywords),
            category=edit.category, area=edit.area, kind=edit.kind, department=edit.department,
            reason=new["reason"])).returning(RoutingRule.id)
        rule_id = made[0]["id"]
        count = await _apply(found)
        await SettingChange.insert(_audit(row, rule_id, None, {"added": new, "resuggested": count}, new["reason"], actor))
    platform.orders.forget_reference_data()
    return {"id": rule_id, **new, "resuggested": count}


async def update(platform, rule_id: int, edit: RuleEdit, actor: Actor) -> dict[str, Any]:
    """Save the edit and audit it (old → new); every process follows within the rules' refresh."""
    _must_be_admin(actor)
    row = _editable(await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first())
    await check(platform, edit)
    new = msgspec.to_builtins(edit)
    new["reason"] = new["reason"] or f"关键词：{'、'.join(edit.keywords)}"
    old = {k: row[k] for k in new}
    changed = {k: v for k, v in new.items() if old[k] != v}
    count = 0
    if changed:
        before = await load_rules()
        after = [r for r in before if r.id != rule_id] + ([spec_of({**row, **new})] if row["active"] else [])
        found = await resuggest(platform, before, after)
        async with write_transaction(RoutingRule._meta.db):
            await RoutingRule.update({getattr(RoutingRule, k): v for k, v in changed.items()}).where(
                RoutingRule.id == rule_id)
            count = await _apply(found)
            await SettingChange.insert(_audit(row, rule_id, {k: old[k] for k in changed},
                                              {**changed, "resuggested": count}, new["reason"], actor))
        platform.orders.forget_reference_data()
    return {"id": rule_id, **new, "changed": sorted(changed), "resuggested": count}


async def delete(platform, rule_id: int, actor: Actor) -> dict[str, Any]:
    """Remove one of the centre's rules for good (its history stays), re-suggesting the waiting orders."""
    _must_be_admin(actor)
    row = _editable(await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first())
    before = await load_rules()
    found = await resuggest(platform, before, [r for r in before if r.id != rule_id])
    kept = {k: row[k] for k in ("keywords", "department", "position", "area", "kind", "category", "reason", "active")}
    async with write_transaction(RoutingRule._meta.db):
        await RoutingRule.delete().where(RoutingRule.id == rule_id)
        count = await _apply(found)
        await SettingChange.insert(_audit(row, rule_id, kept, {"deleted": True, "resuggested": count}, "删除", actor))
    platform.orders.forget_reference_data()
    return {"id": rule_id, "resuggested": count}


async def history(rule_id: int, limit: int = 50) -> list[dict[str, Any]]:
    return await (SettingChange.select().where((SettingChange.setting == SETTING) & (SettingChange.item == str(rule_id)))
                  .order_by(SettingChange.id, ascending=False).limit(limit).output(load_json=True))


async def toggle(platform, rule_id: int, actor: Actor) -> dict[str, Any]:
    """Stop or start using a rule (audited), re-suggesting the waiting orders: ``active`` is whether
    it is in use now, ``resuggested`` how many waiting orders' suggestions changed."""
    _must_be_admin(actor)
    row = await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first()
    if row is None:
        raise NotFound("规则不存在")
    before = await load_rules()
    after = [r for r in before if r.id != rule_id] + ([] if row["active"] else [spec_of(row)])
    found = await resuggest(platform, before, after)
    async with write_transaction(RoutingRule._meta.db):
        await RoutingRule.update({RoutingRule.active: not row["active"]}).where(RoutingRule.id == rule_id)
        count = await _apply(found)
        await SettingChange.insert(_audit(row, rule_id, {"active": row["active"]},
                                          {"active": not row["active"], "resuggested": count},
                                          "启用" if not row["active"] else "停用", actor))
    platform.orders.forget_reference_data()
    return {"active": not row["active"], "resuggested": count}
