"""Attachments: checked by their content (not their name), stored outside the database.

``AttachmentStore`` is the interface; ``LocalAttachmentStore`` keeps files in a folder under the var
directory. Object storage can replace it by implementing the same three methods.
"""

from __future__ import annotations

import io
import re
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
            _check_whole(content_type, data)
            return content_type
    raise AttachmentRefused("只接受 JPG、PNG 图片或 PDF 文件")


MAX_IMAGE_PIXELS = 50_000_000  # a 50-megapixel photo; larger is a decompression bomb, not evidence
_IMAGE_END = {"image/png": b"IEND\xaeB`\x82", "image/jpeg": b"\xff\xd9"}


def _check_whole(content_type: str, data: bytes) -> None:
    """The whole file must be what its first bytes claim: an image decodes completely and ends where
    the image ends (nothing, such as HTML, appended after it); a PDF ends with its end-of-file marker."""
    if content_type == "application/pdf":
        if b"%%EOF" not in data[-1024:]:
            raise AttachmentRefused("PDF 文件不完整或夹带了其他内容")
        return
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise AttachmentRefused("图片像素过大")
            image.load()  # decodes every pixel: a truncated or forged image fails here
    except AttachmentRefused:
        raise
    except Exception:
        raise AttachmentRefused("图片无法解析，文件可能已损坏或不是真正的图片") from None
    if not data.rstrip(b"\x00\r\n\t ").endswith(_IMAGE_END[content_type]):
        raise AttachmentRefused("图片后面夹带了其他内容")


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


def clean_filename(name: str, limit: int = 120) -> str:
    """A name safe to store and to send back in ``Content-Disposition``: only the last part of a path,
    no control characters (CR/LF would split headers), no quotes, at most ``limit`` characters."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>:|?*').strip().lstrip(".")
    return name[-limit:] or "附件"
