"""Background jobs: the outbox is delivered by an arq worker through real Redis, and nothing is lost
while Redis or the remote side is down. Runs whenever Redis is reachable; in CI it must be."""

from __future__ import annotations

import os

import pytest

from core.hookspecs import hookimpl
from core.jobs import ArqJobs, InProcessJobs, deliver_outbox, worker_settings
from core.model import Actor
from core.outbox import deliver_due
from core.platform import Platform
from core.plugins import get_plugin_manager
from core.tables import OutboxMessage
from tests.helpers import clean, intake_body, seed_staff

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
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()) == 1
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
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()) == 0


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
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()) == 1
    assert await deliver_outbox(sms_platform) == {"delivered": 1, "failed": 0}  # the cron catches up
    assert sms_platform.plugin.sent[-1]["number"] == number
