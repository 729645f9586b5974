"""Orders carry their soonest open deadline (``due_at``) and the instant it turns 临期
(``at_risk_at``), so the console's queues sort and filter by deadline in the database."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T22:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Deadline columns and queue indexes for the staff console."

def _column(name: str, index: bool) -> dict:
    return {
        "table_class_name": "Order", "tablename": "orders", "column_name": name, "db_column_name": name,
        "column_class_name": "Timestamptz", "column_class": Timestamptz,
        "params": {"default": None, "null": True, "primary_key": False, "unique": False, "index": index,
                   "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                   "secret": False},
        "schema": None,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(**_column("due_at", True))
    manager.add_column(**_column("at_risk_at", False))
    return manager
