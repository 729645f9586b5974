"""举报奖励: the amount follows a rule table kept as data (``reward_rules.json``), so the centre can
correct a figure without touching code.

A rule multiplies one verified quantity (the fine, or the verified deaths) by a rate (a percentage,
or an amount per death by accident grade), then holds the result between its minimum and maximum.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

import msgspec

from core.lifecycle import Refusal

GRADES = {"general": "一般事故", "larger": "较大事故", "major": "重大事故", "especially_major": "特别重大事故"}
CENT = Decimal("0.01")


class RewardRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: str
    label: str
    hazard_types: list[str]  # "*" matches every type not claimed by an earlier rule
    base: Literal["fine_yuan", "verified_deaths"]
    base_label: str
    base_unit: str
    rate: Decimal | None = None
    rate_by_grade: dict[str, Decimal] = {}
    minimum: Decimal = Decimal(0)
    maximum: Decimal | None = None


class RewardRules(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    source: str
    rules: list[RewardRule]


class Reward(msgspec.Struct, frozen=True, kw_only=True):
    fen: int
    rule: str
    basis: str  # the calculation in words, for the approver and the audit


def load_rules(path: Path = Path(__file__).with_name("reward_rules.json")) -> RewardRules:
    return msgspec.json.decode(path.read_bytes(), type=RewardRules)


RULES = load_rules()


def yuan(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):,}"


def _plain(amount: Decimal) -> str:
    """30000 → "3 万元", 3000 → "3,000 元": how the form states a figure to a citizen."""
    if amount >= 10_000 and amount % 10_000 == 0:
        return f"{(amount / 10_000).normalize():f} 万元"
    return f"{amount.normalize():,f} 元"


def explain(rules: RewardRules = RULES) -> tuple[str, ...]:
    """The reward rules in a reporter's words, from the same table the calculation uses."""
    lines = ["实名举报、经核查属实的，可以申请奖励；匿名举报不能申请奖励。"]
    for rule in rules.rules:
        if rule.rate_by_grade:
            rates = sorted(rule.rate_by_grade.values())
            text = (f"{rule.label}：{rule.base_label.removesuffix('人数')}的，每 1 {rule.base_unit}"
                    f"按事故等级奖励 {_plain(rates[0])}至 {_plain(rates[-1])}")
        else:
            text = f"{rule.label}：按{rule.base_label}的 {(rule.rate * 100).normalize():f}% 计算"
            if rule.minimum:
                text += f"，最低 {_plain(rule.minimum)}"
        if rule.maximum is not None:
            text += f"，最高 {_plain(rule.maximum)}"
        lines.append(text + "。")
    lines.append("办理流程：承办部门核查并依法查处后，由热线中心核算奖励金额、报经审批后发放；"
                 "每一步都会显示在「查询办理进度」里。所需时间取决于核查和处罚的进度。")
    return tuple(lines)


def calculate(hazard_type: str, case: dict, rules: RewardRules = RULES) -> Reward:
    """The reward for a verified report; refused with the reason when the record lacks what the
    rule counts or the rule yields nothing."""
    rule = next(r for r in rules.rules if hazard_type in r.hazard_types or "*" in r.hazard_types)
    base = case.get(rule.base)
    if base is None:
        raise Refusal(f"核查记录缺少{rule.base_label}，无法按「{rule.label}」核算奖励")
    if rule.rate_by_grade:
        grade = case.get("accident_grade")
        if grade not in rule.rate_by_grade:
            raise Refusal(f"核查记录缺少事故等级，无法按「{rule.label}」核算奖励")
        rate = rule.rate_by_grade[grade]
        rate_text = f"{GRADES.get(grade, grade)}每{rule.base_unit} {yuan(rate)} 元"
    else:
        rate = rule.rate
        rate_text = f"{(rate * 100).normalize():f}%"
    raw = (Decimal(base) * rate).quantize(CENT, ROUND_HALF_UP)
    amount = max(raw, rule.minimum)
    if rule.maximum is not None:
        amount = min(amount, rule.maximum)
    if amount <= 0:
        raise Refusal(f"按「{rule.label}」计算奖励为 0 元（{rule.base_label} {base:,} {rule.base_unit}），不予核算")
    basis = f"{rule.label}：{rule.base_label} {base:,} {rule.base_unit} × {rate_text} = {yuan(raw)} 元"
    if amount > raw:
        basis += f"，低于最低奖励，按 {yuan(rule.minimum)} 元"
    elif amount < raw:
        basis += f"，超过最高奖励，按 {yuan(rule.maximum)} 元"
    return Reward(fen=int(amount.quantize(CENT) * 100), rule=rule.code, basis=basis)
