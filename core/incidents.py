"""故障跟踪 (the fault log): faults reported by any member of staff (who reported it is kept), and those
the platform records itself. What was done is a history of updates (处理方法、处置措施、进展、结果),
appended and never overwritten; a change of the summary ``actions`` is kept in that history too.

A platform incident has a ``key`` naming its cause; while one with that key is open, the cause is
not recorded again, and when the cause clears the platform marks it resolved with what happened.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from core import clock
from core.tables import Incident, IncidentUpdate, OutboxMessage

JOB_FAILURES_BEFORE_INCIDENT = 3
UPDATE_KINDS: dict[str, str] = {"method": "处理方法", "measure": "处置措施", "progress": "进展", "result": "结果"}
UPDATES_SHOWN = 500  # one fault's history, at most


def _now() -> dt.datetime:
    return clock.now()


def present(row: dict) -> dict[str, Any]:
    return {"id": row["id"], "occurred_at": row["occurred_at"].isoformat(), "title": row["title"],
            "impact": row["impact"], "actions": row["actions"], "resolved": row["resolved"],
            "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
            "source": row["source"], "recorded_by": row["recorded_by"],
            "reported_by": row.get("reported_by") or row["recorded_by"],
            "updated_at": row["updated_at"].isoformat()}


def _present_update(row: dict) -> dict[str, Any]:
    return {"id": row["id"], "kind": row["kind"], "kind_label": UPDATE_KINDS.get(row["kind"], "记录"),
            "text": row["text"], "author": row["author"], "created_at": row["created_at"].isoformat()}


async def detail(incident_id: int) -> dict[str, Any] | None:
    """The fault with its whole history, oldest first."""
    row = await Incident.select().where(Incident.id == incident_id).first()
    if row is None:
        return None
    updates = await (IncidentUpdate.select().where(IncidentUpdate.incident_id == incident_id)
                     .order_by(IncidentUpdate.id).limit(UPDATES_SHOWN))
    return {**present(row), "updates": [_present_update(u) for u in updates]}


async def add_update(incident_id: int, *, kind: str, text: str, author: str,
                     resolved: bool | None = None) -> dict[str, Any] | None:
    """Append one entry to the fault's history; ``resolved`` closes (or reopens) it with the entry."""
    from core.db import write_transaction

    row = await Incident.select(Incident.id, Incident.resolved).where(Incident.id == incident_id).first()
    if row is None:
        return None
    now = _now()
    values: dict = {Incident.updated_at: now}
    if resolved is not None and resolved != row["resolved"]:
        values[Incident.resolved] = resolved
        values[Incident.resolved_at] = now if resolved else None
    async with write_transaction(Incident._meta.db):
        await IncidentUpdate.insert(IncidentUpdate(incident_id=incident_id, kind=kind, text=text, author=author,
                                                   created_at=now))
        await Incident.update(values).where(Incident.id == incident_id)
    return await detail(incident_id)


async def record(*, title: str, occurred_at: dt.datetime, impact: str = "", actions: str = "",
                 resolved: bool = False, recorded_by: str, source: str = "admin",
                 key: str | None = None, reported_by: str = "") -> dict[str, Any]:
    now = _now()
    rows = await Incident.insert(Incident(
        occurred_at=occurred_at, title=title, impact=impact, actions=actions, resolved=resolved,
        resolved_at=now if resolved else None, source=source, key=key, recorded_by=recorded_by,
        reported_by=reported_by or recorded_by, created_at=now, updated_at=now)).returning(*Incident.all_columns())
    return present(rows[0])


async def update(incident_id: int, changes: dict[str, Any], by: str = "") -> dict[str, Any] | None:
    """Change the fault's summary; new ``actions`` text is also appended to its history as a measure,
    so what was written before is never lost."""
    row = await Incident.select().where(Incident.id == incident_id).first()
    if row is None:
        return None
    now = _now()
    if changes.get("actions") and changes["actions"] != row["actions"]:
        await IncidentUpdate.insert(IncidentUpdate(incident_id=incident_id, kind="measure", text=changes["actions"],
                                                   author=by, created_at=now))
    values = {getattr(Incident, k): v for k, v in changes.items()}
    if changes.get("resolved") and not row["resolved"]:
        values[Incident.resolved_at] = now
    elif changes.get("resolved") is False:
        values[Incident.resolved_at] = None
    values[Incident.updated_at] = now
    await Incident.update(values).where(Incident.id == incident_id)
    return present(await Incident.select().where(Incident.id == incident_id).first())


async def listing(*, resolved: bool | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = Incident.select()
    if resolved is not None:
        query = query.where(Incident.resolved == resolved)
    return [present(r) for r in await query.order_by(Incident.occurred_at, ascending=False).limit(limit)]


async def open_platform_incident(key: str, title: str, impact: str, occurred_at: dt.datetime) -> bool:
    """Record the platform's own incident unless one with this cause is still open."""
    if await Incident.exists().where((Incident.key == key) & (Incident.resolved == False)):  # noqa: E712
        return False
    await record(title=title, occurred_at=occurred_at, impact=impact, recorded_by="system",
                 source="platform", key=key)
    return True


async def close_platform_incident(key: str, note: str) -> None:
    now = _now()
    await Incident.update({Incident.resolved: True, Incident.resolved_at: now, Incident.updated_at: now,
                           Incident.actions: note}).where(
        (Incident.key == key) & (Incident.resolved == False))  # noqa: E712


class JobWatch:
    """Counts each job's failures in a row; the third in a row opens an incident, a success closes it."""

    def __init__(self):
        self.failures: dict[str, int] = {}

    async def succeeded(self, job: str) -> None:
        if self.failures.pop(job, 0) >= JOB_FAILURES_BEFORE_INCIDENT:
            await close_platform_incident(f"job:{job}", "任务已恢复正常运行")

    async def failed(self, job: str, error: str) -> None:
        count = self.failures[job] = self.failures.get(job, 0) + 1
        if count == JOB_FAILURES_BEFORE_INCIDENT:
            await open_platform_incident(
                f"job:{job}", f"后台任务 {job} 连续 {count} 次失败",
                f"最近一次错误：{error[:500]}", _now())
