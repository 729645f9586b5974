"""Background jobs behind one small interface: in-process on the embedded default, arq with Redis.

A job is a plain ``async def run(platform) -> dict`` declared as a ``Job`` through the
``register_jobs`` hook (the core's built-ins and channels alike), with a cron-like schedule in
Beijing time. The same functions and schedules run in one of two modes:

* ``HUYING_REDIS_URL`` unset (embedded): the serving process runs them itself, on schedule and
  (for the outbox) soon after each commit. Every ``serve`` process delivers the outbox; the scheduled
  jobs run in one of them only, the holder of the ``scheduler`` lease (a row in ``job_leases``,
  renewed while it runs; another process takes it over once it lapses).
* ``HUYING_REDIS_URL`` set: ``huying worker`` runs them with arq (its cron with ``unique=True``, so
  several workers run a scheduled job once), and the API enqueues to Redis.

Every job is written to be safe to run twice or concurrently (messages are claimed in the database,
order changes go through the version check), so neither mode needs more than "at least once".
Only this module imports arq, so another Redis queue could replace it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from core import clock, notices
from core.calendar import SHANGHAI
from core.outbox import deliver_due

log = logging.getLogger(__name__)
POLL_SECONDS = 5
MAX_SLEEP_SECONDS = 30
LEASE_SECONDS = 120  # a scheduler that stops renewing (its process died) is replaced after this


class Job(msgspec.Struct, frozen=True, kw_only=True):
    """A background job: its name (``huying run-job NAME``), a Chinese label, the function and when
    it runs. ``minutes``/``hours`` are sets like cron's (Beijing time); ``None`` means every one."""

    name: str
    label: str
    run: Callable[[Any], Awaitable[Any]]
    minutes: frozenset[int] | None = frozenset({0})
    hours: frozenset[int] | None = None
    recorded: bool = True  # False for the outbox delivery, which runs every few seconds
    # set by the host for a plugin's job (not a built-in's): ``run`` gets the plugin's
    # ``PluginServices`` (core.services), never the platform
    gets_services: bool = False

    def due_at(self, moment: dt.datetime) -> bool:
        local = moment.astimezone(SHANGHAI)
        return ((self.minutes is None or local.minute in self.minutes)
                and (self.hours is None or local.hour in self.hours))

    def next_after(self, moment: dt.datetime) -> dt.datetime:
        """The next whole minute after ``moment`` the schedule names."""
        candidate = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        for _ in range(60 * 24 * 2):
            if self.due_at(candidate):
                return candidate
            candidate += dt.timedelta(minutes=1)
        raise ValueError(f"job {self.name!r} has a schedule that never fires")

    @property
    def schedule(self) -> str:
        def part(values):
            return "*" if values is None else ",".join(str(v) for v in sorted(values))
        return f"{part(self.minutes)} {part(self.hours)} * * *"


def collect_jobs(pm) -> dict[str, Job]:
    jobs: dict[str, Job] = {}
    for impl in reversed(pm.hook.register_jobs.get_hookimpls()):  # pluggy's order: the last registered first
        plugin = impl.plugin
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        builtin = module == "core" or module.startswith("core.")
        for job in impl.function() or ():
            if job.name in jobs:
                raise ValueError(f"job {job.name!r} is declared twice")
            jobs[job.name] = job if builtin else msgspec.structs.replace(job, gets_services=True)
    return jobs


async def run_job(platform, job: Job, *, mode: str) -> Any:
    """Run one job and keep the record of the run (what it found, or why it failed)."""
    from core.tables import JobRun

    given = platform.services if job.gets_services else platform
    if not job.recorded:
        return await job.run(given)
    started = clock.now()
    run_id = (await JobRun.insert(JobRun(name=job.name, mode=mode, started_at=started)))[0]["id"]
    try:
        result = await job.run(given)
    except Exception as exc:
        await JobRun.update({JobRun.finished_at: clock.now(),
                             JobRun.error: f"{type(exc).__name__}: {exc}"[:2000]}).where(JobRun.id == run_id)
        raise
    await JobRun.update({JobRun.finished_at: clock.now(), JobRun.ok: True,
                         JobRun.result: msgspec.to_builtins(result) if result is not None else {}}).where(
        JobRun.id == run_id)
    return result


async def deliver_outbox(platform) -> dict[str, int]:
    """Deliver what is due, counting the run; a run failing again and again goes into the fault log
    (whether the city platform takes its pushes is the city sync's own job, ``city_watch``)."""
    from core.metrics import JOB_RUNS, OUTBOX_DELIVERIES

    try:
        counts = await deliver_due(platform.deliverers, platform.settings, lease=platform.settings.outbox_lease,
                                   delivered=functools.partial(notices.published, platform.live))
    except Exception as exc:
        JOB_RUNS.labels("deliver_outbox", "failed").inc()
        await _quietly(platform.job_watch.failed("deliver_outbox", f"{type(exc).__name__}: {exc}"))
        raise
    JOB_RUNS.labels("deliver_outbox", "succeeded").inc()
    for outcome, count in counts.items():
        if count:
            OUTBOX_DELIVERIES.labels(outcome).inc(count)
    await platform.job_watch.succeeded("deliver_outbox")
    return counts


