"""The recheck line's piccolo app: its rechecks and imports tables and their migration."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from plugins.city_recheck.tables import Recheck, RecheckImport

APP_CONFIG = AppConfig(
    app_name="city_recheck",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=[Recheck, RecheckImport],
    migration_dependencies=["core.piccolo_app"],
)
