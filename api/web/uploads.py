"""Attachments citizens send with a web form (photos, PDF letters).

A file is judged by its first bytes, never by the name or the type the browser claims, so a renamed
program is refused. The bytes live in an ``AttachmentStore``; the order's list of files is the core's
``attachments`` table, written once the order exists.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Protocol

import msgspec

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_FILES = 3
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"}
ALLOWED_TEXT = "JPG、PNG 图片或 PDF 文件"
_KEY = re.compile(r"^[0-9a-f]{32}\.(jpg|png|pdf)$")


class StoredFile(msgspec.Struct, frozen=True):
    key: str
    filename: str
    content_type: str
    size: int


def sniff(data: bytes) -> str | None:
    """The content type by magic bytes: JPEG, PNG and PDF only."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    return None


def clean_filename(name: str) -> str:
    """Only the last part of what the browser sent, without control characters, at most 120 chars."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    return name[-120:] or "附件"


def refusal(filename: str, data: bytes, max_bytes: int = MAX_FILE_BYTES) -> str | None:
    """Why a file cannot be accepted, in words a citizen understands; None when it can."""
    if not data:
        return f"「{filename}」是空文件，请重新选择"
    if len(data) > max_bytes:
        return f"「{filename}」超过 {max_bytes // (1024 * 1024)} MB，请压缩后再上传"
    if sniff(data) is None:
        return f"「{filename}」不是 {ALLOWED_TEXT}，未能上传"
    return None


class AttachmentStore(Protocol):
    """Where attachment bytes live; keys are opaque and unguessable."""

    def save(self, data: bytes, filename: str, content_type: str) -> str: ...

    def open(self, key: str) -> tuple[StoredFile, bytes]: ...

    def info(self, key: str) -> StoredFile | None: ...


class LocalAttachmentStore:
    """Files under ``<var dir>/attachments/``: the bytes as ``<key>``, the metadata as ``<key>.json``."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def save(self, data: bytes, filename: str, content_type: str) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        key = f"{secrets.token_hex(16)}.{EXTENSIONS[content_type]}"
        meta = StoredFile(key=key, filename=filename, content_type=content_type, size=len(data))
        self._write(self.root / key, data)
        self._write(self.root / f"{key}.json", msgspec.json.encode(meta))
        return key

    def info(self, key: str) -> StoredFile | None:
        if not _KEY.match(key or ""):
            return None
        try:
            return msgspec.json.decode((self.root / f"{key}.json").read_bytes(), type=StoredFile)
        except (OSError, msgspec.DecodeError):
            return None

    def open(self, key: str) -> tuple[StoredFile, bytes]:
        meta = self.info(key)
        if meta is None:
            raise FileNotFoundError(key)
        return meta, (self.root / key).read_bytes()

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, path)


def default_store(env: dict[str, str] | None = None) -> LocalAttachmentStore:
    env = os.environ if env is None else env
    return LocalAttachmentStore(Path(env.get("HUYING_VAR_DIR", "var")) / "attachments")


async def record_attachments(number: str, files: list[StoredFile], uploaded_by: str) -> None:
    """List the stored files on the order (the core's ``attachments`` table)."""
    from core.tables import Attachment, Order

    if not files:
        return
    order = await Order.select(Order.id).where(Order.number == number).first()
    # a form posted twice (a reload) returns the first order: list each file only once
    seen = {(r["key"], r["filename"], r["size"]) for r in await Attachment.select(
        Attachment.key, Attachment.filename, Attachment.size).where(Attachment.order_id == order["id"])}
    known = {k for k, _, _ in seen} | {(n, s) for _, n, s in seen}
    new = [f for f in files if f.key not in known and (f.filename, f.size) not in known]
    if new:
        await Attachment.insert(*[
            Attachment(order_id=order["id"], key=f.key, filename=f.filename, content_type=f.content_type,
                       size=f.size, uploaded_by=uploaded_by) for f in new])
