"""Live events for open browsers: a small publish/subscribe bus behind the console's server-sent events.

A change that a person should see as it happens (a call answered at their extension, a staff notice,
a board figure) is published on a *topic* (``user:agent1``, ``role:supervisor``, ``board``) once
its transaction has committed. Every browser subscribed to that topic in this process receives it;
with Redis configured, the event goes through Redis pub/sub, so a browser connected to another API
process receives it too. Nothing here is durable: a browser that was closed misses the event, and
the page it opens next reads the state from the database. Messages that must not be lost go through
the outbox; its deliverer may publish here when it delivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import msgspec

log = logging.getLogger("huying.live")

CHANNEL_PREFIX = "huying:live:"
QUEUE_SIZE = 100  # a browser that reads nothing for this many events loses the oldest, never the process
KEEPALIVE_SECONDS = 15.0  # proxies close a quiet connection; a comment line keeps it open


class Event(msgspec.Struct, frozen=True):
    topic: str
    kind: str  # what happened, for the page's script (``call.answered``, ``notice``); never shown
    data: dict = {}


def _database(redis_url: str) -> int:
    from redis.asyncio.connection import parse_url

    return int(parse_url(redis_url).get("db", 0) or 0)


class LiveBus:
    """Fan-out to this process's subscribers, through Redis when ``redis_url`` is set."""

    def __init__(self, redis_url: str | None = None):
        self.redis_url = redis_url
        # Redis pub/sub ignores the database number: two platforms sharing one server on databases 1
        # and 2 would hear each other's events, so the channel names carry the URL's database.
        self.prefix = f"{CHANNEL_PREFIX}{_database(redis_url)}:" if redis_url else CHANNEL_PREFIX
        self._subscribers: dict[str, set[asyncio.Queue]] = {}
        self._redis = None
        self._listener: asyncio.Task | None = None

    # -- publishing ---------------------------------------------------------------------------------

    async def publish(self, topic: str, kind: str, data: dict | None = None) -> None:
        """Send ``kind`` with ``data`` to every subscriber of ``topic``; never raises for a transport."""
        event = Event(topic, kind, data or {})
        if self.redis_url:
            try:
                await (await self._client()).publish(self.prefix + topic, msgspec.json.encode(event))
                return
            except Exception as exc:  # Redis down: this process's browsers still hear it
                log.warning("live event not sent through Redis (%s); delivered in this process only", exc)
        self._deliver(event)

    def _deliver(self, event: Event) -> None:
        for queue in self._subscribers.get(event.topic, ()):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(event)

    # -- subscribing --------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscription(self, topics: Iterable[str]) -> AsyncIterator[asyncio.Queue]:
        """A queue receiving the events of ``topics`` for as long as the block runs."""
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        topics = set(topics)
        for topic in topics:
            self._subscribers.setdefault(topic, set()).add(queue)
        if self.redis_url:
            await self._listen()
        try:
            yield queue
        finally:
            for topic in topics:
                subscribers = self._subscribers.get(topic)
                if subscribers is not None:
                    subscribers.discard(queue)
                    if not subscribers:
                        del self._subscribers[topic]

    async def events(self, topics: Iterable[str], *, keepalive: float = KEEPALIVE_SECONDS) -> AsyncIterator[Event | None]:
        """The events of ``topics`` as they come; ``None`` after each quiet ``keepalive`` seconds."""
        async with self.subscription(topics) as queue:
            while True:
                try:
                    yield await asyncio.wait_for(queue.get(), keepalive)
                except asyncio.TimeoutError:
                    yield None

    # -- Redis --------------------------------------------------------------------------------------

    async def _client(self):
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(self.redis_url)
        return self._redis

    async def _listen(self) -> None:
        """One pattern subscription per process, started with the first browser that subscribes."""
        if self._listener is not None and not self._listener.done():
            return
        pubsub = (await self._client()).pubsub()
        try:
            await pubsub.psubscribe(self.prefix + "*")
        except Exception as exc:  # Redis down: this process's own events still arrive
            log.warning("live events from other processes are not received (%s)", exc)
            return
        self._listener = asyncio.create_task(self._relay(pubsub))

    async def _relay(self, pubsub) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "pmessage":
                    continue
                try:
                    self._deliver(msgspec.json.decode(message["data"], type=Event))
                except msgspec.DecodeError:
                    log.warning("a live event that is not ours on %s was ignored", message.get("channel"))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the next subscriber starts a new listener
            log.warning("live events from Redis stopped: %s", exc)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(BaseException):
                await self._listener
            self._listener = None
        if self._redis is not None:
            with contextlib.suppress(Exception):
                await self._redis.aclose()
            self._redis = None
