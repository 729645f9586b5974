"""``GET /api/orders/{number}/safety``: a report's verification, rectification and reward, authorised
like the order.

A department sees the verification only; the reward (who asked, how much, the payment record) is the
centre's. Nothing here names the reporter: the ID number and payment account stay sealed on the order.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.plugin_api import Actor, NotFound, read_order
from plugins.safety_reporting.channel import CHANNEL, HAZARD_TYPES
from plugins.safety_reporting.rewards import GRADES, RULES
from plugins.safety_reporting.rectification import OUTCOMES, STATUS_LABELS
from plugins.safety_reporting.tables import SafetyCase, SafetyRectification, SafetyReinspection
from plugins.safety_reporting.workflow import RESULTS, REWARD_STATUSES


class VerificationOut(msgspec.Struct, kw_only=True):
    result: str
    result_label: str
    findings: str
    fine_yuan: int | None
    accident_grade: str | None
    accident_grade_label: str
    verified_deaths: int | None
    verified_by: str
    verified_at: dt.datetime


class RewardOut(msgspec.Struct, kw_only=True):
    requested: bool
    status: str
    status_label: str
    amount_yuan: str | None = None  # exact, two decimals
    rule: str = ""
    basis: str = ""
    rule_source: str = RULES.source
    calculated_by: str = ""
    calculated_at: dt.datetime | None = None
    approved_by: str = ""
    approved_at: dt.datetime | None = None
    paid_by: str = ""
    paid_at: dt.datetime | None = None
    payment_reference: str = ""


class ReinspectionOut(msgspec.Struct, kw_only=True):
    round: int
    outcome: str
    outcome_label: str
    findings: str
    photos: list[str]  # attachment keys on the order
    next_deadline: dt.date | None
    inspected_by: str
    inspected_at: dt.datetime


class RectificationOut(msgspec.Struct, kw_only=True):
    status: str
    status_label: str
    responsible_unit: str
    measures: str
    deadline: dt.date
    round: int
    escalated_for: dt.date | None  # the deadline whose passing was escalated (督办)
    ordered_by: str
    ordered_at: dt.datetime
    closed_at: dt.datetime | None
    reinspections: list[ReinspectionOut]


class SafetyOut(msgspec.Struct, kw_only=True):
    number: str
    hazard_type: str
    hazard_type_label: str
    verification: VerificationOut | None
    rectification: RectificationOut | None = None
    reward: RewardOut | None = None  # for the centre only


async def _rectification(order_id: int) -> RectificationOut | None:
    found = await SafetyRectification.select().where(SafetyRectification.order_id == order_id).first()
    if found is None:
        return None
    visits = await SafetyReinspection.select().where(SafetyReinspection.order_id == order_id).order_by(
        SafetyReinspection.id).output(load_json=True)
    return RectificationOut(
        status=found["status"], status_label=STATUS_LABELS[found["status"]],
        responsible_unit=found["responsible_unit"], measures=found["measures"], deadline=found["deadline"],
        round=found["round"], escalated_for=found["escalated_for"], ordered_by=found["ordered_by"],
        ordered_at=found["ordered_at"], closed_at=found["closed_at"],
        reinspections=[ReinspectionOut(
            round=v["round"], outcome="passed" if v["passed"] else "failed",
            outcome_label=OUTCOMES["passed" if v["passed"] else "failed"], findings=v["findings"],
            photos=v["photos"], next_deadline=v["next_deadline"], inspected_by=v["inspected_by"],
            inspected_at=v["inspected_at"]) for v in visits])


def _reward(case: dict | None, requested: bool) -> RewardOut:
    if case is None or not case["reward_status"]:
        return RewardOut(requested=requested, status="", status_label=REWARD_STATUSES[""])
    return RewardOut(
        requested=requested, status=case["reward_status"], status_label=REWARD_STATUSES[case["reward_status"]],
        amount_yuan=f"{Decimal(case['reward_fen']) / 100:.2f}", rule=case["reward_rule"],
        basis=case["reward_basis"], calculated_by=case["calculated_by"], calculated_at=case["calculated_at"],
        approved_by=case["approved_by"], approved_at=case["approved_at"], paid_by=case["paid_by"],
        paid_at=case["paid_at"], payment_reference=case["payment_reference"])


@get("/api/orders/{number:str}/safety", tags=["安全生产有奖举报"], summary="举报的核查结果、隐患整改和奖励办理情况")
async def safety_state(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> SafetyOut:
    order = await read_order(number, actor)  # 404 for whoever may not see it
    if order.channel != CHANNEL.code:
        raise NotFound(f"工单 {number} 不是安全生产举报")
    case = await SafetyCase.select().where(SafetyCase.order_id == order.id).first()
    hazard_type = order.details.get("hazard_type", "")
    verification = None
    if case is not None:
        verification = VerificationOut(
            result=case["result"], result_label=RESULTS[case["result"]], findings=case["findings"],
            fine_yuan=case["fine_yuan"], accident_grade=case["accident_grade"],
            accident_grade_label=GRADES.get(case["accident_grade"] or "", ""),
            verified_deaths=case["verified_deaths"], verified_by=case["verified_by"],
            verified_at=case["verified_at"])
    return SafetyOut(number=number, hazard_type=hazard_type, hazard_type_label=HAZARD_TYPES.get(hazard_type, ""),
                     verification=verification, rectification=await _rectification(order.id),
                     reward=_reward(case, bool(order.details.get("reward_requested"))) if actor.in_centre else None)
