"""Cohort KPIs: the daily sums gain the order counts that are the rates' numerators (orders returned,
misrouted, extended, reworked, called back), so every rate counts members of its denominator's
cohort; and the facts are derived again, since ``closed`` now ends an order's current spell of
handling (a rework reopens it) and ``late_from`` is the handling deadline of an order not answered
by it (the same rule as the 超期 list)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer
from piccolo.columns.indexes import IndexMethod
from piccolo.engine import engine_finder

ID = "2026-12-07T10:00:00:000078"
VERSION = "1.38.0"
DESCRIPTION = "report_daily: the cohort counts behind the rates; facts derived again."

COLUMNS = ("returned", "misrouted", "extended", "reworked", "called_back")
# both are derived: the next refresh rebuilds the facts from the audit trail, then the daily sums
STATEMENTS = ("DELETE FROM report_daily", "DELETE FROM report_state WHERE key = 'facts.last_event_id'")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    for name in COLUMNS:
        manager.add_column(
            table_class_name="ReportDaily", tablename="report_daily", column_name=name, db_column_name=name,
            column_class_name="Integer", column_class=Integer,
            params={"default": 0, "null": False, "primary_key": False, "unique": False, "index": False,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None, "secret": False},
            schema=None)

    async def rederive():
        for sql in STATEMENTS:
            await engine_finder().run_ddl(sql)

    manager.add_raw(rederive)
    return manager
