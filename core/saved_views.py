"""视图: a member of staff saves a filter of the order list under a name and opens it again with one
click. A view is a personal preference, not a change to any order: it is not audited, and no one
else sees it, opens it or deletes it (another user's view is "not found").

What is kept is the list's query string, checked when saved: only the order filter's criteria and
the sort order (paging and the page's messages are dropped), each value parsed by
``core.order_filter.parse_filter``, so a saved view always opens a list and never an error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from core.channels import field_labels
from core.db import write_transaction
from core.errors import Conflict, FieldError, InvalidInput, NotFound
from core.listing import SORTS
from core.model import Actor
from core.order_filter import OrderFilter, parse_filter, query_pairs, read_params
from core.tables import SavedView

NAME_LIMIT = 30
PER_USER = 20
QUERY_LIMIT = 2000
# what a list's address may carry besides its criteria: dropped, not kept in a view
TRANSIENT = frozenset({"page", "queue", "done", "refused", "view"})
DEFAULT_SORT = "received_desc"  # the list's own when the address names none
DUPLICATE = "已有同名视图"


def canonical(query: Any) -> str:
    """The query string a view keeps: its criteria and sort order (the list's default when none is
    named) in a fixed spelling, so the list shown can be matched to its view. A parameter
    that is neither, or a bad value, is refused with the criterion named."""
    text = query.strip().lstrip("?") if isinstance(query, str) else ""
    if len(text) > QUERY_LIMIT:
        raise InvalidInput([FieldError("query", "筛选条件太长")], "视图的筛选条件有误")
    pairs = parse_qsl(text)
    known = set(OrderFilter.__struct_fields__) | {"sort"}
    unknown = sorted({key for key, _ in pairs} - known - TRANSIENT)
    if unknown:
        raise InvalidInput([FieldError("query", f"不认识的筛选条件：{'、'.join(unknown)[:100]}")], "视图的筛选条件有误")
    given = dict(pairs)
    params = read_params(given)
    try:
        parse_filter(params)
    except InvalidInput as bad:
        labels = field_labels(OrderFilter)
        raise InvalidInput([FieldError("query", f"{labels.get(e.key, e.key)}：{e.message}") for e in bad.errors],
                           "视图的筛选条件有误") from None
    sort = given.get("sort") or DEFAULT_SORT
    if sort not in SORTS:
        raise InvalidInput([FieldError("query", "没有这种排序")], "视图的筛选条件有误")
    return urlencode(query_pairs(params) + [("sort", sort)])


def _checked_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise InvalidInput([FieldError("name", "请填写视图名称")], "视图名称有误")
    if len(name) > NAME_LIMIT:
        raise InvalidInput([FieldError("name", f"视图名称不能超过 {NAME_LIMIT} 个字")], "视图名称有误")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidInput([FieldError("name", "视图名称不能含有控制字符")], "视图名称有误")
    return name


async def views_of(actor: Actor) -> list[dict[str, Any]]:
    """The actor's own views, in the order they were saved."""
    return await SavedView.select(SavedView.id, SavedView.name, SavedView.query).where(
        SavedView.username == actor.name).order_by(SavedView.id)


async def _taken(actor: Actor, name: str) -> bool:
    return await SavedView.exists().where((SavedView.username == actor.name) & (SavedView.name == name))


async def save(actor: Actor, name: Any, query: Any) -> dict[str, Any]:
    """Keep the list's filter ``query`` as the actor's view ``name`` (1–30 characters, once per
    user, at most ``PER_USER`` views)."""
    name = _checked_name(name)
    kept = canonical(query)
    async with write_transaction(SavedView._meta.db):
        if await _taken(actor, name):
            raise Conflict(DUPLICATE, [FieldError("name", f"{DUPLICATE}「{name}」，请换一个名称或先删除原视图")])
        if await SavedView.count().where(SavedView.username == actor.name) >= PER_USER:
            raise Conflict("视图太多", [FieldError("name", f"每人最多保存 {PER_USER} 个视图，请先删除不用的视图")])
        try:
            rows = await SavedView.insert(SavedView(username=actor.name, name=name, query=kept))
        except Exception as error:  # the unique index: the same name saved a moment ago
            raise Conflict(DUPLICATE, [FieldError("name", f"{DUPLICATE}「{name}」")]) from error
    return {"id": rows[0]["id"], "name": name, "query": kept}


async def get(actor: Actor, view_id: int) -> dict[str, Any]:
    """One of the actor's views; another user's is not found."""
    row = await SavedView.select(SavedView.id, SavedView.name, SavedView.query).where(
        (SavedView.id == view_id) & (SavedView.username == actor.name)).first()
    if row is None:
        raise NotFound("视图不存在")
    return row


async def delete(actor: Actor, view_id: int) -> dict[str, Any]:
    row = await get(actor, view_id)
    await SavedView.delete().where((SavedView.id == view_id) & (SavedView.username == actor.name))
    return row


def current(views: list[dict[str, Any]], query: str) -> dict[str, Any] | None:
    """The view whose filter the list shows now, if any (its query string, spelled as kept)."""
    try:
        shown = canonical(query)
    except InvalidInput:
        return None
    return next((v for v in views if v["query"] == shown), None)
