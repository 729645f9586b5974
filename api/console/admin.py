"""Administration pages (admin only): departments (a tree), users (add, deactivate, reset password,
change role and department), routing rules with a "try a text" box, the working calendar, API keys
and the outbox (read by supervisors too; retried or abandoned by admins, with a reason). Each change is checked here as the API checks it and takes effect at once (caches of
departments, rules, users and keys are cleared)."""

from __future__ import annotations

import datetime as dt
import re

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.client import client_address
from api.console.session import current_actor
from core import department_names, departments, outbox, rule_admin
from core.auth import create_api_key, recent
from core.channels import KINDS
from core.errors import Conflict, Forbidden, HuyingError, InvalidInput, NotFound
from core.model import ROLES
from core.routing import first_match, in_order, load_rules
from core.tables import ApiKey, CalendarDay, Department, OutboxMessage, RoutingRule, User
from core.users import add_user, set_active, set_display_name, set_password, set_role



async def _admin(request: Request):
    actor = await current_actor(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以进入系统管理")
    return actor


async def _render(request: Request, actor, name: str, *, status_code: int = 200, **context) -> Response:
    return await render_page(request, actor, name, status_code=status_code,
                       done=request.query_params.get("done", ""), **context)


def _text(form, name: str, limit: int = 200) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def _done(path: str, what: str) -> Redirect:
    from urllib.parse import urlencode

    return Redirect(f"{path}{'&' if '?' in path else '?'}{urlencode({'done': what})}", status_code=303)


async def _departments() -> list[dict]:
    return await Department.select().order_by(Department.sort).order_by(Department.code).output(load_json=True)


def _tree(rows: list[dict]) -> list[tuple[int, dict]]:
    """Departments depth-first with their depth, for an indented tree."""
    children: dict[str | None, list[dict]] = {}
    for row in rows:
        children.setdefault(row["parent"], []).append(row)
    out: list[tuple[int, dict]] = []

    def walk(parent, depth):
        for row in children.get(parent, []):
            out.append((depth, row))
            if depth < 10:
                walk(row["code"], depth + 1)

    walk(None, 0)
    return out


@get("/admin")
async def admin_index(request: Request) -> Response:
    actor = await _admin(request)
    return await _render(request, actor, "admin_index.html")


# -- departments ---------------------------------------------------------------------------------------

@get("/admin/departments")
async def departments_page(request: Request) -> Response:
    actor = await _admin(request)
    everyone = await _departments()
    return await _render(request, actor, "admin_departments.html", tree=_tree(everyone), departments=everyone,
                         names={d["code"]: d["name"] for d in everyone}, values={}, errors={})


@post("/admin/departments")
async def departments_add(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 128) for k in ("code", "name", "parent")}
    try:
        made = await departments.create(request.app.state.platform, values["code"], values["name"],
                                        values["parent"] or None, actor)
    except InvalidInput as refused:
        everyone = await _departments()
        return await _render(request, actor, "admin_departments.html", status_code=400,
                             tree=_tree(everyone), departments=everyone, names={d["code"]: d["name"] for d in everyone},
                             values=values, errors={e.key: e.message for e in refused.errors})
    return _done("/console/admin/departments", f"已添加单位「{made['name']}」（代码 {made['code']}）")


def _contacts(text: str) -> list[dict[str, str]]:
    """One contact a line: 姓名 电话 职务 (separated by spaces or commas; phone and duty optional)."""
    found = []
    for line in text.splitlines():
        parts = [p for p in re.split(r"[\s,，]+", line.strip()) if p]
        if parts:
            found.append({"name": parts[0][:64], "phone": parts[1][:32] if len(parts) > 1 else "",
                          "duty": " ".join(parts[2:])[:64]})
    return found


async def _department_page(request: Request, actor, code: str, *, status_code: int = 200, errors: dict | None = None,
                           values: dict | None = None, merge_values: dict | None = None) -> Response:
    found = await departments.get(code)
    everyone = await _departments()
    below = {code}
    for _ in range(10):  # its own subtree cannot be its parent
        below |= {d["code"] for d in everyone if d["parent"] in below}
    return await _render(request, actor, "admin_department.html", status_code=status_code, d=found,
                         values=values or {}, errors=errors or {}, parents=[d for d in everyone if d["code"] not in below],
                         merge_targets=[d for d in everyone if d["code"] not in below and d["active"]],
                         merge_values=merge_values or {}, names={d["code"]: d["name"] for d in everyone},
                         open_orders=await departments.open_orders(code), history=await departments.history(code),
                         field_labels=departments.FIELD_LABELS)


