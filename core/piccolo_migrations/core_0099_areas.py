"""The list of 湘江新区's streets and towns an order's 街道 is chosen from; orders and routing rules
already recorded with a part of a street's name (梅溪湖) are filed under its name (梅溪湖街道), and the
report facts are recomputed, so the statistics count each street once."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T23:40:00:000099"
VERSION = "1.38.0"
DESCRIPTION = "Streets and towns (街道、乡镇) as a list; recorded areas filed under their names."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
CREATE = ("CREATE TABLE IF NOT EXISTS areas ({id}, name VARCHAR(64) NOT NULL UNIQUE, "
          "aliases VARCHAR(255) NOT NULL DEFAULT '', sort INTEGER NOT NULL DEFAULT 0, "
          "active BOOLEAN NOT NULL DEFAULT TRUE)")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        from core.areas import listed, resolve, seed_if_empty
        from core.tables import Order, RoutingRule

        engine = engine_finder()
        await engine.run_ddl(CREATE.format(id=ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]))
        await seed_if_empty(engine)
        areas = await listed()
        changed = False
        for table in (Order, RoutingRule):
            for row in await table.select(table.area).distinct():
                typed = row["area"] or ""
                found, _ = resolve(typed, areas)
                if found and found != typed:
                    await table.update({table.area: found}).where(table.area == typed)
                    changed = changed or table is Order
        if changed:  # the facts copy each order's area: fold everything in again on the next refresh
            await engine.run_ddl("DELETE FROM report_state WHERE key = 'facts.last_event_id'")

    manager.add_raw(create)
    return manager
