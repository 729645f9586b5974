"""Early warnings and knowledge reminders became staff notices (``core.notices``): messages still
waiting under the two old topics are rewritten as notices, so none is left without a deliverer."""

import json

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder
from piccolo.querystring import QueryString

ID = "2026-11-29T03:50:00:000071"
VERSION = "1.38.0"
DESCRIPTION = "Pending warning and knowledge messages become staff notices."


def as_notice(topic: str, payload: dict) -> dict:
    if topic == "warning.notify":
        return {"to": "role:supervisor", "template": "warning",
                **{k: payload.get(k, "") for k in ("warning", "kind", "title", "explanation")}}
    return {"to": f"department:{payload.get('department', '')}", "template": "knowledge_expiring",
            **{k: payload.get(k, "") for k in ("article", "department", "question", "valid_until")}}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def rewrite():
        engine = engine_finder()
        waiting = await engine.run_querystring(QueryString(
            "SELECT id, topic, payload FROM outbox WHERE topic IN ('warning.notify', 'knowledge.expiring') "
            "AND delivered_at IS NULL AND abandoned_at IS NULL"))
        for row in waiting:
            payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
            await engine.run_querystring(QueryString(
                "UPDATE outbox SET topic = 'notify.staff', payload = {} WHERE id = {}",
                json.dumps(as_notice(row["topic"], payload), ensure_ascii=False), row["id"]))

    manager.add_raw(rewrite)
    return manager