@get("/admin/departments/{code:str}")
async def department_page(request: Request, code: FromPath[str]) -> Response:
    actor = await _admin(request)
    return await _department_page(request, actor, code)


@post("/admin/departments/{code:str}")
async def department_change(request: Request, code: FromPath[str]) -> Response:
    """Rename, move, aliases, contacts, disable or enable: one audited change."""
    actor = await _admin(request)
    form = await request.form()
    values = {"name": _text(form, "name", 128), "parent": _text(form, "parent", 64) or None,
              "aliases": [a for a in re.split(r"[\s,，、]+", _text(form, "aliases", 2000)) if a],
              "contacts": _contacts(_text(form, "contacts", 4000)), "active": form.get("active") == "on",
              "reason": _text(form, "reason", 500)}
    try:
        change = msgspec.convert(values, departments.DepartmentChange)
        done = await departments.update(request.app.state.platform, code, change, actor)
    except msgspec.ValidationError as bad:
        return await _department_page(request, actor, code, status_code=400, values=values,
                                      errors={"_form": f"填写有误：{bad}"})
    except InvalidInput as refused:
        return await _department_page(request, actor, code, status_code=400, values=values,
                                      errors={e.key: e.message for e in refused.errors})
    what = "、".join(label for k, label in departments.FIELD_LABELS.items() if k in done["changed"]) or "没有变化"
    return _done(f"/console/admin/departments/{code}", f"已保存：{what}")


@post("/admin/departments/{code:str}/merge")
async def department_merge(request: Request, code: FromPath[str]) -> Response:
    """Fold the department into another (机构改革): the same audited ``departments.merge`` as the API."""
    actor = await _admin(request)
    form = await request.form()
    values = {"into": _text(form, "into", 64), "reason": _text(form, "reason", 500)}
    if not values["into"]:
        return await _department_page(request, actor, code, status_code=400, merge_values=values,
                                      errors={"into": "请选择并入的单位"})
    try:
        done = await departments.merge(request.app.state.platform, code, values["into"], values["reason"], actor)
    except (InvalidInput, Conflict) as refused:
        found = {e.key: e.message for e in getattr(refused, "errors", None) or []}
        return await _department_page(request, actor, code, status_code=refused.status_code, merge_values=values,
                                      errors={"into": found.get("into") or refused.detail})
    moved = done["moved"]
    return _done(f"/console/admin/departments/{done['into']['code']}",
                 f"已将「{done['merged']['name']}」并入本单位：工单 {moved['orders']} 件、人员 {moved['users']} 人")


# -- users ---------------------------------------------------------------------------------------------

USERS_LISTED = 200


def _user_filter(request: Request) -> dict[str, str]:
    """The list's search (username or name) and filters (role, department, in use or not), as asked."""
    query = request.query_params
    found = {"q": str(query.get("q") or "").strip()[:64], "role": str(query.get("role") or ""),
             "department": str(query.get("department") or "")[:64], "state": str(query.get("state") or "")}
    found["role"] = found["role"] if found["role"] in ROLES else ""
    found["state"] = found["state"] if found["state"] in ("active", "inactive") else ""
    return found


async def _users_page(request, actor, *, status_code=200, values=None, errors=None, notice=""):
    wanted = _user_filter(request)
    query = User.select(User.id, User.username, User.display_name, User.role, User.department, User.active,
                         User.extension)
    if wanted["q"]:
        like = "%" + wanted["q"].replace("%", "") + "%"  # "_" matches any one character: a harmless widening
        # case-insensitive on both: SQLite's LIKE already is (for ASCII), PostgreSQL needs ILIKE
        match = "like" if User._meta.db.engine_type == "sqlite" else "ilike"
        query = query.where(getattr(User.username, match)(like) | getattr(User.display_name, match)(like))
    if wanted["role"]:
        query = query.where(User.role == wanted["role"])
    if wanted["department"]:
        query = query.where(User.department == wanted["department"])
    if wanted["state"]:
        query = query.where(User.active == (wanted["state"] == "active"))
    users = await query.order_by(User.role).order_by(User.username).limit(USERS_LISTED)
    return await _render(request, actor, "admin_users.html", status_code=status_code, users=users,
                         departments=await _departments(), values=values or {}, errors=errors or {},
                         notice=notice, wanted=wanted, capped=len(users) == USERS_LISTED)


@get("/admin/users/{user_id:int}")
async def user_page(request: Request, user_id: FromPath[int]) -> Response:
    """One user on a page of their own: role and department, in use or not, a new password."""
    actor = await _admin(request)
    return await _user_page(request, actor, user_id)


