"""The enterprise-help channel's piccolo app: its visits table and migrations."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from plugins.enterprise_help.tables import Visit

APP_CONFIG = AppConfig(
    app_name="enterprise_help",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Visit],
    migration_dependencies=["core.piccolo_app"],
)
