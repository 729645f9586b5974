"""Indexes for the console's queues (status or department, then deadline), a caller's history
(phone, then time) and likely duplicates (subject, then time). The deadline columns themselves
come from ``core_0010_deadline_summary``."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-29T00:10:00:000000"  # after core_0010, which adds due_at
VERSION = "1.38.0"
DESCRIPTION = "Queue indexes for the staff console."

INDEXES = (
    "CREATE INDEX IF NOT EXISTS orders_status_due ON orders (status, due_at)",
    "CREATE INDEX IF NOT EXISTS orders_department_status_due ON orders (department, status, due_at)",
    "CREATE INDEX IF NOT EXISTS orders_phone_received ON orders (citizen_phone, received_at)",
    "CREATE INDEX IF NOT EXISTS orders_status_received ON orders (status, received_at)",
    "CREATE INDEX IF NOT EXISTS orders_subject_received ON orders (subject, received_at)",
)


async def _indexes():
    from core.tables import Order

    for sql in INDEXES:
        await Order.raw(sql)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_raw(_indexes)
    return manager