async def _user_page(request: Request, actor, user_id: int, *, status_code: int = 200, errors: dict | None = None,
                     values: dict | None = None) -> Response:
    user = await User.select(User.id, User.username, User.display_name, User.role, User.department,
                             User.active).where(User.id == user_id).first()
    if user is None:
        raise NotFound("用户不存在")
    return await _render(request, actor, "admin_user.html", status_code=status_code, u=user,
                         departments=await _departments(), names={d["code"]: d["name"] for d in await _departments()},
                         errors=errors or {}, values=values or {})


@get("/admin/users")
async def users_page(request: Request) -> Response:
    actor = await _admin(request)
    return await _users_page(request, actor)


@post("/admin/users")
async def users_add(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 128) for k in ("username", "display_name", "role", "department")}
    password = form.get("password") if isinstance(form.get("password"), str) else ""
    if not re.fullmatch(r"[A-Za-z0-9_.-]{2,64}", values["username"]):
        return await _users_page(request, actor, status_code=400, values=values,
                                 errors={"username": "用户名为 2–64 位字母、数字、下划线、点或横线"})
    try:
        await add_user(values["username"], role=values["role"], password=password[:256],
                       department=values["department"] or None, display_name=values["display_name"])
    except ValueError as refused:
        return await _users_page(request, actor, status_code=400, values=values, errors={"_form": str(refused)})
    return _done("/console/admin/users", f"已添加用户 {values['username']}")


@post("/admin/users/{user_id:int}")
async def users_change(request: Request, user_id: FromPath[int]) -> Response:
    """One change to a user: deactivate, activate, reset the password, or change role and department."""
    actor = await _admin(request)
    form = await request.form()
    op = _text(form, "op", 32)
    user = await User.select().where(User.id == user_id).first()
    if user is None:
        raise NotFound("用户不存在")
    who = f"{user['display_name']}（{user['username']}）" if user["display_name"] not in ("", user["username"]) \
        else user["username"]
    if op == "rename":  # on the user's own page: an error comes back there, with what was typed
        typed = _text(form, "display_name", 200)
        try:
            await set_display_name(user["username"], typed, by=actor.name, role=actor.role,
                                   address=client_address(request))
        except InvalidInput as refused:
            return await _user_page(request, actor, user_id, status_code=400, values={"display_name": typed},
                                    errors={e.key: e.message for e in refused.errors})
        return _done(f"/console/admin/users/{user_id}", f"姓名已改为「{' '.join(typed.split())}」")
    if op == "deactivate":
        if user["username"] == actor.name:
            return await _users_page(request, actor, status_code=409, errors={"_form": "不能停用自己的账号"})
        await set_active(user_id, False, by=actor.name, address=client_address(request))
        notice = f"已停用 {who}，其登录立即失效"
    elif op == "activate":
        await set_active(user_id, True, by=actor.name, address=client_address(request))
        notice = f"已启用 {who}（须重新登录）"
    elif op == "reset":
        password = form.get("password") if isinstance(form.get("password"), str) else ""
        try:
            await set_password(user_id, password, by=actor.name, address=client_address(request))
        except ValueError as refused:
            return await _users_page(request, actor, status_code=400, errors={"_form": str(refused)})
        notice = f"已重置 {who} 的密码，其原有登录均已失效"
    elif op == "change":
        role, department = _text(form, "role", 32), _text(form, "department", 64) or None
        if role not in ROLES:
            return await _users_page(request, actor, status_code=400, errors={"_form": "请选择角色"})
        if role == "handler" and not department:
            return await _users_page(request, actor, status_code=400, errors={"_form": "承办人必须指定所属单位"})
        if department and not await Department.exists().where(Department.code == department):
            return await _users_page(request, actor, status_code=400, errors={"_form": "单位不存在"})
        await set_role(user_id, role, department, by=actor.name, address=client_address(request))
        notice = f"{who} 现为{ROLES[role]}"
    elif op == "extension":
        extension = _text(form, "extension", 32)
        try:
            await request.app.state.platform.telephony.set_extension(user["username"], extension, actor,
                                                                     address=client_address(request))
        except HuyingError as refused:
            return await _users_page(request, actor, status_code=400, errors={"_form": refused.detail})
        notice = f"{who} 的分机号为 {extension}" if extension else f"已取消 {who} 的分机号"
    else:
        return await _users_page(request, actor, status_code=400, errors={"_form": "没有这个操作"})
    recent.clear()  # every process re-reads the user within seconds; this one at once
    return await _users_page(request, actor, notice=notice)


