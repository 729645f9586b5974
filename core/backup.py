"""``huying backup FILE`` and ``huying restore FILE``: the database and the attachment store in one
archive.

On the embedded default the database is copied with SQLite's online-backup API, which reads a
consistent snapshot while the platform keeps serving (WAL: writers are not blocked, and a write not
yet committed is not in the copy). On PostgreSQL ``pg_dump`` takes the snapshot and ``pg_restore``
puts it back; their major version must be at least the server's, or the dump could be unreadable.

The files archived are exactly the ones the snapshot lists (read from the copy itself on SQLite, in
the exported snapshot ``pg_dump`` uses on PostgreSQL): a file written after the snapshot would come
back without its record, and ``huying check`` would fail right after the restore. The archive holds
every citizen's personal data, so it is readable by its owner only (0600).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from pathlib import Path

from core import clock
from core.settings import Settings

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_FILE = "database.sqlite3"
PG_FILE = "database.pgdump"
ATTACHMENTS = "attachments"


class BackupError(RuntimeError):
    """Why a backup or a restore could not be made; the message is for the operator."""


def _attachment_root(settings: Settings) -> Path:
    return Path(settings.var_dir) / "attachments"


def _run(args: list[str]) -> str:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=3600)
    except FileNotFoundError:
        raise BackupError(f"找不到 {args[0]}：请安装 PostgreSQL 客户端（postgresql-client）") from None
    if done.returncode != 0:
        raise BackupError(f"{args[0]} 失败：{done.stderr.strip()[:2000]}")
    return done.stdout


def _client_major(binary: str) -> int:
    match = re.search(r"\(PostgreSQL\)\s+(\d+)", _run([binary, "--version"]))  # "pg_dump (PostgreSQL) 15.20 (Debian …)"
    if not match:
        raise BackupError(f"无法识别 {binary} 的版本")
    return int(match.group(1))


async def _server_major(url: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


async def _check_client(binary: str, url: str) -> None:
    client, server = _client_major(binary), await _server_major(url)
    if client < server:
        raise BackupError(f"{binary} 的版本（{client}）低于数据库服务器（{server}）：请安装 {server} 或更新版本的客户端")


def _copy_sqlite(source: Path, target: Path) -> None:
    """SQLite's online backup: a consistent copy of ``source`` while others keep reading and writing."""
    with contextlib.closing(sqlite3.connect(source, timeout=30)) as src, \
            contextlib.closing(sqlite3.connect(target, timeout=30)) as dst:
        src.backup(dst)


