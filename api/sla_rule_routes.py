"""Time limits (时限规则) over the API: every channel's limits for centre staff to read, changed by an
admin with a reason per change (``core.sla_rules``). A change counts for orders received after it."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody

from api.schemas import errors
from core.errors import FieldError, InvalidInput
from core.model import Actor
from core.sla_rules import CHANGES_LIMIT, HISTORY_LIMIT, UNITS, RuleChange, check_reader

TAGS = ["时限规则"]


class RuleChanges(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Limits to change together (all or none); each with its own reason."""

    changes: Annotated[list[RuleChange], msgspec.Meta(max_length=CHANGES_LIMIT, description="要修改的时限")]


def _rules(request: Request):
    return request.app.state.platform.sla.rules


@get("/api/sla-rules", tags=TAGS, summary="各渠道的时限规则（渠道默认或中心设定，谁在何时修改）",
     responses=errors(401, 403))
async def list_rules(request: Request, actor: NamedDependency[Actor]) -> dict[str, Any]:
    check_reader(actor)
    rules = _rules(request)
    await rules.load()  # what is stored now, not this process's cached copy
    return {"rules": rules.listing(),
            "units": {code: {"label": label, "min": low, "max": high} for code, (label, low, high) in UNITS.items()}}


@put("/api/sla-rules", tags=TAGS, summary="修改时限规则（仅管理员；每项须写原因；只对修改后受理的工单生效）",
     responses=errors(400, 401, 403, 409, 413))
async def change_rules(request: Request, data: JSONBody[RuleChanges], actor: NamedDependency[Actor]) -> dict[str, Any]:
    rules = _rules(request)
    changed = await rules.change(data.changes, actor)
    return {"changed": changed, "rules": rules.listing()}


@get("/api/sla-rules/history", tags=TAGS, summary="时限规则的修改记录（新的在前）", responses=errors(400, 401, 403))
async def rule_history(request: Request, actor: NamedDependency[Actor],
                       channel: FromQuery[Annotated[str, msgspec.Meta(max_length=64)] | None] = None,
                       limit: FromQuery[int] = 50) -> dict[str, Any]:
    check_reader(actor)
    platform = request.app.state.platform
    problems = []
    if channel and platform.channels.get(channel) is None:
        problems.append(FieldError("channel", f"没有渠道「{channel}」", "query"))
    if not 1 <= limit <= HISTORY_LIMIT:
        problems.append(FieldError("limit", f"条数应在 1 到 {HISTORY_LIMIT} 之间", "query"))
    if problems:
        raise InvalidInput(problems, "查询参数有误")
    return {"items": await platform.sla.rules.history(channel=channel, limit=limit)}


ROUTES = [list_rules, change_rules, rule_history]
