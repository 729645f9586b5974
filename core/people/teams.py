"""Teams (班组) with a leader, the shift patterns (班次) that cover the day 7×24, and leave (请假)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from core import clock
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.people import audit
from core.tables import ShiftPattern, StaffLeave, Team, TeamMember, User

MEMBERS_LIMIT = 100
LEAVE_DAYS_LIMIT = 92
LEAVE_KINDS = {"annual": "年休假", "sick": "病假", "personal": "事假", "other": "其他"}
TEAM_ROLES = frozenset({"agent"})  # who may be a member
LEADER_ROLES = frozenset({"agent", "supervisor"})


class Shift(msgspec.Struct, frozen=True, kw_only=True):
    """A shift pattern: ``starts`` HH:MM, ``hours`` long (may run past midnight)."""

    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,15}$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    starts: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    hours: Annotated[int, msgspec.Meta(ge=4, le=12)]

    @property
    def start_minute(self) -> int:
        hours, minutes = self.starts.split(":")
        return int(hours) * 60 + int(minutes)

    def hours_covered(self) -> list[int]:
        """The clock hours of its day it covers in full or in part, past midnight as 24, 25, …"""
        first = self.start_minute // 60
        end = self.start_minute + self.hours * 60
        return list(range(first, (end + 59) // 60))


DEFAULT_SHIFTS = (Shift(code="night", name="夜班", starts="00:00", hours=8),
                  Shift(code="early", name="早班", starts="08:00", hours=8),
                  Shift(code="middle", name="中班", starts="16:00", hours=8))


class ShiftEdit(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A shift's new name, start and length (its code stays: the rotas name it)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=32)]
    starts: Annotated[str, msgspec.Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
    hours: Annotated[int, msgspec.Meta(ge=4, le=12)]


class ShiftState(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    active: bool


class ShiftPatterns(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    shifts: Annotated[list[Shift], msgspec.Meta(min_length=1, max_length=6)]


class TeamSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    leader: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    members: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=MEMBERS_LIMIT)] = []


class LeaveSpec(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    username: Annotated[str, msgspec.Meta(max_length=64)]
    first_day: dt.date
    last_day: dt.date
    kind: Literal["annual", "sick", "personal", "other"]
    note: Annotated[str, msgspec.Meta(max_length=255)] = ""


def _admin(actor: Actor, what: str) -> None:
    if actor.role != "admin":
        raise Forbidden(f"只有管理员可以{what}")


async def shifts() -> tuple[Shift, ...]:
    rows = await ShiftPattern.select().where(ShiftPattern.active == True).order_by(ShiftPattern.starts_minute)  # noqa: E712
    if not rows:
        return DEFAULT_SHIFTS
    return tuple(Shift(code=r["code"], name=r["name"], starts=f"{r['starts_minute'] // 60:02d}:{r['starts_minute'] % 60:02d}",
                       hours=r["minutes"] // 60) for r in rows)


def shift_listing(patterns: tuple[Shift, ...]) -> list[dict[str, Any]]:
    out = []
    for s in patterns:
        end = (s.start_minute + s.hours * 60) % 1440
        out.append({"code": s.code, "name": s.name, "starts": s.starts, "hours": s.hours,
                    "ends": f"{end // 60:02d}:{end % 60:02d}", "label": f"{s.name} {s.starts}–{end // 60:02d}:{end % 60:02d}"})
    return out


async def set_shifts(change: ShiftPatterns, actor: Actor) -> list[dict[str, Any]]:
    """Replace the shift patterns; together they must cover every hour of the day (7×24)."""
    _admin(actor, "设定班次")
    codes = [s.code for s in change.shifts]
    if len(set(codes)) != len(codes):
        raise InvalidInput([FieldError("shifts", "班次代码不能重复")])
    covered = {h % 24 for s in change.shifts for h in s.hours_covered()}
    if len(covered) < 24:
        missing = sorted(set(range(24)) - covered)
        raise InvalidInput([FieldError("shifts", f"班次须覆盖全天 24 小时，{'、'.join(f'{h:02d}时' for h in missing[:6])}无人值守")])
    async with write_transaction(ShiftPattern._meta.db):
        await ShiftPattern.delete(force=True)
        await ShiftPattern.insert(*[ShiftPattern(code=s.code, name=s.name, starts_minute=s.start_minute,
                                                 minutes=s.hours * 60, active=True) for s in change.shifts])
        await audit.record("shifts", "shift_saved", actor, shifts=[s.name for s in change.shifts])
    return shift_listing(await shifts())


class LeaveCancel(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


async def all_shifts() -> list[dict[str, Any]]:
    """Every shift pattern an admin defined, the stopped ones too (the defaults while none is)."""
    rows = await ShiftPattern.select().order_by(ShiftPattern.starts_minute)
    if not rows:
        return [{**s, "active": True} for s in shift_listing(DEFAULT_SHIFTS)]
    listed = shift_listing(tuple(_shift(r) for r in rows))
    return [{**s, "active": r["active"]} for s, r in zip(listed, rows)]


def _shift(r: dict) -> Shift:
    return Shift(code=r["code"], name=r["name"], starts=f"{r['starts_minute'] // 60:02d}:{r['starts_minute'] % 60:02d}",
                 hours=r["minutes"] // 60)


def _uncovered(patterns: list[Shift]) -> FieldError | None:
    covered = {h % 24 for s in patterns for h in s.hours_covered()}
    if len(covered) == 24:
        return None
    missing = sorted(set(range(24)) - covered)
    return FieldError("shifts", f"启用的班次须覆盖全天 24 小时，{'、'.join(f'{h:02d}时' for h in missing[:6])}将无人值守")


async def _materialise() -> None:
    """Store the default shifts before an admin's first change to one of them."""
    if not await ShiftPattern.exists():
        await ShiftPattern.insert(*[ShiftPattern(code=s.code, name=s.name, starts_minute=s.start_minute,
                                                 minutes=s.hours * 60, active=True) for s in DEFAULT_SHIFTS])


