"""The core's scheduled jobs: outbox delivery, the SLA sweep, callback scheduling, the archive sweep and
the nightly integrity check.

Each change a sweep makes to an order is a lifecycle action taken by the system (declared below,
offered to nobody else), so it is audited, version-checked and pushed through the outbox like any
other: a sweep that runs twice, or on two processes at once, changes each order once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Annotated, Literal

import msgspec

from core.calendar import DEADLINE_STATE_LABELS, SHANGHAI, deadline_state
from core.errors import HuyingError
from core.hookspecs import hookimpl
from core.jobs import Job, deliver_outbox
from core.channels import field
from core.lifecycle import OPEN_STATUSES, STATUSES, Action, ActionContext, Refusal
from core.model import SYSTEM
from core.sla import DEADLINE_LABELS

log = logging.getLogger(__name__)
SYSTEM_ROLES = frozenset({"system"})
SWEPT_DEADLINES = ("dispatch", "accept", "handle", "callback")
STATE_RANK = {"normal": 0, "at_risk": 1, "overdue": 2}
STATE_LABELS = {"at_risk": "临期", "overdue": "超期"}
ESCALATION_LABELS = {"urge": "催办", "supervise": "督办"}
CHUNK = 500
STUCK_AFTER = dt.timedelta(hours=1)


# -- escalation rules ---------------------------------------------------------------------------------

class EscalationRule(msgspec.Struct, frozen=True):
    state: Literal["at_risk", "overdue"]
    deadline: str
    kind: Literal["urge", "supervise"]


def parse_rules(text: str) -> list[EscalationRule]:
    """``"at_risk:handle:urge,overdue:handle:supervise"`` (HUYING_SLA_RULES) → rules; a bad rule
    stops the start-up rather than silently escalating nothing."""
    rules = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        state, _, rest = part.partition(":")
        deadline, _, kind = rest.partition(":")
        if deadline not in SWEPT_DEADLINES:
            raise ValueError(f"HUYING_SLA_RULES: unknown deadline {deadline!r} in {part!r}")
        rules.append(msgspec.convert({"state": state, "deadline": deadline, "kind": kind}, EscalationRule))
    return rules


# -- the system's actions -------------------------------------------------------------------------------

NoteText = Annotated[str, msgspec.Meta(max_length=500)]


class SlaMark(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Labels and choice labels ride on the fields, so the timeline reads 时限 签收时限, not a code."""

    deadline: Annotated[str, field("时限", choices=DEADLINE_LABELS, max_length=32)]
    state: Annotated[Literal["at_risk", "overdue"], field("状态", choices=DEADLINE_STATE_LABELS)]
    escalate: Annotated[Literal[tuple(ESCALATION_LABELS)] | None, field("升级为", choices=ESCALATION_LABELS)] = None
    note: Annotated[NoteText, field("说明")] = ""


