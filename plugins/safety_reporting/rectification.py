"""隐患整改: a report found to be a real hazard gets a rectification order (整改期限, the responsible unit,
the required measures); a re-inspection (复查) with findings and photos closes it only when it passes,
and a failed one sets a new deadline. The department cannot reply while the rectification is open.

A rectification whose deadline passes without a passed re-inspection is escalated by the channel's
own job: a 督办 on the order (the system's audited step), and a staff notice to the department, the
dispatchers and the supervisors through the outbox, once per deadline.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Literal

import msgspec

from core.plugin_api import (
    CENTRE_DISPATCH,
    HANDLER,
    SHANGHAI,
    SYSTEM,
    Action,
    ActionContext,
    Conflict,
    Job,
    NotFound,
    Panel,
    PluginServices,
    Refusal,
    attachments_of,
    field,
    read_order,
)
from plugins.safety_reporting.tables import SafetyRectification, SafetyReinspection

log = logging.getLogger(__name__)
MAX_DAYS_AHEAD = 365  # a 整改期限 further away than a year is a typing mistake
STATUS_LABELS = {"open": "整改中", "closed": "整改完成（复查通过）"}
OUTCOMES = {"passed": "复查合格", "failed": "复查不合格"}
PAST_DUE = "整改逾期"
MESSAGES = {
    "not_founded": "核查属实或部分属实的隐患才能下达整改",
    "already": "该隐患已下达整改，不能重复下达",
    "none": "尚未下达整改，不能复查",
    "closed": "整改已复查通过并关闭",
    "deadline_past": "整改期限不能早于今天",
    "deadline_far": f"整改期限不能晚于 {MAX_DAYS_AHEAD} 天后",
    "next_needed": "复查不合格的，请填写新的整改期限",
    "next_unwanted": "复查合格的，不填写新的整改期限",
    "photo_unknown": "复查照片须是本工单上已上传的图片",
    "open": "隐患整改尚未复查通过，不能答复；请先复查",
    "not_due": "整改尚未逾期",
}

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
PhotoKeys = Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]],
                      field("复查照片", "先在工单上上传现场照片，再勾选", widget="attachments", max_length=20)]


class RectificationOrder(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    responsible_unit: Annotated[str, field("整改责任单位", "负责整改的企业或单位全称", min_length=1, max_length=200)]
    measures: Annotated[Text, field("整改措施", "逐条写明须采取的整改措施和要求", widget="textarea")]
    deadline: Annotated[dt.date, field("整改期限", "须在此日（含）之前完成整改")]


class Reinspection(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    outcome: Annotated[Literal[tuple(OUTCOMES)], field("复查结论", choices=OUTCOMES, widget="radio")]
    findings: Annotated[Text, field("复查情况", "现场复查经过、整改措施落实情况", widget="textarea")]
    photos: PhotoKeys = []
    next_deadline: Annotated[dt.date, field("新的整改期限", "复查不合格的必填")] | None = None


class Overdue(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    deadline: Annotated[dt.date, field("整改期限")]
    note: Annotated[str, field("说明", max_length=500)] = ""


async def rectification_of(order_id: int) -> dict | None:
    return await SafetyRectification.select().where(SafetyRectification.order_id == order_id).first()


def _local_today(ctx: ActionContext) -> dt.date:
    return ctx.now.astimezone(SHANGHAI).date()


def _deadline_in_range(day: dt.date, ctx: ActionContext, key: str) -> None:
    today = _local_today(ctx)
    if day < today:
        raise Refusal(MESSAGES["deadline_past"], 400, key=key)
    if day > today + dt.timedelta(days=MAX_DAYS_AHEAD):
        raise Refusal(MESSAGES["deadline_far"], 400, key=key)


# -- ordering the rectification -------------------------------------------------------------------------

async def _founded_and_not_ordered(ctx: ActionContext) -> None:
    from plugins.safety_reporting.workflow import case_of

    case = await case_of(ctx.order.id)
    if case is None or case["result"] == "false":
        raise Refusal(MESSAGES["not_founded"])
    if await rectification_of(ctx.order.id) is not None:
        raise Refusal(MESSAGES["already"])


def _order_deadline(ctx: ActionContext) -> None:
    _deadline_in_range(ctx.payload.deadline, ctx, "deadline")


async def _order(ctx: ActionContext) -> dict:
    p = ctx.payload
    inserted = await SafetyRectification.insert(SafetyRectification(
        order_id=ctx.order.id, order_number=ctx.order.number, responsible_unit=p.responsible_unit.strip(),
        measures=p.measures, deadline=p.deadline, ordered_by=ctx.actor.name, ordered_at=ctx.now,
    )).on_conflict(target=SafetyRectification.order_id, action="DO NOTHING").returning(SafetyRectification.id)
    if not inserted:  # a concurrent order won
        raise Refusal(MESSAGES["already"])
    return {}


# -- re-inspection ---------------------------------------------------------------------------------------

async def _open_rectification(ctx: ActionContext) -> None:
    found = await rectification_of(ctx.order.id)
    if found is None:
        raise Refusal(MESSAGES["none"])
    if found["status"] == "closed":
        raise Refusal(MESSAGES["closed"])


def _next_deadline(ctx: ActionContext) -> None:
    p = ctx.payload
    if p.outcome == "failed" and p.next_deadline is None:
        raise Refusal(MESSAGES["next_needed"], 400, key="next_deadline")
    if p.outcome == "passed" and p.next_deadline is not None:
        raise Refusal(MESSAGES["next_unwanted"], 400, key="next_deadline")
    if p.next_deadline is not None:
        _deadline_in_range(p.next_deadline, ctx, "next_deadline")


async def _photos_on_this_order(ctx: ActionContext) -> None:
    if not ctx.payload.photos:
        return
    found = await attachments_of(ctx.order, keys=ctx.payload.photos)
    if set(ctx.payload.photos) - {a.key for a in found if a.content_type.startswith("image/")}:
        raise Refusal(MESSAGES["photo_unknown"], 400, key="photos")


async def _reinspect(ctx: ActionContext) -> dict:
    p = ctx.payload
    current = await rectification_of(ctx.order.id)
    passed = p.outcome == "passed"
    changes = ({SafetyRectification.status: "closed", SafetyRectification.closed_at: ctx.now} if passed else
               {SafetyRectification.deadline: p.next_deadline, SafetyRectification.round: current["round"] + 1})
    updated = await SafetyRectification.update(changes).where(
        (SafetyRectification.order_id == ctx.order.id) & (SafetyRectification.status == "open")
        & (SafetyRectification.round == current["round"])).returning(SafetyRectification.id)
    if not updated:  # a concurrent re-inspection won
        raise Refusal("整改记录已被他人更改，请刷新后重试")
    await SafetyReinspection.insert(SafetyReinspection(
        order_id=ctx.order.id, round=current["round"], passed=passed, findings=p.findings, photos=list(p.photos),
        next_deadline=p.next_deadline, inspected_by=ctx.actor.name, inspected_at=ctx.now))
    return {}


# -- escalation past the deadline ---------------------------------------------------------------------------

async def _past_due_and_not_escalated(ctx: ActionContext) -> None:
    found = await rectification_of(ctx.order.id)
    if (found is None or found["status"] != "open" or found["deadline"] != ctx.payload.deadline
            or found["deadline"] >= _local_today(ctx)):
        raise Refusal(MESSAGES["not_due"])
    if found["escalated_for"] == found["deadline"]:
        raise Refusal("已督办")


async def _escalate(ctx: ActionContext) -> dict:
    updated = await SafetyRectification.update({SafetyRectification.escalated_for: ctx.payload.deadline}).where(
        (SafetyRectification.order_id == ctx.order.id) & (SafetyRectification.deadline == ctx.payload.deadline)
    ).returning(SafetyRectification.id)
    if not updated:
        raise Refusal(MESSAGES["not_due"])
    supervision = {"id": len(ctx.order.supervisions) + 1, "kind": "supervise", "note": ctx.payload.note,
                   "department": ctx.order.department, "issued_by": ctx.actor.name,
                   "issued_at": ctx.now.isoformat(), "automatic": True,
                   "due": ctx.calendar.add_working_days(ctx.now, 1).isoformat(),
                   "answer": None, "answered_by": None, "answered_at": None}
    return {"supervisions": [*ctx.order.supervisions, supervision]}


WHILE_HANDLED = frozenset({"accepted"})  # the department cannot reply while a rectification is open

ACTIONS = [
    Action(name="order_rectification", label="下达隐患整改", sources=WHILE_HANDLED, target=None,
           roles=HANDLER | CENTRE_DISPATCH, department_bound=True, payload=RectificationOrder, effect=_order,
           citizen_label="举报的隐患已责令整改", validators=(_founded_and_not_ordered, _order_deadline)),
    Action(name="reinspect", label="整改复查", sources=WHILE_HANDLED, target=None,
           roles=HANDLER | CENTRE_DISPATCH, department_bound=True, payload=Reinspection, effect=_reinspect,
           validators=(_open_rectification, _next_deadline, _photos_on_this_order)),
    Action(name="rectification_overdue", label="整改逾期督办", sources=WHILE_HANDLED | {"suspended"}, target=None,
           roles=frozenset({"system"}), payload=Overdue, effect=_escalate,
           validators=(_past_due_and_not_escalated,)),
]


async def check(action: Action, order_id: int) -> None:
    """The department replies only once an ordered rectification has passed its re-inspection."""
    if action.name == "reply":
        found = await rectification_of(order_id)
        if found is not None and found["status"] != "closed":
            raise Refusal(MESSAGES["open"])


def notices(order, event) -> list[tuple[str, str]]:
    """Who is told of an overdue rectification: the department, the dispatchers and the supervisors."""
    if event.action != "rectification_overdue":
        return []
    recipients = ["role:dispatcher", "role:supervisor"]
    if order.department:
        recipients.insert(0, f"department:{order.department}")
    return [(to, event.reason) for to in recipients]


async def overdue_sweep(services: PluginServices) -> dict:
    """督办 every open rectification whose deadline has passed, once per deadline (safe to run twice)."""
    today = services.now().astimezone(SHANGHAI).date()
    rows = await SafetyRectification.select(
        SafetyRectification.order_number, SafetyRectification.deadline, SafetyRectification.escalated_for,
        SafetyRectification.responsible_unit, SafetyRectification.round,
    ).where((SafetyRectification.status == "open") & (SafetyRectification.deadline < today)).order_by(
        SafetyRectification.id).limit(1000)
    escalated = 0
    for row in rows:
        if row["escalated_for"] == row["deadline"]:
            continue
        note = (f"{PAST_DUE}：{row['responsible_unit']}应于 {row['deadline'].isoformat()} 前完成整改"
                f"（第 {row['round']} 轮），尚未复查通过，系统自动督办")
        try:
            await services.act(row["order_number"], "rectification_overdue",
                                      {"deadline": row["deadline"].isoformat(), "note": note}, SYSTEM)
        except (Conflict, NotFound) as refused:  # done by another run meanwhile, or the order moved on
            log.info("rectification_overdue on %s skipped: %s", row["order_number"], refused)
            continue
        escalated += 1
    return {"escalated": escalated}


JOBS = [Job(name="safety_rectification_sweep", label="隐患整改逾期督办", run=overdue_sweep,
            minutes=frozenset({10, 40}))]


async def panel(number: str, viewer) -> Panel | None:
    """隐患整改 on the order's console page: the order, each re-inspection, and where it stands."""
    order = await read_order(number, viewer)
    found = await rectification_of(order.id)
    if found is None:
        return None
    rows = [("整改状态", STATUS_LABELS[found["status"]]),
            ("整改责任单位", found["responsible_unit"]),
            ("整改措施", found["measures"]),
            ("整改期限", f"{found['deadline'].isoformat()}（第 {found['round']} 轮）")]
    if found["escalated_for"] is not None:
        rows.append(("逾期督办", f"整改期限 {found['escalated_for'].isoformat()} 已过，已自动督办"))
    visits = await SafetyReinspection.select().where(SafetyReinspection.order_id == order.id).order_by(
        SafetyReinspection.id).output(load_json=True)
    for v in visits:
        when = v["inspected_at"].astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
        text = f"{OUTCOMES['passed' if v['passed'] else 'failed']}：{v['findings']}"
        if v["photos"]:
            text += f"（照片 {len(v['photos'])} 张）"
        if v["next_deadline"] is not None:
            text += f"；新的整改期限 {v['next_deadline']}"
        rows.append((f"第 {v['round']} 轮复查 {when}", text))
    hint = "" if found["status"] == "closed" else "整改复查合格后才能答复；整改期限过后仍未复查合格的，系统自动督办。"
    return Panel(title="隐患整改", rows=tuple(rows), text=hint)