async def _in_use(code: str) -> list[str]:
    """The months of the rotas (drafts and published, this month on) that roster this shift."""
    from core.tables import Rota, RotaShift

    month = f"{clock.today():%Y-%m}"
    rotas = {r["id"]: r["month"] for r in await Rota.select(Rota.id, Rota.month).where(
        (Rota.status != "superseded") & (Rota.month >= month))}
    if not rotas:
        return []
    used = await RotaShift.select(RotaShift.rota_id).where(
        RotaShift.rota_id.is_in(list(rotas)) & (RotaShift.shift == code)).distinct()
    return sorted({rotas[r["rota_id"]] for r in used})


async def save_shift(shift: Shift, actor: Actor, *, new: bool) -> list[dict[str, Any]]:
    """Add a shift pattern, or change one's name, start and length (its code stays); the active
    shifts must still cover the day."""
    _admin(actor, "设定班次")
    async with write_transaction(ShiftPattern._meta.db):
        await _materialise()
        rows = {r["code"]: r for r in await ShiftPattern.select()}
        if new and shift.code in rows:
            raise Conflict("已有这个班次代码", [FieldError("code", "已有这个班次代码，请换一个")])
        if not new and shift.code not in rows:
            raise NotFound("没有这个班次")
        if any(r["name"] == shift.name and c != shift.code for c, r in rows.items()):
            raise Conflict("已有同名班次", [FieldError("name", "已有同名班次")])
        if new and len([r for r in rows.values() if r["active"]]) >= 6:
            raise InvalidInput([FieldError("code", "启用的班次至多 6 个")])
        active = [_shift(r) for c, r in rows.items() if r["active"] and c != shift.code]
        if new or rows[shift.code]["active"]:
            active.append(shift)
        gap = _uncovered(active)
        if gap is not None:
            raise InvalidInput([FieldError("starts", gap.message)])
        values = {ShiftPattern.name: shift.name, ShiftPattern.starts_minute: shift.start_minute,
                  ShiftPattern.minutes: shift.hours * 60}
        if new:
            await ShiftPattern.insert(ShiftPattern(code=shift.code, name=shift.name, starts_minute=shift.start_minute,
                                                   minutes=shift.hours * 60, active=True))
        else:
            await ShiftPattern.update(values).where(ShiftPattern.code == shift.code)
        before = rows.get(shift.code)
        await audit.record("shifts", "shift_saved", actor, code=shift.code, name=shift.name, starts=shift.starts,
                           hours=shift.hours, before=None if before is None else {
                               "name": before["name"], "starts_minute": before["starts_minute"], "minutes": before["minutes"]})
    return await all_shifts()


