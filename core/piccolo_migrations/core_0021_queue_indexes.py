"""Indexes for the console's queues (status or department, then deadline) and a caller's history
(phone, then time); orders stored before ``due_at`` existed get it filled in."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-28T22:21:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Queue indexes and the deadline columns filled in for existing orders."

INDEXES = (
    "CREATE INDEX IF NOT EXISTS orders_status_due ON orders (status, due_at)",
    "CREATE INDEX IF NOT EXISTS orders_department_status_due ON orders (department, status, due_at)",
    "CREATE INDEX IF NOT EXISTS orders_phone_received ON orders (citizen_phone, received_at)",
    "CREATE INDEX IF NOT EXISTS orders_status_received ON orders (status, received_at)",
    "CREATE INDEX IF NOT EXISTS orders_subject_received ON orders (subject, received_at)",
)


async def _indexes_and_backfill():
    import json

    from piccolo.querystring import QueryString

    from core import piccolo_conf
    from core.calendar import WorkCalendar
    from core.sla import SlaClock

    engine = piccolo_conf.DB
    for sql in INDEXES:
        await engine.run_querystring(QueryString(sql))
    clock = SlaClock(WorkCalendar(), channels={})
    rows = await engine.run_querystring(QueryString(
        "SELECT id, status, deadlines FROM orders WHERE due_at IS NULL AND status NOT IN ('archived', 'merged')"))
    for row in rows:
        deadlines = row["deadlines"]
        deadlines = json.loads(deadlines) if isinstance(deadlines, str) else (deadlines or {})
        watched = clock.watch(deadlines, row["status"])
        if watched["due_at"] is not None:
            await engine.run_querystring(QueryString(
                "UPDATE orders SET due_at = {}, at_risk_at = {} WHERE id = {}",
                watched["due_at"], watched["at_risk_at"], row["id"]))


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(_indexes_and_backfill)
    return manager
