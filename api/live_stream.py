"""Server-sent events from the live bus (``core.live``): the shape every streaming endpoint answers in."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
from litestar.response import ServerSentEvent, ServerSentEventMessage

from core.live import LiveBus

RETRY_MS = 3000  # a browser that lost the stream tries again after this long


def event_stream(bus: LiveBus, topics: Iterable[str]) -> ServerSentEvent:
    """A stream of the events of ``topics``: ``event:`` is the event's kind, ``data:`` its JSON; a
    comment line after each quiet period keeps proxies from closing the connection."""
    topics = list(topics)

    async def messages():
        yield ServerSentEventMessage(data=None, comment="connected", retry=RETRY_MS)
        async for event in bus.events(topics):
            if event is None:
                yield ServerSentEventMessage(data=None, comment="keepalive")
            else:
                yield ServerSentEventMessage(event=event.kind, data=msgspec.json.encode(event.data).decode())

    return ServerSentEvent(messages(), headers={"cache-control": "no-store", "x-accel-buffering": "no"})