async def set_shift_active(code: str, active: bool, actor: Actor) -> list[dict[str, Any]]:
    """Stop offering a shift (or offer it again): the rest must still cover the day, and no rota of
    this month on may roster it."""
    _admin(actor, "设定班次")
    async with write_transaction(ShiftPattern._meta.db):
        await _materialise()
        rows = {r["code"]: r for r in await ShiftPattern.select()}
        if code not in rows:
            raise NotFound("没有这个班次")
        if not active:
            gap = _uncovered([_shift(r) for c, r in rows.items() if r["active"] and c != code])
            if gap is not None:
                raise Conflict("停用后" + gap.message, [gap])
            months = await _in_use(code)
            if months:
                raise Conflict(f"{'、'.join(months)} 的排班还排有{rows[code]['name']}，请先调整排班再停用")
        elif len([r for r in rows.values() if r["active"]]) >= 6:
            raise Conflict("启用的班次至多 6 个")
        await ShiftPattern.update({ShiftPattern.active: active}).where(ShiftPattern.code == code)
        await audit.record("shifts", "shift_enabled" if active else "shift_disabled", actor, code=code,
                           name=rows[code]["name"])
    return await all_shifts()


async def cancel_leave(leave_id: int, change: LeaveCancel, actor: Actor) -> dict[str, Any]:
    """Withdraw recorded leave (the person works after all): the row goes, the audit keeps what it was."""
    row = await StaffLeave.select().where(StaffLeave.id == leave_id).first()
    if row is None:
        raise NotFound("请假记录不存在")
    if not await may_manage(actor, row["username"]):
        raise Forbidden("只有管理员、督办员或其班组长可以撤销请假")
    async with write_transaction(StaffLeave._meta.db):
        await StaffLeave.delete().where(StaffLeave.id == leave_id)
        await audit.record(f"user:{row['username']}", "leave_cancelled", actor, reason=change.reason.strip(),
                           first_day=row["first_day"].isoformat(), last_day=row["last_day"].isoformat(), kind=row["kind"])
    return {"id": leave_id, **leave_row(row)}


async def leader_of(username: str) -> list[int]:
    """The teams this user leads."""
    return [r["id"] for r in await Team.select(Team.id).where(Team.leader == username)]


async def team_of(usernames: list[str]) -> dict[str, int]:
    if not usernames:
        return {}
    return {r["username"]: r["team_id"] for r in await TeamMember.select().where(TeamMember.username.is_in(usernames))}


async def listing() -> list[dict[str, Any]]:
    teams = await Team.select().order_by(Team.id)
    members = await TeamMember.select().order_by(TeamMember.username)
    users = {r["username"]: r for r in await User.select(User.username, User.display_name, User.role, User.trained,
                                                         User.active)}
    def person(name: str | None) -> dict | None:
        if name is None:
            return None
        u = users.get(name, {})
        return {"username": name, "name": u.get("display_name") or name, "trained": bool(u.get("trained")),
                "active": bool(u.get("active"))}
    out = []
    for t in teams:
        people = [person(m["username"]) for m in members if m["team_id"] == t["id"]]
        out.append({"id": t["id"], "name": t["name"], "leader": person(t["leader"]), "members": people,
                    "size": len(people)})
    return out


async def _check_people(spec: TeamSpec) -> list[str]:
    names = list(dict.fromkeys(n.strip() for n in spec.members if n.strip()))
    wanted = set(names) | ({spec.leader} if spec.leader else set())
    rows = {r["username"]: r for r in await User.select(User.username, User.role).where(User.username.is_in(list(wanted)))} if wanted else {}
    errors = []
    if spec.leader and (spec.leader not in rows or rows[spec.leader]["role"] not in LEADER_ROLES):
        errors.append(FieldError("leader", "班组长须为话务员或督办员的账号"))
    wrong = [n for n in names if n not in rows or rows[n]["role"] not in TEAM_ROLES]
    if wrong:
        errors.append(FieldError("members", f"班组成员须为话务员的账号：{'、'.join(wrong[:10])}"))
    if errors:
        raise InvalidInput(errors)
    return names


