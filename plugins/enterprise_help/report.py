"""The enterprise-help channel's section of the periodic reports: visits planned and made."""

from __future__ import annotations

from core.plugin_api import sum_details
from plugins.enterprise_help.tables import Visit


async def section(channel, start, end, department):
    query = Visit.select(Visit.kind, Visit.follow_up, Visit.order_id).where(
        (Visit.visit_date >= start) & (Visit.visit_date < end))
    if department:
        query = query.where(Visit.department == department)
    visits = await query
    done = [v for v in visits if v["kind"] == "done"]
    received = await sum_details(channel.code, [], start, end, department=department)
    return {"title": "企业走访", "rows": [
        {"label": "受理帮扶诉求", "value": received["orders"], "unit": "件"},
        {"label": "预约走访", "value": sum(v["kind"] == "planned" for v in visits), "unit": "次"},
        {"label": "上门走访", "value": len(done), "unit": "次"},
        {"label": "其中回访不满意后的再次走访", "value": sum(bool(v["follow_up"]) for v in done), "unit": "次"},
        {"label": "走访覆盖企业诉求", "value": len({v["order_id"] for v in done}), "unit": "件"},
    ]}