# -- routing rules ---------------------------------------------------------------------------------------

async def _area_names(request) -> list[str]:
    return [a["name"] for a in await request.app.state.platform.orders.reference.areas()]


async def _rules_page(request, actor, *, status_code=200, values=None, errors=None, tried=None):
    rules = await RoutingRule.select().order_by(RoutingRule.position).order_by(RoutingRule.id).output(load_json=True)
    names = {d["code"]: d["name"] for d in await _departments()}
    return await _render(request, actor, "admin_rules.html", status_code=status_code, rules=rules, names=names,
                         areas=await _area_names(request),
                         departments=await _departments(), channels=list(request.app.state.platform.channels),
                         kinds=KINDS, values=values or {}, errors=errors or {}, tried=tried)


@get("/admin/rules")
async def rules_page(request: Request) -> Response:
    actor = await _admin(request)
    text = str(request.query_params.get("text") or "")[:2000]
    channel = str(request.query_params.get("channel") or "hotline")[:64]
    tried = None
    if text.strip():
        found = first_match(in_order(await load_rules(), channel), subject=text, content="", category="",
                            area=str(request.query_params.get("area") or "")[:64], kind="")
        names = {d["code"]: d["name"] for d in await _departments()}
        named = department_names.named_in_text(text, await request.app.state.platform.orders.reference.directory())
        tried = {"text": text, "channel": channel, "area": request.query_params.get("area") or "",
                 "rule": found[0] if found else None, "hit": found[1] if found else "",
                 "department": names.get(found[0].department, found[0].department) if found else "",
                 "named": names.get(named.code, "") if named.code else "", "named_by": named.by}
    return await _rules_page(request, actor, tried=tried or {"text": "", "channel": channel, "area": ""})


@post("/admin/rules")
async def rules_add(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 255) for k in ("keywords", "department", "reason", "position", "channel", "area",
                                                "kind", "category")}
    errors = {}
    keywords = [k for k in re.split(r"[\s,，、]+", values["keywords"]) if k][:50]
    if not keywords and not (values["area"] or values["kind"] or values["category"]):
        errors["keywords"] = "请至少填写一个关键词，或指定街道、类型、分类"
    if not await Department.exists().where(Department.code == values["department"]):
        errors["department"] = "请选择承办单位"
    try:
        position = int(values["position"] or 50)
        if not 0 <= position <= 10000:
            raise ValueError
    except ValueError:
        errors["position"] = "顺序须为 0–10000 的整数"
        position = 50
    if values["channel"] and values["channel"] not in request.app.state.platform.channels:
        errors["channel"] = "渠道不存在"
    if values["kind"] and values["kind"] not in KINDS:
        errors["kind"] = "没有这个诉求类型"
    if not errors:
        edit = rule_admin.RuleEdit(keywords=keywords, department=values["department"], position=position,
                                   area=values["area"][:64], kind=values["kind"], category=values["category"][:128],
                                   reason=values["reason"])
        try:
            done = await rule_admin.add(request.app.state.platform, edit, values["channel"] or None, actor)
        except InvalidInput as refused:
            errors = {e.key: e.message for e in refused.errors}
        else:
            return _done("/console/admin/rules", f"已添加派单规则；{resuggested(done['resuggested'])}")
    return await _rules_page(request, actor, status_code=400, values=values, errors=errors,
                             tried={"text": "", "channel": "hotline", "area": ""})


def resuggested(count: int) -> str:
    """What a rule change did to the orders waiting for dispatch, in the admin's words."""
    return f"{count} 张待派单工单的建议已更新" if count else "待派单工单的建议没有变化"


@post("/admin/rules/{rule_id:int}")
async def rules_toggle(request: Request, rule_id: FromPath[int]) -> Response:
    actor = await _admin(request)
    done = await rule_admin.toggle(request.app.state.platform, rule_id, actor)
    return _done("/console/admin/rules",
                 f"{'已启用规则' if done['active'] else '已停用规则'}；{resuggested(done['resuggested'])}")


@post("/admin/rules/{rule_id:int}/delete")
async def rules_delete(request: Request, rule_id: FromPath[int]) -> Response:
    actor = await _admin(request)
    try:
        done = await rule_admin.delete(request.app.state.platform, rule_id, actor)
    except Conflict as refused:
        return await _rule_page(request, actor, rule_id, status_code=409, errors={"_form": refused.detail})
    return _done("/console/admin/rules", f"已删除规则；{resuggested(done['resuggested'])}")


