"""Departments' own reply templates (答复模板); their uniqueness by department and name is the next
migration's (piccolo runs raw SQL before it adds tables)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T04:00:00:000072"
VERSION = "1.38.0"
DESCRIPTION = "Reply templates kept by each department."

COLUMNS = (
    ("department", Varchar, {"length": 64, "default": ""}, True),
    ("name", Varchar, {"length": 20, "default": ""}, False),
    ("text", Text, {"default": ""}, False),
    ("created_by", Varchar, {"length": 128, "default": ""}, False),
    ("created_at", Timestamptz, {"default": TimestamptzNow()}, False),
    ("updated_by", Varchar, {"length": 128, "default": ""}, False),
    ("updated_at", Timestamptz, {"default": TimestamptzNow()}, False),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="ReplyTemplate", tablename="reply_templates", schema=None, columns=None)
    for name, column_class, params, index in COLUMNS:
        manager.add_column(
            table_class_name="ReplyTemplate",
            tablename="reply_templates",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={**params, "null": False, "primary_key": False, "unique": False, "index": index,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                    "secret": False},
            schema=None,
        )

    return manager
