"""The knowledge base's and the suggestion models' periodic work as jobs of the core: remind
departments of answers about to lapse (hourly; once per expiry date), and learn new dispatch and
category models from history (daily at 03:00 Beijing time)."""

from __future__ import annotations

from core.hookspecs import hookimpl
from core.jobs import Job


async def remind_expiring_knowledge(platform) -> dict:
    return {"reminded": await platform.knowledge.remind_expiring()}


async def retrain_dispatch(platform) -> dict:
    from core.suggestions import TARGETS, train

    results = [await train(target, keep=platform.settings.dispatch_models_kept) for target in TARGETS]
    await platform.orders.learned.refresh(force=True)
    return {r["target"]: r.get("version") for r in results}


@hookimpl
def register_jobs():
    return [Job(name="remind_expiring_knowledge", label="知识到期提醒", run=remind_expiring_knowledge,
                minutes=frozenset({5})),
            Job(name="retrain_dispatch", label="重新训练派单建议模型", run=retrain_dispatch,
                minutes=frozenset({0}), hours=frozenset({3}))]
