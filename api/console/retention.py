"""保管期限 page under 系统管理: the centre's retention rules (which orders, how many years after they were
archived, on what basis), what they allow to destroy now (counts per rule), and the destruction register
of every past run (each downloadable as CSV). Centre staff read it; an admin changes the rules (each
change audited, as the time limits' are) and may destroy what is due, only after a second step where
they type the confirmation. The rules and the purge are the core's (``core.retention``), the same as
``huying purge``."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from core.channels import KINDS
from core.errors import Conflict, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.retention import READERS, YEARS, RuleInput, register_csv

CONFIRMATION = "确认销毁"


async def _reader(request: Request) -> Actor:
    actor = await current_actor(request)
    if actor.role not in READERS:
        raise Forbidden("只有中心人员可以查看保管期限")
    return actor


async def _admin(request: Request) -> Actor:
    actor = await _reader(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改保管期限或销毁工单")
    return actor


async def _page(request: Request, actor: Actor, *, status_code: int = 200, values: dict | None = None,
                errors: dict | None = None) -> Response:
    retention = request.app.state.platform.retention
    return await render_page(
        request, actor, "admin_retention.html", status_code=status_code, rules=await retention.listing(),
        due=await retention.summary(), runs=await retention.runs(), history=await retention.history(limit=30),
        channels=list(request.app.state.platform.channels), kinds=KINDS, years=YEARS,
        may_change=actor.role == "admin", values=values or {}, errors=errors or {},
        done=request.query_params.get("done", ""))


def _done(text: str) -> Redirect:
    return Redirect(f"/console/admin/retention?{urlencode({'done': text})}", status_code=303)


@get("/admin/retention")
async def retention_page(request: Request) -> Response:
    return await _page(request, await _reader(request))


def _errors(refused: InvalidInput | Conflict | NotFound) -> dict[str, str]:
    errors: dict[str, str] = {}
    for e in getattr(refused, "extra", None) or []:
        errors.setdefault(getattr(e, "key", "") or "_form", e.message)
    return errors or {"_form": refused.detail}


@post("/admin/retention")
async def retention_change(request: Request) -> Response:
    """Add a rule, or change the one of the same channel and kind; a refusal comes back beside its
    field with what was typed."""
    actor = await _admin(request)
    form = await request.form()
    values = {name: str(form.get(name) or "").strip()[:600] for name in ("channel", "kind", "years", "basis")}
    years = int(values["years"]) if values["years"].isdigit() else None
    if values["years"] and years is None:
        return await _page(request, actor, status_code=400, values=values,
                           errors={"years": f"保管年限须是 {YEARS[0]} 到 {YEARS[1]} 之间的整数（年）"})
    rule = RuleInput(channel=values["channel"][:64], kind=values["kind"][:32], years=years, basis=values["basis"])
    try:
        changed = await request.app.state.platform.retention.set_rule(rule, actor)
    except (InvalidInput, Conflict) as refused:
        return await _page(request, actor, status_code=400, values=values, errors=_errors(refused))
    return _done(f"已设定：{changed['label']} 保管 {changed['new']['years']} 年")


@post("/admin/retention/remove")
async def retention_remove(request: Request) -> Response:
    actor = await _admin(request)
    form = await request.form()
    key = str(form.get("key") or "")[:100]
    try:
        removed = await request.app.state.platform.retention.remove_rule(key, str(form.get("reason") or "")[:600],
                                                                         actor)
    except (InvalidInput, NotFound) as refused:
        return await _page(request, actor, status_code=400 if isinstance(refused, InvalidInput) else 404,
                           errors={"remove": _errors(refused).popitem()[1], "remove_key": key})
    return _done(f"已删除：{removed['label']}（这些工单此后长期保存，除非另有规则）")


async def _confirm_page(request: Request, actor: Actor, *, status_code: int = 200, error: str = "") -> Response:
    due = await request.app.state.platform.retention.summary()
    return await render_page(request, actor, "admin_retention_confirm.html", status_code=status_code, due=due,
                             total=sum(r["count"] for r in due), confirmation=CONFIRMATION, error=error)


@get("/admin/retention/purge")
async def retention_confirm(request: Request) -> Response:
    """The second step: what would be destroyed now, and the confirmation to type."""
    return await _confirm_page(request, await _admin(request))


@post("/admin/retention/purge")
async def retention_purge(request: Request) -> Response:
    """Destroy what is due, only with the confirmation typed and the count the admin saw still true."""
    actor = await _admin(request)
    form = await request.form()
    retention = request.app.state.platform.retention
    typed = str(form.get("confirmation") or "").strip()
    seen = str(form.get("total") or "")
    total = sum(r["count"] for r in await retention.summary())
    if typed != CONFIRMATION:
        return await _confirm_page(request, actor, status_code=400, error=f"请输入「{CONFIRMATION}」以确认")
    if seen != str(total):
        return await _confirm_page(request, actor, status_code=409,
                                   error="到期工单数量已变化，请核对后重新确认")
    if total == 0:
        return _done("目前没有到期可销毁的工单")
    run = await retention.purge(actor, via="console")
    return _done(f"已销毁 {run['destroyed']} 件工单，销毁清册第 {run['id']} 号")


@get("/admin/retention/runs/{run_id:int}/register.csv")
async def retention_register(request: Request, run_id: FromPath[int]) -> Response:
    await _reader(request)
    retention = request.app.state.platform.retention
    if not await retention.runs(run_id=run_id):
        raise NotFound("没有这次销毁记录")
    return Response(register_csv(await retention.register(run_id)), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="purge-register-{run_id}.csv"'})


RETENTION_ROUTES = [retention_page, retention_change, retention_remove, retention_confirm, retention_purge,
                    retention_register]
