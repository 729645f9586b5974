"""来源: how an order arrived. The fixed ways in (phone, city transfer, web form, mailbox, API) and the
message boards (网络留言板): 区红网 and 区人民网 are built in, and an admin adds any other board, each a
source of its own, so lists filter on it and every report counts it apart (the reports' breakdown
by source). The boards count among the 特色工单 (``featured``), with the special-service lines.

The labels live in ``core.channels.SOURCES``, which this registry keeps current with the boards an
admin added (read at start-up, again after ``TTL`` seconds, and at once in the process that added one).
"""

from __future__ import annotations

import re
import sqlite3
import time
from typing import Any

import asyncpg

from core import clock
from core.calendar import local_iso
from core.channels import BOARDS, BUILTIN_SOURCES, SOURCES
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput
from core.model import CENTRE_ROLES, Actor

CODE = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
NAME_LIMIT = 64
BOARDS_LIMIT = 100  # boards an admin may add (each is a source every report lists)
SETTING = "netboard"  # the ``setting_changes`` rows of this module
DUPLICATE_KEY = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)
NETBOARDS: set[str] = {"netboard", *BOARDS}  # every board source; the admin's are added on load


class SourceRegistry:
    TTL = 30.0

    def __init__(self):
        self._loaded_at: float | None = None

    async def load(self) -> None:
        from core.tables import Netboard

        rows = {r["code"]: r["name"] for r in await Netboard.select(Netboard.code, Netboard.name)}
        for code in set(SOURCES) - set(BUILTIN_SOURCES) - set(rows):  # a board no longer stored
            del SOURCES[code]
            NETBOARDS.discard(code)
        for code, name in rows.items():
            SOURCES.setdefault(code, name)
            NETBOARDS.add(code)
        self._loaded_at = time.monotonic()

    async def refresh(self) -> None:
        if self._loaded_at is None or time.monotonic() - self._loaded_at > self.TTL:
            await self.load()

    @staticmethod
    def netboards() -> dict[str, str]:
        """Every board source with its label, the built-in ones first."""
        return {code: SOURCES[code] for code in sorted(NETBOARDS, key=lambda c: (c not in BOARDS, c != "netboard", c))
                if code in SOURCES}

    async def listing(self) -> list[dict[str, Any]]:
        from core.tables import Netboard

        added = {r["code"]: r for r in await Netboard.select()}
        return [{"code": code, "name": name, "builtin": code not in added,
                 "added_by": added[code]["added_by"] if code in added else None,
                 "added_at": local_iso(added[code]["added_at"]) if code in added else None}
                for code, name in self.netboards().items()]

    async def add(self, code: str, name: str, actor: Actor) -> dict[str, Any]:
        """An admin adds a board: from then on it is a source orders are filed, listed and counted under."""
        from core.tables import Netboard, SettingChange

        if actor.role != "admin":
            raise Forbidden("只有管理员可以添加网络留言板")
        code, name = code.strip(), name.strip()
        errors = []
        if not CODE.match(code):
            errors.append(FieldError("code", "代码须为 2 到 32 个小写字母、数字或下划线，以字母开头"))
        elif code in SOURCES:
            errors.append(FieldError("code", f"已有来源使用代码 {code}（{SOURCES[code]}）"))
        if not name or len(name) > NAME_LIMIT or any(ord(c) < 32 for c in name):
            errors.append(FieldError("name", f"请填写留言板名称（不超过 {NAME_LIMIT} 个字）"))
        elif name in SOURCES.values():
            errors.append(FieldError("name", f"已有来源叫「{name}」"))
        if errors:
            raise InvalidInput(errors, "留言板填写有误")
        if await Netboard.count() >= BOARDS_LIMIT:
            raise Conflict(f"最多添加 {BOARDS_LIMIT} 个留言板")
        now = clock.now()
        try:
            async with write_transaction(Netboard._meta.db):
                await Netboard.insert(Netboard(code=code, name=name, added_by=actor.name, added_at=now))
                await SettingChange.insert(SettingChange(
                    setting=SETTING, scope=code, item="name", old_value=None, new_value={"name": name},
                    reason="添加网络留言板", actor=actor.name, role=actor.role, created_at=now))
        except DUPLICATE_KEY:
            raise Conflict("另一位管理员刚刚添加了同一个留言板") from None
        await self.load()
        return {"code": code, "name": name, "builtin": False, "added_by": actor.name, "added_at": local_iso(now)}


def check_reader(actor: Actor) -> None:
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看留言板")
