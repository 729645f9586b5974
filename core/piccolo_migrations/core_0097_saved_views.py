"""Saved views (视图): each member of staff's named filters of the order list, one name once per user.
The unique index comes after the table: piccolo runs a migration's raw SQL before it adds tables, so
this migration's manager adds the index once its table exists."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-12-07T23:40:00:000097"
VERSION = "1.38.0"
DESCRIPTION = "Saved views of the order list (saved_views)."

# column, class, params, index
COLUMNS = (
    ("username", Varchar, {"length": 64, "default": ""}, False),
    ("name", Varchar, {"length": 30, "default": ""}, False),
    ("query", Text, {"default": ""}, False),
    ("created_at", Timestamptz, {"default": TimestamptzNow()}, False),
)


UNIQUE_NAME = "CREATE UNIQUE INDEX IF NOT EXISTS saved_views_username_name ON saved_views (username, name)"


class _TableThenIndex(MigrationManager):
    async def run(self, backwards: bool = False):
        await super().run(backwards=backwards)
        if not backwards and not self.preview:
            await engine_finder().run_ddl(UNIQUE_NAME)


async def forwards():
    manager = _TableThenIndex(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="SavedView", tablename="saved_views", schema=None, columns=None)
    for name, column_class, params, index in COLUMNS:
        manager.add_column(
            table_class_name="SavedView", tablename="saved_views", column_name=name, db_column_name=name,
            column_class_name=column_class.__name__, column_class=column_class, schema=None,
            params={"null": False, **params, "primary_key": False, "unique": False, "index": index,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False})
    return manager