async def save(spec: TeamSpec, actor: Actor, team_id: int | None = None) -> dict[str, Any]:
    """Create a team or replace one's name, leader and members (a member moves from any other team)."""
    _admin(actor, "设置班组")
    names = await _check_people(spec)
    db = Team._meta.db
    async with write_transaction(db):
        same_name = await Team.select(Team.id).where(Team.name == spec.name.strip()).first()
        if same_name and same_name["id"] != team_id:
            raise Conflict("已有同名班组", [FieldError("name", "已有同名班组")])
        if team_id is None:
            team_id = (await Team.insert(Team(name=spec.name.strip(), leader=spec.leader or None,
                                              created_at=clock.now())).returning(Team.id))[0]["id"]
        else:
            if not await Team.exists().where(Team.id == team_id):
                raise NotFound("班组不存在")
            await Team.update({Team.name: spec.name.strip(), Team.leader: spec.leader or None}).where(Team.id == team_id)
        await TeamMember.delete().where(TeamMember.team_id == team_id)
        if names:
            await TeamMember.delete().where(TeamMember.username.is_in(names))
            await TeamMember.insert(*[TeamMember(username=n, team_id=team_id) for n in names])
        await audit.record(f"team:{team_id}", "team_saved", actor, name=spec.name.strip(), leader=spec.leader or "",
                           members=names)
    return next(t for t in await listing() if t["id"] == team_id)


async def may_manage(actor: Actor, username: str) -> bool:
    """Admins and supervisors manage everyone's leave and shifts; a team leader their own team's."""
    if actor.role in ("admin", "supervisor"):
        return True
    led = await leader_of(actor.name)
    return bool(led) and (await team_of([username])).get(username) in led


async def record_leave(spec: LeaveSpec, actor: Actor) -> dict[str, Any]:
    errors = []
    if spec.last_day < spec.first_day:
        errors.append(FieldError("last_day", "结束日期不能早于开始日期"))
    elif (spec.last_day - spec.first_day).days >= LEAVE_DAYS_LIMIT:
        errors.append(FieldError("last_day", f"一次请假不超过 {LEAVE_DAYS_LIMIT} 天"))
    if errors:
        raise InvalidInput(errors)
    if not await User.exists().where(User.username == spec.username):
        raise NotFound(f"用户 {spec.username} 不存在")
    if not await may_manage(actor, spec.username):
        raise Forbidden("只有管理员、督办员或其班组长可以登记请假")
    async with write_transaction(StaffLeave._meta.db):
        row = await StaffLeave.insert(StaffLeave(username=spec.username, first_day=spec.first_day, last_day=spec.last_day,
                                                 kind=spec.kind, note=spec.note, recorded_by=actor.name,
                                                 created_at=clock.now())).returning(StaffLeave.id)
        await audit.record(f"user:{spec.username}", "leave_recorded", actor, reason=spec.note,
                           first_day=spec.first_day.isoformat(), last_day=spec.last_day.isoformat(), kind=spec.kind)
    return {"id": row[0]["id"], **leave_row(msgspec.to_builtins(spec) | {"recorded_by": actor.name})}


def leave_row(r: dict) -> dict[str, Any]:
    first, last = (str(r["first_day"]), str(r["last_day"]))
    return {"username": r["username"], "first_day": first, "last_day": last, "kind": r["kind"],
            "kind_label": LEAVE_KINDS.get(r["kind"], r["kind"]), "note": r["note"], "recorded_by": r["recorded_by"]}


async def leave_between(first: dt.date, last: dt.date) -> list[dict[str, Any]]:
    rows = await StaffLeave.select().where((StaffLeave.first_day <= last) & (StaffLeave.last_day >= first)).order_by(
        StaffLeave.first_day)
    return [{"id": r["id"], **leave_row(r)} for r in rows]
