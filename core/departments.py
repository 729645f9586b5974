"""承办单位 changed by an admin: renamed, moved in the tree, given aliases and contacts, disabled (no new
dispatch or routing to it; its open orders listed for the dispatchers to reassign) or enabled again.
Every change is a ``setting_changes`` row (old → new, who, why) written with it. A new department may
be named in Chinese only: its code is generated from the name's pinyin.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from core import access_audit, clock
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.lifecycle import OPEN_STATUSES, STATUSES
from core.model import Actor
from core.tables import Department, Order, SettingChange

SETTING = "department"
CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
LISTED_OPEN = 200  # open orders listed for reassignment (the count says how many in all)
FIELD_LABELS = {"name": "名称", "parent": "上级单位", "aliases": "别名", "contacts": "联系人", "active": "启用",
                "merged_into": "并入", "merged_from": "并入的单位", "moved": "转入"}

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Alias = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Contact(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, title="姓名")]
    phone: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9+\-() ]*$", title="电话")] = ""
    duty: Annotated[str, msgspec.Meta(max_length=64, title="职务或分工")] = ""


class DepartmentChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """What to change (fields left out stay as they are); ``parent`` null moves it to the top level."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    parent: Annotated[str, msgspec.Meta(max_length=64)] | None | msgspec.UnsetType = msgspec.UNSET
    aliases: Annotated[list[Alias], msgspec.Meta(max_length=50)] | msgspec.UnsetType = msgspec.UNSET
    contacts: Annotated[list[Contact], msgspec.Meta(max_length=10)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    reason: Annotated[str, msgspec.Meta(max_length=500, description="变更原因（记入审计）")] = ""


def _admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改承办单位")


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {"code": row["code"], "name": row["name"], "parent": row["parent"], "aliases": list(row["aliases"] or []),
            "contacts": list(row["contacts"] or []), "active": bool(row["active"]),
            "merged_into": row.get("merged_into")}


async def get(code: str) -> dict[str, Any]:
    row = await Department.select().where(Department.code == code).output(load_json=True).first()
    if row is None:
        raise NotFound(f"单位 {code} 不存在")
    return _present(row)


async def open_orders(code: str, limit: int = LISTED_OPEN) -> dict[str, Any]:
    """The department's orders still in progress, oldest first: what to reassign when it is disabled."""
    where = (Order.department == code) & Order.status.is_in(sorted(OPEN_STATUSES))
    rows = await (Order.select(Order.number, Order.subject, Order.status, Order.received_at)
                  .where(where).order_by(Order.received_at).limit(limit))
    return {"total": await Order.count().where(where),
            "items": [{**r, "status_label": STATUSES.get(r["status"], r["status"])} for r in rows]}


async def _ancestors(code: str | None) -> list[str]:
    rows = {r["code"]: r["parent"] for r in await Department.select(Department.code, Department.parent)}
    found: list[str] = []
    while code and code not in found and len(found) < 64:
        found.append(code)
        code = rows.get(code)
    return found


async def update(platform, code: str, change: DepartmentChange, actor: Actor) -> dict[str, Any]:
    """Apply ``change`` and audit it; the answer is the department and, when disabled, its open orders."""
    _admin(actor)
    current = await get(code)
    wanted = {k: v for k, v in msgspec.structs.asdict(change).items() if k != "reason" and v is not msgspec.UNSET}
    if "contacts" in wanted:
        wanted["contacts"] = msgspec.to_builtins(wanted["contacts"])
    if "aliases" in wanted:
        wanted["aliases"] = list(dict.fromkeys(a.strip() for a in wanted["aliases"] if a.strip()))
    if "name" in wanted:
        wanted["name"] = wanted["name"].strip()
        if not wanted["name"]:
            raise InvalidInput([FieldError("name", "请填写单位名称")])
    if wanted.get("parent") is not None:
        if not await Department.exists().where(Department.code == wanted["parent"]):
            raise InvalidInput([FieldError("parent", f"上级单位 {wanted['parent']} 不存在")])
        if code in await _ancestors(wanted["parent"]):
            raise InvalidInput([FieldError("parent", "不能移到本单位或其下级单位之下")])
    if wanted.get("active") and current["merged_into"]:
        raise InvalidInput([FieldError("active", f"该单位已并入 {current['merged_into']}，不能重新启用")])
    changed = {k: v for k, v in wanted.items() if current[k] != v}
    if changed:
        now = clock.now()
        async with write_transaction(Department._meta.db):
            await Department.update({getattr(Department, k): v for k, v in changed.items()}).where(
                Department.code == code)
            await SettingChange.insert(SettingChange(
                setting=SETTING, scope="", item=code, old_value={k: current[k] for k in changed},
                new_value=changed, reason=change.reason.strip(), actor=actor.name, role=actor.role, created_at=now))
        platform.orders.forget_reference_data()
    found = {**current, **changed, "changed": sorted(changed)}
    if not found["active"]:
        found["open_orders"] = await open_orders(code)
    return found


# -- merging one department into another ----------------------------------------------------------------

MERGE_EVENT = "department_merged"
MERGE_CHUNK = 200
MAX_ALIASES = 50
OPEN_PARTS = ("pending", "accepted")


class MergeRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    into: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="并入的单位（代码）")]
    reason: Annotated[str, msgspec.Meta(max_length=500, description="合并原因（记入审计和每件工单的记录）")] = ""


