"""Early warnings reach the supervisors: each new warning is written to the outbox with the scan
that found it, and this deliverer posts it to ``HUYING_NOTIFY_URL`` (the centre's SMS or messaging
gateway). While that is not configured the messages wait in the outbox rather than being dropped."""

from __future__ import annotations

import httpx

from core.hookspecs import hookimpl
from core.reports.warnings import TOPIC


async def post_warning(message: dict, settings) -> None:
    if not settings.notify_url:
        raise RuntimeError("HUYING_NOTIFY_URL is not configured")
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(settings.notify_url, json=message["payload"],
                                     headers={"Idempotency-Key": f"huying-outbox-{message['id']}"})
        response.raise_for_status()


@hookimpl
def outbox_deliverers():
    return {TOPIC: post_warning}
