"""The working calendar's own records: each year's imported official schedule, the calendar's settings
(the office hours) and the log of every calendar change (who, when, how many orders it moved)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-30T02:00:00:000076"
VERSION = "1.38.0"
DESCRIPTION = "Official calendar years, calendar settings (office hours) and calendar changes."

TABLES = (
    ("CalendarYear", "calendar_years", (
        ("year", Integer, {"default": 0}, False, True),
        ("holidays", JSON, {"default": "[]"}, False, False),
        ("workdays", JSON, {"default": "[]"}, False, False),
        ("imported_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("imported_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    )),
    ("CalendarSetting", "calendar_settings", (
        ("name", Varchar, {"length": 64, "default": ""}, False, True),
        ("value", JSON, {"default": "{}"}, False, False),
        ("updated_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("updated_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    )),
    ("CalendarChange", "calendar_changes", (
        ("action", Varchar, {"length": 32, "default": ""}, False, False),
        ("summary", Varchar, {"length": 500, "default": ""}, False, False),
        ("detail", JSON, {"default": "{}"}, False, False),
        ("moved_orders", Integer, {"default": 0}, False, False),
        ("actor", Varchar, {"length": 128, "default": ""}, False, False),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}, True, False),
    )),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    for class_name, tablename, columns in TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, index, unique in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params={**params, "null": False, "primary_key": False, "unique": unique, "index": index,
                        "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                        "secret": False},
                schema=None,
            )
    return manager
