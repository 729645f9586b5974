"""Retention (保管期限): the centre's rules for how long archived orders are kept, and the destruction
register (销毁清册) of every purge run and each order it destroyed."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-08T00:00:00:000100"
VERSION = "1.38.0"
DESCRIPTION = "Retention rules and the destruction register (retention_rules, purge_runs, purged_orders)."

# table class, table name, columns: (column, class, params, unique, index)
TABLES = (
    ("RetentionRule", "retention_rules", (
        ("key", Varchar, {"length": 100, "default": ""}, True, False),
        ("channel", Varchar, {"length": 64, "default": ""}, False, False),
        ("kind", Varchar, {"length": 32, "default": ""}, False, False),
        ("years", Integer, {"default": 0}, False, False),
        ("basis", Text, {"default": ""}, False, False),
        ("updated_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("updated_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    )),
    ("PurgeRun", "purge_runs", (
        ("operator", Varchar, {"length": 128, "default": ""}, False, False),
        ("role", Varchar, {"length": 32, "default": ""}, False, False),
        ("via", Varchar, {"length": 16, "default": "cli"}, False, False),
        ("started_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("finished_at", Timestamptz, {"default": None, "null": True}, False, False),
        ("rules", JSON, {"default": "[]"}, False, False),
        ("destroyed", Integer, {"default": 0}, False, False),
        ("files", Integer, {"default": 0}, False, False),
    )),
    ("PurgedOrder", "purged_orders", (
        ("run_id", Integer, {"default": 0}, False, True),
        ("number", Varchar, {"length": 32, "default": ""}, False, True),
        ("channel", Varchar, {"length": 64, "default": ""}, False, False),
        ("kind", Varchar, {"length": 32, "default": ""}, False, False),
        ("status", Varchar, {"length": 32, "default": ""}, False, False),
        ("received_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("closed_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("rule_key", Varchar, {"length": 100, "default": ""}, False, False),
        ("rule_years", Integer, {"default": 0}, False, False),
        ("rule_basis", Text, {"default": ""}, False, False),
        ("destroyed_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    )),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    for class_name, tablename, columns in TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, unique, index in columns:
            manager.add_column(
                table_class_name=class_name, tablename=tablename, column_name=name, db_column_name=name,
                column_class_name=column_class.__name__, column_class=column_class, schema=None,
                params={"null": False, **params, "primary_key": False, "unique": unique, "index": index,
                        "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False})
    return manager
