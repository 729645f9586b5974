"""Live events for open browsers: a published event reaches every subscriber of its topic, in this
process and, through Redis, in another API process; a stream answers as server-sent events."""

from __future__ import annotations

import asyncio
import os

import pytest
from litestar.response import ServerSentEvent

from core.live import LiveBus

REDIS_URL = os.environ.get("HUYING_TEST_REDIS_URL")
if os.environ.get("CI") == "true" and not REDIS_URL:
    raise RuntimeError("CI=true but HUYING_TEST_REDIS_URL is not set: Redis must be tested")


async def _next(events, seconds: float = 2.0):
    return await asyncio.wait_for(anext(events), seconds)


async def test_an_event_reaches_the_subscribers_of_its_topic_only():
    bus = LiveBus()
    mine = bus.events(["user:agent1"], keepalive=5)
    theirs = bus.events(["user:agent2"], keepalive=0.05)
    first = asyncio.ensure_future(_next(mine))
    other = asyncio.ensure_future(_next(theirs))
    await asyncio.sleep(0.01)
    await bus.publish("user:agent1", "call.answered", {"number": "13800000000"})
    event = await first
    assert (event.kind, event.data) == ("call.answered", {"number": "13800000000"})
    assert await other is None  # only a keep-alive for the other agent
    await mine.aclose()
    await theirs.aclose()
    assert bus._subscribers == {}  # a closed browser leaves nothing behind


async def test_a_browser_that_reads_nothing_keeps_only_the_latest_events():
    bus = LiveBus()
    async with bus.subscription(["board"]) as queue:
        for i in range(250):
            await bus.publish("board", "figures", {"i": i})
        assert queue.qsize() == 100 and queue.get_nowait().data == {"i": 150}


@pytest.mark.skipif(not REDIS_URL, reason="Redis is not reachable here (set HUYING_TEST_REDIS_URL)")
async def test_through_redis_an_event_reaches_a_browser_on_another_process():
    here, there = LiveBus(REDIS_URL), LiveBus(REDIS_URL)
    try:
        events = there.events(["role:supervisor"], keepalive=5)
        waiting = asyncio.ensure_future(_next(events, 5))
        for _ in range(50):  # the other process's subscription is in place
            if there._listener is not None:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
        await here.publish("role:supervisor", "notice", {"subject": "临期提醒"})
        event = await waiting
        assert (event.kind, event.data) == ("notice", {"subject": "临期提醒"})
        await events.aclose()
    finally:
        await here.stop()
        await there.stop()


@pytest.mark.skipif(not REDIS_URL, reason="Redis is not reachable here (set HUYING_TEST_REDIS_URL)")
async def test_platforms_on_other_databases_of_one_redis_do_not_hear_each_other():
    """Redis pub/sub is server-wide, whatever the database: a second centre (or a test run) on database
    N+1 of the same server must not pop calls on this one's screens."""
    base, _, db = REDIS_URL.rpartition("/")
    other_url = f"{base}/{(int(db or 0) + 1) % 16}"
    here, other = LiveBus(REDIS_URL), LiveBus(other_url)
    try:
        events = here.events(["user:agent1"], keepalive=0.5)
        waiting = asyncio.ensure_future(_next(events, 5))
        await asyncio.sleep(0.3)
        await other.publish("user:agent1", "call.answered", {"number": "13800000000"})
        assert await waiting is None  # only a keep-alive: the other database's event never arrives
        await events.aclose()
    finally:
        await here.stop()
        await other.stop()


async def test_redis_down_still_reaches_this_process():
    bus = LiveBus("redis://127.0.0.1:1/0")
    async with bus.subscription(["board"]) as queue:
        await bus.publish("board", "figures", {"lines": 3})
        assert queue.get_nowait().data == {"lines": 3}
    await bus.stop()


async def test_a_stream_answers_as_server_sent_events():
    import httpx
    from litestar import Litestar, get, post

    from api.live_stream import event_stream
    from tests.helpers import serve_in_thread

    bus = LiveBus()

    @get("/stream")
    async def stream() -> ServerSentEvent:
        return event_stream(bus, ["board"])

    @post("/publish")
    async def publish() -> None:  # on the server's own loop, as a request handler would
        await bus.publish("board", "figures", {"线路": 2})

    with serve_in_thread(Litestar([stream, publish])) as base:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            async with client.stream("GET", "/stream") as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines = response.aiter_lines()
                assert (await _next(lines)).startswith(": connected")
                await client.post("/publish")
                received = []
                while not any(line.startswith("data:") for line in received):
                    received.append(await _next(lines))
                assert "event: figures" in received and 'data: {"线路":2}' in received
