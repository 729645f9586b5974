"""Linking repeated reports about one source: a normalised key per order, and the route that shows
an order's linked reports to whoever may see them.

The key is the source the citizen named (a restaurant, a site), within the street; when no source is
named, the spot and the problem. Spelling differences that do not change the name (spaces,
punctuation, full-width letters, case) do not split a source.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

import msgspec
from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from core.plugin_api import STATUSES, Actor, NotFound, OrderRecord, PluginServices
from plugins.environment.tables import SourceReport

CODE = "environment"
WINDOW = dt.timedelta(days=30)
MAX_SHOWN = 50
MESSAGES = {"not_this_channel": "工单 {number} 不是环保创卫专线工单"}
_NOISE = re.compile(r"[\W_]+", re.UNICODE)


def _plain(text: str) -> str:
    return _NOISE.sub("", unicodedata.normalize("NFKC", text)).lower()


def key(area: str, details: dict) -> str | None:
    source = _plain(details.get("source", ""))
    if source:
        return f"source|{_plain(area)}|{source}"[:320]
    location = _plain(details.get("location", ""))
    return f"spot|{_plain(area)}|{location}|{details.get('problem', '')}"[:320] if location else None


async def remember(order: OrderRecord) -> None:
    found = key(order.area, order.details)
    if found:
        await SourceReport.insert(SourceReport(order_id=order.id, order_number=order.number, source_key=found,
                                               received_at=order.received_at))


class LinkedReport(msgspec.Struct, kw_only=True):
    number: str
    received_at: dt.datetime
    status: str
    status_label: str
    department: str | None
    subject: str
    problem: str
    location: str
    timing: str


class RelatedReports(msgspec.Struct, kw_only=True):
    number: str
    source: str
    window_days: int
    reports: list[LinkedReport]


@get("/api/orders/{number:str}/related-reports", tags=["环保创卫"],
     summary="同一污染源（或同一地点、同类问题）30天内的其他反映，合并查看")
async def related_reports(services: NamedDependency[PluginServices], number: FromPath[str],
                          actor: NamedDependency[Actor]) -> RelatedReports:
    """Only reports the caller may see are listed: a department's handler sees its own department's."""
    order = await services.read(number, actor)  # 404 unless the actor may see it
    if order.channel != CODE:
        raise NotFound(MESSAGES["not_this_channel"].format(number=number))
    mine = await SourceReport.select().where(SourceReport.order_number == number).first()
    reports = []
    if mine is not None:
        received = mine["received_at"]
        rows = await SourceReport.select(SourceReport.order_number).where(
            (SourceReport.source_key == mine["source_key"]) & (SourceReport.order_number != number)
            & (SourceReport.received_at >= received - WINDOW) & (SourceReport.received_at <= received + WINDOW)
        ).order_by(SourceReport.received_at, ascending=False).limit(MAX_SHOWN)
        for row in rows:
            try:
                linked = await services.read(row["order_number"], actor)
            except NotFound:
                continue  # another department's order: not for this caller's eyes
            details = linked.details
            reports.append(LinkedReport(
                number=linked.number, received_at=linked.received_at, status=linked.status,
                status_label=STATUSES[linked.status], department=linked.department, subject=linked.subject,
                problem=details.get("problem", ""), location=details.get("location", ""),
                timing=details.get("timing", "")))
    source = order.details.get("source") or order.details.get("location", "")
    return RelatedReports(number=number, source=source, window_days=WINDOW.days, reports=reports)
