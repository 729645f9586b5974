"""The supervisor's home counts its queues (超期, 临期, 督办未回复, 群体性事件, 重复来电) over the few
thousand open orders on every view; each count read every open order's row for one column (at_risk_at,
supervisions, flags, citizen_phone), about 7 ms apiece at 410,000 orders. One index by status and
deadline carrying those columns answers them all from the index (under 1 ms each).

On PostgreSQL the JSON columns stay out of the index: a B-tree entry is limited to about 2.7 kB and an
order's 督办 history has no such bound, so the index there carries the deadline columns only."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T06:00:00:000075"
VERSION = "1.38.0"
DESCRIPTION = "Open orders by status and deadline, covering the supervisor's queue counts."

SQLITE = ("CREATE INDEX IF NOT EXISTS orders_open_queues "
          "ON orders (status, due_at, at_risk_at, citizen_phone, flags, supervisions)")
POSTGRES = ("CREATE INDEX IF NOT EXISTS orders_open_queues "
            "ON orders (status, due_at, at_risk_at) INCLUDE (citizen_phone)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        await engine.run_ddl(POSTGRES if engine.engine_type == "postgres" else SQLITE)

    manager.add_raw(create)
    return manager
