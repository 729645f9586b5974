"""The monthly inspection as a job of the core: looked at daily, run once in each month
(``core.inspections``), its findings kept as that month's inspection record."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.jobs import Job


async def monthly_inspection(platform) -> dict:
    from core import inspections

    return await inspections.due(platform)


@hookimpl
def register_jobs():
    return [Job(name="monthly_inspection", label="月度巡检", run=monthly_inspection, minutes=frozenset({30}),
                hours=frozenset({3}))]
