"""Routing rules may test a number field against a range and a multi-choice field for one choice."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-07T18:45:00:000096"
VERSION = "1.38.0"
DESCRIPTION = "Routing rules: number ranges and multi-choice membership."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_column(
        table_class_name="RoutingRule",
        tablename="routing_rules",
        column_name="predicates",
        db_column_name="predicates",
        column_class_name="JSON",
        column_class=JSON,
        params={
            "default": "{}",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )
    return manager
