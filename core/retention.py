"""保管期限 and 销毁: how long the centre keeps its orders, and the audited purge of what its rules allow.

A rule names which orders it covers (a channel, a kind of request, or a kind within a channel), how
many years after the order was archived it is kept (1–100), and the archive rule the centre follows
(``basis``, e.g. 《档案管理办法》第X条). Without rules everything is kept. Where several rules cover an
order, the longest period wins. Every change of a rule is a ``setting_changes`` row, as the time
limits' are.

An order is due for destruction (``due``) when it is archived (or merged into an order that is, or
was destroyed) and its archive time plus its rule's years is before now (the platform clock). An open
order, one under appeal, one on a coordination meeting still under way, one with a message not yet
delivered, or one no rule covers is never due.

``purge`` destroys what is due in batches of ``BATCH`` orders, one transaction each, so ten million
orders never make one unbounded transaction: every row of the order in every core table that names it
(events, attachments and their files, the search index, survey calls, assisting parts, 质检 samples,
site visits, call links and dials, meeting rows, knowledge citations, text messages, discrepancies, the
delivered outbox), and each plugin's own rows through the ``purge_order_rows`` hook. On SQLite the
newest order is always kept: a new order takes the highest id plus one, and must never take a
destroyed order's id. The report facts
(``report_facts``: channel, kind, department, area and instants, nothing personal) are kept so past
reports still count those orders. Each run writes the destruction register (销毁清册): a ``purge_runs``
row and one ``purged_orders`` row per destroyed order, without personal data, never deleted.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import msgspec

from core import clock
from core.calendar import local_iso
from core.channels import KINDS
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import CENTRE_ROLES, Actor

log = logging.getLogger(__name__)

SETTING = "retention_rule"  # the ``setting_changes`` rows of this module
YEARS = (1, 100)
BASIS_LIMIT = 500
BATCH = 500  # orders destroyed per transaction
READERS = CENTRE_ROLES | {"auditor"}
CLOSED = ("archived", "merged")
DUPLICATE_KEY = (asyncpg.UniqueViolationError, sqlite3.IntegrityError)
ANY_CHANNEL, ANY_KIND = "所有渠道", "所有类型"


class RuleInput(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One rule as an admin sets it: which orders (a channel, a kind, or both), for how long, and why."""

    channel: str = ""
    kind: str = ""
    years: int | None = None
    basis: str = ""


