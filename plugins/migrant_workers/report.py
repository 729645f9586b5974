"""The migrant-workers channel's section of the periodic reports: wages and workers covered.

The channel records what the workers claim at intake; the amount finally recovered is not a field
of its own, so the section reports the sums claimed on orders received and on orders completed."""

from __future__ import annotations

from core.plugin_api import sum_details


async def section(channel, start, end, department):
    received = await sum_details(channel.code, ["workers", "amount_owed"], start, end, department=department)
    completed = await sum_details(channel.code, ["workers", "amount_owed"], start, end, department=department,
                                  completed=True)
    return {"title": "欠薪处置", "rows": [
        {"label": "受理欠薪诉求", "value": received["orders"], "unit": "件"},
        {"label": "受理涉及工人", "value": int(received["workers"]), "unit": "人"},
        {"label": "受理涉及欠薪金额", "value": received["amount_owed"], "unit": "元"},
        {"label": "办结欠薪诉求", "value": completed["orders"], "unit": "件"},
        {"label": "办结工单覆盖工人", "value": int(completed["workers"]), "unit": "人"},
        {"label": "办结工单涉及欠薪金额", "value": completed["amount_owed"], "unit": "元"},
    ]}
