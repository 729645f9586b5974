"""Background jobs: the outbox is delivered by an arq worker through real Redis, and nothing is lost
while Redis or the remote side is down. Runs whenever Redis is reachable; in CI it must be."""

from __future__ import annotations

import asyncio
import datetime as dt
import os

import pytest

from core.city import CITY
from core.hookspecs import hookimpl
from core.jobs import ArqJobs, InProcessJobs, deliver_outbox, worker_settings
from core.model import Actor
from core.outbox import deliver_due
from core.platform import Platform
from core.plugins import get_plugin_manager
from core.tables import OutboxMessage
from tests.helpers import clean, clock_env, intake_body, seed_staff, undelivered_due

REDIS_URL = os.environ.get("HUYING_TEST_REDIS_URL")
if os.environ.get("CI") == "true" and not REDIS_URL:
    raise RuntimeError("CI=true but HUYING_TEST_REDIS_URL is not set: Redis must be tested")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="Redis is not reachable here (set HUYING_TEST_REDIS_URL)")


class Sms:
    """A channel whose every step sends a text message to the citizen."""

    def __init__(self):
        self.sent: list[dict] = []

    @hookimpl
    def register_channel(self):
        from core.channels import Channel

        return Channel(code="sms_line", name="短信专线", description="测试用")

    @hookimpl
    def on_transition(self, channel, order, event, outbox):
        outbox.send("sms", {"number": order.number, "status": event.to_status})

    @hookimpl
    def outbox_deliverers(self):
        async def deliver(message, settings):
            self.sent.append(message["payload"])
        return {"sms": deliver}


@pytest.fixture
async def sms_platform(migrated):
    import msgspec

    plugin = Sms()
    platform = Platform(msgspec.structs.replace(migrated, redis_url=REDIS_URL), pm=get_plugin_manager(extra=[plugin]))
    await platform.start()
    await clean(platform)
    await platform.start()
    await seed_staff()
    platform.plugin = plugin
    yield platform
    await platform.stop()


async def _intake(platform):
    import msgspec

    from core.orders import IntakeRequest

    _, order = await platform.orders.intake("sms_line", msgspec.convert(intake_body(), IntakeRequest),
                                            Actor(name="agent1", role="agent"))
    return order.number


async def test_messages_wait_in_the_outbox_until_a_job_delivers_them(sms_platform):
    number = await _intake(sms_platform)
    assert sms_platform.plugin.sent == []
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()
                                             & (OutboxMessage.topic == "sms")) == 1
    # the core's receipt SMS was recorded with the intake (no gateway): only the plugin's message waits
    assert await deliver_outbox(sms_platform) == {"delivered": 1, "failed": 0}
    assert sms_platform.plugin.sent == [{"number": number, "status": "received"}]
    assert await deliver_outbox(sms_platform) == {"delivered": 0, "failed": 0}  # never twice


async def test_the_in_process_runner_delivers_soon_after_a_commit(sms_platform):
    import asyncio

    jobs = InProcessJobs(sms_platform)
    await jobs.start()
    sms_platform.orders.outbox_written = jobs.kick
    try:
        await _intake(sms_platform)
        for _ in range(100):
            if sms_platform.plugin.sent:
                break
            await asyncio.sleep(0.02)
    finally:
        await jobs.stop()
    assert len(sms_platform.plugin.sent) == 1


async def test_an_unknown_topic_is_kept_with_the_reason(sms_platform):
    from core.outbox import Outbox

    outbox = Outbox("XJ1")
    outbox.send("fax", {"to": "x"})
    await outbox.write(sms_platform.orders.clock())
    result = await deliver_due({}, sms_platform.settings)
    assert result == {"delivered": 0, "failed": 1}
    assert "no deliverer" in (await OutboxMessage.select().first())["last_error"]


