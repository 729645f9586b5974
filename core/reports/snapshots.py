"""Stored reports: each period's report kept as generated, immutable; a correction is a new version.

Scheduled generation (``save_due``) stores the last finished period of every kind; saving again only
adds a version when the figures changed (late callbacks, an upheld appeal), so the history of what
was reported, and when, is never rewritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import msgspec

from core import clock
from core.errors import NotFound
from core.reports.build import build_report
from core.reports.periods import KINDS, local_iso, period, today
from core.reports.tables import ReportSnapshot

VOLATILE = ("generated_at", "snapshot")


def scope(filters: dict[str, str]) -> str:
    return msgspec.json.encode(dict(sorted(filters.items()))).decode() if filters else ""


def digest(body: dict[str, Any]) -> str:
    stable = {k: v for k, v in body.items() if k not in VOLATILE}
    return hashlib.sha256(msgspec.json.encode(stable, order="sorted")).hexdigest()


async def _latest(kind: str, start: dt.date, where_scope: str) -> dict | None:
    return await (ReportSnapshot.select().where(
        (ReportSnapshot.kind == kind) & (ReportSnapshot.start == start.isoformat())
        & (ReportSnapshot.scope == where_scope)).order_by(ReportSnapshot.version, ascending=False)
        .output(load_json=True).first())


async def save(platform, kind: str, start: dt.date, filters: dict[str, str], by: str = "system") -> dict:
    """Generate the report and keep it; an unchanged report keeps its current version."""
    start = period(kind, start).start
    body = await build_report(platform, kind, start, filters)
    found = digest(body)
    key = scope(filters)
    for _ in range(3):  # two savers racing for one version number: the unique index lets one win
        latest = await _latest(kind, start, key)
        if latest and latest["digest"] == found:
            return {**latest, "new": False}
        version = (latest["version"] if latest else 0) + 1
        now = clock.now()
        body["snapshot"] = {"version": version, "created_at": local_iso(now), "created_by": by}
        try:
            await ReportSnapshot.insert(ReportSnapshot(kind=kind, start=start.isoformat(), scope=key,
                                                       version=version, digest=found, body=body,
                                                       created_by=by, created_at=now))
        except Exception:  # lost the race for this version number; look again
            continue
        return {"kind": kind, "start": start.isoformat(), "scope": key, "version": version, "digest": found,
                "created_at": now, "body": body, "new": True}
    raise RuntimeError("could not store the report snapshot")


async def get(kind: str, start: dt.date, filters: dict[str, str], version: int) -> dict[str, Any]:
    start = period(kind, start).start
    row = await ReportSnapshot.select(ReportSnapshot.body).where(
        (ReportSnapshot.kind == kind) & (ReportSnapshot.start == start.isoformat())
        & (ReportSnapshot.scope == scope(filters)) & (ReportSnapshot.version == version)).output(
        load_json=True).first()
    if row is None:
        raise NotFound(f"该期报表没有第 {version} 版快照")
    return row["body"]


async def versions(kind: str, start: dt.date, filters: dict[str, str]) -> list[dict]:
    start = period(kind, start).start
    rows = await ReportSnapshot.select(ReportSnapshot.version, ReportSnapshot.digest, ReportSnapshot.created_by,
                                       ReportSnapshot.created_at).where(
        (ReportSnapshot.kind == kind) & (ReportSnapshot.start == start.isoformat())
        & (ReportSnapshot.scope == scope(filters))).order_by(ReportSnapshot.version)
    return [{**r, "created_at": local_iso(r["created_at"])} for r in rows]


async def save_due(platform, day: dt.date | None = None) -> list[dict]:
    """The scheduled run: keep the last finished period of every kind (a new version if it changed)."""
    day = day or today()
    saved = []
    for kind in KINDS:
        last = period(kind, day).previous()
        result = await save(platform, kind, last.start, {})
        saved.append({"kind": kind, "start": last.start.isoformat(), "version": result["version"],
                      "new": result["new"]})
    return saved
