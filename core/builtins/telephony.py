"""The PBX's side of telephony delivered by the outbox job (``core.telephony``): a ``recording`` event's
URL is fetched (a timeout, a size limit, retries with back-off) into the attachment store, and a
click-to-call is posted to the PBX's originate interface through an adapter."""

from __future__ import annotations

from pathlib import Path

import httpx

from core import clock
from core.hookspecs import hookimpl
from core.storage import LocalAttachmentStore
from core.outbox import idempotency_key
from core.telephony import ORIGINATE_EXPIRY, ORIGINATE_TOPIC, RECORDING_LIMIT, RECORDING_TIMEOUT, RECORDING_TOPIC


async def fetch_recording(message: dict, settings) -> None:
    from core.telephony import Telephony

    payload = message["payload"]
    chunks, size = [], 0
    async with httpx.AsyncClient(timeout=RECORDING_TIMEOUT, follow_redirects=False) as client:
        async with client.stream("GET", payload["url"]) as response:
            response.raise_for_status()
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > RECORDING_LIMIT:
                    raise RuntimeError(f"recording larger than {RECORDING_LIMIT} bytes")
                chunks.append(chunk)
    store = LocalAttachmentStore(Path(settings.var_dir) / "attachments")
    from core.tables import Call

    await Telephony(Call._meta.db, None).store_recording(payload["call_id"], b"".join(chunks), store, via="url")


fetch_recording.label = "通话录音下载"


class HttpJsonOriginate:
    """The generic originate adapter: ``{"number", "extension", "agent", "reference"}`` posted as JSON
    to ``HUYING_CTI_ORIGINATE_URL`` with the message's ``Idempotency-Key``; any 2xx is taken. Another
    PBX's interface is another class with the same ``originate``."""

    def __init__(self, url: str):
        self.url = url

    async def originate(self, call: dict, key: str) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(self.url, json=call, headers={"Idempotency-Key": key})
            response.raise_for_status()


class OriginateExpired(RuntimeError):
    """A click-to-call that could not reach the PBX in time: given up, never dialled late."""


async def originate(message: dict, settings) -> None:
    """Post the click-to-call; one that has waited longer than ``ORIGINATE_EXPIRY`` (the PBX down, the
    interface not configured) is abandoned instead, so no agent's phone rings long after they asked."""
    if clock.now() - message["created_at"] > ORIGINATE_EXPIRY:
        from core.outbox import abandon
        from core.tables import CallDial

        reason = f"外呼请求 {ORIGINATE_EXPIRY.seconds // 60} 分钟内未能送达电话系统，不再拨打"
        await abandon(message["id"], "system", reason)
        await CallDial.update({CallDial.result: "expired", CallDial.settled_at: clock.now()}).where(
            (CallDial.reference == str(message["payload"].get("reference") or "")) & (CallDial.result == ""))
        raise OriginateExpired(reason)
    if not settings.cti_originate_url:  # waits (until it expires) for the PBX's interface to be configured
        raise RuntimeError("HUYING_CTI_ORIGINATE_URL is not set")
    await HttpJsonOriginate(settings.cti_originate_url).originate(message["payload"], idempotency_key(message))


originate.label = "外呼"


@hookimpl
def outbox_deliverers():
    return {RECORDING_TOPIC: fetch_recording, ORIGINATE_TOPIC: originate}
