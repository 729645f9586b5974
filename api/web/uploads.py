"""Attachments citizens send with a web form (photos, PDF letters), in the core's attachment store.

A file is judged by its first bytes (``core.storage.sniff``), never by its name or the type the
browser claims. The web form takes less than the staff API (5 MB a file, 3 files), since a citizen's
phone photo fits and a form post must stay small. Bytes go to ``platform.attachments`` as soon as a
file passes, so a form shown again for another mistake keeps it; the order's list of files is the
core's ``attachments`` table, written with the order by the intake (each with its audit event), where
staff list and download them.
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
