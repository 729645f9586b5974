"""The management desk: how far each member of staff has read their notices (the console's count of
new ones); departments with aliases, contacts and whether they still take new orders; the fault log's
reporter and its history of updates (appended, never overwritten); the monthly inspections kept."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T10:00:00:000086"
VERSION = "1.38.0"
DESCRIPTION = "Notices read; departments' aliases, contacts, active; incident updates; inspections."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
STATEMENTS = (
    "CREATE TABLE IF NOT EXISTS notice_reads ({id}, username VARCHAR(64) NOT NULL UNIQUE, "
    "last_seen BIGINT NOT NULL DEFAULT 0)",
    "ALTER TABLE departments ADD COLUMN aliases JSON NOT NULL DEFAULT '[]'",
    "ALTER TABLE departments ADD COLUMN contacts JSON NOT NULL DEFAULT '[]'",
    "ALTER TABLE departments ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE",
    "ALTER TABLE incidents ADD COLUMN reported_by VARCHAR(128) NOT NULL DEFAULT ''",
    "CREATE TABLE IF NOT EXISTS incident_updates ({id}, incident_id INTEGER NOT NULL, kind VARCHAR(16) NOT NULL, "
    "text TEXT NOT NULL DEFAULT '', author VARCHAR(128) NOT NULL DEFAULT '', created_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS incident_updates_incident ON incident_updates (incident_id)",
    "CREATE TABLE IF NOT EXISTS inspections ({id}, month VARCHAR(7) NOT NULL, outcome VARCHAR(16) NOT NULL, "
    "findings JSON NOT NULL DEFAULT '[]', ran_by VARCHAR(128) NOT NULL DEFAULT '', ran_at TIMESTAMPTZ NOT NULL)",
    "CREATE INDEX IF NOT EXISTS inspections_month ON inspections (month)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        id_column = ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]
        for sql in STATEMENTS:
            await engine.run_ddl(sql.format(id=id_column))

    manager.add_raw(create)
    return manager
