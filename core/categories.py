"""The centre's category tree (三级分类), seeded from the reference tree and edited by admins.

It is also the prior knowledge of the suggestion models: the words of each branch's names.
"""

from __future__ import annotations

import csv
from typing import Annotated

import msgspec

from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.suggestions import CATEGORY_TREE
from core.tables import Category


class CategoryIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    parent_id: int | None = None
    sort: int = 0


class CategoryChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    sort: int | None = None
    active: bool | None = None


async def seed_if_empty(engine) -> int:
    """Fill an empty tree from the reference file (once); the centre's edits are never overwritten."""
    if await Category.exists():
        return 0
    with open(CATEGORY_TREE, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    paths: list[tuple[str, ...]] = []
    for row in rows:
        for level in (1, 2, 3):
            path = tuple(row[f"level{i}"] for i in range(1, level + 1))
            if path not in paths:
                paths.append(path)
    ids: dict[tuple[str, ...], int] = {}
    async with engine.transaction():
        for level in (1, 2, 3):  # one insert per level: each needs its parents' ids
            batch = [(p, position) for position, p in enumerate(paths) if len(p) == level]
            await Category.insert(*[Category(parent_id=ids.get(p[:-1]), name=p[-1], level=level, sort=position)
                                    for p, position in batch])
            stored = await Category.select(Category.id, Category.parent_id, Category.name).where(
                Category.level == level)
            by_parent = {(r["parent_id"], r["name"]): r["id"] for r in stored}
            for p, _ in batch:
                ids[p] = by_parent[(ids.get(p[:-1]), p[-1])]
    return len(ids)


async def tree(include_inactive: bool = False) -> list[dict]:
    query = Category.select().order_by(Category.sort).order_by(Category.id)
    if not include_inactive:
        query = query.where(Category.active == True)  # noqa: E712
    rows = await query
    nodes = {r["id"]: {"id": r["id"], "name": r["name"], "level": r["level"], "active": r["active"],
                       "children": []} for r in rows}
    roots = []
    for r in rows:
        (nodes[r["parent_id"]]["children"] if r["parent_id"] in nodes else roots).append(nodes[r["id"]])
    return roots


async def add(data: CategoryIn) -> dict:
    level = 1
    if data.parent_id is not None:
        parent = await Category.select().where(Category.id == data.parent_id).first()
        if parent is None:
            raise InvalidInput([FieldError("parent_id", "上级分类不存在")])
        if parent["level"] >= 3:
            raise InvalidInput([FieldError("parent_id", "分类最多三级")])
        level = parent["level"] + 1
    same = Category.exists().where((Category.name == data.name.strip()) & (
        Category.parent_id.is_null() if data.parent_id is None else Category.parent_id == data.parent_id))
    if await same:
        raise Conflict("同一上级下已有同名分类", [FieldError("name", "同一上级下已有同名分类")])
    rows = await Category.insert(Category(parent_id=data.parent_id, name=data.name.strip(), level=level,
                                          sort=data.sort)).returning(Category.id)
    return {"id": rows[0]["id"], "name": data.name.strip(), "level": level, "parent_id": data.parent_id}


async def change(category_id: int, data: CategoryChange) -> dict:
    row = await Category.select().where(Category.id == category_id).first()
    if row is None:
        raise NotFound(f"分类 {category_id} 不存在")
    changes = {getattr(Category, k): (v.strip() if isinstance(v, str) else v)
               for k, v in msgspec.structs.asdict(data).items() if v is not None}
    if changes:
        await Category.update(changes).where(Category.id == category_id)
    row = await Category.select().where(Category.id == category_id).first()
    return {"id": row["id"], "name": row["name"], "level": row["level"], "parent_id": row["parent_id"],
            "active": row["active"]}


async def paths() -> list[str]:
    """Every active branch as "一级/二级/三级", each level on its own (a call is filed as precisely as
    the agent knows it): the list 分类 is chosen from, so free text never splits the statistics."""
    rows = await Category.select(Category.id, Category.parent_id, Category.name).where(
        Category.active == True).order_by(Category.sort).order_by(Category.id)  # noqa: E712
    by_id = {r["id"]: r for r in rows}

    def path(row: dict) -> str | None:
        if row["parent_id"] is None:
            return row["name"]
        parent = by_id.get(row["parent_id"])
        above = path(parent) if parent else None  # a branch under a disabled one is disabled with it
        return f"{above}/{row['name']}" if above else None

    return [p for p in map(path, rows) if p]


def resolve(typed: str, offered: list[str]) -> tuple[str | None, list[str]]:
    """What an agent typed as 分类, as one branch of the tree: the path itself, or the only branch
    whose name contains it (噪音 → 环境保护/环境污染/噪音污染); else None and the candidates to pick from."""
    typed = typed.strip().strip("/")
    if typed in offered:
        return typed, []
    named = [p for p in offered if p.rsplit("/", 1)[-1] == typed]
    found = named or [p for p in offered if typed in p.rsplit("/", 1)[-1]] or [p for p in offered if typed in p]
    return (found[0], []) if len(found) == 1 else (None, found)
