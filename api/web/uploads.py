"""Attachments citizens send with a web form (photos, PDF letters), in the core's attachment store.

A file is judged by its first bytes (``core.storage.sniff``), never by its name or the type the
browser claims. The web form takes less than the staff API (5 MB a file, 3 files), since a citizen's
phone photo fits and a form post must stay small. Bytes go to ``platform.attachments`` as soon as a
file passes, so a form shown again for another mistake keeps it; the order's list of files is the
core's ``attachments`` table, written once the order exists, where staff list and download them.
"""

from __future__ import annotations

import re

import msgspec

from core.storage import AttachmentRefused, clean_filename, sniff  # noqa: F401  (clean_filename: used by the form)

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 3
ALLOWED_TEXT = "JPG、PNG 图片或 PDF 文件"


class StoredFile(msgspec.Struct, frozen=True, array_like=True):
    """A file already in the store; carried (signed) in the form until the order exists."""

    key: str
    filename: str
    content_type: str
    size: int


def check(filename: str, data: bytes, max_bytes: int = MAX_FILE_BYTES) -> tuple[str | None, str | None]:
    """(content type, None) for a file the form takes, else (None, why) in words a citizen understands."""
    if not data:
        return None, f"「{filename}」是空文件，请重新选择"
    if len(data) > max_bytes:
        return None, f"「{filename}」超过 {max_bytes // (1024 * 1024)} MB，请压缩后再上传"
    try:
        return sniff(data), None
    except AttachmentRefused:
        return None, f"「{filename}」不是 {ALLOWED_TEXT}，未能上传"


async def record_attachments(number: str, files: list[StoredFile], uploaded_by: str) -> None:
    """List the stored files on the order (the core's ``attachments`` table)."""
    from core.tables import Attachment, Order

    if not files:
        return
    order = await Order.select(Order.id).where(Order.number == number).first()
    # a form posted twice (a reload) returns the first order: list each file only once
    seen = await Attachment.select(Attachment.key, Attachment.filename, Attachment.size).where(
        Attachment.order_id == order["id"])
    known = {r["key"] for r in seen} | {(r["filename"], r["size"]) for r in seen}
    new = [f for f in files if f.key not in known and (f.filename, f.size) not in known]
    if new:
        await Attachment.insert(*[
            Attachment(order_id=order["id"], key=f.key, filename=f.filename, content_type=f.content_type,
                       size=f.size, uploaded_by=uploaded_by) for f in new])
