"""The case keeps the order's id as a plain number instead of a foreign key to the core's orders.

SQLite cannot drop a constraint, so the table is rebuilt the same way on both backends: a new table,
the rows copied, the old table dropped and the new one renamed.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns import BigInt, Integer, Text, Timestamptz, Varchar
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

ID = "2026-11-28T23:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "safety_cases.order_id: a plain order id, no foreign key to the core's orders."

COLUMNS = ("result, findings, fine_yuan, accident_grade, verified_deaths, verified_by, verified_at, "
           "reward_status, reward_fen, reward_rule, reward_basis, calculated_by, calculated_at, approved_by, "
           "approved_at, paid_by, paid_at, payment_reference")


class Rebuilt(Table, tablename="safety_cases_rebuilt"):
    order_id = BigInt(unique=True, index=True)
    result = Varchar(length=16)
    findings = Text(default="")
    fine_yuan = BigInt(null=True, default=None)
    accident_grade = Varchar(length=32, null=True, default=None)
    verified_deaths = Integer(null=True, default=None)
    verified_by = Varchar(length=128)
    verified_at = Timestamptz()
    reward_status = Varchar(length=16, default="")
    reward_fen = BigInt(null=True, default=None)
    reward_rule = Varchar(length=64, default="")
    reward_basis = Text(default="")
    calculated_by = Varchar(length=128, default="")
    calculated_at = Timestamptz(null=True, default=None)
    approved_by = Varchar(length=128, default="")
    approved_at = Timestamptz(null=True, default=None)
    paid_by = Varchar(length=128, default="")
    paid_at = Timestamptz(null=True, default=None)
    payment_reference = Varchar(length=64, default="")


async def rebuild():
    Rebuilt._meta.db = engine_finder()  # the engine being migrated (a class remembers the first one)
    await Rebuilt.create_table()
    await Rebuilt.raw(f'INSERT INTO safety_cases_rebuilt (id, order_id, {COLUMNS}) '
                      f'SELECT id, "order", {COLUMNS} FROM safety_cases')
    await Rebuilt.raw("DROP TABLE safety_cases")
    await Rebuilt.raw("ALTER TABLE safety_cases_rebuilt RENAME TO safety_cases")
    if isinstance(Rebuilt._meta.db, PostgresEngine):  # the id sequence continues after the copied rows
        await Rebuilt.raw("SELECT setval(pg_get_serial_sequence('safety_cases', 'id'), "
                          "COALESCE((SELECT MAX(id) FROM safety_cases), 0) + 1, false)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="safety_reporting", description=DESCRIPTION)
    manager.add_raw(rebuild)
    return manager
