"""Background jobs behind one small interface: in-process on the embedded default, arq with Redis.

Only this module imports arq, so another Redis queue could replace it. The one core job delivers the
outbox; it is idempotent (messages are claimed in the database), so running it from a cron, after a
commit and on several workers at once is safe.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import contextlib
import logging

from core.outbox import deliver_due

log = logging.getLogger(__name__)
POLL_SECONDS = 5


async def deliver_outbox(platform) -> dict[str, int]:
    return await deliver_due(platform.deliverers, platform.settings)


async def remind_expiring_knowledge(platform) -> int:
    """Knowledge answers about to lapse: one reminder per expiry date, through the outbox."""
    return await platform.knowledge.remind_expiring()


async def retrain_dispatch(platform, *, max_age: dt.timedelta | None = None) -> list[dict]:
    """Learn new suggestion models from history (only when the newest is older than ``max_age``)."""
    from core.suggestions import TARGETS, train
    from core.tables import DispatchModel

    if max_age is not None:
        newest = await DispatchModel.select(DispatchModel.trained_at).order_by(
            DispatchModel.trained_at, ascending=False).first()
        if newest and newest["trained_at"] > dt.datetime.now(dt.timezone.utc) - max_age:
            return []
    results = [await train(target) for target in TARGETS]
    await platform.orders.learned.refresh(force=True)
    return results


HOURLY = 3600
FIRST_PERIODIC_RUN = 600
RETRAIN_EVERY = dt.timedelta(days=1)


class InProcessJobs:
    """Runs the outbox delivery in the serving process: every few seconds, and soon after a commit."""

    def __init__(self, platform):
        self.platform = platform
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None

    def kick(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await deliver_outbox(self.platform)
            except Exception:  # keep the loop alive; the messages stay in the outbox
                log.exception("outbox delivery failed")

    async def _hourly(self) -> None:
        await asyncio.sleep(FIRST_PERIODIC_RUN)  # never compete with start-up (training is CPU work)
        while True:
            for job in (remind_expiring_knowledge, lambda p: retrain_dispatch(p, max_age=RETRAIN_EVERY)):
                try:
                    await job(self.platform)
                except Exception:  # the next hour tries again
                    log.exception("periodic job failed")
            await asyncio.sleep(HOURLY)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())
        self._periodic = asyncio.create_task(self._hourly())

    async def stop(self) -> None:
        if getattr(self, "_periodic", None):
            self._periodic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._periodic
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class ArqJobs:
    """Enqueues jobs for ``huying worker`` processes through Redis."""

    def __init__(self, platform):
        self.platform = platform
        self._pool = None
        self._pending: asyncio.Task | None = None

    async def start(self) -> None:
        """Connect if Redis is there; if not, the API still serves and the worker's cron catches up."""
        await self._connect()

    async def _connect(self) -> bool:
        from arq import create_pool
        from arq.connections import RedisSettings

        if self._pool is None:
            settings = RedisSettings.from_dsn(self.platform.settings.redis_url)
            settings.conn_retries = 0
            try:
                self._pool = await create_pool(settings)
            except Exception:
                log.warning("Redis is not reachable; outbox delivery waits for the worker's cron")
        return self._pool is not None

    def kick(self) -> None:
        self._pending = asyncio.get_running_loop().create_task(self._enqueue())

    async def _enqueue(self) -> None:
        try:
            if await self._connect():
                await self._pool.enqueue_job("deliver_outbox", _job_id="deliver_outbox")
        except Exception:  # Redis down: the worker's cron picks the messages up later
            log.warning("could not enqueue outbox delivery", exc_info=True)

    async def stop(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()


def make_jobs(platform):
    return ArqJobs(platform) if platform.settings.redis_url else InProcessJobs(platform)


def worker_settings(platform, *, burst: bool = False):
    """arq ``WorkerSettings`` for ``huying worker``: the outbox job, also run every minute by cron."""
    from arq import cron
    from arq.connections import RedisSettings

    async def startup(ctx):
        await platform.start()
        ctx["platform"] = platform

    async def shutdown(ctx):
        await platform.stop()

    async def deliver_outbox_job(ctx):
        return await deliver_outbox(ctx["platform"])

    deliver_outbox_job.__qualname__ = deliver_outbox_job.__name__ = "deliver_outbox"

    async def remind_knowledge_job(ctx):
        return await remind_expiring_knowledge(ctx["platform"])

    async def retrain_dispatch_job(ctx):
        return await retrain_dispatch(ctx["platform"])

    remind_knowledge_job.__qualname__ = remind_knowledge_job.__name__ = "remind_expiring_knowledge"
    retrain_dispatch_job.__qualname__ = retrain_dispatch_job.__name__ = "retrain_dispatch"

    return {
        "functions": [deliver_outbox_job, remind_knowledge_job, retrain_dispatch_job],
        "cron_jobs": [cron(deliver_outbox_job, second={0}, unique=True, run_at_startup=True),
                      cron(remind_knowledge_job, minute={5}, second={0}, unique=True),
                      cron(retrain_dispatch_job, hour={19}, minute={0}, second={0}, unique=True,
                           timeout=3600)],  # 03:00 in Shanghai
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(platform.settings.redis_url),
        "burst": burst,
        "poll_delay": 0.5,
        "max_tries": 5,
    }
