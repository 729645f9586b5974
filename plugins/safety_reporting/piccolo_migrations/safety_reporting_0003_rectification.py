"""隐患整改: the rectification ordered on a founded report and its re-inspections (复查).

The tables are created from snapshots of their classes as they were when this migration was written,
so a later change to ``tables.py`` cannot change what this migration does; the same DDL runs on both
backends.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, BigInt, Boolean, Date, Integer, Text, Timestamptz, Varchar
from piccolo.engine.finder import engine_finder
from piccolo.table import Table

ID = "2026-12-07T10:00:00:000003"
VERSION = "1.38.0"
DESCRIPTION = "safety_rectifications and safety_reinspections: 隐患整改 and 复查."


class Rectification(Table, tablename="safety_rectifications"):
    order_id = BigInt(unique=True, index=True)
    order_number = Varchar(length=32, index=True)
    responsible_unit = Varchar(length=200)
    measures = Text(default="")
    deadline = Date()
    status = Varchar(length=16, default="open", index=True)
    round = Integer(default=1)
    escalated_for = Date(null=True, default=None)
    ordered_by = Varchar(length=128)
    ordered_at = Timestamptz()
    closed_at = Timestamptz(null=True, default=None)


class Reinspection(Table, tablename="safety_reinspections"):
    order_id = BigInt(index=True)
    round = Integer()
    passed = Boolean()
    findings = Text(default="")
    photos = JSON(default=[])
    next_deadline = Date(null=True, default=None)
    inspected_by = Varchar(length=128)
    inspected_at = Timestamptz()


async def create():
    for table in (Rectification, Reinspection):
        table._meta.db = engine_finder()  # the engine being migrated (a class remembers the first one)
        await table.create_table(if_not_exists=True)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="safety_reporting", description=DESCRIPTION)
    manager.add_raw(create)
    return manager