async def merge(platform, code: str, into: str, reason: str, actor: Actor) -> dict[str, Any]:
    """Fold ``code`` into ``into`` (机构改革): every order it led or assisted, open or closed, moves
    there with an audited ``department_merged`` event of its own (the earlier events still say who
    handled it where), its people, sub-departments, the centre's rules, knowledge articles, reply
    templates and open meeting decisions follow; its name and aliases become the target's aliases;
    it is disabled and remembers where it went, so its old code still leads to the target."""
    from core.tables import AssistingPart, KnowledgeArticle, MeetingDecision, ReplyTemplate, RoutingRule, User

    _admin(actor)
    source = await get(code)
    into = (into or "").strip()
    row = await Department.select(Department.merged_into).where(Department.code == code).first()
    if row["merged_into"]:
        raise Conflict(f"该单位已并入 {row['merged_into']}")
    if into == code:
        raise InvalidInput([FieldError("into", "不能并入本单位自己")])
    target = await Department.select().where(Department.code == into).output(load_json=True).first()
    if target is None:
        raise InvalidInput([FieldError("into", f"单位 {into} 不存在")])
    if not target["active"]:
        raise InvalidInput([FieldError("into", f"「{target['name']}」已停用，不能并入")])
    if code in await _ancestors(into):
        raise InvalidInput([FieldError("into", f"「{target['name']}」是本单位的下级单位，不能并入")])
    reason = reason.strip() or f"{source['name']}并入{target['name']}"
    now = clock.now()
    moved = {"orders": 0, "users": 0, "children": 0, "rules": 0, "articles": 0, "templates": 0, "decisions": 0}
    sent = 0
    async with write_transaction(Department._meta.db):
        last_id = 0
        while True:
            parts = AssistingPart.select(AssistingPart.order_id).where(AssistingPart.department == code)
            rows = await (Order.select().where(((Order.department == code) | Order.id.is_in(parts))
                                               & (Order.id > last_id))
                          .order_by(Order.id).limit(MERGE_CHUNK).output(load_json=True))
            for found in rows:
                sent += await _move_order(platform, found, code, into, reason, actor, now)
                moved["orders"] += 1
            if len(rows) < MERGE_CHUNK:
                break
            last_id = rows[-1]["id"]
        # a suggestion is not history: orders waiting for dispatch are simply suggested the target now
        await Order.update({Order.suggested_department: into}).where(Order.suggested_department == code)
        people = await User.select(User.username).where(User.department == code)
        if people:
            await User.update({User.department: into}).where(User.department == code)
            for person in people:
                await access_audit.record("account_changed", actor=actor.name, role=actor.role, target=person["username"],
                                          detail={"change": "department", "department": into, "merged_from": code})
        moved["users"] = len(people)
        moved["children"] = len(await Department.update({Department.parent: into}).where(
            Department.parent == code).returning(Department.id))
        moved["rules"] = len(await RoutingRule.update({RoutingRule.department: into}).where(
            (RoutingRule.department == code) & (RoutingRule.origin == "admin")).returning(RoutingRule.id))
        moved["articles"] = len(await KnowledgeArticle.update({KnowledgeArticle.department: into}).where(
            KnowledgeArticle.department == code).returning(KnowledgeArticle.id))
        taken = {r["name"] for r in await ReplyTemplate.select(ReplyTemplate.name).where(ReplyTemplate.department == into)}
        movable = [r["id"] for r in await ReplyTemplate.select(ReplyTemplate.id, ReplyTemplate.name).where(
            ReplyTemplate.department == code) if r["name"] not in taken]
        if movable:
            await ReplyTemplate.update({ReplyTemplate.department: into}).where(ReplyTemplate.id.is_in(movable))
        moved["templates"] = len(movable)
        moved["decisions"] = len(await MeetingDecision.update({MeetingDecision.department: into}).where(
            (MeetingDecision.department == code) & MeetingDecision.done_at.is_null()).returning(MeetingDecision.id))
        names = [n for n in dict.fromkeys([source["name"], *source["aliases"], *target["aliases"]])
                 if n and n != target["name"]]
        aliases = [*target["aliases"], *[n for n in names if n not in target["aliases"]]][:MAX_ALIASES]
        await Department.update({Department.aliases: aliases}).where(Department.code == into)
        await Department.update({Department.active: False, Department.aliases: [], Department.merged_into: into}).where(
            Department.code == code)
        await SettingChange.insert(
            SettingChange(setting=SETTING, scope="", item=code,
                          old_value={"active": source["active"], "aliases": source["aliases"], "merged_into": None},
                          new_value={"active": False, "aliases": [], "merged_into": into, "moved": moved},
                          reason=reason, actor=actor.name, role=actor.role, created_at=now),
            SettingChange(setting=SETTING, scope="", item=into, old_value={"aliases": target["aliases"]},
                          new_value={"aliases": aliases, "merged_from": code}, reason=reason, actor=actor.name,
                          role=actor.role, created_at=now))
    platform.orders.forget_reference_data()
    from core.auth import recent
    from core.routing import sync_plugin_rules

    recent.clear()  # the moved people act for the target at once in this process
    await sync_plugin_rules(platform.channels, await platform.orders.reference.directory())
    platform.orders.forget_reference_data()
    if sent:
        platform.orders.outbox_written()
    return {"merged": await get(code), "into": await get(into), "moved": moved}


