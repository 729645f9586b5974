"""The core's piccolo app: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from core.reports.tables import REPORT_TABLES
from core.tables import ALL_TABLES, CALENDAR_TABLES, TELEPHONY_TABLES, ConsoleSession, ReplyTemplate, SignInAddress

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[*ALL_TABLES, *REPORT_TABLES, ReplyTemplate, *CALENDAR_TABLES, ConsoleSession, SignInAddress,
                   *TELEPHONY_TABLES],
    migration_dependencies=[],
    commands=[],
)
