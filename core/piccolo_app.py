"""The core's piccolo app: its tables and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from core.reports.tables import REPORT_TABLES
from core.tables import (ALL_TABLES, CALENDAR_TABLES, MEETING_TABLES, PEOPLE_TABLES, TELEPHONY_TABLES, AssistingPart,
                         ConsoleSession, IncidentUpdate, Inspection, Netboard, NoticeRead, ReplyTemplate,
                         RETENTION_TABLES, ReportTemplate, SignInAddress, Survey, SurveyCall)

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[*ALL_TABLES, *REPORT_TABLES, ReplyTemplate, *CALENDAR_TABLES, ConsoleSession, SignInAddress,
                   Survey, SurveyCall, *MEETING_TABLES, Netboard, AssistingPart, NoticeRead, IncidentUpdate,
                   Inspection, *PEOPLE_TABLES, *TELEPHONY_TABLES, ReportTemplate, *RETENTION_TABLES],
    migration_dependencies=[],
    commands=[],
)
