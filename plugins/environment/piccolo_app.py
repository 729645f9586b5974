"""The environment line's piccolo app: its index of reported sources and its migration."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from plugins.environment.tables import SourceReport

APP_CONFIG = AppConfig(
    app_name="environment",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[SourceReport],
    migration_dependencies=["core.piccolo_app"],
)
