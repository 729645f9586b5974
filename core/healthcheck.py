"""Is the platform ready to serve (``/ready``), and is it healthy (``huying check``, the monthly
health check: migrations, integrity, orphaned attachments, stuck outbox, calendar years, disk)."""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from pathlib import Path
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine

from core import clock

STUCK_OUTBOX_AFTER = dt.timedelta(hours=1)
MIN_FREE_BYTES = 1024 ** 3
MIN_FREE_RATIO = 0.05


@functools.lru_cache(maxsize=8)
def known_migrations(apps: tuple[str, ...]) -> frozenset[tuple[str, str]]:
    """Every (app, migration id) the code ships for these piccolo apps (the core's, each plugin's)."""
    import importlib

    from piccolo.apps.migrations.commands.base import BaseMigrationManager

    manager = BaseMigrationManager()
    found = set()
    for name in apps:
        config = importlib.import_module(name).APP_CONFIG
        modules = manager.get_migration_modules(config.resolved_migrations_folder_path)
        found.update((config.app_name, i) for i in manager.get_migration_ids(modules))
    return frozenset(found)


async def pending_migrations(platform) -> list[str]:
    from piccolo.apps.migrations.tables import Migration

    from core.migrations import app_modules

    Migration._meta.db = platform.engine  # piccolo's own table, bound to whichever database is asked
    ran = {(r["app_name"], r["name"]) for r in await Migration.select(Migration.app_name, Migration.name)}
    return sorted(f"{app}:{name}" for app, name in known_migrations(tuple(app_modules(platform.pm))) - ran)


class _Readiness:
    """Remembers that the schema was found migrated (it stays so while the process runs) and keeps
    one Redis client, so the probe costs a round trip or two."""

    def __init__(self):
        self.migrated = False
        self.redis = None


async def readiness(platform) -> dict[str, dict[str, Any]]:
    """Can this process take requests: the database answers and is migrated (and Redis answers, when
    configured). A backlog of messages is not a reason: ``/metrics`` and ``huying check`` report it."""
    from core.tables import OutboxMessage

    state = platform.__dict__.setdefault("_readiness", _Readiness())
    checks: dict[str, dict[str, Any]] = {}
    try:
        await OutboxMessage.raw("SELECT 1")
        if not state.migrated:
            pending = await pending_migrations(platform)
            state.migrated = not pending
        checks["database"] = {"ok": state.migrated,
                              "detail": "可达，已迁移到最新版本" if state.migrated else "有未执行的迁移"}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": f"不可达：{type(exc).__name__}"}
    if platform.settings.redis_url:
        try:
            if state.redis is None:
                from redis.asyncio import Redis

                state.redis = Redis.from_url(platform.settings.redis_url, socket_timeout=1,
                                             socket_connect_timeout=1)
            await state.redis.ping()
            checks["redis"] = {"ok": True, "detail": "可达"}
        except Exception as exc:
            checks["redis"] = {"ok": False, "detail": f"不可达：{type(exc).__name__}"}
    return checks


# -- the monthly health check ------------------------------------------------------------------------

class Finding(dict):
    """One line of the report: ``name``, ``ok``, ``detail``."""


def _finding(name: str, ok: bool, detail: str, *, warning: bool = False) -> Finding:
    """``ok`` False is a failure (``huying check`` exits 1); a warning is ok but worth a look (exit 2
    when nothing failed)."""
    return Finding(name=name, ok=ok, detail=detail, warning=warning and ok)


async def _integrity(platform) -> Finding:
    from core.tables import Attachment, Order, OrderEvent

    problems = []
    if isinstance(platform.engine, SQLiteEngine):
        rows = await Order.raw("PRAGMA integrity_check")
        result = [next(iter(r.values())) for r in rows]
        if result != ["ok"]:
            problems.append("SQLite 完整性检查：" + "；".join(map(str, result[:5])))
    lost_events = await OrderEvent.count().where(OrderEvent.order_id.not_in(Order.select(Order.id)))
    lost_files = await Attachment.count().where(Attachment.order_id.not_in(Order.select(Order.id)))
    if lost_events:
        problems.append(f"{lost_events} 条办理记录找不到所属工单")
    if lost_files:
        problems.append(f"{lost_files} 个附件记录找不到所属工单")
    return _finding("数据完整性", not problems, "；".join(problems) or "数据库完整，记录都有所属工单")


