"""Training records (培训记录) and the account flag 已培训上岗: an agent records no orders until a
passed course (or an admin's audited override) sets it. Accounts from before the flag existed were
marked trained by the migration."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from core import clock
from core.auth import recent
from core.db import write_transaction
from core.errors import FieldError, Forbidden, InvalidInput, NotFound
from core.model import ROLES, Actor
from core.people import audit
from core.tables import TrainingRecord, TrainingSession, User

SESSION_KINDS = {"induction": "岗前培训", "large": "集中培训"}
AUDIENCES = {"centre": "中心话务人员", "departments": "成员单位"}
ATTENDEES_LIMIT = 200
Course = Annotated[str, msgspec.Meta(min_length=1, max_length=100, description="课程名称")]


class TrainingResult(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One person's result in a course; ``passed`` marks the account 已培训上岗."""

    course: Course
    passed: bool
    session: int | None = None


class TrainedOverride(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """An admin sets the flag by hand (a transfer from another centre, a mistaken record): with a reason."""

    trained: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class NewSession(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A training held on a day and who attended it (and passed, when ``passed``)."""

    course: Course
    kind: Literal["induction", "large"]
    held_on: dt.date
    place: Annotated[str, msgspec.Meta(max_length=128)] = ""
    audience: Literal["centre", "departments"] = "centre"
    attendees: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=ATTENDEES_LIMIT)] = []
    passed: bool = True


def _admin(actor: Actor) -> None:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以登记培训")


async def _user(username: str) -> dict:
    row = await User.select(User.id, User.username, User.role, User.trained).where(User.username == username).first()
    if row is None:
        raise NotFound(f"用户 {username} 不存在")
    return row


async def _mark_trained(row: dict, actor: Actor, course: str) -> None:
    if not row["trained"]:
        await User.update({User.trained: True}).where(User.id == row["id"])
        await audit.record(f"user:{row['username']}", "trained", actor, reason=f"通过培训「{course}」")


async def record_result(username: str, result: TrainingResult, actor: Actor) -> dict[str, Any]:
    _admin(actor)
    row = await _user(username)
    if result.session is not None and not await TrainingSession.exists().where(TrainingSession.id == result.session):
        raise InvalidInput([FieldError("session", "培训场次不存在")])
    async with write_transaction(User._meta.db):
        await TrainingRecord.insert(TrainingRecord(username=username, course=result.course, session_id=result.session,
                                                   passed=result.passed, recorded_by=actor.name, created_at=clock.now()))
        await audit.record(f"user:{username}", "training_recorded", actor, course=result.course, passed=result.passed)
        if result.passed:
            await _mark_trained(row, actor, result.course)
    recent.clear()  # this process at once; the others within recent.TTL seconds
    return await of_user(username)


async def override(username: str, change: TrainedOverride, actor: Actor) -> dict[str, Any]:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以设定上岗资格")
    row = await _user(username)
    async with write_transaction(User._meta.db):
        await User.update({User.trained: change.trained}).where(User.id == row["id"])
        await audit.record(f"user:{username}", "trained_override", actor, reason=change.reason.strip(),
                           trained=change.trained, before=row["trained"])
    recent.clear()
    return await of_user(username)


async def add_session(new: NewSession, actor: Actor) -> dict[str, Any]:
    """A held training with its attendance: one record per attendee (all must be accounts)."""
    _admin(actor)
    names = list(dict.fromkeys(n.strip() for n in new.attendees if n.strip()))
    rows = {r["username"]: r for r in await User.select(User.id, User.username, User.role, User.trained).where(
        User.username.is_in(names))} if names else {}
    missing = [n for n in names if n not in rows]
    if missing:
        raise InvalidInput([FieldError("attendees", f"没有这些用户：{'、'.join(missing[:10])}")])
    now = clock.now()
    async with write_transaction(User._meta.db):
        created = await TrainingSession.insert(TrainingSession(
            course=new.course, kind=new.kind, held_on=new.held_on, place=new.place, audience=new.audience,
            created_by=actor.name, created_at=now)).returning(TrainingSession.id)
        session_id = created[0]["id"]
        for name in names:
            await TrainingRecord.insert(TrainingRecord(username=name, course=new.course, session_id=session_id,
                                                       passed=new.passed, recorded_by=actor.name, created_at=now))
            if new.passed and new.kind == "induction":
                await _mark_trained(rows[name], actor, new.course)
        await audit.record(f"training:{session_id}", "training_session", actor, course=new.course,
                           attendees=len(names), passed=new.passed)
    recent.clear()
    return (await sessions(session_id))[0]


class Passed(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Attendees of a session who passed its assessment after it was recorded."""

    attendees: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]],
                         msgspec.Meta(min_length=1, max_length=ATTENDEES_LIMIT)]