async def _rule_page(request: Request, actor, rule_id: int, *, status_code: int = 200, values: dict | None = None,
                     errors: dict | None = None, preview: dict | None = None) -> Response:
    rule = await RoutingRule.select().where(RoutingRule.id == rule_id).output(load_json=True).first()
    if rule is None:
        raise NotFound("规则不存在")
    everyone = await _departments()
    return await _render(request, actor, "admin_rule.html", status_code=status_code, rule=rule,
                         areas=await _area_names(request),
                         values=values or {**rule, "keywords": "、".join(rule["keywords"] or [])},
                         errors=errors or {}, preview=preview, history=await rule_admin.history(rule_id),
                         departments=[d for d in everyone if d["active"]],
                         names={d["code"]: d["name"] for d in everyone}, kinds=KINDS,
                         editable=rule["origin"] == "admin", days=rule_admin.PREVIEW_DAYS)


@get("/admin/rules/{rule_id:int}")
async def rule_page(request: Request, rule_id: FromPath[int]) -> Response:
    actor = await _admin(request)
    return await _rule_page(request, actor, rule_id)


@post("/admin/rules/{rule_id:int}/edit")
async def rule_edit(request: Request, rule_id: FromPath[int]) -> Response:
    """预览 shows which recent orders the edited rule would send elsewhere; 保存 saves it (audited)."""
    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 255) for k in ("keywords", "department", "position", "area", "kind", "category",
                                                "reason")}
    try:
        edit = msgspec.convert({**values, "keywords": [k for k in re.split(r"[\s,，、]+", values["keywords"]) if k],
                                "position": values["position"] or "50"}, rule_admin.RuleEdit, strict=False)
    except msgspec.ValidationError as bad:
        return await _rule_page(request, actor, rule_id, status_code=400, values=values,
                                errors={"_form": f"填写有误：{bad}"})
    platform = request.app.state.platform
    try:
        if form.get("op") == "save":
            done = await rule_admin.update(platform, rule_id, edit, actor)
            return _done(f"/console/admin/rules/{rule_id}",
                         f"已保存；{resuggested(done['resuggested'])}" if done["changed"] else "没有变化")
        await rule_admin.check(platform, edit)
        found = await rule_admin.preview(platform, rule_id, edit)
    except InvalidInput as refused:
        return await _rule_page(request, actor, rule_id, status_code=400, values=values,
                                errors={e.key: e.message for e in refused.errors})
    except Conflict as refused:
        return await _rule_page(request, actor, rule_id, status_code=409, values=values,
                                errors={"_form": refused.detail})
    return await _rule_page(request, actor, rule_id, values=values, preview=found)


# -- working calendar ------------------------------------------------------------------------------------

WEEKDAYS = "一二三四五六日"


def _month_grid(view: dict) -> list[dict]:
    """The year's days as twelve months of weeks (Monday first), each cell one day or None."""
    months = []
    for month in range(1, 13):
        days = [d for d in view["days"] if int(d["date"][5:7]) == month]
        first = dt.date.fromisoformat(days[0]["date"]).weekday()
        cells = [None] * first + days
        cells += [None] * (-len(cells) % 7)
        months.append({"month": month, "weeks": [cells[i:i + 7] for i in range(0, len(cells), 7)]})
    return months


def _day_kind(day: dict) -> tuple[str, str]:
    """A day's class and its label, in words (never a code)."""
    if day["override"]:
        return ("override-work" if day["working"] else "override-off",
                "中心设定工作日" if day["working"] else "中心设定休息日")
    if day["make_up"]:
        return "make-up", "调休上班"
    if not day["working"]:
        if day["name"]:
            return "holiday", "节假日（推算）" if day["provisional"] else "节假日"
        return "weekend", "周末"
    return "workday", "工作日"


async def _calendar_viewer(request: Request):
    """Admins change the calendar; supervisors (told of a provisional year by the banner) may look."""
    actor = await current_actor(request)
    if actor.role not in ("admin", "supervisor"):
        raise Forbidden("只有管理员和督办员可以查看工作日历设置")
    return actor


