"""Channel panels on an order's console page, from the ``order_panels`` hook."""

from __future__ import annotations

from core.channels import Panel
from core.model import Actor


async def order_panels(platform, order: dict, viewer: Actor) -> list[Panel]:
    channel = platform.channels.get(order["channel"])
    if channel is None:
        return []
    found: list[Panel] = []
    for result in await platform.channels.hooks(channel.code).order_panels(channel=channel, order=order, viewer=viewer):
        found.extend(result or ())
    return found
