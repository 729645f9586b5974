"""班组与质检 pages: teams, shifts and the month's rotas (a planner proposes, edits, swaps and publishes
one); a person's page with their training (an admin records it or overrides the flag) and their
figures; quality inspection (an inspector draws and scores, the agent reads and appeals once, the
month's report). Each page reads and writes through the same ``core.people`` functions as the API."""

from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from core import clock
from core.errors import FieldError, Forbidden, HuyingError, InvalidInput, NotFound
from core.model import CENTRE_ROLES, ROLES
from core.people import figures, quality, rota, teams, training
from core.tables import User

HOME = "/console/people"


async def _centre(request: Request):
    actor = await current_actor(request)
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看")
    return actor


def _back(path: str, *, done: str = "", error: HuyingError | None = None) -> Redirect:
    if error is not None:
        extra = error.extra if isinstance(error.extra, list) else []
        text = error.detail + ("：" + "；".join(e.message for e in extra) if extra else "")
        return Redirect(f"{path}{'&' if '?' in path else '?'}{urlencode({'error': text[:500]})}", status_code=303)
    return Redirect(f"{path}{'&' if '?' in path else '?'}{urlencode({'done': done})}", status_code=303)


def _field(form, name: str, limit: int = 500) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _next_month() -> str:
    today = clock.today()
    return f"{today.year + today.month // 12}-{today.month % 12 + 1:02d}"


async def _render(request: Request, actor, template: str, **context) -> Response:
    return await render_page(request, actor, template, done=request.query_params.get("done", "")[:500],
                       error=request.query_params.get("error", "")[:500], **context)


@get("/people")
async def people_page(request: Request) -> Response:
    actor = await _centre(request)
    return await _render(request, actor, "people.html", teams=await teams.listing(),
                         shifts=teams.shift_listing(await teams.shifts()), rotas=await rota.listing(),
                         may_plan=await rota.may_plan(actor), next_month=_next_month(), staff=await _staff(),
                         leave=await teams.leave_between(clock.today(), clock.today() + dt.timedelta(days=60)))


async def _staff() -> list[dict]:
    """Who may lead or join a team, by the name colleagues know."""
    rows = await User.select(User.username, User.display_name, User.role).where(
        User.role.is_in(sorted(teams.LEADER_ROLES)) & (User.active == True)).order_by(User.username)  # noqa: E712
    return [{"username": r["username"], "name": r["display_name"] or r["username"], "role": r["role"]} for r in rows]


@post("/people/teams")
async def save_team(request: Request) -> Response:
    actor = await _centre(request)
    form = await request.form()
    members = [m[:64] for m in form.getall("members", []) if isinstance(m, str)][:teams.MEMBERS_LIMIT]
    try:
        spec = msgspec.convert({"name": _field(form, "name", 64), "leader": _field(form, "leader", 64) or None,
                                "members": members}, teams.TeamSpec)
        saved = await teams.save(spec, actor)
    except msgspec.ValidationError:
        return _back(HOME, error=InvalidInput([FieldError("name", "请填写班组名称")], "没有保存"))
    except HuyingError as refused:
        return _back(HOME, error=refused)
    return _back(HOME, done=f"已保存班组「{saved['name']}」")


@post("/people/rotas")
async def propose_rota(request: Request) -> Response:
    actor = await _centre(request)
    form = await request.form()
    try:
        proposal = msgspec.convert({"month": _field(form, "month", 7)}, rota.Proposal)
    except msgspec.ValidationError:
        return _back(HOME, error=InvalidInput([FieldError("month", "请选择月份")], "没有生成排班"))
    try:
        platform = request.app.state.platform
        made = await rota.propose(proposal, actor, platform.calendar, {c.code: c.name for c in platform.channels})
    except HuyingError as refused:
        return _back(HOME, error=refused)
    return _back(f"{HOME}/rotas/{made['id']}", done=f"已生成 {made['month']} 排班草案（求解 {made['solve_seconds']:.1f} 秒）")


def _grid(shown: dict) -> tuple[list[dt.date], list[dict]]:
    days = rota.month_days(shown["month"])
    short = {s["code"]: s["name"][:1] for s in shown["shift_patterns"]}
    rows = []
    for person in shown["people"]:
        on = {s["date"]: s["shift"] for s in person["shifts"]}
        rows.append({**person, "cells": [(short.get(on.get(d.isoformat(), ""), ""), on.get(d.isoformat(), ""))
                                         for d in days]})
    return days, rows


