"""Importing the city's callback results: preview every row's verdict, then commit the good ones in
one transaction, each as a recheck order linked to the original by the city number.

A row is ``ok`` when its city number names an order the city transferred to us that is completed or
archived (and its 工单编号, when given, is that order's number); ``duplicate`` when the same callback
(city number and time) was imported before or appears earlier in the file; ``unknown`` when no
transferred order has that city number; ``invalid`` when a value is missing or wrong. Only ``ok`` rows
are committed; the others are reported with the reason.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import sqlite3
from typing import Annotated, Any, Literal

import msgspec

from core.plugin_api import (
    SHANGHAI,
    STATUSES,
    Actor,
    Citizen,
    Conflict,
    FieldError,
    IntakeRequest,
    NotFound,
    OrderRecord,
    PluginServices,
    RuleSpec,
    field,
)
from plugins.city_recheck.rows import RESULT_LABELS, Row
from plugins.city_recheck.tables import Recheck, RecheckImport

CODE = "city_recheck"
RECHECKABLE = ("completed", "archived")
VERDICTS = {"ok": "可导入", "created": "已生成复查工单", "duplicate": "重复", "unknown": "市级编号不存在",
            "invalid": "不能导入"}
MESSAGES = {
    "only_import": "复查工单由市级回访结果导入生成（POST /api/city-recheck/imports），不能直接受理",
    "same_file": "与第 {line} 行是同一条回访（市级编号和回访时间相同）",
    "imported": "该回访已于 {day} 导入，复查工单 {number}",
    "unknown": "市级编号 {city} 在本平台没有对应的市级转派工单",
    "mismatch": "工单编号 {given} 与市级编号 {city} 对应的工单 {number} 不一致",
    "open": "原工单 {number} 当前为「{status}」，尚未办结，无需复查",
    "not_found": "导入批次 {id} 不存在",
    "committed": "导入批次 {id} 已经提交过，不能重复提交",
    "raced": "这些回访刚刚被另一次导入写入，请重新预览",
    "subject": "复查：{subject}",
    "content": "市级平台回访结果：{result}（回访时间 {at}）。\n不满意原因：{reason}\n\n原工单 {number} 诉求内容：\n{content}",
    "opened": "市级回访{result}，已生成复查工单 {recheck}",
    "dispatched": "复查工单派回原承办单位（原工单 {number} 由该单位办理）",
}
ROUTING_RULES = [RuleSpec(
    department="hotline_center", position=0,
    reason="市级回访复查工单：原工单有承办单位的，导入时已派回原单位；没有的由热线中心复核后派单")]

_importing: contextvars.ContextVar[bool] = contextvars.ContextVar("city_recheck_importing", default=False)


class RecheckDetails(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    original_number: Annotated[str, field("原工单编号", "本平台的工单编号", min_length=1, max_length=32)]
    city_number: Annotated[str, field("市级编号", "市级12345平台的工单编号", min_length=1, max_length=64)]
    callback_at: Annotated[dt.datetime, field("回访时间", "市级平台回访市民的时间")]
    callback_result: Annotated[Literal[tuple(RESULT_LABELS)], field("回访结果", choices=RESULT_LABELS)]
    callback_reason: Annotated[str, field("不满意原因", "市民在回访中说明的原因", widget="textarea",
                                          max_length=2000)] = ""


def only_from_an_import() -> list[FieldError] | None:
    """A recheck must be checked against its original, which the sync intake hook cannot read: so
    only the importer (which has checked it, in this task) may take one in."""
    return None if _importing.get() else [FieldError("channel", MESSAGES["only_import"])]


class Verdict(msgspec.Struct, kw_only=True):
    line: int
    city_number: str
    original_number: str
    callback_at: dt.datetime | None
    callback_result: str
    reason: str
    status: Literal["ok", "created", "duplicate", "unknown", "invalid"]
    status_label: str
    message: str = ""
    recheck_number: str | None = None


class ImportReport(msgspec.Struct, kw_only=True):
    id: int
    status: Literal["previewed", "committed"]
    filename: str
    ignored_columns: list[str]
    counts: dict[str, int]
    rows: list[Verdict]
    uploaded_by: str
    committed_by: str | None = None


def callback_key(row: Row) -> str:
    return f"{row.city_number}|{row.callback_at.astimezone(dt.timezone.utc).isoformat()}"


def _verdict(row: Row, status: str, message: str = "", original: OrderRecord | None = None,
             recheck: str | None = None) -> Verdict:
    return Verdict(line=row.line, city_number=row.city_number,
                   original_number=original.number if original else row.number, callback_at=row.callback_at,
                   callback_result=row.callback_result, reason=row.reason, status=status,
                   status_label=VERDICTS[status], message=message, recheck_number=recheck)


async def judge(service: PluginServices, rows: list[Row]) -> list[tuple[Verdict, OrderRecord | None]]:
    """Each row's verdict as the database stands now (call inside a transaction)."""
    keys = [callback_key(r) for r in rows if not r.problems]
    imported = {}
    for start in range(0, len(keys), 500):
        for found in await Recheck.select(Recheck.callback_key, Recheck.order_number, Recheck.created_at).where(
                Recheck.callback_key.is_in(keys[start:start + 500])):
            imported[found["callback_key"]] = found
    seen: dict[str, int] = {}
    judged = []
    for row in rows:
        if row.problems:
            judged.append((_verdict(row, "invalid", "；".join(row.problems)), None))
            continue
        key = callback_key(row)
        if key in seen:
            judged.append((_verdict(row, "duplicate", MESSAGES["same_file"].format(line=seen[key])), None))
            continue
        seen[key] = row.line
        if key in imported:
            earlier = imported[key]
            message = MESSAGES["imported"].format(day=earlier["created_at"].date().isoformat(),
                                                  number=earlier["order_number"])
            judged.append((_verdict(row, "duplicate", message, recheck=earlier["order_number"]), None))
            continue
        original = await service.find(source="city_transfer", external_id=row.city_number)
        if original is None:
            judged.append((_verdict(row, "unknown", MESSAGES["unknown"].format(city=row.city_number)), None))
        elif row.number and row.number != original.number:
            message = MESSAGES["mismatch"].format(given=row.number, city=row.city_number, number=original.number)
            judged.append((_verdict(row, "invalid", message), None))
        elif original.status not in RECHECKABLE:
            message = MESSAGES["open"].format(number=original.number, status=STATUSES[original.status])
            judged.append((_verdict(row, "invalid", message, original), None))
        else:
            judged.append((_verdict(row, "ok", "", original), original))
    return judged