async def _calendar_render(request: Request, actor, *, year: int | None = None, status_code: int = 200,
                           values: dict | None = None, errors: dict | None = None) -> Response:
    from core import calendar_admin

    platform = request.app.state.platform
    await platform.sla.refresh()
    today = platform.orders.clock().astimezone(platform.calendar.tz).date()
    year = year if year is not None else today.year
    year = min(max(year, calendar_admin.FIRST_YEAR), calendar_admin.LAST_YEAR)
    rows = await CalendarDay.select().order_by(CalendarDay.day)
    notes = {r["day"]: r["note"] for r in rows}
    view = calendar_admin.year_view(platform.calendar, year, notes)
    for day in view["days"]:
        day["kind"], day["label"] = _day_kind(day)
    hours = await calendar_admin.office_hours_setting()
    return await _render(request, actor, "admin_calendar.html", status_code=status_code, view=view,
                         months=_month_grid(view), weekdays=WEEKDAYS, days=[r for r in rows if r["day"].year == year],
                         all_days=len(rows), hours=hours, changes=await calendar_admin.changes(20),
                         editable=actor.role == "admin", values=values or {}, errors=errors or {},
                         day_hours=round(platform.calendar.day_seconds / 3600, 2),
                         first_year=calendar_admin.FIRST_YEAR, last_year=calendar_admin.LAST_YEAR)


def _year_param(request: Request) -> int | None:
    text = request.query_params.get("year", "")
    return int(text) if text.isdigit() and len(text) == 4 else None


@get("/admin/calendar")
async def calendar_page(request: Request) -> Response:
    actor = await _calendar_viewer(request)
    return await _calendar_render(request, actor, year=_year_param(request))


def _refused(exc) -> str:
    errors = getattr(exc, "errors", None) or []
    return "；".join(e.message for e in errors) or exc.detail


@post("/admin/calendar")
async def calendar_set(request: Request) -> Response:
    from core import calendar_admin
    from core.errors import HuyingError

    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 128) for k in ("day", "workday", "note")}
    try:
        day = dt.date.fromisoformat(values["day"])
    except ValueError:
        return await _calendar_render(request, actor, status_code=400, values=values,
                                      errors={"day": "请填写日期，例如 2027-02-08"})
    workday = values["workday"] == "yes"
    try:
        moved = await calendar_admin.set_day(request.app.state.platform, day, workday, values["note"], actor)
    except HuyingError as refused:
        return await _calendar_render(request, actor, status_code=refused.status_code, values=values,
                                      errors={"day": _refused(refused)})
    return _done(f"/console/admin/calendar?year={day.year}",
                 f"{day} 设为{'工作日' if workday else '休息日'}" + (f"，{moved} 件工单的时限随之调整" if moved else ""))


@post("/admin/calendar/remove")
async def calendar_remove(request: Request) -> Response:
    from core import calendar_admin
    from core.errors import HuyingError

    actor = await _admin(request)
    form = await request.form()
    try:
        day = dt.date.fromisoformat(_text(form, "day", 10))
        moved = await calendar_admin.remove_day(request.app.state.platform, day, actor)
    except (ValueError, HuyingError):
        return await _calendar_render(request, actor, status_code=400, errors={"_form": "日期有误"})
    if moved is None:
        return _done(f"/console/admin/calendar?year={day.year}", f"{day} 没有中心设定")
    return _done(f"/console/admin/calendar?year={day.year}",
                 f"已取消 {day} 的中心设定" + (f"，{moved} 件工单的时限随之调整" if moved else ""))


def _date_lines(text: str) -> list[str]:
    """Dates one per line (or separated by commas or spaces); 2027-02-05 至 2027-02-11 for a stretch."""
    out: list[str] = []
    for part in re.split(r"[\s,，、;；]+", text.replace("至", " 至 ").replace("~", " 至 ")):
        if part:
            out.append(part)
    days: list[str] = []
    index = 0
    while index < len(out):
        if index + 2 < len(out) and out[index + 1] == "至":
            try:
                first, last = dt.date.fromisoformat(out[index]), dt.date.fromisoformat(out[index + 2])
            except ValueError:
                days.append(out[index])
                index += 1
                continue
            span = (last - first).days
            if 0 <= span <= 366:
                days.extend((first + dt.timedelta(days=i)).isoformat() for i in range(span + 1))
            else:
                days.append(f"{out[index]}至{out[index + 2]}")
            index += 3
        else:
            days.append(out[index])
            index += 1
    return days[:1000]


