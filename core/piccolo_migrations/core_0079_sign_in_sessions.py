"""Revocable sign-ins: a token version on each user (raised by a password change or reset, a
deactivation and a re-activation; tokens and sessions carry it), the console's server-side sessions
(deleted on 退出), and the addresses each account signed in from (its owner is not throttled there by
a stranger's failures elsewhere)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T09:00:00:000079"
VERSION = "1.38.0"
DESCRIPTION = "Token versions, server-side console sessions, known sign-in addresses."

TABLES = {
    ("ConsoleSession", "console_sessions"): (
        ("key_hash", Varchar, {"length": 64, "default": ""}, False, True),
        ("user_id", Integer, {"default": 0}, True, False),
        ("token_version", Integer, {"default": 1}, False, False),
        ("signed_in_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("last_seen_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
        ("address", Varchar, {"length": 64, "default": ""}, False, False),
    ),
    ("SignInAddress", "sign_in_addresses"): (
        ("key", Varchar, {"length": 200, "default": ""}, False, True),
        ("username", Varchar, {"length": 64, "default": ""}, True, False),
        ("address", Varchar, {"length": 64, "default": ""}, False, False),
        ("last_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ),
}


def _params(params: dict, index: bool, unique: bool) -> dict:
    return {**params, "null": False, "primary_key": False, "unique": unique, "index": index,
            "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(table_class_name="User", tablename="users", column_name="token_version",
                       db_column_name="token_version", column_class_name="Integer", column_class=Integer,
                       params=_params({"default": 1}, False, False), schema=None)
    for (class_name, tablename), columns in TABLES.items():
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
        for name, column_class, params, index, unique in columns:
            manager.add_column(table_class_name=class_name, tablename=tablename, column_name=name,
                               db_column_name=name, column_class_name=column_class.__name__,
                               column_class=column_class, params=_params(params, index, unique), schema=None)
    return manager
