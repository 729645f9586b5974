"""A department's reply template names are unique (two staff adding the same name at once: one wins)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-29T04:00:01:000073"
VERSION = "1.38.0"
DESCRIPTION = "Reply template names unique within a department."


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS reply_templates_department_name ON reply_templates (department, name)")

    manager.add_raw(create)
    return manager
