"""The reports' periodic work, run by the job runner every minute: scan for early warnings, and once
a day store the finished periods' reports as snapshots; a new monthly or annual report is announced
to the supervisors and admins through the staff notices (the outbox), with the link to its files."""

from __future__ import annotations

import datetime as dt
import logging
from urllib.parse import urlencode

from core import clock
from core.db import write_transaction
from core.notices import staff_notice
from core.outbox import Outbox
from core.reports import snapshots, warnings
from core.reports.dialect import current_engine
from core.reports.periods import KINDS, period, today
from core.reports.tables import ReportState
from core.reports.written import title_of

log = logging.getLogger(__name__)
SNAPSHOT_DAY = "snapshots.day"
ANNOUNCED = ("monthly", "annual")  # the written reports the centre's leaders receive
ANNOUNCED_TO = ("role:supervisor", "role:admin")


async def tick(platform) -> dict:
    created = await warnings.scan(platform)
    day = today()
    stamp = day.toordinal()
    row = await ReportState.select(ReportState.value).where(ReportState.key == SNAPSHOT_DAY).first()
    saved = []
    if row is None or row["value"] < stamp:
        saved = await snapshots.save_due(platform, day)
        await announce(platform, [s for s in saved if s["new"] and s["kind"] in ANNOUNCED])
        await ReportState.raw("INSERT INTO report_state (key, value) VALUES ({}, {}) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value", SNAPSHOT_DAY, stamp)
    return {"warnings": len(created), "snapshots": sum(s["new"] for s in saved)}


async def announce(platform, saved: list[dict]) -> None:
    """A staff notice per newly stored monthly or annual report, pointing at its console page."""
    if not saved:
        return
    async with write_transaction(current_engine()):
        outbox = Outbox()
        for s in saved:
            p = period(s["kind"], dt.date.fromisoformat(s["start"]))
            title = title_of({"period": {"name": p.name, "kind_label": KINDS[s["kind"]]}})
            link = "/console/reports?" + urlencode({"period": s["kind"], "start": s["start"]})
            for recipient in ANNOUNCED_TO:
                staff_notice(outbox, recipient, "report_ready", title=title, version=s["version"], link=link,
                             kind=s["kind"], start=s["start"])
        await outbox.write(clock.now())
    platform.orders.outbox_written()