def _sqlite_keys(copy: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        try:
            return [r[0] for r in conn.execute("SELECT key FROM attachments ORDER BY key")]
        except sqlite3.OperationalError:  # no attachments table (yet)
            return []


async def _pg_dump_with_keys(settings: Settings, target: Path) -> list[str]:
    """``pg_dump`` inside a snapshot this connection exported, and the attachment keys as that same
    snapshot sees them."""
    import asyncio

    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            exists = await conn.fetchval("SELECT to_regclass('public.attachments') IS NOT NULL")
            keys = [r["key"] for r in await conn.fetch("SELECT key FROM attachments ORDER BY key")] if exists else []
            await asyncio.to_thread(_run, ["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                                           f"--snapshot={snapshot}", f"--file={target}",
                                           f"--dbname={settings.database_url}"])
    finally:
        await conn.close()
    return keys


def _locate(settings: Settings, key: str) -> Path | None:
    """A listed file in the store, or still staged (its order committed a moment before the copy)."""
    if "/" in key or key.startswith("."):
        return None
    root = _attachment_root(settings)
    path = root / key[:2] / key
    if path.is_file():
        return path
    staging = root.parent / (root.name + "-staging")
    return next((p for p in staging.glob(f"*-{key}") if p.is_file()), None) if staging.exists() else None


def _private_file(path: Path):
    """Opened for writing, readable and writable by its owner only, whatever the umask."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


async def backup(settings: Settings, file: Path) -> dict:
    """Write the archive; returns its manifest."""
    import asyncio

    file = Path(file)
    with tempfile.TemporaryDirectory(prefix="huying-backup-") as tmp:
        work = Path(tmp)
        if settings.is_sqlite:
            if not settings.sqlite_path.exists():
                raise BackupError(f"数据库文件不存在：{settings.sqlite_path}")
            await asyncio.to_thread(_copy_sqlite, settings.sqlite_path, work / SQLITE_FILE)
            database = SQLITE_FILE
            keys = _sqlite_keys(work / SQLITE_FILE)
        else:
            await _check_client("pg_dump", settings.database_url)
            keys = await _pg_dump_with_keys(settings, work / PG_FILE)
            database = PG_FILE
        files = {key: _locate(settings, key) for key in keys}
        missing = sorted(key for key, path in files.items() if path is None)
        manifest = {"format": FORMAT, "backend": "sqlite" if settings.is_sqlite else "postgresql",
                    "database": database, "attachments": len(files) - len(missing),
                    "missing_attachments": missing[:100], "created_at": clock.now().isoformat()}
        (work / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=2))
        partial = file.with_name(file.name + ".partial")
        file.parent.mkdir(parents=True, exist_ok=True)

        def write() -> None:
            # pg_dump's custom format is compressed already: gzip over it would cost a city's database
            # a second pass of CPU for nothing; the SQLite file is not, and shrinks several times
            mode = "w:gz" if settings.is_sqlite else "w"
            with _private_file(partial) as out, tarfile.open(fileobj=out, mode=mode) as archive:
                archive.add(work / MANIFEST, MANIFEST)
                archive.add(work / database, database)
                for key, path in sorted(files.items()):
                    if path is not None:
                        archive.add(path, f"{ATTACHMENTS}/{key[:2]}/{key}")
            os.chmod(partial, 0o600)
            partial.replace(file)  # a crash mid-way never leaves a truncated archive under the real name

        await asyncio.to_thread(write)
    return manifest


async def _has_orders(settings: Settings) -> bool:
    if settings.is_sqlite:
        if not settings.sqlite_path.exists():
            return False
        with contextlib.closing(sqlite3.connect(settings.sqlite_path)) as conn:
            try:
                return conn.execute("SELECT count(*) FROM orders").fetchone()[0] > 0
            except sqlite3.OperationalError:
                return False
    import asyncpg

    conn = await asyncpg.connect(settings.database_url)
    try:
        if not await conn.fetchval("SELECT to_regclass('public.orders') IS NOT NULL"):
            return False
        return await conn.fetchval("SELECT count(*) FROM orders") > 0
    finally:
        await conn.close()


async def restore(settings: Settings, file: Path, *, force: bool = False) -> dict:
    """Replace the database and the attachment store with the archive's. Stop serving first. A
    database that already holds orders is only overwritten with ``force``."""
    with tempfile.TemporaryDirectory(prefix="huying-restore-") as tmp:
        work = Path(tmp)
        try:
            with tarfile.open(file, "r:*") as archive:  # plain tar (PostgreSQL) or gzip (SQLite, older archives)
                archive.extractall(work, filter="data")
            manifest = json.loads((work / MANIFEST).read_text())
        except (OSError, tarfile.TarError, ValueError, KeyError) as exc:
            raise BackupError(f"不是有效的呼应备份文件：{exc}") from None
        backend = "sqlite" if settings.is_sqlite else "postgresql"
        if manifest.get("format") != FORMAT or manifest.get("backend") != backend:
            raise BackupError(f"备份来自 {manifest.get('backend')}，不能恢复到 {backend}")
        if not force and await _has_orders(settings):
            raise BackupError("目标数据库已有工单；确认要覆盖请加 --force")
        if settings.is_sqlite:
            settings.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            _copy_sqlite(work / SQLITE_FILE, settings.sqlite_path)
        else:
            await _check_client("pg_restore", settings.database_url)
            _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
                  f"--dbname={settings.database_url}", str(work / PG_FILE)])
        root = _attachment_root(settings)
        if root.exists():
            shutil.rmtree(root)
        if (work / ATTACHMENTS).exists():
            shutil.copytree(work / ATTACHMENTS, root)
        else:
            root.mkdir(parents=True, exist_ok=True)
    return manifest