async def mark_passed(session_id: int, change: Passed, actor: Actor) -> dict[str, Any]:
    """Mark attendees of a session passed; passing an induction (岗前培训) makes each 已培训上岗."""
    _admin(actor)
    session = await TrainingSession.select().where(TrainingSession.id == session_id).first()
    if session is None:
        raise NotFound("培训场次不存在")
    names = list(dict.fromkeys(n.strip() for n in change.attendees if n.strip()))
    records = {r["username"]: r for r in await TrainingRecord.select().where(
        (TrainingRecord.session_id == session_id) & TrainingRecord.username.is_in(names or [""]))}
    strangers = [n for n in names if n not in records]
    if strangers or not names:
        raise InvalidInput([FieldError("attendees", f"不是本场培训的出勤人员：{'、'.join(strangers[:10])}"
                                       if strangers else "请选择合格的人员")])
    users = {r["username"]: r for r in await User.select(User.id, User.username, User.role, User.trained).where(
        User.username.is_in(names))}
    async with write_transaction(User._meta.db):
        for name in names:
            if records[name]["passed"]:
                continue
            await TrainingRecord.update({TrainingRecord.passed: True, TrainingRecord.recorded_by: actor.name}).where(
                TrainingRecord.id == records[name]["id"])
            await audit.record(f"user:{name}", "training_passed", actor, course=session["course"], session=session_id)
            if session["kind"] == "induction" and name in users:
                await _mark_trained(users[name], actor, session["course"])
        await audit.record(f"training:{session_id}", "training_passed", actor, course=session["course"], attendees=names)
    recent.clear()
    return (await sessions(session_id))[0]


async def sessions(session_id: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = TrainingSession.select().order_by(TrainingSession.held_on, ascending=False).limit(limit)
    if session_id is not None:
        query = query.where(TrainingSession.id == session_id)
    rows = await query
    ids = [r["id"] for r in rows]
    attendance: dict[int, list[dict]] = {}
    if ids:
        for r in await TrainingRecord.select().where(TrainingRecord.session_id.is_in(ids)).order_by(TrainingRecord.id):
            attendance.setdefault(r["session_id"], []).append({"username": r["username"], "passed": r["passed"]})
    return [{"id": r["id"], "course": r["course"], "kind": r["kind"], "kind_label": SESSION_KINDS.get(r["kind"], r["kind"]),
             "held_on": r["held_on"].isoformat(), "place": r["place"], "audience": r["audience"],
             "audience_label": AUDIENCES.get(r["audience"], r["audience"]),
             "attendees": attendance.get(r["id"], [])} for r in rows]


async def of_user(username: str) -> dict[str, Any]:
    """The account's flag and its training records, newest first."""
    row = await _user(username)
    records = await (TrainingRecord.select().where(TrainingRecord.username == username)
                     .order_by(TrainingRecord.id, ascending=False).limit(200))
    return {"username": username, "role": row["role"], "role_label": ROLES.get(row["role"], row["role"]),
            "trained": row["trained"], "trained_label": "已培训上岗" if row["trained"] else "未培训，不能受理工单",
            "records": [{"course": r["course"], "passed": r["passed"], "passed_label": "合格" if r["passed"] else "未通过",
                         "session": r["session_id"], "recorded_by": r["recorded_by"],
                         "at": r["created_at"].isoformat()} for r in records],
            "history": await audit.history(f"user:{username}", 50)}
