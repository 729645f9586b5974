from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Orders carry their earliest open due time and when it turns 临期, so lists filter by deadline state."


def _params() -> dict:
    return {"default": None, "null": True, "primary_key": False, "unique": False, "index": True,
            "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False}


async def _backfill() -> None:
    import json

    from core.calendar import WorkCalendar
    from core.sla import deadline_summary
    from core.tables import Order

    calendar = WorkCalendar()
    rows = await Order.raw("SELECT id, deadlines FROM orders")
    for row in rows:
        deadlines = row["deadlines"]
        deadlines = json.loads(deadlines) if isinstance(deadlines, str) else (deadlines or {})
        due_at, at_risk_at = deadline_summary(deadlines, calendar)
        if due_at is not None:
            await Order.update({Order.due_at: due_at, Order.at_risk_at: at_risk_at}).where(Order.id == row["id"])


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    for name in ("due_at", "at_risk_at"):
        manager.add_column(table_class_name="Order", tablename="orders", column_name=name, db_column_name=name,
                           column_class_name="Timestamptz", column_class=Timestamptz, params=_params(),
                           schema=None)
    manager.add_raw(_backfill)
    return manager