@needs_redis
async def test_an_arq_worker_delivers_the_outbox_through_redis(sms_platform):
    from arq.worker import Worker

    jobs = ArqJobs(sms_platform)
    await jobs.start()
    await jobs._pool.flushdb()
    number = await _intake(sms_platform)
    await jobs._enqueue()
    settings = worker_settings(sms_platform, burst=True)
    settings.update(cron_jobs=[], poll_delay=0)
    worker = Worker(**settings, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
        await jobs.stop()
    assert sms_platform.plugin.sent == [{"number": number, "status": "received"}]
    assert await undelivered_due() == 0  # the citizen's receipt is held a few minutes, not lost


@needs_redis
async def test_nothing_is_lost_while_redis_is_down(sms_platform):
    import msgspec

    down = Platform(msgspec.structs.replace(sms_platform.settings, redis_url="redis://127.0.0.1:1/0"),
                    pm=sms_platform.pm)
    jobs = ArqJobs(down)
    await jobs.start()  # Redis unreachable: the API still starts and takes requests …
    number = await _intake(sms_platform)
    jobs.kick()  # … and asking for delivery is a no-op rather than an error
    await jobs._pending
    assert await undelivered_due() == 1
    assert await deliver_outbox(sms_platform) == {"delivered": 1, "failed": 0}  # the cron catches up
    assert sms_platform.plugin.sent[-1]["number"] == number


# -- a worker that dies mid-delivery ---------------------------------------------------------------------

async def _city_transfer(platform, city_url: str, lease_seconds: int) -> tuple[str, int]:
    """A transferred order whose first status message is waiting; settings point at the city."""
    import msgspec

    from core.orders import IntakeRequest

    platform.settings = msgspec.structs.replace(platform.settings, city_platform_url=city_url,
                                                outbox_lease_seconds=lease_seconds)
    request = msgspec.convert(intake_body(source="city_transfer", external_id="SZ-KILL-1"), IntakeRequest)
    _, order = await platform.orders.intake("hotline", request, CITY)  # the city's numbers are its own
    message = await OutboxMessage.select().where(OutboxMessage.topic == "city_platform.status").first()
    return order.number, message["id"]


async def _until(predicate, seconds: float = 60) -> None:
    import asyncio

    for _ in range(int(seconds * 10)):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def _delivered(message_id: int) -> bool:
    row = await OutboxMessage.select(OutboxMessage.delivered_at).where(OutboxMessage.id == message_id).first()
    return row["delivered_at"] is not None


async def test_a_delivery_cut_off_in_process_is_sent_again_with_the_same_id(platform):
    import asyncio

    from tests.city_server import CityServer

    city = CityServer()
    await city.start()
    try:
        _, message_id = await _city_transfer(platform, city.url, lease_seconds=1)
        city.hang.set()
        jobs = InProcessJobs(platform)
        await jobs.start()
        jobs.kick()

        async def seen():
            return bool(city.seen_while_hanging)

        await _until(seen)
        await jobs.stop()  # the process goes away mid-request
        assert not await _delivered(message_id)
        city.hang.clear()
        await asyncio.sleep(1.1)  # the dead runner's claim expires
        jobs = InProcessJobs(platform)
        await jobs.start()
        jobs.kick()
        try:
            await _until(lambda: _delivered(message_id))
        finally:
            await jobs.stop()
    finally:
        await city.stop()
    assert city.seen_while_hanging == [f"huying-outbox-{message_id}"]
    assert [key for _, key in city.received] == [f"huying-outbox-{message_id}"]


@needs_redis
async def test_a_worker_killed_mid_delivery_delivers_after_restart_with_the_same_id(platform):
    import asyncio
    import signal
    import subprocess
    import sys

    from arq import create_pool
    from arq.connections import RedisSettings

    from tests.city_server import CityServer

    redis = await create_pool(RedisSettings.from_dsn(REDIS_URL))
    await redis.flushdb()
    await redis.aclose()
    city = CityServer()
    await city.start()
    env = {**os.environ, "HUYING_DATABASE_URL": platform.settings.database_url, "HUYING_REDIS_URL": REDIS_URL,
           "HUYING_CITY_PLATFORM_URL": city.url, "HUYING_OUTBOX_LEASE_SECONDS": "2",
           "HUYING_SECRET_KEY": platform.settings.secret_key, "PICCOLO_CONF": "core.piccolo_conf"}

    def worker():  # each starts its clock at the test's now (the second one minutes later under HUYING_CLOCK)
        env.update(clock_env())
        return subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        _, message_id = await _city_transfer(platform, city.url, lease_seconds=2)
        city.hang.set()
        first = worker()
        try:
            async def seen():
                return bool(city.seen_while_hanging)

            await _until(seen)
        finally:
            first.send_signal(signal.SIGKILL)  # no shutdown, no clean-up: a crash
            first.wait(10)
        assert not await _delivered(message_id)
        city.hang.clear()
        await asyncio.sleep(2.5)  # the dead worker's claim expires
        second = worker()
        try:
            await _until(lambda: _delivered(message_id))
        finally:
            second.terminate()
            second.wait(20)
    finally:
        await city.stop()
    assert city.seen_while_hanging == [f"huying-outbox-{message_id}"]
    assert [key for _, key in city.received] == [f"huying-outbox-{message_id}"]


def test_schedules_are_read_in_beijing_time():
    import datetime as dt

    from core.jobs import Job

    async def nothing(platform):
        return {}

    nightly = Job(name="n", label="夜间", run=nothing, minutes=frozenset({30}), hours=frozenset({2}))
    utc = dt.timezone.utc
    assert nightly.next_after(dt.datetime(2026, 11, 28, 12, 0, tzinfo=utc)) == dt.datetime(2026, 11, 28, 18, 30, tzinfo=utc)
    assert nightly.schedule == "30 2 * * *"
    every = Job(name="e", label="每分钟", run=nothing, minutes=None)
    assert every.next_after(dt.datetime(2026, 11, 28, 12, 0, 59, tzinfo=utc)) == dt.datetime(2026, 11, 28, 12, 1, tzinfo=utc)


async def test_only_one_serving_process_runs_the_schedule(sms_platform):
    """Without Redis each ``serve`` process ran every scheduled job (the daily training among them,
    hundreds of megabytes apiece). Several processes now share one scheduler lease: while its holder
    renews it nobody else runs the schedule; once it lapses another process takes over."""
    from core import clock
    from core.jobs import LEASE_SECONDS, InProcessJobs

    first, second, third = (InProcessJobs(sms_platform) for _ in range(3))
    assert len({first.holder, second.holder, third.holder}) == 3
    assert await first._is_scheduler()
    assert not await second._is_scheduler() and not await third._is_scheduler()
    assert await first._is_scheduler()  # renewed by its holder
    results = await asyncio.gather(*(jobs._is_scheduler() for jobs in (first, second, third)))
    assert results == [True, False, False]
    clock.advance(dt.timedelta(seconds=LEASE_SECONDS + 1))  # the first process died and stopped renewing
    results = await asyncio.gather(second._is_scheduler(), third._is_scheduler())
    assert sorted(results) == [False, True]
    assert not await first._is_scheduler()
