"""协调会: a supervisor calls a coordination meeting on one or more difficult orders (a group incident,
say), with the departments invited; after it, the minutes (纪要) and each decision with its owner
department and due date. Every decision is tracked work on the meeting's orders: it shows on each
order's timeline, its owner department marks it done, and an overdue one shows on the supervisor's
list. Calling the meeting, its minutes and each decision done are written on every covered order's
timeline in the same transaction as the meeting's own rows.

Handlers see the meetings their department was invited to, owns a decision of, or handles an order
of, and only those.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from core import clock
from core.calendar import local_iso
from core.clock import SHANGHAI
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.notices import staff_notice
from core.outbox import Outbox
from core.tables import Meeting, MeetingDecision, MeetingDepartment, MeetingOrder, Order

CALLERS = frozenset({"supervisor", "admin"})  # who calls a meeting and writes its minutes
READERS = frozenset({"agent", "dispatcher", "supervisor", "admin", "handler"})
ORDERS_LIMIT = 50  # one meeting covers at most this many orders (a group incident's)
DEPARTMENTS_LIMIT = 30
DECISIONS_LIMIT = 50
MINUTES_LIMIT = 20_000
TASK_LIMIT = 1000
PAGE_LIMIT = 100
HORIZON_DAYS = 400  # a meeting's time and a decision's due date lie within this many days of today
DECISION_STATES: dict[str, str] = {"open": "办理中", "overdue": "已逾期", "done": "已完成"}
# the events written on the covered orders (their labels: the console's timeline)
EVENTS: dict[str, str] = {"meeting_called": "召开协调会", "meeting_minutes": "协调会纪要",
                          "meeting_decision": "协调会议定事项", "meeting_decision_done": "议定事项完成"}
EVENT_FIELDS: dict[str, str] = {"meeting": "协调会编号", "decision": "议定事项编号", "due": "完成期限",
                                "department": "责任单位",
                                "at": "会议时间", "place": "会议地点", "note": "完成情况"}

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200, description="会议名称")]
Number = Annotated[str, msgspec.Meta(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_-]+$")]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class NewMeeting(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A meeting called on orders, with the departments invited."""

    title: Title
    at: Annotated[dt.datetime, msgspec.Meta(tz=True, description="会议时间（带时区，例如 2026-12-09T09:30:00+08:00）")]
    place: Annotated[str, msgspec.Meta(max_length=200, description="会议地点")] = ""
    orders: Annotated[list[Number], msgspec.Meta(min_length=1, max_length=ORDERS_LIMIT, description="涉及的工单编号")]
    departments: Annotated[list[Code], msgspec.Meta(max_length=DEPARTMENTS_LIMIT, description="参会单位代码")] = []


class DecisionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    department: Annotated[Code, msgspec.Meta(description="责任单位代码")]
    task: Annotated[str, msgspec.Meta(min_length=1, max_length=TASK_LIMIT, description="议定事项")]
    due: Annotated[dt.date, msgspec.Meta(description="完成期限（本地日期）")]


