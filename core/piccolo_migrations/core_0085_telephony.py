"""Telephony: the PBX connections that push call events, the calls and their events, orders linked
to calls, blocked nuisance numbers, and each agent's phone extension."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, Boolean, Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T10:00:00:000085"
VERSION = "1.38.0"
DESCRIPTION = "CTI connections, calls, call events, call-order links, blocked numbers, agent extensions."

NOW = {"default": TimestamptzNow()}
NULL_TIME = {"default": None, "null": True}

# table class, table: (column, class, params, unique, index)
TABLES = {
    ("CtiConnection", "cti_connections"): (
        ("name", Varchar, {"length": 64, "default": ""}, False, False),
        ("token_hash", Varchar, {"length": 64, "default": ""}, True, False),
        ("secret", Varchar, {"length": 64, "default": ""}, False, False),
        ("signed", Boolean, {"default": False}, False, False),
        ("active", Boolean, {"default": True}, False, False),
        ("created_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("created_at", Timestamptz, NOW, False, False),
    ),
    ("Call", "calls"): (
        ("call_key", Varchar, {"length": 160, "default": ""}, True, False),
        ("connection_id", Integer, {"default": 0}, False, False),
        ("call_id", Varchar, {"length": 128, "default": ""}, False, False),
        ("direction", Varchar, {"length": 8, "default": "in"}, False, False),
        ("number", Varchar, {"length": 32, "default": ""}, False, True),
        ("from_number", Varchar, {"length": 32, "default": ""}, False, False),
        ("to_number", Varchar, {"length": 32, "default": ""}, False, False),
        ("queue", Varchar, {"length": 64, "default": ""}, False, False),
        ("extension", Varchar, {"length": 32, "default": ""}, False, False),
        ("agent", Varchar, {"length": 64, "default": ""}, False, False),
        ("ringing_at", Timestamptz, NULL_TIME, False, True),
        ("answered_at", Timestamptz, NULL_TIME, False, False),
        ("ended_at", Timestamptz, NULL_TIME, False, False),
        ("cause", Varchar, {"length": 32, "default": ""}, False, False),
        ("outcome", Varchar, {"length": 16, "default": "ringing"}, False, True),
        ("wait_seconds", Integer, {"default": None, "null": True}, False, False),
        ("talk_seconds", Integer, {"default": None, "null": True}, False, False),
        ("blocked", Boolean, {"default": False}, False, False),
        ("recording_url", Varchar, {"length": 1000, "default": ""}, False, False),
        ("recording_key", Varchar, {"length": 64, "default": ""}, False, False),
        ("recording_type", Varchar, {"length": 32, "default": ""}, False, False),
        ("recording_shared", Boolean, {"default": False}, False, False),
        ("callback", Varchar, {"length": 16, "default": ""}, False, False),
        ("callback_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("callback_at", Timestamptz, NULL_TIME, False, False),
        ("updated_at", Timestamptz, NOW, False, False),
    ),
    ("CallEvent", "call_events"): (
        ("call_key", Varchar, {"length": 160, "default": ""}, False, True),
        ("event", Varchar, {"length": 16, "default": ""}, False, False),
        ("dedupe", Varchar, {"length": 200, "default": ""}, True, False),
        ("payload", JSON, {"default": {}}, False, False),
        ("pbx_at", Timestamptz, NULL_TIME, False, False),
        ("received_at", Timestamptz, NOW, False, False),
    ),
    ("CallLink", "call_links"): (
        ("call_key", Varchar, {"length": 160, "default": ""}, False, True),
        ("order_number", Varchar, {"length": 32, "default": ""}, False, True),
        ("linked_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("linked_at", Timestamptz, NOW, False, False),
    ),
    ("BlockedNumber", "blocked_numbers"): (
        ("number", Varchar, {"length": 32, "default": ""}, True, False),
        ("note", Varchar, {"length": 200, "default": ""}, False, False),
        ("created_by", Varchar, {"length": 128, "default": ""}, False, False),
        ("created_at", Timestamptz, NOW, False, False),
    ),
}


def _params(params: dict, unique: bool, index: bool) -> dict:
    return {"null": False, **params, "primary_key": False, "unique": unique, "index": index,
            "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(table_class_name="User", tablename="users", column_name="extension",
                       db_column_name="extension", column_class_name="Varchar", column_class=Varchar,
                       params=_params({"length": 32, "default": None, "null": True}, False, True), schema=None)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, unique, index in columns:
            manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params=_params(params, unique, index), schema=None)
    return manager
