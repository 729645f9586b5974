"""The people who answer: training records and the 已培训上岗 flag (every account that exists now
counts as trained), teams (班组) with their shift patterns, leave, rotas and their changes, quality
inspection (质检: checklist, sampling rule, samples; an empty checklist, shift or rule table
means the defaults in ``core/people``) and one audit trail for all of it."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-07T10:00:00:000087"
VERSION = "1.38.0"
DESCRIPTION = "Training, teams, shifts, leave, rotas, quality inspection."

ID_COLUMN = {"postgres": "id SERIAL PRIMARY KEY", "sqlite": "id INTEGER PRIMARY KEY AUTOINCREMENT"}
NOW = "TIMESTAMPTZ NOT NULL DEFAULT CURRENT_TIMESTAMP"
STATEMENTS = (
    "ALTER TABLE users ADD COLUMN trained BOOLEAN NOT NULL DEFAULT FALSE",
    "UPDATE users SET trained = TRUE",  # accounts from before training was recorded count as trained
    "CREATE TABLE IF NOT EXISTS training_sessions ({id}, course VARCHAR(100) NOT NULL DEFAULT '', "
    "kind VARCHAR(16) NOT NULL DEFAULT '', held_on DATE NOT NULL, place VARCHAR(128) NOT NULL DEFAULT '', "
    "audience VARCHAR(16) NOT NULL DEFAULT '', created_by VARCHAR(128) NOT NULL DEFAULT '', created_at " + NOW + ")",
    "CREATE TABLE IF NOT EXISTS training_records ({id}, username VARCHAR(64) NOT NULL DEFAULT '', "
    "course VARCHAR(100) NOT NULL DEFAULT '', session_id INTEGER NULL DEFAULT NULL, "
    "passed BOOLEAN NOT NULL DEFAULT FALSE, recorded_by VARCHAR(128) NOT NULL DEFAULT '', created_at " + NOW + ")",
    "CREATE INDEX IF NOT EXISTS training_records_username ON training_records (username)",
    "CREATE TABLE IF NOT EXISTS teams ({id}, name VARCHAR(64) NOT NULL UNIQUE, "
    "leader VARCHAR(64) NULL DEFAULT NULL, created_at " + NOW + ")",
    "CREATE TABLE IF NOT EXISTS team_members ({id}, username VARCHAR(64) NOT NULL UNIQUE, "
    "team_id INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS shift_patterns ({id}, code VARCHAR(16) NOT NULL UNIQUE, "
    "name VARCHAR(32) NOT NULL DEFAULT '', starts_minute INTEGER NOT NULL DEFAULT 0, "
    "minutes INTEGER NOT NULL DEFAULT 480, active BOOLEAN NOT NULL DEFAULT TRUE)",
    "CREATE TABLE IF NOT EXISTS staff_leave ({id}, username VARCHAR(64) NOT NULL DEFAULT '', "
    "first_day DATE NOT NULL, last_day DATE NOT NULL, kind VARCHAR(16) NOT NULL DEFAULT '', "
    "note VARCHAR(255) NOT NULL DEFAULT '', recorded_by VARCHAR(128) NOT NULL DEFAULT '', created_at " + NOW + ")",
    "CREATE INDEX IF NOT EXISTS staff_leave_username ON staff_leave (username)",
    "CREATE TABLE IF NOT EXISTS rotas ({id}, month VARCHAR(7) NOT NULL DEFAULT '', "
    "status VARCHAR(16) NOT NULL DEFAULT 'draft', rules JSON NOT NULL DEFAULT '{{}}', "
    "demand JSON NOT NULL DEFAULT '{{}}', gaps JSON NOT NULL DEFAULT '[]', "
    "solve_seconds DOUBLE PRECISION NOT NULL DEFAULT 0, created_by VARCHAR(128) NOT NULL DEFAULT '', "
    "created_at " + NOW + ", published_by VARCHAR(128) NOT NULL DEFAULT '', published_at TIMESTAMPTZ NULL DEFAULT NULL)",
    "CREATE INDEX IF NOT EXISTS rotas_month ON rotas (month)",
    "CREATE TABLE IF NOT EXISTS rota_shifts ({id}, rota_id INTEGER NOT NULL DEFAULT 0, day DATE NOT NULL, "
    "shift VARCHAR(16) NOT NULL DEFAULT '', username VARCHAR(64) NOT NULL DEFAULT '')",
    "CREATE UNIQUE INDEX IF NOT EXISTS rota_shifts_person_day ON rota_shifts (rota_id, username, day)",
    "CREATE TABLE IF NOT EXISTS qa_items ({id}, code VARCHAR(32) NOT NULL UNIQUE, "
    "name VARCHAR(64) NOT NULL DEFAULT '', points INTEGER NOT NULL DEFAULT 0, "
    "guidance VARCHAR(255) NOT NULL DEFAULT '', sort INTEGER NOT NULL DEFAULT 0, active BOOLEAN NOT NULL DEFAULT TRUE)",
    "CREATE TABLE IF NOT EXISTS qa_rules ({id}, share DOUBLE PRECISION NOT NULL DEFAULT 0.05, "
    "bad_ratings BOOLEAN NOT NULL DEFAULT TRUE, returns BOOLEAN NOT NULL DEFAULT TRUE, "
    "updated_by VARCHAR(128) NOT NULL DEFAULT '', updated_at " + NOW + ")",
    "CREATE TABLE IF NOT EXISTS qa_samples ({id}, order_id BIGINT NOT NULL UNIQUE, "
    "order_number VARCHAR(32) NOT NULL DEFAULT '', agent VARCHAR(64) NOT NULL DEFAULT '', "
    "reason VARCHAR(16) NOT NULL DEFAULT '', received_at TIMESTAMPTZ NOT NULL, drawn_at " + NOW + ", "
    "status VARCHAR(16) NOT NULL DEFAULT 'pending', score DOUBLE PRECISION NULL DEFAULT NULL, "
    "deductions JSON NOT NULL DEFAULT '{{}}', comment TEXT NOT NULL DEFAULT '', "
    "inspector VARCHAR(64) NOT NULL DEFAULT '', scored_at TIMESTAMPTZ NULL DEFAULT NULL, "
    "appeal TEXT NOT NULL DEFAULT '', appealed_at TIMESTAMPTZ NULL DEFAULT NULL, "
    "ruling TEXT NOT NULL DEFAULT '', ruled_by VARCHAR(64) NOT NULL DEFAULT '', ruled_at TIMESTAMPTZ NULL DEFAULT NULL)",
    "CREATE INDEX IF NOT EXISTS qa_samples_agent ON qa_samples (agent, received_at)",
    "CREATE TABLE IF NOT EXISTS staff_events ({id}, subject VARCHAR(64) NOT NULL DEFAULT '', "
    "action VARCHAR(32) NOT NULL DEFAULT '', actor VARCHAR(128) NOT NULL DEFAULT '', "
    "role VARCHAR(32) NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '', detail JSON NOT NULL DEFAULT '{{}}', "
    "created_at " + NOW + ")",
    "CREATE INDEX IF NOT EXISTS staff_events_subject ON staff_events (subject)",
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        id_column = ID_COLUMN["postgres" if engine.engine_type == "postgres" else "sqlite"]
        for sql in STATEMENTS:
            await engine.run_ddl(sql.format(id=id_column) if "{id}" in sql else sql)

    manager.add_raw(create)
    return manager
