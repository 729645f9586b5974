"""班组与质检 forms beside the API: leave (record, list, cancel), the shift patterns (an admin adds,
edits, stops and restarts one), training sessions with their attendance (record one, mark attendees
passed: passing an induction sets 已培训上岗), and the 质检 checklist and sampling rule. Each form is
checked on the server; a refusal comes back beside its field with what was typed (400), a change
goes through the same ``core.people`` function as the API, which checks the role and audits it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.people import HOME, _centre, _field, _staff
from core import clock
from core.errors import Forbidden, HuyingError, NotFound
from core.people import audit, quality, rota, teams, training
from core.tables import User

GENERAL = "_form"
TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _done(path: str, text: str) -> Redirect:
    return Redirect(f"{path}{'&' if '?' in path else '?'}{urlencode({'done': text})}", status_code=303)


def _refusal(errors: dict[str, str], refused: HuyingError, fields: set[str], *, names: dict[str, str] | None = None,
             general: str = GENERAL) -> dict[str, str]:
    """The service's refusal beside the inputs it names (``names`` maps its keys to the form's); what
    names no input of the form goes at the top of it."""
    found = refused.extra if isinstance(refused.extra, list) else []
    for e in found:
        key = (names or {}).get(e.key, e.key)
        if key in fields:
            errors.setdefault(key, e.message)
        else:
            errors[general] = "；".join(p for p in (errors.get(general, ""), e.message) if p)
    if not found:
        errors[general] = refused.detail
    return errors


def _admin(actor, what: str) -> None:
    if actor.role != "admin":
        raise Forbidden(f"只有管理员可以{what}")


def _day(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


async def _render(request: Request, actor, template: str, *, status_code: int = 200, **context) -> Response:
    context.setdefault("values", {})
    context.setdefault("errors", {})
    return await render_page(request, actor, template, status_code=status_code,
                             done=request.query_params.get("done", "")[:500], error="", **context)


# -- leave --------------------------------------------------------------------------------------------

async def _leave_page(request: Request, actor, month: str, *, status_code: int = 200, **context) -> Response:
    days = rota.month_days(month)
    managed = {l["id"] for l in await teams.leave_between(days[0], days[-1])
               if await teams.may_manage(actor, l["username"])}
    staff = [s for s in await _staff() if s["role"] == "agent" and await teams.may_manage(actor, s["username"])]
    return await _render(request, actor, "people_leave.html", status_code=status_code, month=month,
                         leave=await teams.leave_between(days[0], days[-1]), managed=managed, staff=staff,
                         kinds=teams.LEAVE_KINDS, **context)


def _month_of(request: Request) -> str:
    month = str(request.query_params.get("month") or "")[:7]
    return month if rota.MONTH_PATTERN.match(month) else f"{clock.today():%Y-%m}"


@get("/people/leave")
async def leave_page(request: Request) -> Response:
    actor = await _centre(request)
    return await _leave_page(request, actor, _month_of(request))


@post("/people/leave")
async def leave_change(request: Request) -> Response:
    actor = await _centre(request)
    if actor.role not in ("admin", "supervisor") and not await teams.leader_of(actor.name):
        raise Forbidden("只有管理员、督办员或班组长可以登记或撤销请假")
    form = await request.form()
    month = _field(form, "month", 7)
    month = month if rota.MONTH_PATTERN.match(month) else f"{clock.today():%Y-%m}"
    path = f"{HOME}/leave?month={month}"
    errors: dict[str, str] = {}
    if _field(form, "op", 16) == "cancel":
        leave_id = _field(form, "leave", 12)
        reason = _field(form, "reason", 255)
        if not reason:
            errors[f"cancel:{leave_id}"] = "请填写撤销原因"
        else:
            try:
                cancelled = await teams.cancel_leave(int(leave_id or 0), teams.LeaveCancel(reason=reason), actor)
            except (ValueError, NotFound):
                errors[GENERAL] = "请假记录不存在（可能已被撤销）"
            except HuyingError as refused:
                errors[f"cancel:{leave_id}"] = refused.detail
            else:
                names = {r["username"]: r["display_name"] or r["username"] for r in await User.select(
                    User.username, User.display_name).where(User.username == cancelled["username"])}
                return _done(path, f"已撤销{names.get(cancelled['username'], '')}{cancelled['first_day']}起的{cancelled['kind_label']}")
        return await _leave_page(request, actor, month, status_code=400, errors=errors,
                                 values={f"cancel:{leave_id}": reason})
    values = {name: _field(form, name, 255) for name in ("username", "first_day", "last_day", "kind", "note")}
    if not values["username"]:
        errors["username"] = "请选择人员"
    first, last = _day(values["first_day"]), _day(values["last_day"])
    if first is None:
        errors["first_day"] = "请填写开始日期（YYYY-MM-DD）"
    if last is None:
        errors["last_day"] = "请填写结束日期（YYYY-MM-DD）"
    if values["kind"] not in teams.LEAVE_KINDS:
        errors["kind"] = "请选择请假类别"
    if not errors:
        try:
            saved = await teams.record_leave(teams.LeaveSpec(username=values["username"], first_day=first, last_day=last,
                                                             kind=values["kind"], note=values["note"]), actor)
        except HuyingError as refused:
            _refusal(errors, refused, set(values))
        else:
            return _done(f"{HOME}/leave?month={saved['first_day'][:7]}",
                         f"已登记{saved['kind_label']}：{saved['first_day']} 至 {saved['last_day']}")
    return await _leave_page(request, actor, month, status_code=400, errors=errors, values=values)


# -- shift patterns -----------------------------------------------------------------------------------

async def _shifts_page(request: Request, actor, *, status_code: int = 200, **context) -> Response:
    return await _render(request, actor, "people_shifts.html", status_code=status_code, shifts=await teams.all_shifts(),
                         history=await audit.history("shifts", 30), **context)


@get("/people/shifts")
async def shifts_page(request: Request) -> Response:
    actor = await _centre(request)
    return await _shifts_page(request, actor)


@post("/people/shifts")
async def shifts_change(request: Request) -> Response:
    """``op`` new (a shift), edit (one, by its code), disable or enable (one)."""
    actor = await _centre(request)
    _admin(actor, "设定班次")
    form = await request.form()
    op = _field(form, "op", 16)
    code = _field(form, "code", 16)
    path = f"{HOME}/shifts"
    prefix = "new" if op == "new" else code
    errors: dict[str, str] = {}
    values = {f"{prefix}:{n}": _field(form, n, 32) for n in ("name", "starts", "hours")}
    if op in ("disable", "enable"):
        try:
            await teams.set_shift_active(code, op == "enable", actor)
        except NotFound as refused:
            return await _shifts_page(request, actor, status_code=400, errors={GENERAL: refused.detail})
        except HuyingError as refused:
            errors[f"{code}:{GENERAL}"] = refused.detail + "".join(
                f"：{e.message}" for e in (refused.extra or [])[:1] if e.message not in refused.detail)
            return await _shifts_page(request, actor, status_code=400, errors=errors)
        return _done(path, "已启用班次" if op == "enable" else "已停用班次")
    if op == "new":  # the rotas record a shift by a code of its own, never typed or shown
        taken = {s["code"] for s in await teams.all_shifts()}
        code = next(f"shift{n}" for n in range(1, 100) if f"shift{n}" not in taken)
    name = values[f"{prefix}:name"]
    if not name:
        errors[f"{prefix}:name"] = "请填写班次名称，如：早班"
    starts = values[f"{prefix}:starts"]
    if not TIME.match(starts):
        errors[f"{prefix}:starts"] = "开始时间应为 HH:MM，如 08:00"
    hours_text = values[f"{prefix}:hours"]
    hours = int(hours_text) if hours_text.isdigit() else 0
    if not 4 <= hours <= 12:
        errors[f"{prefix}:hours"] = "时长应为 4 到 12 小时的整数"
    if not errors:
        try:
            await teams.save_shift(teams.Shift(code=code, name=name, starts=starts, hours=hours), actor, new=op == "new")
        except NotFound as refused:
            errors[GENERAL] = refused.detail
        except HuyingError as refused:
            _refusal(errors, refused, set(values), general=f"{prefix}:{GENERAL}",
                     names={k: f"{prefix}:{k}" for k in ("name", "starts", "hours")} | {"shifts": f"{prefix}:starts"})
        else:
            return _done(path, f"已保存班次「{name}」")
    return await _shifts_page(request, actor, status_code=400, errors=errors, values=values)


# -- training -------------------------------------------------------------------------------------------

async def _training_page(request: Request, actor, *, status_code: int = 200, **context) -> Response:
    shown = await training.sessions()
    courses = sorted({s["course"] for s in shown})
    staff = await User.select(User.username, User.display_name, User.role, User.trained).where(
        User.active == True).order_by(User.username)  # noqa: E712
    staff = sorted(staff, key=lambda r: (r["role"] != "agent", r["username"]))
    return await _render(request, actor, "people_training.html", status_code=status_code, sessions=shown,
                         courses=courses, staff=[{"username": r["username"], "name": r["display_name"] or r["username"],
                                                  "role": r["role"], "trained": r["trained"]} for r in staff],
                         kinds=training.SESSION_KINDS, audiences=training.AUDIENCES, today=clock.today(), **context)


@get("/people/training")
async def training_page(request: Request) -> Response:
    actor = await _centre(request)
    return await _training_page(request, actor)


@post("/people/training")
async def training_change(request: Request) -> Response:
    """``op`` session (record a held training with who attended) or passed (attendees of one passed)."""
    actor = await _centre(request)
    _admin(actor, "登记培训")
    form = await request.form()
    path = f"{HOME}/training"
    errors: dict[str, str] = {}
    picked = [a[:64] for a in form.getall("attendees", []) if isinstance(a, str) and a][:training.ATTENDEES_LIMIT + 1]
    if _field(form, "op", 16) == "passed":
        session = _field(form, "session", 12)
        if not picked:
            errors[f"passed:{session}"] = "请勾选考核合格的人员"
        else:
            try:
                done = await training.mark_passed(int(session or 0), training.Passed(attendees=picked), actor)
            except (ValueError, NotFound):
                errors[GENERAL] = "培训场次不存在"
            except HuyingError as refused:
                errors[f"passed:{session}"] = "；".join(e.message for e in refused.extra or []) or refused.detail
            else:
                return _done(path, f"已登记「{done['course']}」{len(picked)} 人考核合格")
        return await _training_page(request, actor, status_code=400, errors=errors,
                                    values={f"passed:{session}": picked})
    values: dict[str, Any] = {n: _field(form, n, 128) for n in ("course", "kind", "held_on", "place", "audience")}
    values["attendees"] = picked
    values["passed"] = _field(form, "passed", 8) == "1"
    if not values["course"]:
        errors["course"] = "请填写课程名称"
    elif len(values["course"]) > 100:
        errors["course"] = "课程名称不超过 100 个字"
    if values["kind"] not in training.SESSION_KINDS:
        errors["kind"] = "请选择培训类别"
    if values["audience"] not in training.AUDIENCES:
        errors["audience"] = "请选择培训对象"
    held_on = _day(values["held_on"])
    if held_on is None:
        errors["held_on"] = "请填写培训日期（YYYY-MM-DD）"
    elif held_on > clock.today():
        errors["held_on"] = "只能登记已经举行的培训"
    if not picked:
        errors["attendees"] = "请勾选出勤人员"
    elif len(picked) > training.ATTENDEES_LIMIT:
        errors["attendees"] = f"一场至多登记 {training.ATTENDEES_LIMIT} 人"
    if not errors:
        try:
            made = await training.add_session(training.NewSession(
                course=values["course"], kind=values["kind"], held_on=held_on, place=values["place"],
                audience=values["audience"], attendees=picked, passed=values["passed"]), actor)
        except HuyingError as refused:
            _refusal(errors, refused, set(values))
        else:
            return _done(path, f"已登记培训「{made['course']}」，出勤 {len(made['attendees'])} 人")
    return await _training_page(request, actor, status_code=400, errors=errors, values=values)


# -- the 质检 checklist and sampling rule -----------------------------------------------------------------

async def _quality_settings(request: Request, actor, *, status_code: int = 200, **context) -> Response:
    items = [msgspec.to_builtins(i) for i in await quality.checklist()]
    return await _render(request, actor, "quality_settings.html", status_code=status_code, items=items,
                         rule=await quality.rule(), history=await audit.history("qa", 30), **context)


@get("/people/quality/settings")
async def quality_settings_page(request: Request) -> Response:
    actor = await _centre(request)
    return await _quality_settings(request, actor)


ROWS = 20  # the checklist's rows the form offers (the API's limit), existing and new


@post("/people/quality/settings")
async def quality_settings_change(request: Request) -> Response:
    """``op`` checklist (every row: code, name, points, guidance; a row left empty or ticked 删除 goes)
    or rule (the share of each agent's orders in percent, and whether bad ratings and returns are all drawn)."""
    actor = await _centre(request)
    _admin(actor, "修改质检评分表和抽检规则")
    form = await request.form()
    path = f"{HOME}/quality/settings"
    errors: dict[str, str] = {}
    if _field(form, "op", 16) == "rule":
        values: dict[str, Any] = {"share": _field(form, "share", 8), "bad_ratings": _field(form, "bad_ratings", 4) == "1",
                                  "returns": _field(form, "returns", 4) == "1"}
        try:
            share = float(values["share"])
        except ValueError:
            share = -1.0
        if not 0 <= share <= 100:
            errors["share"] = "抽检比例应为 0 到 100 之间的数（百分比）"
        if not errors:
            try:
                await quality.set_rule(quality.Rule(share=round(share / 100, 4), bad_ratings=values["bad_ratings"],
                                                    returns=values["returns"]), actor)
            except HuyingError as refused:
                _refusal(errors, refused, {"share"})
            else:
                return _done(path, f"已保存抽检规则：每位话务员抽检 {share:g}%")
        return await _quality_settings(request, actor, status_code=400, errors=errors, rule_values=values)
    rows: list[dict[str, str]] = []
    for n in range(ROWS):
        row = {k: _field(form, f"{k}:{n}", 255) for k in ("code", "name", "points", "guidance")}
        row["remove"] = _field(form, f"remove:{n}", 4)
        rows.append(row)
    kept: list[tuple[int, dict[str, str]]] = [(n, r) for n, r in enumerate(rows)
                                              if not r["remove"] and (r["name"] or r["points"])]
    taken = {r["code"] for r in rows if r["code"]}
    for _, r in kept:  # a new item gets a code of its own (never typed or shown); the others keep theirs
        if not re.match(r"^[a-z][a-z0-9_]{0,31}$", r["code"]):
            r["code"] = next(f"item{k}" for k in range(1, 100) if f"item{k}" not in taken)
            taken.add(r["code"])
    items = []
    for n, r in kept:
        if not r["name"]:
            errors[f"name:{n}"] = "请填写评分项名称"
        elif len(r["name"]) > 64:
            errors[f"name:{n}"] = "名称不超过 64 个字"
        if not r["points"].isdigit() or not 1 <= int(r["points"]) <= 100:
            errors[f"points:{n}"] = "分值应为 1 到 100 的整数"
        if not any(k.endswith(f":{n}") for k in errors):
            items.append(quality.Item(code=r["code"], name=r["name"], points=int(r["points"]), guidance=r["guidance"]))
    names = [r["name"] for _, r in kept]
    for n, r in kept:
        if r["name"] and names.count(r["name"]) > 1:
            errors.setdefault(f"name:{n}", "评分项名称不能重复")
    if not kept:
        errors[GENERAL] = "评分表至少要有一项"
    elif not errors and sum(i.points for i in items) != 100:
        errors[GENERAL] = f"各项分值合计须为 100（现为 {sum(i.points for i in items)}）"
    if not errors:
        try:
            await quality.set_checklist(quality.Checklist(items=items), actor)
        except HuyingError as refused:
            _refusal(errors, refused, set())
        else:
            return _done(path, f"已保存质检评分表（{len(items)} 项，合计 100 分）")
    last = max((n for n, r in enumerate(rows) if any(r[k] for k in ("name", "points", "guidance"))), default=-1)
    return await _quality_settings(request, actor, status_code=400, errors=errors, rows=rows[:last + 1])


SETTINGS_ROUTES = [leave_page, leave_change, shifts_page, shifts_change, training_page, training_change,
                   quality_settings_page, quality_settings_change]
