"""Status flows back to the city 12345 platform for every order it transferred down.

Each action on a ``city_transfer`` order writes a status message to the outbox in the action's
transaction; the deliverer posts it to ``HUYING_CITY_PLATFORM_URL``. While that is not configured the
messages wait in the outbox (with the reason recorded) rather than being dropped.
"""

from __future__ import annotations

import httpx

from core.hookspecs import hookimpl

TOPIC = "city_platform.status"


@hookimpl
def on_transition(channel, order, event, outbox):
    if order.source != "city_transfer" or not order.external_id:
        return
    outbox.send(TOPIC, {
        "external_id": order.external_id,
        "number": order.number,
        "action": event.action,
        "status": event.to_status,
        "department": order.department,
        "at": event.created_at.isoformat(),
    })


async def post_status(message: dict, settings) -> None:
    if not settings.city_platform_url:
        raise RuntimeError("HUYING_CITY_PLATFORM_URL is not configured")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(settings.city_platform_url, json=message["payload"],
                                     headers={"Idempotency-Key": f"huying-outbox-{message['id']}"})
        response.raise_for_status()


@hookimpl
def outbox_deliverers():
    return {TOPIC: post_status}
