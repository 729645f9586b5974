"""The tip-off channel's section of the periodic reports: verifications made and rewards paid."""

from __future__ import annotations

import datetime as dt

from core.plugin_api import SHANGHAI, order_ids, sum_details
from plugins.safety_reporting.tables import SafetyCase


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(start, dt.time(), SHANGHAI), dt.datetime.combine(end, dt.time(), SHANGHAI))


async def section(channel, start, end, department):
    since, until = _bounds(start, end)
    ids = await order_ids(channel=channel.code, department=department) if department else None
    mine = (lambda q: q.where(SafetyCase.order_id.is_in(ids or [-1]))) if department else (lambda q: q)
    verified = await mine(SafetyCase.select(SafetyCase.result).where(
        (SafetyCase.verified_at >= since) & (SafetyCase.verified_at < until)))
    paid = await mine(SafetyCase.select(SafetyCase.reward_fen).where(
        (SafetyCase.paid_at >= since) & (SafetyCase.paid_at < until)))
    received = await sum_details(channel.code, [], start, end, department=department)
    return {"title": "举报核查与奖励", "rows": [
        {"label": "受理举报", "value": received["orders"], "unit": "件"},
        {"label": "完成核查", "value": len(verified), "unit": "件"},
        {"label": "其中属实或部分属实", "value": sum(r["result"] in ("true", "partly") for r in verified), "unit": "件"},
        {"label": "发放奖励", "value": len(paid), "unit": "笔"},
        {"label": "奖励金额", "value": sum(r["reward_fen"] or 0 for r in paid) / 100, "unit": "元"},
    ]}