class Rule(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    channel: str
    kind: str
    years: int
    basis: str

    def covers(self, channel: str, kind: str) -> bool:
        return self.channel in ("", channel) and self.kind in ("", kind)


class DueOrder(msgspec.Struct, frozen=True, kw_only=True):
    """An order the rules allow to destroy now, with what the register keeps of it."""

    id: int
    number: str
    channel: str
    kind: str
    status: str
    received_at: dt.datetime
    closed_at: dt.datetime
    rule: Rule


def rule_key(channel: str, kind: str) -> str:
    return f"{channel or '*'}/{kind or '*'}"


def years_before(moment: dt.datetime, years: int) -> dt.datetime:
    """``moment`` less whole calendar years (29 February falls back to the 28th)."""
    try:
        return moment.replace(year=moment.year - years)
    except ValueError:
        return moment.replace(year=moment.year - years, day=28)


class Retention:
    """The rules, what is due, and the purge, over the platform's channels, plugins and file store."""

    def __init__(self, channels, pm, store, engine):
        self.channels = channels
        self.pm = pm
        self.store = store
        self.engine = engine

    def _sqlite(self) -> bool:
        from piccolo.engine.sqlite import SQLiteEngine

        return isinstance(self.engine, SQLiteEngine)

    # -- the rules -------------------------------------------------------------------------------

    def scope_label(self, channel: str, kind: str) -> str:
        found = self.channels.get(channel) if channel else None
        name = found.name if found else (channel or ANY_CHANNEL)
        return f"{name} · {KINDS.get(kind, kind) if kind else ANY_KIND}"

    async def rules(self) -> list[Rule]:
        from core.tables import RetentionRule

        rows = await RetentionRule.select().order_by(RetentionRule.channel).order_by(RetentionRule.kind)
        return [Rule(key=r["key"], channel=r["channel"], kind=r["kind"], years=r["years"], basis=r["basis"])
                for r in rows]

    async def listing(self) -> list[dict[str, Any]]:
        """The rules as people read them (labels, who set each and when)."""
        from core.tables import RetentionRule

        rows = await RetentionRule.select().order_by(RetentionRule.channel).order_by(RetentionRule.kind)
        return [{"key": r["key"], "channel": r["channel"], "kind": r["kind"], "years": r["years"],
                 "basis": r["basis"], "label": self.scope_label(r["channel"], r["kind"]),
                 "changed_by": r["updated_by"], "changed_at": local_iso(r["updated_at"])} for r in rows]

    def _check(self, rule: RuleInput) -> list[FieldError]:
        errors = []
        if rule.channel and self.channels.get(rule.channel) is None:
            errors.append(FieldError("channel", f"没有渠道「{rule.channel}」"))
        if rule.kind and rule.kind not in KINDS:
            errors.append(FieldError("kind", f"没有诉求类型「{rule.kind}」，可选：{'、'.join(KINDS.values())}"))
        if not rule.channel and not rule.kind:
            errors.append(FieldError("channel", "请选择渠道或诉求类型（至少一项）"))
        low, high = YEARS
        if rule.years is None:
            errors.append(FieldError("years", "请填写保管年限"))
        elif not low <= rule.years <= high:
            errors.append(FieldError("years", f"保管年限须是 {low} 到 {high} 之间的整数（年）"))
        basis = rule.basis.strip()
        if not basis:
            errors.append(FieldError("basis", "请写明依据（如《档案管理办法》第X条）"))
        elif len(basis) > BASIS_LIMIT:
            errors.append(FieldError("basis", f"依据不能超过 {BASIS_LIMIT} 个字"))
        elif any(ord(c) < 32 and c not in "\n\t" for c in basis):
            errors.append(FieldError("basis", "不能含有控制字符"))
        return errors

    async def set_rule(self, rule: RuleInput, actor: Actor) -> dict[str, Any]:
        """Add the rule, or change the one of the same scope; audited with the basis as its reason."""
        from core.tables import RetentionRule, SettingChange

        if actor.role != "admin":
            raise Forbidden("只有管理员可以修改保管期限")
        errors = self._check(rule)
        if errors:
            raise InvalidInput(errors, "保管期限填写有误")
        key, basis, now = rule_key(rule.channel, rule.kind), rule.basis.strip(), clock.now()
        try:
            async with write_transaction(self.engine):
                row = await RetentionRule.select().where(RetentionRule.key == key).first()
                old = {"years": row["years"], "basis": row["basis"]} if row else None
                new = {"years": rule.years, "basis": basis}
                if old == new:
                    raise InvalidInput([FieldError("years", f"{self.scope_label(rule.channel, rule.kind)}已是 "
                                                            f"{rule.years} 年，依据相同")], "保管期限填写有误")
                if row is None:
                    await RetentionRule.insert(RetentionRule(key=key, channel=rule.channel, kind=rule.kind,
                                                             years=rule.years, basis=basis, updated_by=actor.name,
                                                             updated_at=now))
                else:
                    await RetentionRule.update({RetentionRule.years: rule.years, RetentionRule.basis: basis,
                                                RetentionRule.updated_by: actor.name,
                                                RetentionRule.updated_at: now}).where(RetentionRule.key == key)
                await SettingChange.insert(SettingChange(setting=SETTING, scope=rule.channel, item=key,
                                                         old_value=old, new_value=new, reason=basis,
                                                         actor=actor.name, role=actor.role, created_at=now))
        except DUPLICATE_KEY:
            raise Conflict("另一位管理员刚刚设定了同一范围的保管期限，请刷新后重试") from None
        return {"key": key, "label": self.scope_label(rule.channel, rule.kind), "old": old, "new": new}

    async def remove_rule(self, key: str, reason: str, actor: Actor) -> dict[str, Any]:
        """Delete a rule (its orders are then kept, unless another rule covers them); audited."""
        from core.tables import RetentionRule, SettingChange

        if actor.role != "admin":
            raise Forbidden("只有管理员可以修改保管期限")
        reason = reason.strip()
        if not reason:
            raise InvalidInput([FieldError("reason", "请写明删除原因（将记录在案）")], "保管期限填写有误")
        if len(reason) > BASIS_LIMIT:
            raise InvalidInput([FieldError("reason", f"原因不能超过 {BASIS_LIMIT} 个字")], "保管期限填写有误")
        async with write_transaction(self.engine):
            row = await RetentionRule.select().where(RetentionRule.key == key[:100]).first()
            if row is None:
                raise NotFound("没有这条保管期限规则")
            await RetentionRule.delete().where(RetentionRule.key == row["key"])
            await SettingChange.insert(SettingChange(
                setting=SETTING, scope=row["channel"], item=row["key"],
                old_value={"years": row["years"], "basis": row["basis"]}, new_value=None, reason=reason,
                actor=actor.name, role=actor.role, created_at=clock.now()))
        return {"key": row["key"], "label": self.scope_label(row["channel"], row["kind"])}

    async def history(self, limit: int = 50) -> list[dict[str, Any]]:
        from core.tables import SettingChange

        rows = await SettingChange.select().where(SettingChange.setting == SETTING).order_by(
            SettingChange.id, ascending=False).limit(max(1, min(limit, 200))).output(load_json=True)
        out = []
        for r in rows:
            channel, _, kind = r["item"].partition("/")
            label = self.scope_label("" if channel == "*" else channel, "" if kind == "*" else kind)
            old, new = r["old_value"], r["new_value"]
            out.append({"at": local_iso(r["created_at"]), "label": label, "changed_by": r["actor"],
                        "old": f"{old['years']} 年" if old else "（无）",
                        "new": f"{new['years']} 年" if new else "（已删除）", "reason": r["reason"]})
        return out

    # -- what is due -----------------------------------------------------------------------------

    @staticmethod
    def rule_for(rules: list[Rule], channel: str, kind: str) -> Rule | None:
        """The rule an order of this channel and kind is kept under: the longest of those covering it
        (the more specific one on a tie); none when no rule covers it."""
        covering = [r for r in rules if r.covers(channel, kind)]
        if not covering:
            return None
        return max(covering, key=lambda r: (r.years, bool(r.channel) + bool(r.kind)))

    async def batches(self, now: dt.datetime | None = None, *, size: int = BATCH,
                      rules: list[Rule] | None = None) -> AsyncIterator[list[DueOrder]]:
        """The due orders, a batch at a time (read by id, each read bounded by ``size`` orders)."""
        from core.tables import Order

        now = now or clock.now()
        rules = await self.rules() if rules is None else rules
        if not rules:
            return
        # an order is archived after it was received: none received after the shortest cutoff is due
        newest = years_before(now, min(r.years for r in rules))
        scope = None
        for r in rules:
            clause = None
            if r.channel:
                clause = Order.channel == r.channel
            if r.kind:
                clause = (Order.kind == r.kind) if clause is None else clause & (Order.kind == r.kind)
            scope = clause if scope is None else scope | clause
        if self._sqlite():
            # SQLite hands a new row the highest id plus one: the newest order stays, so no new order
            # ever takes the id of a destroyed one (its report facts keep that id)
            top = await Order.select(Order.id).order_by(Order.id, ascending=False).first()
            scope = scope & (Order.id < (top["id"] if top else 0))
        after = 0
        while True:
            rows = await Order.select(Order.id, Order.number, Order.channel, Order.kind, Order.status,
                                      Order.received_at, Order.merged_into).where(
                (Order.id > after) & Order.status.is_in(list(CLOSED)) & (Order.received_at < newest) & scope
            ).order_by(Order.id).limit(size)
            if not rows:
                return
            after = rows[-1]["id"]
            found = await self._due_among(rows, rules, now)
            if found:
                yield found
            if len(rows) < size:
                return

    async def _closed_at(self, ids: list[int]) -> dict[int, dt.datetime]:
        """When each order was last archived (or merged), from its audit trail."""
        from core.tables import OrderEvent

        if not ids:
            return {}
        rows = await OrderEvent.select(OrderEvent.order_id, OrderEvent.created_at).where(
            OrderEvent.order_id.is_in(ids) & OrderEvent.to_status.is_in(list(CLOSED)))
        out: dict[int, dt.datetime] = {}
        for r in rows:
            if r["order_id"] not in out or r["created_at"] > out[r["order_id"]]:
                out[r["order_id"]] = r["created_at"]
        return out

    async def _due_among(self, rows: list[dict], rules: list[Rule], now: dt.datetime) -> list[DueOrder]:
        from core.tables import Meeting, MeetingDecision, MeetingOrder, Order, OutboxMessage, PurgedOrder

        closed = await self._closed_at([r["id"] for r in rows])
        # a merged order closes with the order it was merged into: archived, or already destroyed
        targets = {r["merged_into"] for r in rows if r["status"] == "merged" and r["merged_into"]}
        target_closed: dict[str, dt.datetime] = {}
        if targets:
            found = await Order.select(Order.id, Order.number).where(
                Order.number.is_in(list(targets)) & (Order.status == "archived"))
            times = await self._closed_at([t["id"] for t in found])
            target_closed = {t["number"]: times[t["id"]] for t in found if t["id"] in times}
            if gone := list(targets - set(target_closed)):
                for row in await PurgedOrder.select(PurgedOrder.number, PurgedOrder.closed_at).where(
                        PurgedOrder.number.is_in(gone)):
                    target_closed[row["number"]] = row["closed_at"]
        candidates: list[DueOrder] = []
        for r in rows:
            rule = self.rule_for(rules, r["channel"], r["kind"])
            at = closed.get(r["id"])
            if rule is None or at is None:
                continue
            if r["status"] == "merged":
                target = target_closed.get(r["merged_into"] or "")
                if target is None:
                    continue  # the order it was merged into is still being handled
                at = max(at, target)
            if at < years_before(now, rule.years):
                candidates.append(DueOrder(id=r["id"], number=r["number"], channel=r["channel"], kind=r["kind"],
                                           status=r["status"], received_at=r["received_at"], closed_at=at,
                                           rule=rule))
        if not candidates:
            return []
        numbers = [c.number for c in candidates]
        held: set[str] = set()
        # on a coordination meeting still under way (no minutes yet, or a decision not done)
        links = await MeetingOrder.select(MeetingOrder.meeting_id, MeetingOrder.order_number).where(
            MeetingOrder.order_number.is_in(numbers))
        if links:
            meeting_ids = list({m["meeting_id"] for m in links})
            open_meetings = {m["id"] for m in await Meeting.select(Meeting.id).where(
                Meeting.id.is_in(meeting_ids) & Meeting.minutes_at.is_null())}
            open_meetings |= {d["meeting_id"] for d in await MeetingDecision.select(MeetingDecision.meeting_id).where(
                MeetingDecision.meeting_id.is_in(meeting_ids) & MeetingDecision.done_at.is_null())}
            held |= {m["order_number"] for m in links if m["meeting_id"] in open_meetings}
        # a message about it still waiting to be delivered
        held |= {m["order_number"] for m in await OutboxMessage.select(OutboxMessage.order_number).where(
            OutboxMessage.order_number.is_in(numbers) & OutboxMessage.delivered_at.is_null()
            & OutboxMessage.abandoned_at.is_null())}
        return [c for c in candidates if c.number not in held]

    async def due(self, now: dt.datetime | None = None) -> list[DueOrder]:
        """Every order the rules allow to destroy at ``now`` (the platform clock's by default)."""
        return [order async for batch in self.batches(now) for order in batch]

    async def summary(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """What a purge would destroy now, per rule: how many orders and the oldest and newest archive
        dates. Writes nothing."""
        rules = await self.rules()
        per: dict[str, dict[str, Any]] = {
            r.key: {"key": r.key, "label": self.scope_label(r.channel, r.kind), "years": r.years, "basis": r.basis,
                    "count": 0, "oldest": None, "newest": None} for r in rules}
        async for batch in self.batches(now, rules=rules, size=BATCH * 4):  # reads only: larger steps
            for order in batch:
                row = per[order.rule.key]
                row["count"] += 1
                row["oldest"] = min(filter(None, (row["oldest"], order.closed_at)))
                row["newest"] = max(filter(None, (row["newest"], order.closed_at)))
        for row in per.values():
            for name in ("oldest", "newest"):
                row[name] = row[name].astimezone(clock.SHANGHAI).date().isoformat() if row[name] else None
        return list(per.values())

    # -- the purge -------------------------------------------------------------------------------

    async def purge(self, operator: Actor, *, now: dt.datetime | None = None, via: str = "cli",
                    size: int = BATCH, progress: Callable[[int], Any] | None = None) -> dict[str, Any]:
        """Destroy every order due at ``now``, ``size`` orders per transaction, as ``operator`` (an admin).
        Returns the run as the register shows it."""
        from core.reports import facts
        from core.tables import PurgeRun

        if operator.role != "admin":
            raise Forbidden("只有管理员可以销毁到期工单")
        now = now or clock.now()
        rules = await self.rules()
        await facts.refresh()  # the report facts hold each order's final state before it goes
        async with write_transaction(self.engine):
            run = (await PurgeRun.insert(PurgeRun(
                operator=operator.name, role=operator.role, via=via, started_at=clock.now(),
                rules=[{"key": r.key, "label": self.scope_label(r.channel, r.kind), "years": r.years,
                        "basis": r.basis} for r in rules])).returning(PurgeRun.id))[0]["id"]
        destroyed = files = 0
        async for batch in self.batches(now, size=size, rules=rules):
            keys = await self._destroy(run, batch)
            destroyed += len(batch)
            for key in keys:  # after the commit: a rolled-back batch keeps its files
                try:
                    self.store.delete(key)
                    files += 1
                except OSError as exc:  # its record is gone: `huying check` lists it as an orphaned file
                    log.warning("purge: attachment %s not removed: %s", key, exc)
            if progress:
                progress(destroyed)
        async with write_transaction(self.engine):
            await PurgeRun.update({PurgeRun.finished_at: clock.now(), PurgeRun.destroyed: destroyed,
                                   PurgeRun.files: files}).where(PurgeRun.id == run)
        return (await self.runs(run_id=run))[0]

    async def _destroy(self, run: int, batch: list[DueOrder]) -> list[str]:
        """One transaction: the plugins' rows, every core row of the batch's orders, the register rows.
        Returns the keys of the attachment files to remove once it committed."""
        from core.db import run as run_sql
        from core.search import ORDER_INDEX
        from core.tables import (AssistingPart, Attachment, CallDial, CallLink, CityDiscrepancy, KnowledgeCitation,
                                 MeetingOrder, Order, OrderEvent, OutboxEvent, OutboxMessage, PurgedOrder,
                                 PurgeRun, QaSample, SiteVisit, SurveyCall, TextMessage)

        ids = [o.id for o in batch]
        numbers = [o.number for o in batch]
        async with write_transaction(self.engine):
            results = self.pm.hook.purge_order_rows(order_ids=ids, numbers=numbers)
            try:
                for result in results:
                    if inspect.isawaitable(result):
                        await result
            finally:  # one plugin failed: the others' calls are dropped with the batch, not left pending
                for result in results:
                    if inspect.iscoroutine(result):
                        result.close()
            keys = [a["key"] for a in await Attachment.select(Attachment.key).where(Attachment.order_id.is_in(ids))]
            for table in (OrderEvent, Attachment, SurveyCall, AssistingPart, QaSample, SiteVisit):
                await table.delete().where(table.order_id.is_in(ids))
            for table in (CallLink, CallDial, MeetingOrder, KnowledgeCitation, TextMessage, CityDiscrepancy):
                await table.delete().where(table.order_number.is_in(numbers))
            sent = [m["id"] for m in await OutboxMessage.select(OutboxMessage.id).where(
                OutboxMessage.order_number.is_in(numbers))]
            if sent:
                await OutboxEvent.delete().where(OutboxEvent.message_id.is_in(sent))
                await OutboxMessage.delete().where(OutboxMessage.id.is_in(sent))
            column = "rowid" if self._sqlite() else "id"
            listed = ", ".join(str(int(i)) for i in ids)
            await run_sql(self.engine, f"DELETE FROM {ORDER_INDEX.name} WHERE {column} IN ({listed})")
            await Order.delete().where(Order.id.is_in(ids))
            at = clock.now()
            await PurgedOrder.insert(*[PurgedOrder(
                run_id=run, number=o.number, channel=o.channel, kind=o.kind, status=o.status,
                received_at=o.received_at, closed_at=o.closed_at, rule_key=o.rule.key, rule_years=o.rule.years,
                rule_basis=o.rule.basis, destroyed_at=at) for o in batch])
            await PurgeRun.update({PurgeRun.destroyed: PurgeRun.destroyed + len(batch)}).where(PurgeRun.id == run)
        return keys

    # -- the register ----------------------------------------------------------------------------

    async def runs(self, *, run_id: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        from core.tables import PurgeRun

        query = PurgeRun.select()
        if run_id is not None:
            query = query.where(PurgeRun.id == run_id)
        rows = await query.order_by(PurgeRun.id, ascending=False).limit(limit).output(load_json=True)
        return [{"id": r["id"], "operator": r["operator"], "via": r["via"],
                 "via_label": {"cli": "命令行", "console": "管理控制台"}.get(r["via"], r["via"]),
                 "started_at": local_iso(r["started_at"]),
                 "finished_at": local_iso(r["finished_at"]) if r["finished_at"] else None,
                 "rules": r["rules"], "destroyed": r["destroyed"], "files": r["files"]} for r in rows]

    async def register(self, run_id: int) -> list[dict[str, Any]]:
        """The destruction register of one run (销毁清册): one row per destroyed order."""
        from core.tables import PurgedOrder

        rows = await PurgedOrder.select().where(PurgedOrder.run_id == run_id).order_by(PurgedOrder.id)
        out = []
        for r in rows:
            channel = self.channels.get(r["channel"])
            out.append({"number": r["number"], "channel": channel.name if channel else r["channel"],
                        "kind": KINDS.get(r["kind"], r["kind"]),
                        "status": {"archived": "已归档", "merged": "已合并"}.get(r["status"], r["status"]),
                        "received": r["received_at"].astimezone(clock.SHANGHAI).date().isoformat(),
                        "closed": r["closed_at"].astimezone(clock.SHANGHAI).date().isoformat(),
                        "rule": f"{self.scope_label(*[('' if p == '*' else p) for p in r['rule_key'].split('/', 1)])}"
                                f" {r['rule_years']} 年",
                        "basis": r["rule_basis"],
                        "destroyed": local_iso(r["destroyed_at"])})
        return out


REGISTER_COLUMNS = (("number", "工单编号"), ("channel", "渠道"), ("kind", "诉求类型"), ("status", "状态"),
                    ("received", "受理日期"), ("closed", "办结归档日期"), ("rule", "保管期限"), ("basis", "依据"),
                    ("destroyed", "销毁时间"))


def register_csv(rows: list[dict[str, Any]]) -> str:
    """The register as CSV (with a byte-order mark, so a spreadsheet opens the Chinese right)."""
    import csv
    import io

    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out)
    writer.writerow([label for _, label in REGISTER_COLUMNS])
    for row in rows:
        writer.writerow([row[name] for name, _ in REGISTER_COLUMNS])
    return out.getvalue()