@post("/admin/calendar/import")
async def calendar_import(request: Request) -> Response:
    """The year's schedule pasted as dates (or a JSON file's text), checked as the API checks it."""
    import json

    from core import calendar_admin
    from core.errors import HuyingError

    actor = await _admin(request)
    form = await request.form()
    values = {k: _text(form, k, 20000) for k in ("year", "holidays", "workdays", "json")}
    year = int(values["year"]) if values["year"].isdigit() and len(values["year"]) == 4 else None
    upload = form.get("file")
    text = values["json"]
    if upload is not None and hasattr(upload, "read"):
        text = (await upload.read(200_000)).decode("utf-8", "replace").strip() or text
    try:
        if text:
            data = json.loads(text)
            if not isinstance(data, dict):
                raise ValueError
            year = data.get("year", year)
            holidays, workdays = data.get("holidays", []), data.get("workdays", [])
            if not isinstance(year, int):
                raise ValueError
        else:
            holidays, workdays = _date_lines(values["holidays"]), _date_lines(values["workdays"])
        if year is None:
            return await _calendar_render(request, actor, status_code=400, values=values,
                                          errors={"import": "请填写年份"})
        result = await calendar_admin.import_year(request.app.state.platform, year, holidays, workdays, actor)
    except ValueError:
        return await _calendar_render(request, actor, year=year, status_code=400, values=values,
                                      errors={"import": '文件须为 {"year": 2027, "holidays": [...], "workdays": [...]}'})
    except HuyingError as refused:
        return await _calendar_render(request, actor, year=year, status_code=refused.status_code, values=values,
                                      errors={"import": _refused(refused)})
    return _done(f"/console/admin/calendar?year={year}",
                 f"已导入 {year} 年节假日安排：放假 {result['holidays']} 天，调休上班 {result['workdays']} 天，"
                 f"{result['moved_orders']} 件工单的时限随之调整")


@post("/admin/calendar/office-hours")
async def calendar_office_hours(request: Request) -> Response:
    from core import calendar_admin
    from core.errors import HuyingError

    actor = await _admin(request)
    form = await request.form()
    periods = []
    for index in range(1, 5):
        start, end = _text(form, f"start{index}", 5), _text(form, f"end{index}", 5)
        if start or end:
            periods.append([start, end])
    try:
        await calendar_admin.set_office_hours(request.app.state.platform, periods, actor)
    except HuyingError as refused:
        return await _calendar_render(request, actor, status_code=400, values={"periods": periods},
                                      errors={"office_hours": _refused(refused)})
    return _done("/console/admin/calendar", "办公时间已保存，此后计算的时限按新时间")


# -- API keys ----------------------------------------------------------------------------------------------

async def _keys_page(request, actor, *, status_code=200, created=None, errors=None, values=None):
    keys = await ApiKey.select(ApiKey.id, ApiKey.name, ApiKey.prefix, ApiKey.channels, ApiKey.active,
                               ApiKey.created_at).order_by(ApiKey.id, ascending=False).output(load_json=True)
    return await _render(request, actor, "admin_keys.html", status_code=status_code, keys=keys, created=created,
                         channels=list(request.app.state.platform.channels), errors=errors or {}, values=values or {})


@get("/admin/keys")
async def keys_page(request: Request) -> Response:
    actor = await _admin(request)
    return await _keys_page(request, actor)


