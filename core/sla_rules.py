"""The centre's time limits (时限规则): each channel's limits as its plugin declares them (``SlaDefaults``),
replaced one by one where an admin set the city's own rule, with every change audited.

An order keeps the limits it was received under: intake stores a small snapshot of them on the order
(``orders.sla_limits``) and every later deadline of that order is counted from the snapshot, so a change
applies to orders received after it only. Orders without a snapshot (received before the rules could
be set) are counted by the plugin's declaration.

The rules are read once per process and re-read after ``TTL`` seconds (or at once in the process that
changed them), so intake reads no table and every process follows a change within a minute.
"""

from __future__ import annotations

import math
import sqlite3
import time
from typing import Annotated, Any

import asyncpg
import msgspec

from core import clock
from core.channels import KINDS, SlaDefaults
from core.calendar import local_iso
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput
from core.model import CENTRE_ROLES, Actor

UNITS: dict[str, tuple[str, int, int]] = {  # unit → (label, lowest, highest)
    "working_hours": ("工作小时", 1, 720),
    "working_days": ("工作日", 1, 365),
    "natural_hours": ("自然小时", 1, 720),
}

# rule → (label, unit, explanation); in the order a page lists them. ``handle_days`` is set per kind.
RULES: dict[str, tuple[str, str, str]] = {
    "dispatch_hours": ("派单时限", "working_hours", "受理后派到承办单位的时限"),
    "accept_days": ("签收时限", "working_days", "派单后承办单位签收的时限"),
    "handle_days": ("办理时限", "working_days", "受理后办结答复的时限，按诉求类型"),
    "urgent_natural_hours": ("紧急工单办理时限", "natural_hours", "紧急工单从受理起按自然小时计"),
    "callback_days": ("回访时限", "working_days", "办结后回访市民的时限"),
    "appeal_days": ("申诉时限", "working_days", "不满意评价后承办单位申诉的期限"),
    "appeal_review_days": ("申诉审核时限", "working_days", "承办单位申诉后中心审核并作出决定的时限"),
    "difficult_days": ("疑难工单延长时限", "working_days", "工单认定为疑难后，办理时限顺延的工作日数"),
}
SOURCES = {"default": "渠道默认", "centre": "中心设定"}
SETTING = "sla_rule"  # the ``setting_changes`` rows of this module
READERS = CENTRE_ROLES | {"auditor"}
REASON_LIMIT = 500
CHANGES_LIMIT = 200  # one request changes at most this many limits (every channel's are fewer)
HISTORY_LIMIT = 200
DUPLICATE_KEY = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)


class RuleChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One limit to change: a new ``value``, or ``reset`` to the channel's own default; always a reason."""

    channel: Annotated[str, msgspec.Meta(max_length=64, description="渠道代码")]
    rule: Annotated[str, msgspec.Meta(max_length=32, description="时限：" + "、".join(
        f"{k} {v[0]}" for k, v in RULES.items()))]
    kind: Annotated[str, msgspec.Meta(max_length=32, description="诉求类型（仅办理时限）")] | None = None
    value: Annotated[float, msgspec.Meta(description="新的时限（单位见 GET 的 unit_label）")] | None = None
    reset: Annotated[bool, msgspec.Meta(description="恢复为渠道插件声明的默认值")] = False
    reason: Annotated[str, msgspec.Meta(max_length=REASON_LIMIT * 4, description="修改原因（必填，记录在案）")] = ""


def rule_label(rule: str, kind: str | None) -> str:
    label = RULES[rule][0] if rule in RULES else rule
    return f"{label}（{KINDS.get(kind, kind)}）" if kind else label


def item_key(rule: str, kind: str | None) -> str:
    return f"{rule}:{kind}" if kind else rule


def defaults_of(sla: SlaDefaults, rule: str, kind: str | None) -> float:
    if rule == "handle_days":
        return sla.handle_days_by_kind.get(kind or "", SlaDefaults().handle_days_by_kind.get(kind or "", 13))
    return getattr(sla, rule)


def _number(value: float) -> int | float:
    """2.0 → 2, so limits read as people write them."""
    return int(value) if float(value).is_integer() else value


def snapshot_of(sla: SlaDefaults, kind: str, setting=lambda rule, kind: None) -> dict[str, Any]:
    """The limits an order of this kind counts its deadlines by (what ``orders.sla_limits`` holds)."""
    def pick(rule: str, kind: str | None = None):
        found = setting(rule, kind)
        return _number(defaults_of(sla, rule, kind) if found is None else found)

    return {"dispatch_hours": pick("dispatch_hours"), "accept_days": pick("accept_days"),
            "handle_days": pick("handle_days", kind), "urgent_natural_hours": pick("urgent_natural_hours"),
            "callback_days": pick("callback_days"), "appeal_days": pick("appeal_days"),
            "appeal_review_days": pick("appeal_review_days"), "difficult_days": pick("difficult_days")}


