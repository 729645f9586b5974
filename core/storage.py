"""Attachments: checked by their content (not their name), stored outside the database.

``AttachmentStore`` is the interface; ``LocalAttachmentStore`` keeps files in a folder under the var
directory. Object storage can replace it by implementing the same three methods.
"""

from __future__ import annotations

import io
import re
import secrets
import zipfile
from pathlib import Path
from typing import Protocol

import msgspec

MB = 1024 * 1024


class FileType(msgspec.Struct, frozen=True):
    """An accepted kind of file: what people call it, its extension, and the largest one taken
    through the staff API and through a citizen's web form."""

    label: str
    extension: str
    max_bytes: int
    web_max_bytes: int


# Photos, letters, call recordings, site videos and office documents: each recognised by its
# content (``sniff``), never by its name, so a renamed file is refused.
FILE_TYPES: dict[str, FileType] = {
    "image/jpeg": FileType("JPG 图片", ".jpg", 10 * MB, 5 * MB),
    "image/png": FileType("PNG 图片", ".png", 10 * MB, 5 * MB),
    "application/pdf": FileType("PDF 文件", ".pdf", 10 * MB, 5 * MB),
    "video/mp4": FileType("MP4 视频", ".mp4", 50 * MB, 20 * MB),
    "audio/mp4": FileType("M4A 录音", ".m4a", 20 * MB, 10 * MB),
    "audio/mpeg": FileType("MP3 录音", ".mp3", 20 * MB, 10 * MB),
    "audio/amr": FileType("AMR 录音", ".amr", 20 * MB, 10 * MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document":
        FileType("Word 文档", ".docx", 10 * MB, 5 * MB),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet":
        FileType("Excel 表格", ".xlsx", 10 * MB, 5 * MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation":
        FileType("PowerPoint 演示文稿", ".pptx", 10 * MB, 5 * MB),
    "application/vnd.ms-office": FileType("Word/Excel 97-2003 文档", ".doc", 10 * MB, 5 * MB),
}
MAX_BYTES = max(t.max_bytes for t in FILE_TYPES.values())
ACCEPTED_TEXT = "图片（JPG、PNG）、PDF、视频（MP4）、录音（MP3、M4A、AMR）或 Office 文档（Word、Excel、PowerPoint）"
EXTENSIONS = {content_type: t.extension for content_type, t in FILE_TYPES.items()}

_AUDIO_BRANDS = (b"M4A ", b"M4B ")
_VIDEO_BRANDS = (b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"M4V ", b"MSNV",
                 b"3gp4", b"3gp5", b"3gp6", b"3g2a", b"qt  ", b"dash")
_OOXML = {"word/": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
          "xl/": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
          "ppt/": "application/vnd.openxmlformats-officedocument.presentationml.presentation"}


class AttachmentRefused(ValueError):
    """The file is of a type or size the platform does not take; the message says which."""


def _content_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"%PDF-"):
        return "application/pdf"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        return "audio/mp4" if brand in _AUDIO_BRANDS else "video/mp4" if brand in _VIDEO_BRANDS else None
    if data.startswith(b"ID3") or (len(data) > 2 and data[0] == 0xFF and data[1] & 0xE6 in (0xE2, 0xE4, 0xE6)):
        return "audio/mpeg"  # an ID3 tag, or an MPEG audio frame (layer III or II)
    if data.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "audio/amr"
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/vnd.ms-office"
    if data.startswith(b"PK\x03\x04"):
        return _ooxml(data)
    return None


def _ooxml(data: bytes) -> str | None:
    """A Word, Excel or PowerPoint file (a zip with ``[Content_Types].xml`` and its part folder)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()[:2000]  # the central directory only: nothing is decompressed
    except (zipfile.BadZipFile, ValueError):
        return None
    if "[Content_Types].xml" not in names:
        return None
    return next((kind for folder, kind in _OOXML.items() if any(n.startswith(folder) for n in names)), None)


def sniff(data: bytes, *, web: bool = False) -> str:
    """The content type of an accepted file, judged by its bytes; ``web`` applies the (smaller)
    limits of a citizen's form."""
    if not data:
        raise AttachmentRefused("文件为空")
    content_type = _content_type(data)
    if content_type is None:
        raise AttachmentRefused(f"只接受{ACCEPTED_TEXT}")
    kind = FILE_TYPES[content_type]
    limit = kind.web_max_bytes if web else kind.max_bytes
    if len(data) > limit:
        raise AttachmentRefused(f"{kind.label}不能超过 {limit // MB} MB")
    if content_type in _IMAGE_END or content_type == "application/pdf":
        _check_whole(content_type, data)
    return content_type


MAX_IMAGE_PIXELS = 40_000_000  # a 40-megapixel photo; larger is a decompression bomb, not evidence
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
        with Image.open(io.BytesIO(data)) as image:  # reads the header only
            pixels = image.width * image.height
            if pixels > MAX_IMAGE_PIXELS:  # refused before a single pixel is decoded
                raise AttachmentRefused(f"图片像素过大（{image.width}×{image.height}，约 {pixels // 10_000:,} 万像素），"
                                        f"不能超过 {MAX_IMAGE_PIXELS // 10_000:,} 万像素")
            image.load()  # decodes every pixel: a truncated or forged image fails here
    except AttachmentRefused:
        raise
    except Exception:
        raise AttachmentRefused("图片无法解析，文件可能已损坏或不是真正的图片") from None
    if not data.rstrip(b"\x00\r\n\t ").endswith(_IMAGE_END[content_type]):
        raise AttachmentRefused("图片后面夹带了其他内容")


CHECK_THREADS = 1  # images decoded at once per process; more wait their turn, off the event loop
_checker = None


def _lower_priority() -> None:
    """The checking thread yields the CPU to the event loop (Linux gives each thread its own nice)."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):
        pass


async def check_file(data: bytes, *, web: bool = False) -> str:
    """``sniff`` in the process's checking thread (its own, at a lower priority, ``CHECK_THREADS`` at a
    time): decoding a large image takes a good part of a second, which on the event loop would stall
    every other request of the process (four anonymous forms with three such images each once took
    another client from 5 ms to over a second)."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    global _checker
    if len(data) < 64 * 1024 and not data.startswith((b"\x89PNG", b"\xff\xd8\xff")):
        return sniff(data, web=web)  # small and not an image: nothing slow to do
    if _checker is None:
        _checker = ThreadPoolExecutor(CHECK_THREADS, thread_name_prefix="huying-file-check",
                                      initializer=_lower_priority)
    return await asyncio.get_running_loop().run_in_executor(_checker, lambda: sniff(data, web=web))