def _gap_lines(gaps: list[dict]) -> list[dict]:
    """Hours short, one line per day: 「12月3日 08–10时 缺 1 条线路」."""
    by_day: dict[str, list[dict]] = {}
    for g in gaps:
        by_day.setdefault(g["date"], []).append(g)
    return [{"date": day, "hours": "、".join(f"{g['hour']:02d}时（需 {g['needed']}，排 {g['planned']}）" for g in items)}
            for day, items in sorted(by_day.items())]


async def _rota_page(request: Request, actor, rota_id: int, *, status_code: int = 200, errors: dict | None = None,
                     values: dict | None = None) -> Response:
    shown = await rota.show(rota_id)
    days, rows = _grid(shown)
    return await _render(request, actor, "rota.html", status_code=status_code, rota=shown, days=days, rows=rows,
                         gaps=_gap_lines(shown["under_covered"]), may_plan=await rota.may_plan(actor),
                         weekdays="一二三四五六日", swaps=await rota.swaps(rota_id), errors=errors or {},
                         values=values or {})


@get("/people/rotas/{rota_id:int}")
async def rota_page(request: Request, rota_id: FromPath[int]) -> Response:
    actor = await _centre(request)
    return await _rota_page(request, actor, rota_id)


def _swap_errors(refused: HuyingError) -> dict[str, str]:
    """A refused swap's reasons beside its inputs (the broken working-time rule at the top)."""
    errors: dict[str, str] = {}
    for e in refused.extra if isinstance(refused.extra, list) else []:
        key = e.key.rsplit(".", 1)[-1] if e.key.rsplit(".", 1)[-1] in ("date", "first", "second", "reason") else "_form"
        errors[key] = "；".join(p for p in (errors.get(key, ""), e.message) if p)
    if not errors or "_form" in errors:
        errors["_form"] = refused.detail
    return errors


@post("/people/rotas/{rota_id:int}")
async def rota_change(request: Request, rota_id: FromPath[int]) -> Response:
    actor = await _centre(request)
    form = await request.form()
    op, path = _field(form, "op", 16), f"{HOME}/rotas/{rota_id}"
    if op == "swap":
        values = {n: _field(form, n, 64 if n != "reason" else 500) for n in ("date", "first", "second", "reason")}
        errors = {}
        try:
            day = dt.date.fromisoformat(values["date"])
        except ValueError:
            errors["date"] = "请填写调班日期"
        if not values["first"] or not values["second"]:
            errors["second"] = "请选择互换班次的两个人"
        if not values["reason"]:
            errors["reason"] = "请填写调班原因"
        if not errors:
            try:
                await rota.swap(rota_id, rota.Swap(date=day, first=values["first"], second=values["second"],
                                                   reason=values["reason"]), actor)
            except HuyingError as refused:
                errors = _swap_errors(refused)
            else:
                return _back(path, done="已调班")
        return await _rota_page(request, actor, rota_id, status_code=400, errors=errors, values=values)
    if op == "cancel_swap":
        swap_id, reason = _field(form, "swap", 12), _field(form, "reason")
        key = f"cancel:{swap_id}"
        if not reason:
            error = "请填写撤销原因"
        else:
            try:
                await rota.cancel_swap(rota_id, int(swap_id or 0), rota.SwapCancel(reason=reason), actor)
            except (ValueError, NotFound):
                key, error = "_form", "没有这次调班"
            except HuyingError as refused:
                error = refused.detail
            else:
                return _back(path, done="已撤销调班，两人换回原班次")
        return await _rota_page(request, actor, rota_id, status_code=400, errors={key: error}, values={key: reason})
    try:
        if op == "publish":
            await rota.publish(rota_id, actor)
            return _back(path, done="排班已发布")
        change = msgspec.convert({"changes": [{"username": _field(form, "username", 64), "date": _field(form, "date", 10),
                                               "shift": _field(form, "shift", 16) or None}],
                                  "reason": _field(form, "reason")}, rota.RotaEdit, strict=False)
        await rota.edit(rota_id, change, actor)
        return _back(path, done="已修改排班")
    except msgspec.ValidationError:
        return _back(path, error=InvalidInput([FieldError("form", "请填写日期、人员和原因")], "没有修改"))
    except HuyingError as refused:
        return _back(path, error=refused)


