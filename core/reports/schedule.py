"""The reports' periodic work, run by the job runner every minute: scan for early warnings, and once
a day store the finished periods' reports as snapshots."""

from __future__ import annotations

import logging

from core.reports import snapshots, warnings
from core.reports.periods import today
from core.reports.tables import ReportState

log = logging.getLogger(__name__)
SNAPSHOT_DAY = "snapshots.day"


async def tick(platform) -> dict:
    created = await warnings.scan(platform)
    day = today()
    stamp = day.toordinal()
    row = await ReportState.select(ReportState.value).where(ReportState.key == SNAPSHOT_DAY).first()
    saved = []
    if row is None or row["value"] < stamp:
        saved = await snapshots.save_due(platform, day)
        await ReportState.raw("INSERT INTO report_state (key, value) VALUES ({}, {}) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", SNAPSHOT_DAY, stamp)
    return {"warnings": len(created), "snapshots": sum(s["new"] for s in saved)}
