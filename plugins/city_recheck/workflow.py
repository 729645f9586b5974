"""The department's side of a recheck: recording the outcome, and no reply before it.

``record_recheck`` keeps the outcome in the line's table, stamps it on the recheck order's details
(``validate_action`` is synchronous and sees only the order) and notes it on the original order's
timeline through the order service, all in the action's transaction.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from core.plugin_api import HANDLER, Action, ActionContext, Refusal
from plugins.city_recheck.tables import Recheck

OUTCOMES = {"confirmed_resolved": "确认已解决", "reworked": "已重新办理", "not_verifiable": "无法核实"}
OUTCOME = "recheck_outcome"  # key on the recheck order's details
MESSAGES = {
    "evidence": "确认已解决须附证据：先把照片或材料作为附件上传到本工单，再填写附件编号",
    "evidence_unknown": "证据须是本工单的附件，请先上传再填写附件编号",
    "reply_needs_outcome": "须先记录复查结论（确认已解决、已重新办理或无法核实）才能答复",
    "noted": "复查工单 {number} 结论：{outcome}。{note}",
}


class RecordRecheck(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    outcome: Literal[tuple(OUTCOMES)]
    note: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    evidence: Annotated[list[Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=20)] = []


async def _evidence_on_this_order(ctx: ActionContext) -> None:
    if ctx.payload.outcome == "confirmed_resolved" and not ctx.payload.evidence:
        raise Refusal(MESSAGES["evidence"], 400, key="evidence")
    if ctx.payload.evidence:
        keys = {a.key for a in await ctx.services.attachments(ctx.order.number, ctx.actor)}
        if set(ctx.payload.evidence) - keys:
            raise Refusal(MESSAGES["evidence_unknown"], 400, key="evidence")


async def _record(ctx: ActionContext) -> dict:
    payload = ctx.payload
    await Recheck.update({Recheck.outcome: payload.outcome, Recheck.outcome_note: payload.note,
                          Recheck.evidence: payload.evidence, Recheck.decided_by: ctx.actor.name,
                          Recheck.decided_at: ctx.now, Recheck.department: ctx.order.department}).where(
        Recheck.order_id == ctx.order.id)
    original = ctx.order.details["original_number"]
    await ctx.services.note(original, "recheck_outcome", ctx.actor,
                          reason=MESSAGES["noted"].format(number=ctx.order.number,
                                                          outcome=OUTCOMES[payload.outcome], note=payload.note),
                          payload={"recheck_number": ctx.order.number, **msgspec.to_builtins(payload),
                                   "outcome_label": OUTCOMES[payload.outcome]})
    return {"details": {**ctx.order.details, OUTCOME: payload.outcome}}


ACTIONS = [
    Action(name="record_recheck", label="记录复查结论", sources=frozenset({"accepted"}), target=None,
           roles=HANDLER, department_bound=True, payload=RecordRecheck, effect=_record,
           validators=(_evidence_on_this_order,)),
]


def check(action: Action, order) -> None:
    if action.name == "reply" and not order.details.get(OUTCOME):
        raise Refusal(MESSAGES["reply_needs_outcome"])
