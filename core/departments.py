"""承办单位 changed by an admin: renamed, moved in the tree, given aliases and contacts, disabled (no new
dispatch or routing to it; its open orders listed for the dispatchers to reassign) or enabled again.
Every change is a ``setting_changes`` row (old → new, who, why) written with it. A new department may
be named in Chinese only: its code is generated from the name's pinyin.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec

from core import clock
from core.db import write_transaction
from core.errors import FieldError, Forbidden, InvalidInput, NotFound
from core.lifecycle import OPEN_STATUSES, STATUSES
from core.model import Actor
from core.tables import Department, Order, SettingChange

SETTING = "department"
CODE = re.compile(r"^[a-z][a-z0-9_]{1,63}$")
LISTED_OPEN = 200  # open orders listed for reassignment (the count says how many in all)
FIELD_LABELS = {"name": "名称", "parent": "上级单位", "aliases": "别名", "contacts": "联系人", "active": "启用"}

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
    aliases: Annotated[list[Alias], msgspec.Meta(max_length=20)] | msgspec.UnsetType = msgspec.UNSET
    contacts: Annotated[list[Contact], msgspec.Meta(max_length=10)] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    reason: Annotated[str, msgspec.Meta(max_length=500, description="变更原因（记入审计）")] = ""


def _admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改承办单位")


def _present(row: dict[str, Any]) -> dict[str, Any]:
    return {"code": row["code"], "name": row["name"], "parent": row["parent"], "aliases": list(row["aliases"] or []),
            "contacts": list(row["contacts"] or []), "active": bool(row["active"])}


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


# -- finding a department by what a person typed -----------------------------------------------------------

class Match(msgspec.Struct, frozen=True):
    """What a typed name resolves to: ``code``, or None with the departments it could be (ambiguous)
    or none at all (not found); ``by`` is the name or alias that matched."""

    code: str | None
    by: str = ""
    candidates: tuple[str, ...] = ()


def _fold(text: str) -> str:
    return "".join(text.split()).casefold()


def _terms(row: dict[str, Any]) -> list[str]:
    return [row["name"], *(row.get("aliases") or [])]


def match(text: str, rows: list[dict[str, Any]], *, partial: bool = True) -> Match:
    """The department ``text`` names, among ``rows`` (code, name, aliases, active, merged_into): its
    code; else its name or an alias, exactly (spaces and letter case aside); else the one active
    department whose name or alias holds the text (城管 in 城管局; not when ``partial`` is false). A merged department's code leads to
    the one it was merged into."""
    typed = _fold(text or "")
    if not typed:
        return Match(None)
    by_code = {r["code"]: r for r in rows}
    found = by_code.get(text.strip())
    seen = 0
    while found is not None and found.get("merged_into") and seen < 16:
        found, seen = by_code.get(found["merged_into"], found), seen + 1
    if found is not None:
        return Match(found["code"], found["code"])
    live = [r for r in rows if r.get("active", True)]
    for pool in (live, rows):
        exact = [(r, t) for r in pool for t in _terms(r) if _fold(t) == typed]
        if len({r["code"] for r, _ in exact}) == 1:
            return Match(exact[0][0]["code"], exact[0][1])
        if exact:
            return Match(None, candidates=tuple(dict.fromkeys(r["name"] for r, _ in exact)))
    if len(typed) < 2 or not partial:
        return Match(None)
    held = {r["code"]: (r, t) for r in live for t in reversed(_terms(r)) if typed in _fold(t)}
    if len(held) == 1:
        row, term = next(iter(held.values()))
        return Match(row["code"], term)
    return Match(None, candidates=tuple(r["name"] for r, _ in held.values())[:10])


def named_in_text(text: str, rows: list[dict[str, Any]]) -> Match:
    """The active department a citizen's text names by its name or an alias (the longest name found
    wins: 城市管理局 before 城管), for a suggestion when no routing rule fires."""
    terms = sorted(((t, r["code"]) for r in rows if r.get("active", True) and not r.get("merged_into")
                    for t in _terms(r) if len(t) >= 2), key=lambda item: -len(item[0]))
    for term, code in terms:
        if term in text:
            return Match(code, term)
    return Match(None)


def ambiguous(typed: str, found: Match) -> str:
    return f"「{typed}」可能是：{'、'.join(found.candidates)}，请写出单位全称或从列表中选择"


async def directory() -> list[dict[str, Any]]:
    """Every department with its names, for ``match`` (the caller caches it: ``ReferenceData``)."""
    return await Department.select(Department.code, Department.name, Department.aliases, Department.active,
                                   Department.merged_into).output(load_json=True)


async def named_in_payload(fields, payload: dict[str, Any], rows: list[dict[str, Any]],
                           active: frozenset[str]) -> dict[str, Any]:
    """An action's payload with each department it names by its name or alias (a dispatcher typing 城管)
    turned into the code; a name that could be several departments is refused with them listed."""
    out = dict(payload)
    for f in fields:
        value = out.get(f.name)
        if f.widget == "department" and isinstance(value, str) and value and value not in active:
            found = match(value, rows)
            if found.code:
                out[f.name] = found.code
            elif found.candidates:
                raise InvalidInput([FieldError(f.name, ambiguous(value, found))])
        elif f.widget == "departments" and isinstance(value, list):
            named = []
            for item in value:
                found = match(item, rows) if isinstance(item, str) and item not in active else None
                if found is not None and found.candidates and not found.code:
                    raise InvalidInput([FieldError(f.name, ambiguous(item, found))])
                named.append(found.code if found is not None and found.code else item)
            out[f.name] = named
    return out


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