class CallbackTask(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    day: Annotated[str, field("回访日期", pattern=r"^\d{4}-\d{2}-\d{2}$", max_length=10)]
    note: Annotated[NoteText, field("说明")] = ""


class SweepNote(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[NoteText, field("说明")] = ""


def _not_marked_yet(ctx: ActionContext) -> None:
    deadline = ctx.order.deadlines.get(ctx.payload.deadline)
    if deadline is None or deadline.get("done"):
        raise Refusal("该时限已完成")
    if STATE_RANK[deadline.get("marked") or "normal"] >= STATE_RANK[ctx.payload.state]:
        raise Refusal("已标记")


def _mark(ctx: ActionContext) -> dict:
    deadlines = {k: dict(v) for k, v in ctx.order.deadlines.items()}
    deadlines[ctx.payload.deadline]["marked"] = ctx.payload.state
    changes: dict = {"deadlines": deadlines}
    if ctx.payload.escalate:
        supervision = {"id": len(ctx.order.supervisions) + 1, "kind": ctx.payload.escalate,
                       "note": ctx.payload.note, "department": ctx.order.department, "issued_by": ctx.actor.name,
                       "issued_at": ctx.now.isoformat(), "automatic": True,
                       "due": ctx.sla.calendar.add_working_days(ctx.now, 1).isoformat(),
                       "answer": None, "answered_by": None, "answered_at": None}
        changes["supervisions"] = [*ctx.order.supervisions, supervision]
    return changes


def _schedule(ctx: ActionContext) -> dict:
    deadlines = {k: dict(v) for k, v in ctx.order.deadlines.items()}
    if "callback" not in deadlines or deadlines["callback"].get("task"):
        raise Refusal("回访任务已安排")
    deadlines["callback"]["task"] = ctx.payload.day
    return {"deadlines": deadlines}


def _unrated(ctx: ActionContext) -> None:
    if ctx.order.rating is not None:
        raise Refusal("已回访")


def _window_closed(ctx: ActionContext) -> None:
    window = (ctx.order.deadlines or {}).get("appeal")
    if ctx.order.rating is None or window is None or ctx.now <= dt.datetime.fromisoformat(window["due"]):
        raise Refusal("申诉期未过")


SYSTEM_ACTIONS = (
    Action(name="sla_mark", label="时限预警", sources=OPEN_STATUSES - {"suspended"}, target=None,
           roles=SYSTEM_ROLES, payload=SlaMark, effect=_mark, validators=(_not_marked_yet,)),
    Action(name="schedule_callback", label="安排回访", sources=frozenset({"completed"}), target=None,
           roles=SYSTEM_ROLES, payload=CallbackTask, effect=_schedule, validators=(_unrated,)),
    Action(name="auto_archive", label="申诉期满归档", sources=frozenset({"completed"}), target="archived",
           roles=SYSTEM_ROLES, payload=SweepNote, validators=(_window_closed,)),
)


@hookimpl
def workflow_actions(channel):
    return list(SYSTEM_ACTIONS)


# -- the jobs ---------------------------------------------------------------------------------------------

async def _orders(statuses, where=None) -> AsyncIterator[dict]:
    """Every order in ``statuses`` (and ``where``), read in chunks by id and handed on one at a time:
    a sweep is not a request (it may be long), and it holds one chunk, however large the backlog."""
    from core.tables import Order

    last = 0
    while True:
        query = (Order.select(Order.id, Order.number, Order.status, Order.deadlines, Order.rating, Order.department,
                              Order.supervisions)
                 .where(Order.status.is_in(sorted(statuses)) & (Order.id > last)))
        if where is not None:
            query = query.where(where)
        rows = await query.order_by(Order.id).limit(CHUNK).output(load_json=True)
        for row in rows:
            yield row
        if len(rows) < CHUNK:
            return
        last = rows[-1]["id"]


async def _system_act(platform, number: str, action: str, payload: dict) -> bool:
    try:
        await platform.orders.act(number, action, payload, SYSTEM)
    except HuyingError as refused:  # already done by another run, or the order moved on meanwhile
        log.info("%s on %s skipped: %s", action, number, refused.detail)
        return False
    return True


ESCALATION_RANK = {"urge": 1, "supervise": 2}


def _already_pressed(supervisions: list[dict], kind: str, now: dt.datetime, calendar) -> bool:
    """Whether the order is already being pressed hard enough for the sweep to add nothing: a person
    supervised or urged it within the last working day (answered or not), or a 催办/督办 at least as
    strong is still waiting for its answer. Stacking the system's own on top only buries the handler."""
    for supervision in supervisions or ():
        waiting = supervision.get("answer") is None
        if waiting and ESCALATION_RANK.get(supervision.get("kind"), 0) >= ESCALATION_RANK[kind]:
            return True
        if not supervision.get("automatic"):
            issued = dt.datetime.fromisoformat(supervision["issued_at"])
            if calendar.working_seconds_between(issued, now) < calendar.day_seconds:
                return True
    return False


async def sla_sweep(platform) -> dict:
    """Mark deadlines 临期 and 超期, notify the department and the centre, and raise 催办/督办 by the
    configured rules (HUYING_SLA_RULES). Each mark is made once per deadline and state; an order gets
    at most one escalation per sweep (the strongest its marks call for: never 催办 and 督办 together),
    and none while it is already pressed (``_already_pressed``)."""
    rules = parse_rules(platform.settings.sla_rules)
    await platform.sla.refresh()
    now = platform.orders.clock()
    counts = {"at_risk": 0, "overdue": 0, "urge": 0, "supervise": 0}
    from core.tables import Order

    # only orders with a deadline 临期 or 超期 by now can need a mark (``at_risk_at`` is the soonest)
    async for order in _orders(OPEN_STATUSES - {"suspended"}, Order.at_risk_at <= now):
        marks = []
        for name in SWEPT_DEADLINES:
            deadline = (order["deadlines"] or {}).get(name)
            if not deadline or deadline.get("done"):
                continue
            state = deadline_state(dt.datetime.fromisoformat(deadline["start"]),
                                   dt.datetime.fromisoformat(deadline["due"]), now, platform.calendar)
            if STATE_RANK[state] <= STATE_RANK[deadline.get("marked") or "normal"]:
                continue
            rule = next((r for r in rules if r.state == state and r.deadline == name), None)
            marks.append((name, deadline, state, rule.kind if rule else None))
        wanted = max((kind for *_, kind in marks if kind), key=ESCALATION_RANK.__getitem__, default=None)
        if wanted and _already_pressed(order["supervisions"], wanted, now, platform.calendar):
            wanted = None
        for name, deadline, state, kind in marks:
            escalate = kind if kind and kind == wanted else None
            wanted = None if escalate else wanted  # one escalation per order and sweep
            note = f"{DEADLINE_LABELS[name]}{STATE_LABELS[state]}（截止 {_local(deadline['due'])}）"
            if escalate:
                note = f"系统自动{ESCALATION_LABELS[escalate]}：{note}"
            if await _system_act(platform, order["number"], "sla_mark",
                                 {"deadline": name, "state": state, "escalate": escalate, "note": note}):
                counts[state] += 1
                if escalate:
                    counts[escalate] += 1
    return counts


def _local(iso: str) -> str:
    return dt.datetime.fromisoformat(iso).astimezone(SHANGHAI).strftime("%m-%d %H:%M")


def next_working_day(calendar, after: dt.datetime) -> dt.date:
    day = after.astimezone(SHANGHAI).date() + dt.timedelta(days=1)
    while not calendar.is_workday(day):
        day += dt.timedelta(days=1)
    return day


async def schedule_callbacks(platform) -> dict:
    """A callback task for the working day after completion: once that day has begun, the order is
    put on the callback list (audited) and the citizen is invited by text message."""
    await platform.sla.refresh()
    today = platform.orders.clock().astimezone(SHANGHAI).date()
    scheduled = 0
    async for order in _orders({"completed"}):
        callback = (order["deadlines"] or {}).get("callback")
        if order["rating"] is not None or not callback or callback.get("task") or callback.get("done"):
            continue
        day = next_working_day(platform.calendar, dt.datetime.fromisoformat(callback["start"]))
        if day <= today and await _system_act(platform, order["number"], "schedule_callback",
                                              {"day": day.isoformat(), "note": f"回访任务：{day.isoformat()}"}):
            scheduled += 1
    return {"scheduled": scheduled}


async def archive_sweep(platform) -> dict:
    """Archive rated orders whose appeal window has passed without an appeal."""
    now = platform.orders.clock()
    archived = 0
    async for order in _orders({"completed"}):
        window = (order["deadlines"] or {}).get("appeal")
        if order["rating"] is None or not window or now <= dt.datetime.fromisoformat(window["due"]):
            continue
        if await _system_act(platform, order["number"], "auto_archive", {"note": "申诉期已过，自动归档"}):
            archived += 1
    return {"archived": archived}


async def integrity_check(platform) -> dict:
    """What should never be: orders without an audit event, deadlines that end before they start,
    outbox messages pending for over an hour. Reports them (the run's result) and changes nothing."""
    from core.tables import Order, OutboxMessage

    no_events = await Order.raw(
        "SELECT number FROM orders o WHERE NOT EXISTS "
        "(SELECT 1 FROM order_events e WHERE e.order_id = o.id) ORDER BY o.id LIMIT 100")
    disordered = []
    async for order in _orders(set(STATUSES)):
        for name, d in (order["deadlines"] or {}).items():
            start, due = dt.datetime.fromisoformat(d["start"]), dt.datetime.fromisoformat(d["due"])
            done = dt.datetime.fromisoformat(d["done"]) if d.get("done") else None
            if due < start or (done is not None and done < start):
                disordered.append({"number": order["number"], "deadline": name})
    cutoff = platform.orders.clock() - STUCK_AFTER
    stuck = await (OutboxMessage.select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.order_number,
                                        OutboxMessage.attempts, OutboxMessage.last_error)
                   .where(OutboxMessage.delivered_at.is_null() & OutboxMessage.abandoned_at.is_null()
                          & (OutboxMessage.created_at < cutoff))
                   .order_by(OutboxMessage.id).limit(100))
    report = {"orders_without_events": [r["number"] for r in no_events],
              "deadlines_out_of_order": disordered[:100], "outbox_stuck": stuck}
    report["problems"] = len(no_events) + len(disordered) + len(stuck)
    if report["problems"]:
        log.warning("integrity check found %s problems: %s", report["problems"], report)
    return report


LEFT_FOR = dt.timedelta(hours=1)


async def attachment_sweep(platform) -> dict:
    """Files nobody will claim: a web form's staged uploads left over an hour (the form was refused
    or abandoned), stored files no attachment record names (a transaction that failed after the
    bytes were written). A staged file whose order was recorded is moved into place instead."""
    import time

    from core.tables import Attachment

    async def referenced(keys: set[str]) -> set[str]:
        found, keys = set(), sorted(keys)
        for start in range(0, len(keys), 500):
            rows = await Attachment.select(Attachment.key).where(Attachment.key.is_in(keys[start:start + 500]))
            found.update(r["key"] for r in rows)
        return found

    # file ages are the file system's (real time), not the platform's business clock
    return await platform.attachments.sweep(referenced, time.time() - LEFT_FOR.total_seconds())


@hookimpl
def register_jobs():
    every_five = frozenset(range(0, 60, 5))
    return [
        Job(name="deliver_outbox", label="投递待发消息", run=deliver_outbox, minutes=None, recorded=False),
        Job(name="sla_sweep", label="时限巡检（临期/超期、自动催办督办）", run=sla_sweep, minutes=every_five),
        Job(name="schedule_callbacks", label="安排回访任务", run=schedule_callbacks,
            minutes=frozenset({7, 37})),
        Job(name="archive_sweep", label="申诉期满自动归档", run=archive_sweep, minutes=frozenset({15})),
        Job(name="attachment_sweep", label="清理未被采用的上传文件", run=attachment_sweep,
            minutes=frozenset({20, 50})),
        Job(name="integrity_check", label="夜间数据完整性检查", run=integrity_check,
            minutes=frozenset({30}), hours=frozenset({2})),
    ]
