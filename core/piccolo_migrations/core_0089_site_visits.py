"""On-site verifications (实地核实): the centre's staff schedule a visit to check an appeal, a recheck or
an enterprise's request on the spot, then record the findings, photos, place and conclusion."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T10:00:00:000089"
VERSION = "1.38.0"
DESCRIPTION = "On-site verifications of appeals, rechecks and enterprise visits."

# name, class, params, index, null
COLUMNS = (
    ("order_id", Integer, {"default": 0}, True, False),
    ("purpose", Varchar, {"length": 32, "default": ""}, False, False),
    ("status", Varchar, {"length": 16, "default": "scheduled"}, True, False),
    ("scheduled_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("staff", JSON, {"default": "[]"}, False, False),
    ("note", Text, {"default": ""}, False, False),
    ("findings", Text, {"default": ""}, False, False),
    ("conclusion", Varchar, {"length": 16, "default": ""}, False, False),
    ("place", JSON, {"default": "{}"}, False, False),
    ("address", Varchar, {"length": 200, "default": ""}, False, False),
    ("photos", JSON, {"default": "[]"}, False, False),
    ("department", Varchar, {"length": 64, "default": None}, False, True),
    ("created_by", Varchar, {"length": 128, "default": ""}, False, False),
    ("created_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("recorded_by", Varchar, {"length": 128, "default": ""}, False, False),
    ("recorded_at", Timestamptz, {"default": None}, False, True),
    ("version", Integer, {"default": 1}, False, False),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="SiteVisit", tablename="site_visits", schema=None, columns=None)
    for name, column_class, params, index, null in COLUMNS:
        manager.add_column(
            table_class_name="SiteVisit", tablename="site_visits", column_name=name, db_column_name=name,
            column_class_name=column_class.__name__, column_class=column_class, schema=None,
            params={**params, "null": null, "primary_key": False, "unique": False, "index": index,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False})
    return manager
