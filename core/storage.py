"""Attachments: checked by their content (not their name), stored outside the database.

``AttachmentStore`` is the interface; ``LocalAttachmentStore`` keeps files in a folder under the var
directory. Object storage can replace it by implementing the same three methods.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Protocol

MAX_BYTES = 10 * 1024 * 1024
# the first bytes of each accepted type (images and PDF), so a renamed file is refused
SIGNATURES: dict[str, tuple[bytes, ...]] = {
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "application/pdf": (b"%PDF-",),
}
EXTENSIONS = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}


class AttachmentRefused(ValueError):
    """The file is of a type or size the platform does not take; the message says which."""


def sniff(data: bytes) -> str:
    if not data:
        raise AttachmentRefused("文件为空")
    if len(data) > MAX_BYTES:
        raise AttachmentRefused(f"文件超过 {MAX_BYTES // 1024 // 1024} MB")
    for content_type, prefixes in SIGNATURES.items():
        if data.startswith(prefixes):
            return content_type
    raise AttachmentRefused("只接受 JPG、PNG 图片或 PDF 文件")


class AttachmentStore(Protocol):
    def save(self, data: bytes, content_type: str) -> str: ...
    def open(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class LocalAttachmentStore:
    def __init__(self, root: Path):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if "/" in key or key.startswith("."):
            raise KeyError(key)
        return self.root / key[:2] / key

    def save(self, data: bytes, content_type: str) -> str:
        key = secrets.token_hex(16) + EXTENSIONS[content_type]
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return key

    def open(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