@get("/people/users/{username:str}")
async def person_page(request: Request, username: FromPath[str]) -> Response:
    """A person's page: 已培训上岗 and the training records, and their figures for a period."""
    actor = await _centre(request)
    username = username[:64]
    if actor.name != username and not await teams.may_manage(actor, username):
        raise Forbidden("只能查看本人的页面")
    shown = await training.of_user(username)
    first, last = figures.period(request.query_params.get("start"), request.query_params.get("end"), clock.today())
    figures_of = await figures.of_agent(username, first, last, actor) if shown["role"] == "agent" else None
    name = (await User.select(User.display_name).where(User.username == username).first())["display_name"]
    return await _render(request, actor, "person.html", person=shown, person_name=name or username, figures=figures_of,
                         start=first, end=last, role_label=ROLES.get(shown["role"], ""),
                         kinds=training.SESSION_KINDS, today=clock.today())


@post("/people/users/{username:str}")
async def person_change(request: Request, username: FromPath[str]) -> Response:
    actor = await _centre(request)
    username = username[:64]
    form = await request.form()
    path = f"{HOME}/users/{username}"
    try:
        if _field(form, "op", 16) == "override":
            change = msgspec.convert({"trained": _field(form, "trained", 8) == "1", "reason": _field(form, "reason")},
                                     training.TrainedOverride)
            await training.override(username, change, actor)
            return _back(path, done="已设定上岗资格")
        result = msgspec.convert({"course": _field(form, "course", 100), "passed": _field(form, "passed", 8) == "1"},
                                 training.TrainingResult)
        await training.record_result(username, result, actor)
        return _back(path, done="已登记培训")
    except msgspec.ValidationError:
        return _back(path, error=InvalidInput([FieldError("form", "请填写课程名称或原因")], "没有保存"))
    except HuyingError as refused:
        return _back(path, error=refused)


@get("/people/quality")
async def quality_page(request: Request) -> Response:
    actor = await _centre(request)
    inspector = actor.role in quality.INSPECTORS
    month = str(request.query_params.get("month") or f"{clock.today():%Y-%m}")[:7]
    leads = await teams.leader_of(actor.name)
    report = None
    if inspector or leads:
        try:
            report = await quality.monthly(month if rota.MONTH_PATTERN.match(month) else f"{clock.today():%Y-%m}", actor)
        except HuyingError:
            report = None
    return await _render(request, actor, "quality.html", samples=await quality.samples(actor),
                         checklist=await quality.checklist(), rule=await quality.rule(), inspector=inspector,
                         report=report, month=month, today=clock.today())


@post("/people/quality")
async def quality_change(request: Request) -> Response:
    actor = await _centre(request)
    form = await request.form()
    op = _field(form, "op", 16)
    path = f"{HOME}/quality"
    try:
        if op == "draw":
            drawn = await quality.draw(msgspec.convert({"start": _field(form, "start", 10), "end": _field(form, "end", 10)},
                                                       quality.Draw, strict=False), actor)
            return _back(path, done=f"已抽取 {drawn['drawn']} 个样本")
        sample = int(_field(form, "sample", 12) or 0)
        if op == "appeal":
            await quality.appeal(sample, msgspec.convert({"reason": _field(form, "reason", 2000)}, quality.Appeal), actor)
            return _back(path, done="已提交申诉")
        items = await quality.checklist()
        deductions = {}
        for item in items:
            text = _field(form, f"deduct:{item.code}", 4)
            if text:
                if not text.isdigit():
                    raise InvalidInput([FieldError(item.code, f"{item.name}的扣分应为整数")], "没有保存")
                deductions[item.code] = int(text)
        if op == "ruling":
            upheld = _field(form, "upheld", 8) == "1"
            await quality.rule_appeal(sample, msgspec.convert(
                {"upheld": upheld, "ruling": _field(form, "ruling", 2000), "deductions": deductions if upheld else None},
                quality.Ruling), actor)
            return _back(path, done="已裁定申诉")
        await quality.score(sample, msgspec.convert({"deductions": deductions, "comment": _field(form, "comment", 2000)},
                                                    quality.Score), actor)
        return _back(path, done="已评分")
    except (msgspec.ValidationError, ValueError):
        return _back(path, error=InvalidInput([FieldError("form", "请检查填写的内容（日期、原因、扣分）")], "没有保存"))
    except HuyingError as refused:
        return _back(path, error=refused)


PEOPLE_ROUTES = [people_page, save_team, propose_rota, rota_page, rota_change, person_page, person_change, quality_page,
                 quality_change]