def _counts(verdicts: list[Verdict]) -> dict[str, int]:
    counts = dict.fromkeys(VERDICTS, 0)
    for v in verdicts:
        counts[v.status] += 1
    return counts


def _report(row: dict) -> ImportReport:
    verdicts = msgspec.convert(row["report"] or [r["verdict"] for r in row["rows"]], list[Verdict])
    return ImportReport(id=row["id"], status=row["status"], filename=row["filename"],
                        ignored_columns=row["ignored_columns"], counts=_counts(verdicts), rows=verdicts,
                        uploaded_by=row["uploaded_by"], committed_by=row["committed_by"])


async def preview(service: PluginServices, actor: Actor, filename: str, rows: list[Row], ignored: list[str],
                  now: dt.datetime) -> ImportReport:
    """Judge every row and keep them as an import waiting to be committed; no order is made."""
    async with service.transaction():
        judged = await judge(service, rows)
        stored = [{"row": msgspec.to_builtins(row), "verdict": msgspec.to_builtins(verdict)}
                  for row, (verdict, _) in zip(rows, judged, strict=True)]
        found = await RecheckImport.insert(RecheckImport(
            filename=filename[:255], status="previewed", rows=stored, ignored_columns=ignored,
            uploaded_by=actor.name, created_at=now)).returning(RecheckImport.id)
        row = await RecheckImport.select().where(RecheckImport.id == found[0]["id"]).output(load_json=True).first()
    return _report(row)


