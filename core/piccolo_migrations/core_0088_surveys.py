"""满意率统计调查: the surveys a supervisor defines and each survey's call list of sampled orders.

The tables are created from snapshots of their classes as written with this migration (a later change
to ``core/tables.py`` cannot change what it does), so the column types are piccolo's own on both
backends; one order appears once on a survey's list.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import JSON, BigInt, Date, DoublePrecision, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.engine import engine_finder
from piccolo.table import Table

ID = "2026-12-07T10:00:00:000088"
VERSION = "1.38.0"
DESCRIPTION = "Satisfaction surveys and their call lists."


class Survey(Table, tablename="surveys"):
    title = Varchar(length=200)
    period_start = Date()
    period_end = Date()
    departments = JSON(default=[])
    channels = JSON(default=[])
    sample_size = Integer(null=True, default=None)
    sample_rate = DoublePrecision(null=True, default=None)
    seed = BigInt()
    questions = JSON(default=[])
    population = Integer(default=0)
    strata = JSON(default={})
    created_by = Varchar(length=128)
    created_at = Timestamptz(default=TimestamptzNow())


class SurveyCall(Table, tablename="survey_calls"):
    survey_id = Integer(index=True)
    order_id = BigInt(index=True)
    order_number = Varchar(length=32)
    stratum = Varchar(length=64, default="")
    status = Varchar(length=16, default="pending")
    attempts = Integer(default=0)
    retry_at = Timestamptz(null=True, default=None)
    satisfaction = Varchar(length=32, null=True, default=None)
    answers = JSON(default=[])
    note = Text(default="")
    called_by = Varchar(length=128, default="")
    answered_at = Timestamptz(null=True, default=None)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        for table in (Survey, SurveyCall):
            table._meta.db = engine  # the engine being migrated (a class remembers the first one)
            await table.create_table(if_not_exists=True)
        await engine.run_ddl("CREATE UNIQUE INDEX IF NOT EXISTS survey_calls_one_per_order "
                             "ON survey_calls (survey_id, order_number)")

    manager.add_raw(create)
    return manager