async def _attachments(platform) -> Finding:
    from core.tables import Attachment

    recorded = {r["key"] for r in await Attachment.select(Attachment.key)}
    root = Path(platform.attachments.root)
    stored = {p.name for p in root.glob("*/*") if p.is_file()} if root.exists() else set()
    orphaned, missing = stored - recorded, recorded - stored
    problems = []
    if orphaned:
        problems.append(f"{len(orphaned)} 个文件没有附件记录（孤立文件），例如 {sorted(orphaned)[0]}")
    if missing:
        problems.append(f"{len(missing)} 条附件记录缺少文件，例如 {sorted(missing)[0]}")
    return _finding("附件", not problems, "；".join(problems) or f"{len(recorded)} 个附件，文件与记录一致")


async def _outbox(now: dt.datetime, bound: int) -> Finding:
    from core.tables import OutboxMessage

    stuck = await OutboxMessage.select(OutboxMessage.id, OutboxMessage.topic, OutboxMessage.last_error).where(
        OutboxMessage.delivered_at.is_null() & (OutboxMessage.created_at < now - STUCK_OUTBOX_AFTER)).order_by(
        OutboxMessage.id)
    if stuck:
        first = stuck[0]
        return _finding("发件箱", False, f"{len(stuck)} 条消息超过一小时未送达，例如 #{first['id']}"
                                         f"（{first['topic']}）：{first['last_error'][:200] or '尚未尝试'}")
    # counted on the pending-outbox partial index, and no further than one past the bound
    rows = await OutboxMessage.raw(
        "SELECT count(*) AS n FROM (SELECT 1 FROM outbox WHERE delivered_at IS NULL LIMIT {}) AS pending", bound + 1)
    if rows[0]["n"] > bound:
        return _finding("发件箱", False, f"待发送消息超过 {bound} 条（积压），请检查后台任务和外部接口")
    return _finding("发件箱", True, f"没有滞留消息，待发送 {rows[0]['n']} 条")


async def _search_index(platform) -> Finding:
    """Orders without a search document cannot be found by ``q=`` (bulk-written history, a partial
    copy): counted, with the command that repairs them."""
    from core.reindex import missing_count

    missing = await missing_count(platform)
    if missing:
        return _finding("搜索索引", False, f"{missing} 张工单不在搜索索引中，按内容和编号搜不到："
                                          "请运行 huying reindex 重建索引（服务运行中也可执行）")
    return _finding("搜索索引", True, "每张工单都在搜索索引中")


def _calendar(platform, today: dt.date) -> Finding:
    """This year's and, within 60 days of its start, next year's holidays should be official (from the
    package or imported). A provisional year still counts its statutory holidays, without 调休, so it
    is a warning, not a failure."""
    from core.calendar_admin import BANNER_DAYS

    calendar = platform.calendar
    needed = [today.year]
    if (dt.date(today.year + 1, 1, 1) - today).days < BANNER_DAYS:
        needed.append(today.year + 1)
    provisional = [y for y in needed if calendar.year_source(y) == "provisional"]
    if provisional:
        return _finding("工作日历", True, f"{'、'.join(map(str, provisional))} 年的节假日安排尚未导入，目前按法定节日推算"
                                         "（不含调休）：国务院公布后请导入（huying calendar import 或管理端工作日历）",
                        warning=True)
    return _finding("工作日历", True, f"已知 {'、'.join(map(str, needed))} 年的节假日和调休")


def _disk(platform) -> Finding:
    paths = [Path(platform.settings.var_dir)]
    if platform.settings.is_sqlite:
        paths.append(platform.settings.sqlite_path.parent)
    problems, shown = [], []
    for path in dict.fromkeys(p.resolve() for p in paths if p.exists()):
        usage = shutil.disk_usage(path)
        shown.append(f"{path} 剩余 {usage.free / 1024 ** 3:.1f} GB（{usage.free / usage.total:.0%}）")
        if usage.free < MIN_FREE_BYTES or usage.free / usage.total < MIN_FREE_RATIO:
            problems.append(f"{path} 空间不足")
    return _finding("磁盘空间", not problems, "；".join(problems + shown))


async def monthly_check(platform, now: dt.datetime | None = None) -> list[Finding]:
    now = now or clock.now()
    pending = await pending_migrations(platform)
    findings = [_finding("数据库迁移", not pending,
                         f"有 {len(pending)} 个迁移未执行：{', '.join(pending[:5])}" if pending else "已是最新版本")]
    findings.append(await _integrity(platform))
    findings.append(await _attachments(platform))
    findings.append(await _outbox(now, platform.settings.check_max_outbox_backlog))
    findings.append(await _search_index(platform))
    from core.orders import LOCAL_TZ

    findings.append(_calendar(platform, now.astimezone(LOCAL_TZ).date()))
    findings.append(_disk(platform))
    return findings
