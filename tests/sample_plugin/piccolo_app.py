from pathlib import Path

from piccolo.columns import Varchar
from piccolo.conf.apps import AppConfig
from piccolo.table import Table


class TowRecord(Table, tablename="parking_tow_records"):
    plate = Varchar(length=16)


APP_CONFIG = AppConfig(app_name="parking", migrations_folder_path=str(Path(__file__).parent / "migrations"),
                       table_classes=[TowRecord], migration_dependencies=["core.piccolo_app"])
