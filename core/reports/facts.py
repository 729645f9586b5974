"""``report_facts``: one row per order, derived from ``orders`` and the audit trail.

The KPIs need, per order, when it was first dispatched, completed and rated, how often it was
returned or redispatched, and its deadlines as instants. Deriving them in SQL (``INSERT … SELECT``)
from the events keeps one source of truth: ``refresh`` folds in the orders touched by events newer
than the last one seen, so it costs what changed; ``rebuild`` recomputes everything.
"""

from __future__ import annotations

from core.db import write_transaction
from core.reports.dialect import FAR_FUTURE, Dialect, current_engine, dialect
from core.reports.tables import ReportFact, ReportState
from core.tables import OrderEvent

WATERMARK = "facts.last_event_id"
REPEAT_WINDOW_DAYS = 30  # 重复来电: the same caller about the same matter within 30 days
# the statuses in which an order is out of handling: answered and approved (or withdrawn, merged);
# a rework takes it back into handling, so ``closed`` is the end of its current spell of handling
DONE_STATUSES = ("completed", "archived", "appealing", "merged")

COLUMNS = ("order_id", "channel", "kind", "source", "category", "department", "area", "status", "received",
           "resolved_at_intake", "first_dispatch", "dispatches", "redispatches", "returns", "returns_upheld",
           "extensions", "reworks", "accept_due", "accept_done", "handle_due", "handle_done", "completed",
           "closed", "late_from", "rated", "satisfaction", "rating_resolved", "rating_valid", "repeat_call", "last_event_id")


def _count(action: str) -> str:
    return f"SUM(CASE WHEN action = '{action}' THEN 1 ELSE 0 END)"


def facts_select(d: Dialect, touched: str | None = None) -> str:
    """The SELECT producing fact rows: for every order, or for those whose id ``touched`` (a
    subquery) yields."""
    at = d.epoch("created_at")
    done = ", ".join(f"'{s}'" for s in DONE_STATUSES)
    events = f"""
        SELECT order_id,
               {_count('resolve_at_intake')} AS resolved,
               MIN(CASE WHEN action = 'dispatch' THEN {at} END) AS first_dispatch,
               SUM(CASE WHEN action IN ('dispatch', 'redispatch') THEN 1 ELSE 0 END) AS dispatches,
               {_count('redispatch')} AS redispatches,
               {_count('return')} AS returns,
               {_count('uphold_return')} AS returns_upheld,
               {_count('approve_extension')} AS extensions,
               {_count('rework')} AS reworks,
               MIN(CASE WHEN action IN ('approve', 'resolve_at_intake') THEN {at} END) AS completed,
               MAX(CASE WHEN to_status IN ({done}) AND (from_status IS NULL OR from_status NOT IN ({done}))
                        THEN {at} END) AS closed,
               MAX(id) AS last_id
        FROM order_events {f"WHERE order_id IN ({touched})" if touched else ""} GROUP BY order_id"""
    good_matter = (f"EXISTS (SELECT 1 FROM orders p WHERE p.citizen_phone = o.citizen_phone "
                   f"AND p.channel = o.channel AND p.category = o.category "
                   f"AND p.received_at < o.received_at AND p.received_at >= {d.minus_days('o.received_at', REPEAT_WINDOW_DAYS)})")
    handle_due = d.json_epoch('o.deadlines', 'handle', 'due')
    handle_done = d.json_epoch('o.deadlines', 'handle', 'done')
    return f"""
        SELECT o.id, o.channel, o.kind, o.source, o.category, COALESCE(o.department, ''), o.area, o.status,
               {d.epoch('o.received_at')},
               COALESCE(e.resolved, 0), e.first_dispatch, COALESCE(e.dispatches, 0),
               COALESCE(e.redispatches, 0), COALESCE(e.returns, 0), COALESCE(e.returns_upheld, 0),
               COALESCE(e.extensions, 0), COALESCE(e.reworks, 0),
               {d.json_epoch('o.deadlines', 'accept', 'due')}, {d.json_epoch('o.deadlines', 'accept', 'done')},
               {d.json_epoch('o.deadlines', 'handle', 'due')}, {d.json_epoch('o.deadlines', 'handle', 'done')},
               e.completed, CASE WHEN o.status IN ({done}) THEN COALESCE(e.closed, e.completed, {d.epoch('o.updated_at')})
                                 ELSE {FAR_FUTURE} END,
               CASE WHEN ({handle_done} IS NULL OR {handle_done} > {handle_due}) THEN {handle_due} END,
               {d.json_epoch('o.rating', 'rated_at')},
               COALESCE({d.json_text('o.rating', 'satisfaction')}, ''),
               CASE WHEN {d.json_true('o.rating', 'resolved')} THEN 1 ELSE 0 END,
               CASE WHEN {d.json_true('o.rating', 'valid')} THEN 1 ELSE 0 END,
               CASE WHEN o.citizen_phone <> '' AND {good_matter} THEN 1 ELSE 0 END,
               COALESCE(e.last_id, 0)
        FROM orders o LEFT JOIN ({events}) e ON e.order_id = o.id
        {f"WHERE o.id IN ({touched})" if touched else ""}"""


