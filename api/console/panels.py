"""Channel panels on an order's console page, from the ``order_panels`` hook."""

from __future__ import annotations

import inspect

from core.channels import Panel
from core.model import Actor


async def order_panels(platform, order: dict, viewer: Actor) -> list[Panel]:
    channel = platform.channels.get(order["channel"])
    if channel is None:
        return []
    found: list[Panel] = []
    for result in platform.channels.hook(channel.code, "order_panels")(channel=channel, order=order, viewer=viewer):
        if inspect.isawaitable(result):
            result = await result
        found.extend(result or ())
    return found
