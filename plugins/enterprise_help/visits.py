"""Visits to the enterprise: the two workflow steps, the rules that depend on them, and their route.

A visit is kept in the channel's own table, and only there: the rules (``check``, awaited by the
core inside the action's transaction) read the table, as does the route. The order's ``details``
stay the citizen's fields. The centre's own staff schedule and record visits as on-site
verifications (``site_visit="enterprise_visit"`` on the channel); a recorded one counts here too.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.plugin_api import (
    CENTRE,
    GOOD_SATISFACTION,
    HANDLER,
    SHANGHAI,
    Action,
    ActionContext,
    Actor,
    NotFound,
    OrderRecord,
    Refusal,
    attachments_of,
    read_order,
    site_visits_of,
)
from plugins.enterprise_help.tables import Visit

CODE = "enterprise_help"
VISITORS = HANDLER | CENTRE  # the department's handler, or centre staff who went along
KIND_LABELS = {"planned": "预约走访", "done": "上门调查与现场核实"}
MESSAGES = {
    "planned_in_past": "预约走访日期不能早于今天",
    "done_in_future": "走访日期不能晚于今天",
    "photo_unknown": "照片须先作为图片附件上传到本工单，再填写附件编号",
    "reply_needs_visit": "公司帮扶工单须先上门调查、现场核实（记录走访）后才能答复",
    "archive_needs_follow_up": "回访评价为不满意或未解决，须再次上门走访并记录后才能归档",
    "not_this_channel": "工单 {number} 不是公司帮扶专线工单",
}

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
Staff = Annotated[list[Name], msgspec.Meta(min_length=1, max_length=10)]


class ScheduleVisit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    date: dt.date
    staff: Staff
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RecordVisit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    date: dt.date
    staff: Staff
    findings: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    photos: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=20)] = []


def _today(ctx: ActionContext) -> dt.date:
    return ctx.now.astimezone(SHANGHAI).date()


def _not_in_past(ctx: ActionContext) -> None:
    if ctx.payload.date < _today(ctx):
        raise Refusal(MESSAGES["planned_in_past"], 400, key="date")


def _not_in_future(ctx: ActionContext) -> None:
    if ctx.payload.date > _today(ctx):
        raise Refusal(MESSAGES["done_in_future"], 400, key="date")


async def _photos_on_this_order(ctx: ActionContext) -> None:
    if not ctx.payload.photos:
        return
    found = await attachments_of(ctx.order, keys=ctx.payload.photos)
    if set(ctx.payload.photos) - {a.key for a in found if a.content_type.startswith("image/")}:
        raise Refusal(MESSAGES["photo_unknown"], 400, key="photos")


async def _schedule(ctx: ActionContext) -> dict:
    await Visit.insert(Visit(order_id=ctx.order.id, kind="planned", visit_date=ctx.payload.date,
                             staff=ctx.payload.staff, note=ctx.payload.note, department=ctx.order.department,
                             recorded_by=ctx.actor.name, created_at=ctx.now))
    return {}


async def _record(ctx: ActionContext) -> dict:
    await Visit.insert(Visit(order_id=ctx.order.id, kind="done", visit_date=ctx.payload.date,
                             staff=ctx.payload.staff, findings=ctx.payload.findings, photos=ctx.payload.photos,
                             follow_up=ctx.order.rating is not None, department=ctx.order.department,
                             recorded_by=ctx.actor.name, created_at=ctx.now))
    return {}


ACTIONS = [
    Action(name="schedule_visit", label="预约走访", sources=frozenset({"accepted"}), target=None,
           roles=HANDLER, department_bound=True, payload=ScheduleVisit, effect=_schedule,
           validators=(_not_in_past,)),
    Action(name="record_visit", label="上门调查与现场核实", sources=frozenset({"accepted", "completed"}),
           target=None, roles=VISITORS, department_bound=True, payload=RecordVisit, effect=_record,
           validators=(_not_in_future, _photos_on_this_order)),
]


# -- the rules --------------------------------------------------------------------------------------

async def _visited_since(order: OrderRecord, moment: str | None) -> bool:
    """A visit recorded here, or an on-site verification the centre recorded, since ``moment``."""
    since = dt.datetime.fromisoformat(moment) if moment else None
    last = await Visit.select(Visit.created_at).where(
        (Visit.order_id == order.id) & (Visit.kind == "done")).order_by(Visit.id, ascending=False).first()
    if last is not None and (since is None or last["created_at"] >= since):
        return True
    return any(v.recorded_at and (since is None or v.recorded_at >= since) for v in await site_visits_of(order))


def _rated_badly(order: OrderRecord) -> bool:
    rating = order.rating
    return bool(rating) and rating.get("valid", True) and not (
        rating["satisfaction"] in GOOD_SATISFACTION and rating["resolved"])


async def check(action: Action, order: OrderRecord) -> None:
    """The reply needs a visit since handling (re)started, while a visit can still be recorded;
    archiving a badly rated order needs a follow-up visit after the rating."""
    if action.name == "reply":
        started = (order.deadlines.get("handle") or {}).get("start")
        if not await _visited_since(order, started):
            raise Refusal(MESSAGES["reply_needs_visit"])
    elif action.name == "archive" and _rated_badly(order):
        if not await _visited_since(order, order.rating["rated_at"]):
            raise Refusal(MESSAGES["archive_needs_follow_up"])


# -- the route --------------------------------------------------------------------------------------

class VisitOut(msgspec.Struct, kw_only=True):
    kind: Literal["planned", "done"]
    kind_label: str
    date: dt.date
    staff: list[str]
    note: str
    findings: str
    photos: list[str]
    follow_up: bool
    department: str | None
    recorded_by: str
    recorded_at: dt.datetime


@get("/api/orders/{number:str}/visits", tags=["公司帮扶"], summary="公司帮扶工单的走访记录（预约与上门核实）")
async def list_visits(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> list[VisitOut]:
    order = await read_order(number, actor)  # 404 unless the actor may see it
    if order.channel != CODE:
        raise NotFound(MESSAGES["not_this_channel"].format(number=number))
    rows = await Visit.select().where(Visit.order_id == order.id).order_by(Visit.id).output(load_json=True)
    return [VisitOut(kind=r["kind"], kind_label=KIND_LABELS[r["kind"]], date=r["visit_date"], staff=r["staff"],
                     note=r["note"], findings=r["findings"], photos=r["photos"], follow_up=r["follow_up"],
                     department=r["department"], recorded_by=r["recorded_by"], recorded_at=r["created_at"])
            for r in rows]


async def panel(number: str, viewer: Actor):
    """上门走访 as a console panel: each visit with its date, staff and findings."""
    from core.plugin_api import Panel

    order = await read_order(number, viewer)
    rows = await Visit.select().where(Visit.order_id == order.id).order_by(Visit.id).output(load_json=True)
    shown = tuple((f"{KIND_LABELS.get(r['kind'], r['kind'])} {r['visit_date']}",
                   "、".join(r["staff"]) + (f"：{r['findings'] or r['note']}" if r["findings"] or r["note"] else ""))
                  for r in rows)
    return Panel(title="上门走访", rows=shown, text="" if rows else "尚未安排或记录走访。审核通过前须记录一次上门调查。")
