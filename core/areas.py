"""The streets and towns (街道、乡镇) of 湘江新区: the one list an order's 街道 is chosen from.

Free text split the statistics (梅溪湖 and 梅溪湖街道 were two rows); now every way in resolves what
was typed to one name of this list (``resolve``) or is refused with the reason. The list is seeded
once from ``SEED`` and kept by admins (a name, its other names, its place in the list, in use or not).
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec

from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.tables import Area

# 湘江新区's streets and towns (岳麓区, and those of 望城区 in the new area), each with the other names
# callers and old records use (a variant spelling, a merged street's former name)
SEED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("梅溪湖街道", ()), ("麓谷街道", ()), ("观沙岭街道", ()), ("望城坡街道", ()), ("坪塘街道", ()),
    ("洋湖街道", ()), ("岳麓街道", ()), ("橘子洲街道", ("桔子洲街道",)), ("望岳街道", ()), ("西湖街道", ()),
    ("咸嘉湖街道", ()), ("银盆岭街道", ()), ("天顶街道", ()), ("含浦街道", ()), ("学士街道", ()),
    ("东方红街道", ()), ("莲花镇", ()), ("雨敞坪镇", ()), ("高塘岭街道", ()), ("白沙洲街道", ()),
    ("大泽湖街道", ()), ("月亮岛街道", ()), ("金山桥街道", ()), ("黄金园街道", ()), ("丁字湾街道", ()),
)
ALIAS_SPLIT = re.compile(r"[、，,；;\s]+")
SUFFIXES = ("街道办事处", "街道办", "街道", "乡", "镇")
SHOWN_CANDIDATES = 6
PICK_HINT = "请从列表中选择（输入名称的任一部分即可查找，如：梅溪湖）"


class AreaIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    aliases: Annotated[str, msgspec.Meta(max_length=255)] = ""
    sort: int = 0


class AreaChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    aliases: Annotated[str, msgspec.Meta(max_length=255)] | None = None
    sort: int | None = None
    active: bool | None = None


def split_aliases(text: str) -> tuple[str, ...]:
    return tuple(a for a in ALIAS_SPLIT.split(text or "") if a)


def _bare(name: str) -> str:
    """梅溪湖街道 → 梅溪湖: the part a caller says."""
    for suffix in SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix)]
    return name


def resolve(typed: str, areas: list[dict]) -> tuple[str | None, list[str]]:
    """What was typed as 街道, as one name of the list (``areas``: the active ones, each ``name`` and
    ``aliases``): the name or one of its other names; else the only one whose name contains what was
    typed (梅溪湖 → 梅溪湖街道), or that what was typed contains (岳麓区梅溪湖街道办事处 → 梅溪湖街道).
    None and the candidates when it names several or none (an empty list)."""
    typed = re.sub(r"\s+", "", typed or "")
    if not typed:
        return "", []
    for area in areas:
        if typed == area["name"] or typed in area["aliases"]:
            return area["name"], []
    bare = _bare(typed)
    for found in ([a["name"] for a in areas if any(bare in n for n in (a["name"], *a["aliases"]))],
                  [a["name"] for a in areas if any(n in typed for n in (a["name"], *a["aliases"]))]):
        if len(found) == 1:
            return found[0], []
        if found:
            return None, found
    return None, []


def refusal(typed: str, candidates: list[str]) -> str:
    """Why ``typed`` is no 街道 of the list, in the words a form shows beside it."""
    if candidates:
        return f"「{typed}」对应多个街道（乡镇），请选择其一：{'、'.join(candidates[:SHOWN_CANDIDATES])}"
    return f"「{typed}」不在湘江新区的街道（乡镇）列表中，{PICK_HINT}"


def check(typed: str, areas: list[dict]) -> tuple[str, FieldError | None]:
    """(the name to store, None) or (what was typed, the field's error)."""
    found, candidates = resolve(typed, areas)
    if found is not None:
        return found, None
    return typed, FieldError("area", refusal(typed.strip(), candidates))


# -- the list -------------------------------------------------------------------------------------------

def _row(r: dict) -> dict:
    return {"id": r["id"], "name": r["name"], "aliases": list(split_aliases(r["aliases"])), "sort": r["sort"],
            "active": r["active"]}


async def listed(include_inactive: bool = False) -> list[dict]:
    """The streets in their order: ``name``, ``aliases`` (a list), ``sort``, ``active``, ``id``."""
    query = Area.select().order_by(Area.sort).order_by(Area.id)
    if not include_inactive:
        query = query.where(Area.active == True)  # noqa: E712
    return [_row(r) for r in await query]


async def seed_if_empty(engine) -> int:
    """Fill an empty list from ``SEED`` (once); the centre's edits are never overwritten."""
    if await Area.exists():
        return 0
    await Area.insert(*[Area(name=name, aliases="、".join(aliases), sort=position)
                        for position, (name, aliases) in enumerate(SEED)])
    return len(SEED)


async def _clash(name: str, aliases: tuple[str, ...], own_id: int | None) -> list[FieldError]:
    """A name or other name that is already another street's would make a typed value ambiguous."""
    errors = []
    for r in await Area.select(Area.id, Area.name, Area.aliases):
        if r["id"] == own_id:
            continue
        theirs = {r["name"], *split_aliases(r["aliases"])}
        if name in theirs:
            errors.append(FieldError("name", f"「{name}」已是「{r['name']}」的名称"))
        for alias in aliases:
            if alias in theirs:
                errors.append(FieldError("aliases", f"「{alias}」已是「{r['name']}」的名称"))
    return errors


async def add(data: AreaIn) -> dict:
    name, aliases = data.name.strip(), tuple(a for a in split_aliases(data.aliases) if a != data.name.strip())
    if not name:
        raise InvalidInput([FieldError("name", "请填写街道（乡镇）名称")])
    clash = await _clash(name, aliases, None)
    if clash:
        raise Conflict(clash[0].message, clash)
    rows = await Area.insert(Area(name=name, aliases="、".join(aliases), sort=data.sort)).returning(Area.id)
    return _row({"id": rows[0]["id"], "name": name, "aliases": "、".join(aliases), "sort": data.sort,
                 "active": True})


async def change(area_id: int, data: AreaChange) -> dict:
    row = await Area.select().where(Area.id == area_id).first()
    if row is None:
        raise NotFound(f"街道（乡镇）{area_id} 不存在")
    name = data.name.strip() if data.name is not None else row["name"]
    aliases = split_aliases(data.aliases) if data.aliases is not None else split_aliases(row["aliases"])
    if name != row["name"] and row["name"] not in aliases:  # a renamed street still answers to its old name
        aliases = (*aliases, row["name"])
    aliases = tuple(a for a in aliases if a != name)
    if not name:
        raise InvalidInput([FieldError("name", "请填写街道（乡镇）名称")])
    clash = await _clash(name, aliases, area_id)
    if clash:
        raise Conflict(clash[0].message, clash)
    changes = {Area.name: name, Area.aliases: "、".join(aliases)}
    if data.sort is not None:
        changes[Area.sort] = data.sort
    if data.active is not None:
        changes[Area.active] = data.active
    await Area.update(changes).where(Area.id == area_id)
    return _row(await Area.select().where(Area.id == area_id).first())
