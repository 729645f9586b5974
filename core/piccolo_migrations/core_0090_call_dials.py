"""Click-to-call from the callback desk: each 外呼 asked of the PBX for an order's callback, with the
reference the PBX's events name, the outbound call it became and what that call settled."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T10:00:00:000090"
VERSION = "1.38.0"
DESCRIPTION = "Outbound calls asked for a callback (call_dials)."

# column, class, params, unique, index
COLUMNS = (
    ("reference", Varchar, {"length": 64, "default": ""}, True, False),
    ("order_number", Varchar, {"length": 32, "default": ""}, False, True),
    ("number", Varchar, {"length": 32, "default": ""}, False, True),
    ("extension", Varchar, {"length": 32, "default": ""}, False, False),
    ("agent", Varchar, {"length": 64, "default": ""}, False, False),
    ("requested_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("call_key", Varchar, {"length": 160, "default": ""}, False, True),
    ("result", Varchar, {"length": 16, "default": ""}, False, False),
    ("settled_at", Timestamptz, {"default": None, "null": True}, False, False),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="CallDial", tablename="call_dials", schema=None, columns=None)
    for name, column_class, params, unique, index in COLUMNS:
        manager.add_column(
            table_class_name="CallDial", tablename="call_dials", column_name=name, db_column_name=name,
            column_class_name=column_class.__name__, column_class=column_class, schema=None,
            params={"null": False, **params, "primary_key": False, "unique": unique, "index": index,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False})
    return manager