async def load(import_id: int) -> ImportReport:
    row = await RecheckImport.select().where(RecheckImport.id == import_id).output(load_json=True).first()
    if row is None:
        raise NotFound(MESSAGES["not_found"].format(id=import_id))
    return _report(row)


async def commit(service: PluginServices, actor: Actor, import_id: int, now: dt.datetime) -> ImportReport:
    """Make a recheck order of every row that is still good, all in one transaction: the file is
    imported whole or not at all. Verdicts are taken again, since the database may have moved on
    since the preview (another file bringing the same callbacks, say)."""
    try:
        async with service.transaction():
            claimed = await RecheckImport.update({RecheckImport.status: "committed"}).where(
                (RecheckImport.id == import_id) & (RecheckImport.status == "previewed")).returning(RecheckImport.id)
            if not claimed:
                await load(import_id)  # 404 when there is no such import
                raise Conflict(MESSAGES["committed"].format(id=import_id))
            stored = await RecheckImport.select(RecheckImport.rows).where(
                RecheckImport.id == import_id).output(load_json=True).first()
            rows = [msgspec.convert(r["row"], Row) for r in stored["rows"]]
            judged = await judge(service, rows)
            token = _importing.set(True)
            try:
                report = [await _make(service, actor, row, verdict, original, import_id, now)
                          if original is not None else verdict
                          for row, (verdict, original) in zip(rows, judged, strict=True)]
            finally:
                _importing.reset(token)
            await RecheckImport.update({
                RecheckImport.report: msgspec.to_builtins(report),
                RecheckImport.created: sum(v.status == "created" for v in report),
                RecheckImport.committed_by: actor.name, RecheckImport.committed_at: now,
            }).where(RecheckImport.id == import_id)
    except _UNIQUE_VIOLATIONS:
        raise Conflict(MESSAGES["raced"]) from None
    return await load(import_id)


async def _make(service: PluginServices, actor: Actor, row: Row, verdict: Verdict, original: OrderRecord, import_id: int,
                now: dt.datetime) -> Verdict:
    result = RESULT_LABELS[row.callback_result]
    at = row.callback_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    content = MESSAGES["content"].format(result=result, at=at, reason=row.reason or "（未填写）",
                                         number=original.number, content=original.content)
    phone = original.citizen_phone
    request = IntakeRequest(
        kind=original.kind, subject=MESSAGES["subject"].format(subject=original.subject)[:200],
        content=content[:20000], source="city_transfer",
        citizen=Citizen(name=original.citizen_name, phone=phone), anonymous=original.anonymous or not phone,
        address=original.address, area=original.area, category=original.category,
        details={"original_number": original.number, "city_number": row.city_number,
                 "callback_at": row.callback_at.isoformat(), "callback_result": row.callback_result,
                 "callback_reason": row.reason})
    order = await service.intake(CODE, request, actor)
    number = order.number
    department = original.department if original.department in await service.departments() else None
    if department:
        await service.act(number, "dispatch", {"department": department,
                                               "note": MESSAGES["dispatched"].format(number=original.number)}, actor)
    await service.note(original.number, "recheck_opened", actor,
                       reason=MESSAGES["opened"].format(result=result, recheck=number),
                       payload={"recheck_number": number, "city_number": row.city_number,
                                "callback_at": row.callback_at.isoformat(), "callback_result": row.callback_result,
                                "callback_reason": row.reason})
    await Recheck.insert(Recheck(
        callback_key=callback_key(row), import_id=import_id, order_id=order.id, order_number=number,
        original_id=original.id, original_number=original.number, city_number=row.city_number,
        callback_at=row.callback_at, callback_result=row.callback_result, reason=row.reason,
        department=department, created_at=now))
    return msgspec.structs.replace(verdict, status="created", status_label=VERDICTS["created"], recheck_number=number)


def _unique_violations() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [sqlite3.IntegrityError]
    try:
        import asyncpg

        found.append(asyncpg.UniqueViolationError)
    except ImportError:
        pass
    return tuple(found)


_UNIQUE_VIOLATIONS = _unique_violations()


