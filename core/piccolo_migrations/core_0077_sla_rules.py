"""The centre's own time limits (时限规则) per channel, the audit trail of settings, and on each order
the limits it was received under (null for earlier orders: they count by the plugins' declarations)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import JSON, DoublePrecision, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-29T08:00:00:000077"
VERSION = "1.38.0"
DESCRIPTION = "Time limits set by the centre, the settings audit trail, each order's limits at intake."

# (table class, table, column, class, params, unique, index)
COLUMNS = (
    ("SlaRule", "sla_rules", "key", Varchar, {"length": 160, "default": ""}, True, False),
    ("SlaRule", "sla_rules", "channel", Varchar, {"length": 64, "default": ""}, False, False),
    ("SlaRule", "sla_rules", "rule", Varchar, {"length": 32, "default": ""}, False, False),
    ("SlaRule", "sla_rules", "kind", Varchar, {"length": 32, "default": ""}, False, False),
    ("SlaRule", "sla_rules", "value", DoublePrecision, {"default": 0.0}, False, False),
    ("SlaRule", "sla_rules", "reason", Text, {"default": ""}, False, False),
    ("SlaRule", "sla_rules", "updated_by", Varchar, {"length": 128, "default": ""}, False, False),
    ("SlaRule", "sla_rules", "updated_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("SettingChange", "setting_changes", "setting", Varchar, {"length": 64, "default": ""}, False, True),
    ("SettingChange", "setting_changes", "scope", Varchar, {"length": 64, "default": ""}, False, False),
    ("SettingChange", "setting_changes", "item", Varchar, {"length": 128, "default": ""}, False, False),
    ("SettingChange", "setting_changes", "old_value", JSON, {"default": None, "null": True}, False, False),
    ("SettingChange", "setting_changes", "new_value", JSON, {"default": None, "null": True}, False, False),
    ("SettingChange", "setting_changes", "reason", Text, {"default": ""}, False, False),
    ("SettingChange", "setting_changes", "actor", Varchar, {"length": 128, "default": ""}, False, False),
    ("SettingChange", "setting_changes", "role", Varchar, {"length": 32, "default": ""}, False, False),
    ("SettingChange", "setting_changes", "created_at", Timestamptz, {"default": TimestamptzNow()}, False, False),
    ("Order", "orders", "sla_limits", JSON, {"default": None, "null": True}, False, False),
)


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)
    manager.add_table(class_name="SlaRule", tablename="sla_rules", schema=None, columns=None)
    manager.add_table(class_name="SettingChange", tablename="setting_changes", schema=None, columns=None)
    for class_name, table, name, column_class, params, unique, index in COLUMNS:
        manager.add_column(
            table_class_name=class_name,
            tablename=table,
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params={"null": False, **params, "primary_key": False, "unique": unique, "index": index,
                    "index_method": IndexMethod.btree, "choices": None, "db_column_name": None,
                    "secret": False},
            schema=None,
        )
    return manager