async def hold_lease(name: str, holder: str, seconds: int = LEASE_SECONDS) -> bool:
    """Take or renew the lease ``name`` for ``holder``: true when it is ours (free, lapsed or already
    held by us), in one statement, so two processes asking at once never both get it."""
    from core.db import run
    from core.tables import JobLease

    now = int(clock.now().timestamp())
    rows = await run(JobLease._meta.db,
                     "INSERT INTO job_leases (name, holder, expires_at) VALUES ({}, {}, {}) "
                     "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at "
                     "WHERE job_leases.holder = excluded.holder OR job_leases.expires_at < {} RETURNING holder",
                     name, holder, now + seconds, now)
    return bool(rows) and rows[0]["holder"] == holder


async def _quietly(awaitable) -> None:
    """Recording an incident must not hide the failure being recorded (the database may be down)."""
    try:
        await awaitable
    except Exception:
        log.exception("could not record the incident")


class InProcessJobs:
    """Runs every job in the serving process: the outbox every few seconds and soon after a commit,
    the others on their schedules."""

    mode = "in_process"

    def __init__(self, platform):
        import secrets

        self.platform = platform
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._running: set[asyncio.Task] = set()
        self.holder = f"{__import__('os').getpid()}-{secrets.token_hex(6)}"

    def kick(self) -> None:
        self._wake.set()

    def enqueue(self, name: str) -> None:
        task = asyncio.get_running_loop().create_task(
            run_job(self.platform, self.platform.jobs[name], mode=self.mode))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _outbox_loop(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await deliver_outbox(self.platform)
            except Exception:  # keep the loop alive; the messages stay in the outbox
                log.exception("outbox delivery failed")

    async def _is_scheduler(self) -> bool:
        """Only the holder of the scheduler lease runs the schedule (``serve --workers N`` without
        Redis: one process trains the models, sweeps and checks, not N of them)."""
        try:
            return await hold_lease("scheduler", self.holder)
        except Exception:  # the database is away: nobody runs the schedule until it is back
            log.warning("could not renew the scheduler lease", exc_info=True)
            return False

    async def _schedule_loop(self) -> None:
        jobs = [j for j in self.platform.jobs.values() if j.name != "deliver_outbox"]
        now = clock.now()
        upcoming = {job.name: job.next_after(now) for job in jobs}
        while jobs:
            now = clock.now()
            due = [job for job in jobs if upcoming[job.name] <= now]
            for job in due:
                upcoming[job.name] = job.next_after(now)
            if due and not await self._is_scheduler():
                due = []  # another process holds the schedule
            for job in due:
                try:
                    await run_job(self.platform, job, mode=self.mode)
                except Exception:  # recorded in job_runs; the next run tries again
                    log.exception("job %s failed", job.name)
            wait = min(upcoming.values()) - clock.now()
            await asyncio.sleep(min(max(wait.total_seconds(), 0.5), MAX_SLEEP_SECONDS))

    async def start(self) -> None:
        self._tasks = [asyncio.create_task(self._outbox_loop()), asyncio.create_task(self._schedule_loop())]

    async def stop(self) -> None:
        for task in [*self._tasks, *self._running]:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ArqJobs:
    """Enqueues jobs for ``huying worker`` processes through Redis."""

    mode = "arq"

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

    def enqueue(self, name: str) -> None:
        self._pending = asyncio.get_running_loop().create_task(self._enqueue(name))

    async def _enqueue(self, name: str = "deliver_outbox") -> None:
        try:
            if await self._connect():
                # one queued delivery at a time is enough: it takes every due message
                job_id = name if name == "deliver_outbox" else None
                await self._pool.enqueue_job(name, _job_id=job_id)
        except Exception:  # Redis down: the worker's cron picks the work up later
            log.warning("could not enqueue job %s", name, exc_info=True)

    async def stop(self) -> None:
        if self._pending is not None:
            with contextlib.suppress(Exception):
                await self._pending
        if self._pool is not None:
            await self._pool.aclose()


def make_jobs(platform):
    return ArqJobs(platform) if platform.settings.redis_url else InProcessJobs(platform)


def worker_settings(platform, *, burst: bool = False):
    """arq ``WorkerSettings`` for ``huying worker``: every declared job, each also on its cron."""
    from arq import cron, func
    from arq.connections import RedisSettings

    async def startup(ctx):
        await platform.start()
        ctx["platform"] = platform

    async def shutdown(ctx):
        await platform.stop()

    functions, crons = [], []
    for job in platform.jobs.values():
        async def task(ctx, _job=job):
            return await run_job(ctx["platform"], _job, mode="arq")

        task.__qualname__ = task.__name__ = job.name
        # the delivery is enqueued under one id so that one queued run serves every commit; keeping
        # no result frees that id the moment a run ends, so the next commit can queue the next run
        functions.append(func(task, name=job.name, keep_result=0) if job.name == "deliver_outbox" else task)
        if job.name == "deliver_outbox":  # also each minute, so nothing waits on a lost enqueue
            crons.append(cron(task, name=f"cron:{job.name}", second={0}, unique=True, run_at_startup=True))
        else:
            crons.append(cron(task, name=f"cron:{job.name}", hour=set(job.hours) if job.hours is not None else None,
                              minute=set(job.minutes) if job.minutes is not None else None,
                              second={0}, unique=True))
    return {
        "functions": functions,
        "cron_jobs": crons,
        "on_startup": startup,
        "on_shutdown": shutdown,
        "redis_settings": RedisSettings.from_dsn(platform.settings.redis_url),
        "burst": burst,
        "poll_delay": 0.5,
        "max_tries": 5,
        "timezone": SHANGHAI,  # schedules are in Beijing time
    }
