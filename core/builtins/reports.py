"""The reports' periodic work as a job of the core: scan for early warnings every minute and, once a
day, store the finished periods' reports as immutable snapshots (``core.reports.schedule``)."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.jobs import Job


async def reports_tick(platform) -> dict:
    from core.reports import schedule

    return await schedule.tick(platform)


@hookimpl
def register_jobs():
    return [Job(name="reports_tick", label="预警扫描与报表快照", run=reports_tick, minutes=None)]