class Minutes(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The minutes and the decisions (the whole list: writing them again replaces the earlier ones
    while none is done)."""

    text: Annotated[str, msgspec.Meta(min_length=1, max_length=MINUTES_LIMIT, description="纪要正文")]
    decisions: Annotated[list[DecisionIn], msgspec.Meta(max_length=DECISIONS_LIMIT, description="议定事项")] = []


class DecisionDone(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, msgspec.Meta(max_length=TASK_LIMIT, description="完成情况")] = ""


def _clean(text: str) -> str:
    return "".join(c for c in text if c in "\n\t" or ord(c) >= 32).strip()


def decision_state(row: dict[str, Any], today: dt.date) -> str:
    if row["done_at"]:
        return "done"
    return "overdue" if row["due"] < today else "open"


class Meetings:
    """The meetings desk: every write and read of meetings goes through it."""

    def __init__(self, orders):
        self.orders = orders  # core.orders.OrderService: notes on the covered orders, department names

    # -- writes --------------------------------------------------------------------------------------

    async def call(self, data: NewMeeting, actor: Actor) -> dict[str, Any]:
        if actor.role not in CALLERS:
            raise Forbidden("只有督办员和管理员可以召集协调会")
        errors: list[FieldError] = []
        title = _clean(data.title)
        if not title:
            errors.append(FieldError("title", "请填写会议名称"))
        today = clock.today()
        if abs((data.at.astimezone(SHANGHAI).date() - today).days) > HORIZON_DAYS:
            errors.append(FieldError("at", f"会议时间须在今天前后 {HORIZON_DAYS} 天之内"))
        numbers = list(dict.fromkeys(n.strip() for n in data.orders))
        rows = await Order.select(Order.id, Order.number, Order.subject).where(Order.number.is_in(numbers))
        found = {r["number"] for r in rows}
        errors += [FieldError(f"orders.{i}", f"工单 {n} 不存在") for i, n in enumerate(numbers) if n not in found]
        departments = list(dict.fromkeys(data.departments))
        known = await self.orders.reference.departments()
        errors += [FieldError(f"departments.{i}", "没有这个单位") for i, d in enumerate(departments) if d not in known]
        if errors:
            raise InvalidInput(errors, "协调会填写有误")
        names = await self.orders.department_names()
        now = clock.now()
        place, at = _clean(data.place), f"{data.at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}"
        async with write_transaction(self.orders.engine):
            meeting_id = (await Meeting.insert(Meeting(
                title=title, at=data.at, place=place, orders=numbers, departments=departments,
                called_by=actor.name, created_at=now)).returning(Meeting.id))[0]["id"]
            if numbers:
                await MeetingOrder.insert(*[MeetingOrder(meeting_id=meeting_id, order_number=n) for n in numbers])
            if departments:
                await MeetingDepartment.insert(*[MeetingDepartment(meeting_id=meeting_id, department=d)
                                                 for d in departments])
            outbox = Outbox()
            for d in departments:  # each invited department hears of it with the meeting
                staff_notice(outbox, f"department:{d}", "meeting", title=title, place=place or "（另行通知）", at=at,
                             orders="、".join(numbers))
            sent = await outbox.write(now, self.orders.at_once)
            invited = "、".join(names.get(d, d) for d in departments) or "（未邀请单位）"
            for number in numbers:
                await self.orders.note(number, "meeting_called", actor,
                                       reason=f"协调会「{title}」，参会单位：{invited}",
                                       payload={"meeting": meeting_id, "at": at, "place": place})
        if sent:
            self.orders.outbox_written()
        return await self.get(meeting_id, actor)

    async def write_minutes(self, meeting_id: int, data: Minutes, actor: Actor) -> dict[str, Any]:
        if actor.role not in CALLERS:
            raise Forbidden("只有督办员和管理员可以填写协调会纪要")
        meeting = await self._row(meeting_id)
        if meeting["at"] > clock.now():
            raise Conflict("会议尚未召开，会后再填写纪要")
        errors: list[FieldError] = []
        text = _clean(data.text)
        if not text:
            errors.append(FieldError("text", "请填写纪要正文"))
        known = await self.orders.reference.departments()
        today = clock.today()
        for i, d in enumerate(data.decisions):
            if d.department not in known:
                errors.append(FieldError(f"decisions.{i}.department", "没有这个单位"))
            if not _clean(d.task):
                errors.append(FieldError(f"decisions.{i}.task", "请填写议定事项"))
            if not today - dt.timedelta(days=HORIZON_DAYS) <= d.due <= today + dt.timedelta(days=HORIZON_DAYS):
                errors.append(FieldError(f"decisions.{i}.due", f"完成期限须在今天前后 {HORIZON_DAYS} 天之内"))
        if errors:
            raise InvalidInput(errors, "纪要填写有误")
        names = await self.orders.department_names()
        now = clock.now()
        async with write_transaction(self.orders.engine):
            done = await MeetingDecision.count().where((MeetingDecision.meeting_id == meeting_id)
                                                       & MeetingDecision.done_at.is_not_null())
            if done:
                raise Conflict("已有议定事项办结，纪要不能再修改")
            amended = bool(meeting["minutes_at"])
            await MeetingDecision.delete().where(MeetingDecision.meeting_id == meeting_id)
            await Meeting.update({Meeting.minutes: text, Meeting.minutes_by: actor.name,
                                  Meeting.minutes_at: now}).where(Meeting.id == meeting_id)
            decisions = []
            for seq, d in enumerate(data.decisions, start=1):
                row = {"meeting_id": meeting_id, "seq": seq, "department": d.department, "task": _clean(d.task),
                       "due": d.due, "created_at": now}
                row["id"] = (await MeetingDecision.insert(MeetingDecision(**row)).returning(MeetingDecision.id))[0]["id"]
                decisions.append(row)
            outbox = Outbox()
            for d in decisions:  # each owner department is told of its work with the minutes
                staff_notice(outbox, f"department:{d['department']}", "meeting_decision", title=meeting["title"],
                             task=d["task"], due=d["due"].isoformat())
            sent = await outbox.write(now, self.orders.at_once)
            summary = (f"协调会「{meeting['title']}」{'修改' if amended else '形成'}纪要，议定事项 {len(decisions)} 项"
                       + ("（此前的议定事项以本次为准）" if amended else ""))
            for number in meeting["orders"]:
                await self.orders.note(number, "meeting_minutes", actor, reason=summary,
                                       payload={"meeting": meeting_id})
                for d in decisions:
                    await self.orders.note(number, "meeting_decision", actor,
                                           reason=f"{d['task']}（责任单位：{names.get(d['department'], d['department'])}）",
                                           payload={"meeting": meeting_id, "decision": d["id"],
                                                    "department": d["department"], "due": d["due"].isoformat()})
        if sent:
            self.orders.outbox_written()
        return await self.get(meeting_id, actor)

    async def mark_done(self, meeting_id: int, decision_id: int, data: DecisionDone, actor: Actor) -> dict[str, Any]:
        """The owner department reports a decision done; written on every covered order."""
        meeting = await self._row(meeting_id)
        row = await MeetingDecision.select().where((MeetingDecision.id == decision_id)
                                                   & (MeetingDecision.meeting_id == meeting_id)).first()
        if row is None:
            raise NotFound("议定事项不存在")
        if actor.role != "handler" or actor.department != row["department"]:
            if not await self._may_read(meeting, actor):
                raise NotFound("协调会不存在")
            raise Forbidden("只有责任单位可以标记议定事项完成")
        note = _clean(data.note)
        now = clock.now()
        async with write_transaction(self.orders.engine):
            updated = await (MeetingDecision.update({MeetingDecision.done_at: now, MeetingDecision.done_by: actor.name,
                                                     MeetingDecision.done_note: note})
                             .where((MeetingDecision.id == decision_id) & MeetingDecision.done_at.is_null())
                             .returning(MeetingDecision.id))
            if not updated:
                raise Conflict("该议定事项已标记完成")
            for number in meeting["orders"]:
                await self.orders.note(number, "meeting_decision_done", actor, reason=row["task"],
                                       payload={"meeting": meeting_id, "decision": decision_id,
                                                "department": row["department"], "note": note})
        return await self.get(meeting_id, actor)

    # -- reads ---------------------------------------------------------------------------------------

    async def _row(self, meeting_id: int) -> dict[str, Any]:
        row = await Meeting.select().where(Meeting.id == meeting_id).output(load_json=True).first()
        if row is None:
            raise NotFound("协调会不存在")
        return row

    async def _may_read(self, meeting: dict[str, Any], actor: Actor) -> bool:
        if actor.role not in READERS:
            return False
        if actor.in_centre:
            return True
        if not actor.department:
            return False
        return (actor.department in meeting["departments"]
                or await MeetingDecision.exists().where((MeetingDecision.meeting_id == meeting["id"])
                                                        & (MeetingDecision.department == actor.department))
                or await Order.exists().where(Order.number.is_in(meeting["orders"] or [""])
                                              & (Order.department == actor.department)))

    async def _visible_ids(self, actor: Actor) -> list[int] | None:
        """The meetings a handler may see (None: all of them, for the centre)."""
        if actor.role not in READERS:
            raise Forbidden("没有查看协调会的权限")
        if actor.in_centre:
            return None
        invited = await MeetingDepartment.select(MeetingDepartment.meeting_id).where(
            MeetingDepartment.department == (actor.department or ""))
        owning = await MeetingDecision.select(MeetingDecision.meeting_id).where(
            MeetingDecision.department == (actor.department or ""))
        handling = await MeetingOrder.select(MeetingOrder.meeting_id).where(MeetingOrder.order_number.is_in(
            Order.select(Order.number).where(Order.department == (actor.department or ""))))
        return sorted({r["meeting_id"] for rows in (invited, owning, handling) for r in rows})

    async def get(self, meeting_id: int, actor: Actor) -> dict[str, Any]:
        meeting = await self._row(meeting_id)
        if not await self._may_read(meeting, actor):
            raise NotFound("协调会不存在")
        return (await self._present([meeting], actor))[0]

    async def listing(self, actor: Actor, *, limit: int = 50) -> list[dict[str, Any]]:
        """The latest meetings first."""
        ids = await self._visible_ids(actor)
        query = Meeting.select().output(load_json=True).order_by(Meeting.at, ascending=False).limit(
            max(1, min(limit, PAGE_LIMIT)))
        if ids is not None:
            if not ids:
                return []
            query = query.where(Meeting.id.is_in(ids))
        return await self._present(await query, actor)

    async def for_order(self, number: str, actor: Actor) -> list[dict[str, Any]]:
        """The meetings covering an order the actor may see (the order page's 协调会 section)."""
        links = await MeetingOrder.select(MeetingOrder.meeting_id).where(MeetingOrder.order_number == number)
        ids = sorted({r["meeting_id"] for r in links})
        if not ids:
            return []
        rows = await Meeting.select().where(Meeting.id.is_in(ids)).order_by(Meeting.at).output(load_json=True)
        return await self._present(rows, actor)

    async def decisions(self, actor: Actor, *, state: str = "", limit: int = 200) -> list[dict[str, Any]]:
        """Decisions across meetings, the earliest due first: a handler's department's own; the centre
        sees all (``state="overdue"``: the supervisor's list of decisions past due and not done)."""
        if actor.role not in READERS:
            raise Forbidden("没有查看议定事项的权限")
        if state and state not in DECISION_STATES:
            raise InvalidInput([FieldError("state", f"可选：{'、'.join(DECISION_STATES.values())}", "query")])
        today = clock.today()
        query = MeetingDecision.select().order_by(MeetingDecision.due).order_by(MeetingDecision.id).limit(
            max(1, min(limit, 500)))
        if not actor.in_centre:
            query = query.where(MeetingDecision.department == (actor.department or ""))
        if state == "done":
            query = query.where(MeetingDecision.done_at.is_not_null())
        elif state == "overdue":
            query = query.where(MeetingDecision.done_at.is_null() & (MeetingDecision.due < today))
        elif state == "open":
            query = query.where(MeetingDecision.done_at.is_null() & (MeetingDecision.due >= today))
        rows = await query
        titles = {r["id"]: r for r in await Meeting.select(Meeting.id, Meeting.title, Meeting.orders).where(
            Meeting.id.is_in(sorted({r["meeting_id"] for r in rows}) or [0])).output(load_json=True)}
        names = await self.orders.department_names()
        return [{**self._decision(r, names, today, actor), "meeting_title": titles.get(r["meeting_id"], {}).get("title", ""),
                 "orders": titles.get(r["meeting_id"], {}).get("orders", [])} for r in rows]

    @staticmethod
    def _decision(r: dict[str, Any], names: dict[str, str], today: dt.date, actor: Actor) -> dict[str, Any]:
        state = decision_state(r, today)
        return {"id": r["id"], "meeting": r["meeting_id"], "seq": r["seq"], "department": r["department"],
                "department_name": names.get(r["department"], r["department"]), "task": r["task"],
                "due": r["due"].isoformat(), "state": state, "state_label": DECISION_STATES[state],
                "done_at": local_iso(r["done_at"]), "done_by": r["done_by"] or None,
                "done_note": r["done_note"],
                "may_mark_done": state != "done" and actor.role == "handler" and actor.department == r["department"]}

    async def _present(self, rows: list[dict[str, Any]], actor: Actor) -> list[dict[str, Any]]:
        if not rows:
            return []
        ids = [r["id"] for r in rows]
        decisions = await MeetingDecision.select().where(MeetingDecision.meeting_id.is_in(ids)).order_by(
            MeetingDecision.seq)
        numbers = sorted({n for r in rows for n in r["orders"]})
        subjects = {o["number"]: o["subject"] for o in await Order.select(Order.number, Order.subject).where(
            Order.number.is_in(numbers or [""]))}
        names = await self.orders.department_names()
        today = clock.today()
        out = []
        for r in rows:
            mine = [self._decision(d, names, today, actor) for d in decisions if d["meeting_id"] == r["id"]]
            out.append({
                "id": r["id"], "title": r["title"], "at": local_iso(r["at"]), "place": r["place"],
                "orders": [{"number": n, "subject": subjects.get(n, "")} for n in r["orders"]],
                "departments": [{"code": d, "name": names.get(d, d)} for d in r["departments"]],
                "called_by": r["called_by"], "created_at": local_iso(r["created_at"]),
                "minutes": r["minutes"], "minutes_by": r["minutes_by"] or None,
                "minutes_at": local_iso(r["minutes_at"]),
                "decisions": mine,
                "overdue_decisions": sum(d["state"] == "overdue" for d in mine),
            })
        return out

    async def counts(self, start: dt.date, end: dt.date, department: str | None = None) -> dict[str, int]:
        """For the reports: meetings held over the local days [start, end) and the decisions they made,
        with how those stand now; for one department, the meetings it was invited to and its decisions."""
        s = dt.datetime.combine(start, dt.time(), SHANGHAI)
        e = dt.datetime.combine(end, dt.time(), SHANGHAI)
        query = Meeting.select(Meeting.id).where((Meeting.at >= s) & (Meeting.at < e))
        if department:
            query = query.where(Meeting.id.is_in(MeetingDepartment.select(MeetingDepartment.meeting_id).where(
                MeetingDepartment.department == department)))
        held = await query
        ids = [r["id"] for r in held] or [0]
        decisions = MeetingDecision.select(MeetingDecision.done_at, MeetingDecision.due).where(
            MeetingDecision.meeting_id.is_in(ids))
        if department:
            decisions = decisions.where(MeetingDecision.department == department)
        decisions = await decisions
        today = clock.today()
        states = [decision_state(d, today) for d in decisions]
        return {"meetings": len(held), "decisions": len(states), "decisions_done": states.count("done"),
                "decisions_overdue": states.count("overdue")}