DAILY_DIMENSIONS = ("all", "channel", "kind", "category", "department", "area", "source")
MAX_INCREMENTAL_DAYS = 60  # more changed days than this: rebuild the daily sums outright


def _daily_insert(day_filter) -> str:
    """INSERT the daily sums of ``report_daily`` for the days ``day_filter(moment)`` selects."""
    from core.reports.kpis import DAILY_COUNTS, LOCAL_OFFSET, MOMENTS

    names = [c.name for c in DAILY_COUNTS]
    parts = []
    for moment in MOMENTS:  # each part already summed per day and value: the outer sum merges four
        values = ", ".join(f"SUM({c.value}) AS {c.name}" if c.moment == moment else f"0 AS {c.name}"
                           for c in DAILY_COUNTS)
        day = f"({moment} + {LOCAL_OFFSET}) / 86400"
        for dim in DAILY_DIMENSIONS:
            column = "''" if dim == "all" else dim
            group = day if dim == "all" else f"{day}, {dim}"
            parts.append(f"SELECT {day} AS day, '{dim}' AS dim, {column} AS value, {values} FROM report_facts "
                         f"WHERE {moment} IS NOT NULL{day_filter(moment)} GROUP BY {group}")
    sums = ", ".join(f"SUM({n})" for n in names)
    return (f"INSERT INTO report_daily (day, dim, value, {', '.join(names)}) "
            f"SELECT day, dim, value, {sums} FROM ({' UNION ALL '.join(parts)}) AS moments GROUP BY day, dim, value")


async def _moment_days(touched: str) -> set[int]:
    from core.reports.kpis import LOCAL_OFFSET, MOMENTS

    union = " UNION ".join(f"SELECT ({m} + {LOCAL_OFFSET}) / 86400 AS day FROM report_facts "
                           f"WHERE {m} IS NOT NULL AND order_id IN ({touched})" for m in MOMENTS)
    return {int(r["day"]) for r in await ReportFact.raw(union)}


async def _rebuild_daily(days: set[int] | None) -> None:
    """Recompute the daily sums: all of them (``days`` None) or those of the given local days."""
    from core.reports.kpis import LOCAL_OFFSET

    if days is None or len(days) > MAX_INCREMENTAL_DAYS:
        await ReportFact.raw("DELETE FROM report_daily")
        await ReportFact.raw(_daily_insert(lambda moment: ""))
        return
    if not days:
        return
    listed = ", ".join(str(d) for d in sorted(days))
    await ReportFact.raw(f"DELETE FROM report_daily WHERE day IN ({listed})")

    def only(moment: str) -> str:
        spans = " OR ".join(f"({moment} >= {d * 86400 - LOCAL_OFFSET} AND {moment} < {(d + 1) * 86400 - LOCAL_OFFSET})"
                            for d in sorted(days))
        return f" AND ({spans})"

    await ReportFact.raw(_daily_insert(only))


async def _watermark() -> int:
    row = await ReportState.select(ReportState.value).where(ReportState.key == WATERMARK).first()
    return row["value"] if row else 0


async def _set_watermark(value: int) -> None:
    await ReportState.raw(
        "INSERT INTO report_state (key, value) VALUES ({}, {}) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", WATERMARK, value)


async def stale() -> bool:
    """Whether audit events were written since the last refresh: two reads of one row each, so a
    page that reads the facts refreshes them (a write transaction) only when there is something new."""
    latest = await OrderEvent.raw("SELECT COALESCE(MAX(id), 0) AS m FROM order_events")
    return latest[0]["m"] != await _watermark()


async def refresh(*, full: bool = False) -> int:
    """Fold the audit events written since the last refresh into the facts; returns the new
    watermark. Serialised (IMMEDIATE on SQLite, an advisory lock on PostgreSQL), so concurrent
    refreshes queue instead of colliding."""
    d = dialect()
    async with write_transaction(current_engine()):
        if d.postgres:
            await ReportState.raw("SELECT pg_advisory_xact_lock(12345011)")
        since = 0 if full else await _watermark()
        latest = await OrderEvent.raw("SELECT COALESCE(MAX(id), 0) AS m FROM order_events")
        latest = latest[0]["m"]
        if latest == since and not full:
            if since and not await ReportFact.raw("SELECT 1 AS x FROM report_daily LIMIT 1"):
                await _rebuild_daily(None)  # facts from before the daily sums existed
            return since
        if since == 0:  # the facts of orders destroyed under the retention rules stay (core/retention.py)
            await ReportFact.raw("DELETE FROM report_facts WHERE order_id IN (SELECT id FROM orders)")
            await ReportFact.raw(f"INSERT INTO report_facts ({', '.join(COLUMNS)}) {facts_select(d)}")
            await _rebuild_daily(None)
        else:
            touched = f"SELECT DISTINCT order_id FROM order_events WHERE id > {int(since)} AND id <= {int(latest)}"
            days = await _moment_days(touched)
            await ReportFact.raw(f"DELETE FROM report_facts WHERE order_id IN ({touched})")
            await ReportFact.raw(f"INSERT INTO report_facts ({', '.join(COLUMNS)}) {facts_select(d, touched)}")
            await _rebuild_daily(days | await _moment_days(touched))
        await _set_watermark(latest)
    return latest
