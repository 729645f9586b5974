"""Attachments citizens send with a web form (photos, PDF letters), in the core's attachment store.

A file is judged by its first bytes (``core.storage.sniff``), never by its name or the type the
browser claims. The web form takes less than the staff API (5 MB a file, 3 files), since a citizen's
phone photo fits and a form post must stay bounded (limits per kind of file in ``core.storage``). A file
that passes is *staged* (``LocalAttachmentStore.stage``), so a form shown again for another mistake
keeps it; it moves into the store only once the intake has recorded it in the ``attachments`` table
(with its audit event), where staff list and download them. A client holds at most one form's staged
files, and the ``attachment_sweep`` job removes what is left over an hour.
"""

from __future__ import annotations

import re

import msgspec

from core.storage import ACCEPTED_TEXT, FILE_TYPES, AttachmentRefused, check_file, clean_filename  # noqa: F401  (clean_filename: used by the form)

MAX_FILE_BYTES = max(t.web_max_bytes for t in FILE_TYPES.values())  # a video; photos and letters less
MAX_FILES = 3
ALLOWED_TEXT = ACCEPTED_TEXT


class StoredFile(msgspec.Struct, frozen=True, array_like=True):
    """A file already in the store; carried (signed) in the form until the order exists."""

    key: str
    filename: str
    content_type: str
    size: int


async def check(filename: str, data: bytes) -> tuple[str | None, str | None]:
    """(content type, None) for a file the form takes, else (None, why) in words a citizen understands.
    The same checks as a staff upload (``core.storage.sniff``: type by content, whole image or PDF,
    pixel limit), made off the event loop; only the size limits are the form's smaller ones."""
    if not data:
        return None, f"「{filename}」是空文件，请重新选择"
    try:
        return await check_file(data, web=True), None
    except AttachmentRefused as refused:
        if "像素" in str(refused):
            return None, f"附件「{filename}」{refused}，请缩小后再上传"
        if len(data) > MAX_FILE_BYTES or "不能超过" in str(refused):
            return None, f"「{filename}」太大了：{refused}，请压缩后再上传"
        return None, f"「{filename}」不是{ALLOWED_TEXT}，未能上传"