class AttachmentStore(Protocol):
    def save(self, data: bytes, content_type: str) -> str: ...
    def open(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


STAGED = re.compile(r"^[0-9a-f]{12}-[0-9a-f]{32}\.[a-z0-9]{2,5}$")


class LocalAttachmentStore:
    """Files under ``root/<first two characters>/<key>``. A citizen's web upload is first *staged*
    under ``staging`` (beside ``root``, so never taken for a stored file), named after the client
    that sent it, and moved into place only once its order is recorded; ``sweep`` removes what a
    refused form, an abandoned one or a crash left behind."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.staging = self.root.parent / (self.root.name + "-staging")

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

    # -- staged web uploads ----------------------------------------------------------------------------

    def stage(self, data: bytes, content_type: str, owner: str) -> str:
        """Keep a file for a form not yet recorded; returns its staged name ``<owner>-<key>``."""
        name = f"{owner}-{secrets.token_hex(16)}{EXTENSIONS[content_type]}"
        self.staging.mkdir(parents=True, exist_ok=True)
        (self.staging / name).write_bytes(data)
        return name

    def _staged(self, name: str) -> Path:
        if not STAGED.match(name):
            raise KeyError(name)
        return self.staging / name

    @staticmethod
    def final_key(name: str) -> str:
        """The key a staged file takes in the store (its name without the owner)."""
        return name.partition("-")[2]

    def is_staged(self, name: str) -> bool:
        try:
            return self._staged(name).is_file()
        except KeyError:
            return False

    def place(self, name: str) -> str:
        """Move a staged file into the store (a rename: the bytes are never written twice)."""
        key = self.final_key(name)
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._staged(name).replace(path)
        return key

    def discard(self, name: str) -> None:
        try:
            self._staged(name).unlink(missing_ok=True)
        except KeyError:
            pass

    def discard_owner(self, owner: str, keep: set[str] = frozenset()) -> int:
        """Remove an owner's staged files except ``keep``: one client holds one form's files at most."""
        removed = 0
        if self.staging.exists():
            for path in self.staging.glob(f"{owner}-*"):
                if path.name not in keep:
                    path.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _old_files(self, older_than: float) -> tuple[list[Path], list[Path]]:
        def old(paths):
            return [p for p in paths if p.is_file() and p.stat().st_mtime < older_than]
        return (old(self.staging.glob("*")) if self.staging.exists() else [],
                old(self.root.glob("*/*")) if self.root.exists() else [])

    async def sweep(self, referenced, older_than: float) -> dict[str, int]:
        """Staged files older than ``older_than`` (a timestamp) are moved into place when an order lists
        them (the process stopped between the order's commit and the move), removed otherwise; stored
        files no attachment record names, as old, are removed (an upload whose transaction failed).
        ``await referenced(keys)`` answers which of ``keys`` an attachment record names."""
        import anyio

        counts = {"placed": 0, "staged_removed": 0, "orphans_removed": 0}
        staged, stored = await anyio.to_thread.run_sync(self._old_files, older_than)
        known = await referenced({self.final_key(p.name) for p in staged})
        for path in staged:
            if self.final_key(path.name) in known:
                self.place(path.name)
                counts["placed"] += 1
            else:
                path.unlink(missing_ok=True)
                counts["staged_removed"] += 1
        known = await referenced({p.name for p in stored})
        for path in stored:
            if path.name not in known:
                path.unlink(missing_ok=True)
                counts["orphans_removed"] += 1
        return counts


def clean_filename(name: str, limit: int = 120) -> str:
    """A name safe to store and to send back in ``Content-Disposition``: only the last part of a path,
    no control characters (CR/LF would split headers), no quotes, at most ``limit`` characters."""
    name = re.split(r"[\\/]", name or "")[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '"<>:|?*').strip().lstrip(".")
    return name[-limit:] or "附件"
