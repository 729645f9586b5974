"""Call recordings from the PBX: a ``recording`` event names a URL on the PBX; the delivery job fetches
it (a timeout, a size limit, retries with back-off) into the attachment store (``core.telephony``)."""

from __future__ import annotations

from pathlib import Path

import httpx

from core.hookspecs import hookimpl
from core.storage import LocalAttachmentStore
from core.telephony import RECORDING_LIMIT, RECORDING_TIMEOUT, RECORDING_TOPIC


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


@hookimpl
def outbox_deliverers():
    return {RECORDING_TOPIC: fetch_recording}
