"""Coordination meetings (协调会) on difficult orders: the meeting, the orders it covers, the
departments invited, the decisions of its minutes tracked to done; and the message boards an admin
adds as sources of their own."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Date, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.date import DateNow
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T10:00:00:000084"
VERSION = "1.38.0"
DESCRIPTION = "Coordination meetings with minutes and tracked decisions; message boards as sources."

# (name, class, params, index, unique)
TABLES = {
    ("Meeting", "meetings"): (
        ("title", Varchar, {"length": 200, "default": ""}, False, False),
        ("at", Timestamptz, {"default": TimestamptzNow()}, True, False),
        ("place", Varchar, {"length": 200, "default": ""}, False, False),
        ("orders", JSON, {"default": "[]"}, False, False),
        ("departments", JSON, {"default": "[]"}, False, False),
        ("called_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("minutes", Text, {"default": ""}, False, False),
        ("minutes_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("minutes_at", Timestamptz, {"default": None, "null": True}, False, False),
    ),
    ("MeetingOrder", "meeting_orders"): (
        ("meeting_id", Integer, {"default": 0}, True, False),
        ("order_number", Varchar, {"length": 32, "default": ""}, True, False),
    ),
    ("MeetingDepartment", "meeting_departments"): (
        ("meeting_id", Integer, {"default": 0}, True, False),
        ("department", Varchar, {"length": 64, "default": ""}, True, False),
    ),
    ("MeetingDecision", "meeting_decisions"): (
        ("meeting_id", Integer, {"default": 0}, True, False),
        ("seq", Integer, {"default": 1}, False, False),
        ("department", Varchar, {"length": 64, "default": ""}, True, False),
        ("task", Text, {"default": ""}, False, False),
        ("due", Date, {"default": DateNow()}, True, False),
        ("done_at", Timestamptz, {"default": None, "null": True}, False, False),
        ("done_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("done_note", Text, {"default": ""}, False, False),
        ("created_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ),
    ("Netboard", "netboards"): (
        ("code", Varchar, {"length": 32, "default": ""}, False, True),
        ("name", Varchar, {"length": 64, "default": ""}, False, False),
        ("added_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("added_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ),
}


def _params(params: dict, index: bool, unique: bool) -> dict:
    return {"null": False, **params, "primary_key": False, "unique": unique, "index": index,
            "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, index, unique in columns:
            manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params=_params(params, index, unique), schema=None)
    return manager
