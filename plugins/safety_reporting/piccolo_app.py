"""The piccolo app of 安全生产有奖举报: its table and migrations, applied after the core's."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from plugins.safety_reporting.tables import SafetyCase, SafetyRectification, SafetyReinspection

APP_CONFIG = AppConfig(
    app_name="safety_reporting",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[SafetyCase, SafetyRectification, SafetyReinspection],
    migration_dependencies=["core.piccolo_app"],
    commands=[],
)