async def _move_order(platform, row: dict[str, Any], code: str, into: str, reason: str, actor: Actor,
                      now) -> int:
    """One order onto the target, version-checked, with its event (read again if someone acted on it
    meanwhile); an assisting part the target already holds (or leads) is withdrawn, not doubled."""
    from core.model import as_record
    from core.joint import mirror_parts

    for _attempt in range(5):
        lead = into if row["department"] == code else row["department"]
        holders = {p["department"] for p in row["assisting"] or [] if p["department"] != code} | {lead}
        parts, withdrawn = [], 0
        for part in row["assisting"] or []:
            part = dict(part)
            if part["department"] == code:
                if into in holders:
                    if part["status"] in OPEN_PARTS:
                        part.update(status="withdrawn", settled_at=now.isoformat(), settled_by=actor.name,
                                    reason=f"单位合并：{reason}")
                        withdrawn += 1
                else:
                    part["department"] = into
                    holders.add(into)
            parts.append(part)
        changes = {"department": lead, "assisting": parts, "version": row["version"] + 1, "updated_at": now}
        updated = await (Order.update({getattr(Order, k): v for k, v in changes.items()})
                         .where((Order.id == row["id"]) & (Order.version == row["version"])).returning(Order.id))
        if updated:
            before, after = as_record(row), as_record({**row, **changes})
            await platform.orders.index.changed(before, after)
            if parts != (row["assisting"] or []):
                await mirror_parts(row["id"], parts)
            payload = {"from_department": code, "department": into}
            if withdrawn:
                payload["withdrawn_parts"] = withdrawn
            return await platform.orders.record_event(after, MERGE_EVENT, actor, row["status"], row["status"], reason,
                                                      payload, now)
        row = await Order.select().where(Order.id == row["id"]).output(load_json=True).first()
    raise Conflict("工单正被他人处理，请稍后重试合并")


def generated_code(name: str, taken: set[str]) -> str:
    """A code for a department named in Chinese: its pinyin (水务局 → shuiwuju), numbered when taken."""
    from pypinyin import lazy_pinyin

    letters = re.sub(r"[^a-z0-9]", "", "".join(lazy_pinyin(name)).lower())[:56]
    base = letters if letters[:1].isalpha() and len(letters) >= 2 else f"dept{letters}"
    code, n = base, 2
    while code in taken:
        code, n = f"{base}_{n}", n + 1
    return code


async def create(platform, code: str, name: str, parent: str | None, actor: Actor) -> dict[str, Any]:
    """A new department; a code left empty, or written in Chinese, is generated from the name."""
    _admin(actor)
    name = name.strip()
    errors = []
    if not name or len(name) > 128:
        errors.append(FieldError("name", "请填写单位名称（不超过 128 个字）"))
    taken = {r["code"] for r in await Department.select(Department.code)}
    code = code.strip()
    if not code or not code.isascii():
        code = generated_code(name or code, taken)
    elif not CODE.match(code):
        errors.append(FieldError("code", "代码须以小写字母开头，只含小写字母、数字和下划线（2–64 位）；也可留空，按名称生成"))
    elif code in taken:
        errors.append(FieldError("code", "该代码已存在"))
    if parent and parent not in taken:
        errors.append(FieldError("parent", "上级单位不存在"))
    if errors:
        raise InvalidInput(errors)
    now = clock.now()
    async with write_transaction(Department._meta.db):
        await Department.insert(Department(code=code, name=name, parent=parent or None, sort=len(taken)))
        await SettingChange.insert(SettingChange(setting=SETTING, scope="", item=code, old_value=None,
                                                 new_value={"name": name, "parent": parent or None},
                                                 reason="新增单位", actor=actor.name, role=actor.role, created_at=now))
    platform.orders.forget_reference_data()
    return await get(code)


async def history(code: str, limit: int = 50) -> list[dict[str, Any]]:
    """Who changed the department, when, from what to what and why (newest first)."""
    return await (SettingChange.select().where((SettingChange.setting == SETTING) & (SettingChange.item == code))
                  .order_by(SettingChange.id, ascending=False).limit(limit).output(load_json=True))