@post("/admin/keys")
async def keys_create(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    name = _text(form, "name", 128)
    channels = [c for c in form.getall("channels", []) if isinstance(c, str)]
    unknown = [c for c in channels if c not in request.app.state.platform.channels]
    if not name or unknown:
        return await _keys_page(request, actor, status_code=400, values={"name": name},
                                errors={"name": "请填写对接系统名称"} if not name else {"channels": "渠道不存在"})
    key = await create_api_key(name, channels)
    return await _keys_page(request, actor, created={"name": name, "key": key})


@post("/admin/keys/{key_id:int}/revoke")
async def keys_revoke(request: Request, key_id: FromPath[int]) -> Response:
    await _admin(request)
    await ApiKey.update({ApiKey.active: False}).where(ApiKey.id == key_id)
    recent.clear()
    return _done("/console/admin/keys", "已吊销 API Key")


# -- outbox ------------------------------------------------------------------------------------------------

OUTBOX_PAGE_SIZE = 50
OUTBOX_OPERATIONS = ("retry", "abandon")
OUTBOX_DONE = {"retry": "已安排立即重发", "abandon": "已放弃发送"}
OUTBOX_REASON_MISSING = "请写明原因（将记录在案）"


async def _outbox_reader(request: Request):
    """Who may read the outbox: the API's rule (admins and supervisors); only admins act on it."""
    actor = await current_actor(request)
    if actor.role not in ("admin", "supervisor"):
        raise Forbidden("只有管理员和督办员可以查看外发消息")
    return actor


def _outbox_filter(params) -> dict[str, str]:
    topic = str(params.get("topic") or "")[:64]
    state = str(params.get("state") or "pending")
    return {"topic": topic, "state": state if state in outbox.STATES or state == "all" else "pending"}


async def _outbox_list(request: Request, actor, *, filters: dict[str, str] | None = None, status_code: int = 200,
                       values: dict | None = None, errors: dict | None = None, opened: int | None = None) -> Response:
    from urllib.parse import urlencode

    filters = filters or _outbox_filter(request.query_params)
    try:
        page = max(1, min(100000, int(request.query_params.get("page") or 1)))
    except ValueError:
        page = 1
    found = await outbox.list_messages(topic=filters["topic"] or None,
                                       state=None if filters["state"] == "all" else filters["state"],
                                       page=page, page_size=OUTBOX_PAGE_SIZE)
    topics = sorted({r["topic"] for r in await OutboxMessage.select(OutboxMessage.topic).distinct()})
    return await _render(request, actor, "admin_outbox.html", status_code=status_code, found=found, filters=filters,
                         topics=topics, topic_labels=outbox.topic_labels(request.app.state.platform.deliverers, topics),
                         states=outbox.STATES, page=page,
                         pages=max(1, -(-found["total"] // OUTBOX_PAGE_SIZE)),
                         query=urlencode({k: v for k, v in filters.items() if v}), values=values or {},
                         errors=errors or {}, opened=opened, may_operate=actor.role == "admin")


async def _outbox_detail(request: Request, actor, message_id: int, *, status_code: int = 200,
                         values: dict | None = None, errors: dict | None = None) -> Response:
    row = await OutboxMessage.select().where(OutboxMessage.id == message_id).output(load_json=True).first()
    if row is None:
        raise NotFound(f"消息 {message_id} 不存在")
    state = outbox.state_of(row)
    return await _render(request, actor, "admin_outbox_message.html", status_code=status_code,
                         m={**row, "state": state, "state_label": outbox.STATES[state],
                            "topic_label": outbox.topic_labels(request.app.state.platform.deliverers,
                                                               [row["topic"]])[row["topic"]]},
                         history=await outbox.history(message_id), values=values or {}, errors=errors or {},
                         may_operate=actor.role == "admin")


@get("/admin/outbox")
async def outbox_page(request: Request) -> Response:
    actor = await _outbox_reader(request)
    return await _outbox_list(request, actor)


@get("/admin/outbox/{message_id:int}")
async def outbox_message(request: Request, message_id: FromPath[int]) -> Response:
    actor = await _outbox_reader(request)
    return await _outbox_detail(request, actor, message_id)


@post("/admin/outbox/{message_id:int}/{operation:str}")
async def outbox_operate(request: Request, message_id: FromPath[int], operation: FromPath[str]) -> Response:
    """Retry or abandon one message with a reason: the same ``core.outbox`` calls as the API, which
    record who did it and why. Without a reason the form comes back with what was typed."""
    actor = await _admin(request)
    if operation not in OUTBOX_OPERATIONS:
        raise NotFound("没有这个操作")
    form = await request.form()
    reason = _text(form, "reason", 1000)
    back = _text(form, "back", 16)
    filters = _outbox_filter(form)
    typed = {message_id: {"reason": reason, "operation": operation}}
    error = ""
    if not reason:
        error = OUTBOX_REASON_MISSING
    else:
        try:
            await getattr(outbox, operation)(message_id, actor.name, reason)
        except Conflict as refused:
            error = refused.detail
    if error:
        code = 400 if not reason else 409
        if back == "detail":
            return await _outbox_detail(request, actor, message_id, status_code=code, values=typed,
                                        errors={message_id: error})
        return await _outbox_list(request, actor, filters=filters, status_code=code, values=typed,
                                  errors={message_id: error}, opened=message_id)
    request.app.state.platform.orders.outbox_written()
    if back == "detail":
        return _done(f"/console/admin/outbox/{message_id}", OUTBOX_DONE[operation])
    from urllib.parse import urlencode

    return Redirect(f"/console/admin/outbox?{urlencode({**filters, 'done': OUTBOX_DONE[operation]})}",
                    status_code=303)


ADMIN_ROUTES = [admin_index, departments_page, departments_add, department_page, department_change, department_merge,
                users_page,
                user_page, users_add, users_change, rules_page, rule_page, rule_edit,
                rules_add, rules_toggle, rules_delete, calendar_page, calendar_set, calendar_remove, calendar_import,
                calendar_office_hours, keys_page, keys_create, keys_revoke,
                outbox_page, outbox_message, outbox_operate]
