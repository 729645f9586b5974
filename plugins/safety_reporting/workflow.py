"""核查 and 举报奖励: side steps on a safety report, recorded in the plugin's table.

The handling department records what it found (``verify``); the centre then calculates the reward,
a supervisor approves it and an administrator records the payment, in that order and by different
people. None of these steps changes the order's status.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from core.channels import field
from core.lifecycle import CENTRE_OVERSIGHT, HANDLER, STATUSES, Action, ActionContext, Note, Refusal
from plugins.safety_reporting.rewards import GRADES, calculate
from plugins.safety_reporting.tables import SafetyCase

RESULTS = {"true": "属实", "partly": "部分属实", "false": "不属实"}
REWARD_STATUSES = {"": "未核算", "calculated": "已核算，待审批", "approved": "已审批，待发放", "paid": "已发放"}
# The result is mirrored onto the order's details because ``validate_action`` is synchronous and
# cannot read this plugin's table; the table stays the full record.
VERIFIED = "verification_result"
ALREADY_VERIFIED = "该举报已记录核查结果，不能重复核查"


class VerifyPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    result: Annotated[Literal[tuple(RESULTS)], field("核查结果", choices=RESULTS)]
    findings: Annotated[str, field("核查情况", "现场核查经过、查实的问题和处理措施", min_length=1, max_length=4000)]
    fine_yuan: Annotated[int, field("罚款金额（元）", "属实或部分属实的必填，未处罚填 0", ge=0, le=10**10)] | None = None
    accident_grade: Annotated[Literal[tuple(GRADES)], field(
        "事故等级", "查实瞒报谎报事故的必填", choices=GRADES)] | None = None
    verified_deaths: Annotated[int, field("查实瞒报谎报死亡人数", "查实瞒报谎报事故的必填", ge=0, le=10000)] | None = None


class PaymentPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    payment_reference: Annotated[str, field(
        "支付凭证号", "财政或银行的支付凭证编号；不要填写收款账号", min_length=1, max_length=64)]
    note: Annotated[str, field("备注", max_length=4000)] = ""


async def case_of(order_id: int) -> dict | None:
    return await SafetyCase.select().where(SafetyCase.order == order_id).first()


# -- verification ------------------------------------------------------------------------------------

async def _not_yet_verified(ctx: ActionContext) -> None:
    if await case_of(ctx.order.id) is not None:
        raise Refusal(ALREADY_VERIFIED)


MISSING = {
    "fine_yuan": "核查属实或部分属实的，请填写罚款金额（未处罚填 0）",
    "accident_grade": "查实瞒报谎报事故的，请填写事故等级",
    "verified_deaths": "查实瞒报谎报事故的，请填写查实的瞒报谎报死亡人数（没有填 0）",
}


def _verification_complete(ctx: ActionContext) -> None:
    """What the reward will be counted from must be on the record, and nothing that does not apply."""
    p = ctx.payload
    founded = p.result != "false"
    concealed = ctx.order.details.get("hazard_type") == "concealed_accident"
    required = () if not founded else ("accident_grade", "verified_deaths") if concealed else ("fine_yuan",)
    allowed = {*required, "fine_yuan"} if founded else set()
    for key in MISSING:
        value = getattr(p, key)
        if key in required and value is None:
            raise Refusal(MISSING[key], 400, key=key)
        if key not in allowed and value is not None:
            reason = "事故等级和死亡人数只用于瞒报谎报事故" if founded else "核查不属实的，不填写罚款和事故情况"
            raise Refusal(reason, 400, key=key)


async def _record_verification(ctx: ActionContext) -> dict:
    p = ctx.payload
    inserted = await SafetyCase.insert(SafetyCase(
        order=ctx.order.id, result=p.result, findings=p.findings, fine_yuan=p.fine_yuan,
        accident_grade=p.accident_grade, verified_deaths=p.verified_deaths,
        verified_by=ctx.actor.name, verified_at=ctx.now,
    )).on_conflict(target=SafetyCase.order, action="DO NOTHING").returning(SafetyCase.id)
    if not inserted:  # a concurrent verification won
        raise Refusal(ALREADY_VERIFIED)
    return {"details": {**ctx.order.details, VERIFIED: p.result}}


# -- the reward --------------------------------------------------------------------------------------

def _reward_at(expected: str, step: str):
    """Refuse a reward step unless the report was founded, a reward was asked for, and the reward is
    at the status this step leaves."""
    async def check(ctx: ActionContext) -> None:
        case = await case_of(ctx.order.id)
        if case is None:
            raise Refusal(f"尚未记录核查结果，不能{step}")
        if case["result"] == "false":
            raise Refusal("核查结果为不属实，不予奖励")
        if not ctx.order.details.get("reward_requested"):
            raise Refusal("举报人未申请奖励")
        if case["reward_status"] != expected:
            raise Refusal(f"奖励当前为「{REWARD_STATUSES[case['reward_status']]}」，不能{step}")
    return check


async def _not_own_calculation(ctx: ActionContext) -> None:
    case = await case_of(ctx.order.id)
    if case["calculated_by"] == ctx.actor.name:
        raise Refusal("核算人与审批人不能为同一人", 403)


async def _move(ctx: ActionContext, before: str, after: str, values: dict) -> dict:
    updated = await SafetyCase.update({**values, SafetyCase.reward_status: after}).where(
        (SafetyCase.order == ctx.order.id) & (SafetyCase.reward_status == before)).returning(SafetyCase.id)
    if not updated:  # a concurrent step won
        raise Refusal("奖励状态已被他人更改，请刷新后重试")
    return {}


async def _calculate(ctx: ActionContext) -> dict:
    reward = calculate(ctx.order.details.get("hazard_type", ""), await case_of(ctx.order.id))
    return await _move(ctx, "", "calculated", {
        SafetyCase.reward_fen: reward.fen, SafetyCase.reward_rule: reward.rule,
        SafetyCase.reward_basis: reward.basis, SafetyCase.calculated_by: ctx.actor.name,
        SafetyCase.calculated_at: ctx.now})


async def _approve(ctx: ActionContext) -> dict:
    return await _move(ctx, "calculated", "approved",
                       {SafetyCase.approved_by: ctx.actor.name, SafetyCase.approved_at: ctx.now})


async def _pay(ctx: ActionContext) -> dict:
    return await _move(ctx, "approved", "paid", {
        SafetyCase.paid_by: ctx.actor.name, SafetyCase.paid_at: ctx.now,
        SafetyCase.payment_reference: ctx.payload.payment_reference.strip()})


ANY_STATUS = frozenset(STATUSES)  # a reward is often paid after the case is archived

ACTIONS = [
    Action(name="verify", label="核查", sources=frozenset({"accepted"}), target=None, roles=HANDLER,
           department_bound=True, payload=VerifyPayload, effect=_record_verification,
           validators=(_not_yet_verified, _verification_complete)),
    Action(name="calculate_reward", label="核算奖励", sources=ANY_STATUS, target=None,
           citizen_label="举报奖励已核算，正在审批",
           roles=frozenset({"dispatcher", "supervisor", "admin"}), payload=Note, effect=_calculate,
           validators=(_reward_at("", "核算奖励"),)),
    Action(name="approve_reward", label="审批奖励", sources=ANY_STATUS, target=None, roles=CENTRE_OVERSIGHT,
           citizen_label="举报奖励已审批，等待发放",
           payload=Note, effect=_approve, validators=(_reward_at("calculated", "审批奖励"), _not_own_calculation)),
    Action(name="pay_reward", label="发放奖励", sources=ANY_STATUS, target=None, roles=frozenset({"admin"}),
           citizen_label="举报奖励已发放",
           payload=PaymentPayload, effect=_pay, validators=(_reward_at("approved", "发放奖励"),)),
]
