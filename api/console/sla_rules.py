"""时限规则 page under 系统管理: one channel's time limits at a time (派单、签收、办理按类型、紧急、回访、
申诉), each with its unit, the plugin's default and who set the centre's value; an admin changes any of
them, or restores the default, with one reason for the changes of one submission. The rules and the
audit trail are the core's (``core.sla_rules``), the same as ``PUT /api/sla-rules``; centre staff
read the page, only admins see the form."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.response import Redirect

from api.console.pages import render_page
from api.console.session import current_actor
from core.errors import Conflict, Forbidden, InvalidInput
from core.model import Actor
from core.sla_rules import RuleChange, check_reader, item_key


async def _reader(request: Request) -> Actor:
    actor = await current_actor(request)
    check_reader(actor)
    return actor


def _chosen(request: Request, code: str | None):
    channels = list(request.app.state.platform.channels)
    return next((c for c in channels if c.code == code), None) or request.app.state.platform.channels.default, channels


async def _page(request: Request, actor: Actor, code: str | None, *, status_code: int = 200,
                values: dict | None = None, errors: dict | None = None, reason: str = "") -> Response:
    rules = request.app.state.platform.sla.rules
    await rules.load()
    channel, channels = _chosen(request, code)
    items = [{**r, "item": item_key(r["rule"], r["kind"])} for r in rules.listing() if r["channel"] == channel.code]
    return await render_page(request, actor, "admin_sla_rules.html", status_code=status_code, channel=channel,
                        channels=channels, items=items, history=await rules.history(channel=channel.code, limit=50),
                        may_change=actor.role == "admin", values=values or {}, errors=errors or {},
                        reason=reason, done=request.query_params.get("done", ""))


@get("/admin/sla-rules")
async def sla_rules_page(request: Request) -> Response:
    actor = await _reader(request)
    return await _page(request, actor, str(request.query_params.get("channel") or "")[:64] or None)


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


@post("/admin/sla-rules")
async def sla_rules_change(request: Request) -> Response:
    """The rows whose value was changed or whose 恢复默认 was ticked become the changes, all with the
    reason typed; a refusal comes back beside its row with what was typed."""
    actor = await _reader(request)
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改时限规则")
    form = await request.form()
    code = str(form.get("channel") or "")[:64]
    rules = request.app.state.platform.sla.rules
    await rules.load()
    channel, _ = _chosen(request, code)
    if channel.code != code:
        return await _page(request, actor, None, status_code=400, errors={"_form": "渠道不存在"})
    reason = str(form.get("reason") or "")[:2000]
    values: dict[str, str] = {}
    changes: list[RuleChange] = []
    items: list[str] = []
    errors: dict[str, str] = {}
    for row in rules.listing():
        if row["channel"] != code:
            continue
        item = item_key(row["rule"], row["kind"])
        sent = form.get(f"value:{item}")
        typed = sent.strip()[:32] if isinstance(sent, str) else ""
        values[item] = typed
        if form.get(f"reset:{item}") and row["source"] == "centre":
            changes.append(RuleChange(channel=code, rule=row["rule"], kind=row["kind"], reset=True, reason=reason))
            items.append(item)
        elif typed and typed != str(row["value"]):
            number = _number(typed)
            if number is None:
                errors[item] = "请填写数字"
                continue
            if number != row["value"]:
                changes.append(RuleChange(channel=code, rule=row["rule"], kind=row["kind"], value=number,
                                          reason=reason))
                items.append(item)
        elif sent is not None and not typed:
            errors[item] = "请填写时限，或勾选恢复默认"
    if not changes and not errors:
        errors["_form"] = "没有修改任何时限"
    if not errors:
        try:
            changed = await rules.change(changes, actor)
        except (InvalidInput, Conflict) as refused:
            for e in refused.extra or []:
                key = getattr(e, "key", "")
                index = key.split(".")[1] if key.startswith("changes.") else ""
                if key.endswith(".reason"):
                    errors.setdefault("reason", e.message)
                elif index.isdigit() and int(index) < len(items):
                    errors.setdefault(items[int(index)], e.message)
                else:
                    errors.setdefault("_form", e.message)
            errors = errors or {"_form": refused.detail}
        else:
            done = "、".join(f"{c['label']} {c['old_value']} → {c['new_value']} {c['unit_label']}" for c in changed)
            return Redirect(f"/console/admin/sla-rules?{urlencode({'channel': code, 'done': f'已修改：{done}'})}",
                            status_code=303)
    return await _page(request, actor, code, status_code=400, values=values, errors=errors, reason=reason)


SLA_RULE_ROUTES = [sla_rules_page, sla_rules_change]