class SlaRules:
    """The limits in force, per channel: the centre's settings over the plugins' declarations."""

    TTL = 30.0  # how soon another process sees a change (a minute at most, with a request's own delay)

    def __init__(self, channels):
        self.channels = channels
        self._settings: dict[tuple[str, str, str], dict[str, Any]] = {}
        self._loaded_at: float | None = None

    async def load(self) -> None:
        from core.tables import SlaRule

        rows = await SlaRule.select()
        self._settings = {(r["channel"], r["rule"], r["kind"]): r for r in rows}
        self._loaded_at = time.monotonic()

    async def refresh(self) -> None:
        if self._loaded_at is None or time.monotonic() - self._loaded_at > self.TTL:
            await self.load()

    def setting(self, channel: str, rule: str, kind: str | None) -> dict[str, Any] | None:
        return self._settings.get((channel, rule, kind or ""))

    def snapshot(self, channel: str, kind: str) -> dict[str, Any]:
        """The limits in force now for a new order of this channel and kind."""
        declared = self.channels.get(channel)
        sla = declared.sla if declared else SlaDefaults()

        def setting(rule, kind):
            row = self.setting(channel, rule, kind)
            return None if row is None else row["value"]

        return snapshot_of(sla, kind, setting)

    def _items(self, channel) -> list[tuple[str, str | None]]:
        items: list[tuple[str, str | None]] = []
        for rule in RULES:
            if rule == "handle_days":
                items.extend((rule, kind) for kind in channel.kinds)
            else:
                items.append((rule, None))
        return items

    def listing(self) -> list[dict[str, Any]]:
        """Every channel's limits with labels, value, default and who set it (what the API and the page show)."""
        out = []
        for channel in self.channels:
            for rule, kind in self._items(channel):
                label, unit, explanation = RULES[rule]
                unit_label, low, high = UNITS[unit]
                default = _number(defaults_of(channel.sla, rule, kind))
                row = self.setting(channel.code, rule, kind)
                out.append({
                    "channel": channel.code, "channel_name": channel.name, "rule": rule, "kind": kind,
                    "kind_label": KINDS.get(kind) if kind else None, "label": rule_label(rule, kind),
                    "explanation": explanation, "unit": unit, "unit_label": unit_label, "min": low, "max": high,
                    "value": _number(row["value"]) if row else default, "default": default,
                    "source": "centre" if row else "default",
                    "source_label": SOURCES["centre" if row else "default"],
                    "changed_by": row["updated_by"] if row else None,
                    "changed_at": local_iso(row["updated_at"]) if row else None,
                    "reason": row["reason"] if row else "",
                })
        return out

    def _check(self, index: int, change: RuleChange, seen: set) -> tuple[list[FieldError], Any]:
        at = f"changes.{index}"
        errors: list[FieldError] = []
        channel = self.channels.get(change.channel)
        if channel is None:
            return [FieldError(f"{at}.channel", f"没有渠道「{change.channel}」")], None
        if change.rule not in RULES:
            return [FieldError(f"{at}.rule", f"没有时限「{change.rule}」，可选：{'、'.join(RULES)}")], None
        if change.rule == "handle_days":
            if change.kind not in channel.kinds:
                names = "、".join(KINDS[k] for k in channel.kinds)
                return [FieldError(f"{at}.kind", f"{channel.name}不受理诉求类型「{change.kind or ''}」，"
                                                 f"办理时限按类型设定：{names}")], None
        elif change.kind is not None:
            return [FieldError(f"{at}.kind", f"只有办理时限按诉求类型设定，{RULES[change.rule][0]}不分类型")], None
        key = (change.channel, change.rule, change.kind or "")
        if key in seen:
            errors.append(FieldError(at, f"{channel.name}的{rule_label(change.rule, change.kind)}在本次修改中出现了两次"))
        seen.add(key)
        unit_label, low, high = UNITS[RULES[change.rule][1]]
        if change.reset:
            if change.value is not None:
                errors.append(FieldError(f"{at}.value", "恢复默认时不填写新值"))
        elif change.value is None:
            errors.append(FieldError(f"{at}.value", "请填写新的时限，或选择恢复默认"))
        else:
            value = change.value
            days = RULES[change.rule][1] == "working_days"
            whole = math.isfinite(value) and (value.is_integer() if days else (value * 2).is_integer())
            if not (math.isfinite(value) and low <= value <= high) or not whole:
                step = "整数" if days else "数（可到半小时，如 1.5）"
                errors.append(FieldError(f"{at}.value", f"{rule_label(change.rule, change.kind)}须是 {low} 到 {high} "
                                                        f"之间的{step}，单位：{unit_label}"))
        reason = change.reason.strip()
        if not reason:
            errors.append(FieldError(f"{at}.reason", "请写明修改原因（将记录在案）"))
        elif len(reason) > REASON_LIMIT:
            errors.append(FieldError(f"{at}.reason", f"修改原因不能超过 {REASON_LIMIT} 个字"))
        elif any(ord(c) < 32 and c not in "\n\t" for c in reason):
            errors.append(FieldError(f"{at}.reason", "不能含有控制字符"))
        return errors, channel

    async def change(self, changes: list[RuleChange], actor: Actor) -> list[dict[str, Any]]:
        """Apply the changes together (all or none), each with its audit row in the same transaction.
        Returns the audit rows written, as ``history`` shows them."""
        if actor.role != "admin":
            raise Forbidden("只有管理员可以修改时限规则")
        if not changes:
            raise InvalidInput([FieldError("changes", "请至少修改一项时限")], "时限规则填写有误")
        if len(changes) > CHANGES_LIMIT:
            raise InvalidInput([FieldError("changes", f"一次最多修改 {CHANGES_LIMIT} 项")], "时限规则填写有误")
        errors: list[FieldError] = []
        checked = []
        seen: set = set()
        for index, change in enumerate(changes):
            found, channel = self._check(index, change, seen)
            errors.extend(found)
            checked.append((index, change, channel))
        if errors:
            raise InvalidInput(errors, "时限规则填写有误")
        try:
            written = await self._write(checked, actor)
        except DUPLICATE_KEY:  # another admin set the same limit in the same instant
            raise Conflict("另一位管理员刚刚修改了同一项时限，请刷新后重试") from None
        await self.load()  # this process at once; the others within TTL
        return [self._present_change(a) for a in written]

    async def _write(self, checked: list, actor: Actor) -> list[dict[str, Any]]:
        from core.tables import SettingChange, SlaRule

        now = clock.now()
        written = []
        async with write_transaction(SlaRule._meta.db):
            for index, change, channel in checked:
                kind = change.kind or ""
                key = f"{change.channel}/{change.rule}/{kind}"
                where = SlaRule.key == key
                row = await SlaRule.select().where(where).first()  # read inside: two admins at once stay in order
                default = _number(defaults_of(channel.sla, change.rule, change.kind))
                old = ({"value": _number(row["value"]), "source": "centre"} if row
                       else {"value": default, "source": "default"})
                if change.reset:
                    if row is None:
                        raise InvalidInput([FieldError(f"changes.{index}.reset", f"{channel.name}的"
                                                       f"{rule_label(change.rule, change.kind)}已是渠道默认值")],
                                           "时限规则填写有误")
                    await SlaRule.delete().where(where)
                    new = {"value": default, "source": "default"}
                else:
                    value = float(change.value)
                    if row is not None and float(row["value"]) == value:
                        raise InvalidInput([FieldError(f"changes.{index}.value", f"{channel.name}的"
                                                       f"{rule_label(change.rule, change.kind)}已是 {_number(value)}")],
                                           "时限规则填写有误")
                    values = {SlaRule.value: value, SlaRule.reason: change.reason.strip(),
                              SlaRule.updated_by: actor.name, SlaRule.updated_at: now}
                    if row is None:
                        await SlaRule.insert(SlaRule(key=key, channel=change.channel, rule=change.rule, kind=kind,
                                                     value=value, reason=change.reason.strip(),
                                                     updated_by=actor.name, updated_at=now))
                    else:
                        await SlaRule.update(values).where(where)
                    new = {"value": _number(value), "source": "centre"}
                audit = {"setting": SETTING, "scope": change.channel, "item": item_key(change.rule, change.kind),
                         "old_value": old, "new_value": new, "reason": change.reason.strip(),
                         "actor": actor.name, "role": actor.role, "created_at": now}
                await SettingChange.insert(SettingChange(**audit))
                written.append(audit)
        return written

    def _present_change(self, row: dict[str, Any]) -> dict[str, Any]:
        rule, _, kind = row["item"].partition(":")
        channel = self.channels.get(row["scope"])
        old, new = row["old_value"] or {}, row["new_value"] or {}
        unit = UNITS[RULES[rule][1]][0] if rule in RULES else ""
        return {"channel": row["scope"], "channel_name": channel.name if channel else row["scope"],
                "rule": rule, "kind": kind or None, "label": rule_label(rule, kind or None), "unit_label": unit,
                "old_value": old.get("value"), "old_source": old.get("source"),
                "old_source_label": SOURCES.get(old.get("source", ""), ""),
                "new_value": new.get("value"), "new_source": new.get("source"),
                "new_source_label": SOURCES.get(new.get("source", ""), ""),
                "reason": row["reason"], "changed_by": row["actor"], "at": local_iso(row["created_at"])}

    async def history(self, *, channel: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The latest changes first (at most ``HISTORY_LIMIT``)."""
        from core.tables import SettingChange

        query = SettingChange.select().where(SettingChange.setting == SETTING)
        if channel:
            query = query.where(SettingChange.scope == channel)
        rows = await query.order_by(SettingChange.id, ascending=False).limit(
            max(1, min(limit, HISTORY_LIMIT))).output(load_json=True)
        return [self._present_change(r) for r in rows]


def check_reader(actor: Actor) -> None:
    if actor.role not in READERS:
        raise Forbidden("只有中心人员可以查看时限规则")
