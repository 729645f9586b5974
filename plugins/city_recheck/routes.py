"""The recheck line's routes: import (file or rows) → preview → commit, the rechecks of an order, and
counts by outcome and department for the reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery, JSONBody
from piccolo.query.functions.aggregate import Count

from core.plugin_api import CENTRE, CENTRE_DISPATCH, Actor, FieldError, Forbidden, InvalidInput, PluginServices, now
from plugins.city_recheck import imports, rows
from plugins.city_recheck.tables import Recheck
from plugins.city_recheck.workflow import OUTCOMES

TAGS = ["市级回访复查"]
PENDING = "pending"
OUTCOME_LABELS = {**OUTCOMES, PENDING: "待复查"}
MESSAGES = {
    "import_roles": "只有派单员和管理员可以导入市级回访结果",
    "stats_roles": "无权查看复查统计",
    "no_file": "请选择要导入的 XLSX 或 CSV 文件",
    "range": "开始日期不能晚于结束日期",
}


class RowsIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The same rows as a file's, keyed by the same column headers (工单编号, 市级编号, 回访时间, …)."""

    rows: Annotated[list[dict[str, Any]], msgspec.Meta(min_length=1, max_length=rows.MAX_ROWS)]
    name: Annotated[str, msgspec.Meta(max_length=255)] = ""


class RecheckOut(msgspec.Struct, kw_only=True):
    recheck_number: str
    original_number: str
    city_number: str
    callback_at: dt.datetime
    callback_result: str
    callback_result_label: str
    reason: str
    department: str | None
    outcome: str
    outcome_label: str
    outcome_note: str
    evidence: list[str]
    decided_by: str | None
    decided_at: dt.datetime | None
    imported_at: dt.datetime


class OutcomeCount(msgspec.Struct, kw_only=True):
    department: str | None
    outcome: str
    outcome_label: str
    count: int


class RecheckStats(msgspec.Struct, kw_only=True):
    definition: str
    start: dt.date | None
    end: dt.date | None
    by_department_and_outcome: list[OutcomeCount]
    by_outcome: dict[str, int]
    total: int


def _may_import(actor: Actor) -> None:
    if actor.role not in CENTRE_DISPATCH:
        raise Forbidden(MESSAGES["import_roles"])


def _now() -> dt.datetime:
    return now()


@dataclass
class ImportUpload:
    """The multipart body: the city's file in the part named ``data`` (a form without it is refused
    in words rather than failing inside the framework)."""

    data: UploadFile | None = None


@post("/api/city-recheck/imports", tags=TAGS, status_code=201, request_max_body_size=rows.MAX_FILE_BYTES + 64 * 1024,
      summary="上传市级回访结果文件（XLSX/CSV）并预览：逐行给出可导入、重复、市级编号不存在或不能导入的原因")
async def upload(services: NamedDependency[PluginServices], actor: NamedDependency[Actor],
                 data: Annotated[ImportUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> imports.ImportReport:
    _may_import(actor)
    upload = data.data
    content = await upload.read() if isinstance(upload, UploadFile) else b""
    if not content:
        raise InvalidInput([FieldError("data", MESSAGES["no_file"])], MESSAGES["no_file"])
    now = _now()
    read, ignored = rows.read_file(upload.filename or "", content, now=now)
    return await imports.preview(services, actor, upload.filename or "", read, ignored, now)


@post("/api/city-recheck/imports/rows", tags=TAGS, status_code=201,
      summary="以接口提交市级回访结果（与文件相同的列）并预览")
async def upload_rows(services: NamedDependency[PluginServices], actor: NamedDependency[Actor], data: JSONBody[RowsIn]) -> imports.ImportReport:
    _may_import(actor)
    now = _now()
    read, ignored = rows.read_json(data.rows, now=now)
    return await imports.preview(services, actor, data.name, read, ignored, now)


@get("/api/city-recheck/imports/{import_id:int}", tags=TAGS, summary="一次导入的预览或结果")
async def show_import(actor: NamedDependency[Actor], import_id: FromPath[int]) -> imports.ImportReport:
    _may_import(actor)
    return await imports.load(import_id)


@post("/api/city-recheck/imports/{import_id:int}/commit", tags=TAGS, status_code=200,
      summary="提交预览过的导入：在一个事务中为每条可导入的回访生成复查工单")
async def commit_import(services: NamedDependency[PluginServices], actor: NamedDependency[Actor], import_id: FromPath[int]) -> imports.ImportReport:
    _may_import(actor)
    return await imports.commit(services, actor, import_id, _now())


def _out(r: dict) -> RecheckOut:
    outcome = r["outcome"] or PENDING
    return RecheckOut(recheck_number=r["order_number"], original_number=r["original_number"],
                      city_number=r["city_number"], callback_at=r["callback_at"],
                      callback_result=r["callback_result"],
                      callback_result_label=rows.RESULT_LABELS.get(r["callback_result"], r["callback_result"]),
                      reason=r["reason"], department=r["department"], outcome=outcome,
                      outcome_label=OUTCOME_LABELS[outcome], outcome_note=r["outcome_note"], evidence=r["evidence"],
                      decided_by=r["decided_by"], decided_at=r["decided_at"], imported_at=r["created_at"])


@get("/api/orders/{number:str}/rechecks", tags=TAGS, summary="工单的市级回访复查记录（原工单或复查工单均可查）")
async def order_rechecks(services: NamedDependency[PluginServices], number: FromPath[str], actor: NamedDependency[Actor]) -> list[RecheckOut]:
    await services.read(number, actor)  # 404 unless the actor may see the order
    found = await Recheck.select().where((Recheck.original_number == number) | (Recheck.order_number == number)).order_by(
        Recheck.id).output(load_json=True)
    return [_out(r) for r in found]


@get("/api/city-recheck/stats", tags=TAGS,
     summary="复查结论统计：按承办单位和结论计数（按导入日期筛选，承办人只看本单位）")
async def stats(actor: NamedDependency[Actor], start: FromQuery[dt.date | None] = None,
                end: FromQuery[dt.date | None] = None) -> RecheckStats:
    if actor.role not in CENTRE and actor.role != "handler":
        raise Forbidden(MESSAGES["stats_roles"])
    if start and end and start > end:
        raise InvalidInput([FieldError("start", MESSAGES["range"], "query")], MESSAGES["range"])
    query = Recheck.select(Recheck.department, Recheck.outcome, Count(alias="count")).group_by(
        Recheck.department, Recheck.outcome)
    if actor.role == "handler":
        query = query.where(Recheck.department == actor.department)
    if start:
        query = query.where(Recheck.created_at >= dt.datetime.combine(start, dt.time(), imports.SHANGHAI))
    if end:
        query = query.where(Recheck.created_at < dt.datetime.combine(end + dt.timedelta(days=1), dt.time(),
                                                                     imports.SHANGHAI))
    counted: dict[tuple[str | None, str], int] = {}
    for r in await query:
        key = (r["department"], r["outcome"] or PENDING)
        counted[key] = counted.get(key, 0) + r["count"]
    by_outcome = dict.fromkeys(OUTCOME_LABELS, 0)
    for (_, outcome), count in counted.items():
        by_outcome[outcome] += count
    rows_out = [OutcomeCount(department=d, outcome=o, outcome_label=OUTCOME_LABELS[o], count=c)
                for (d, o), c in sorted(counted.items(), key=lambda kv: (kv[0][0] or "", kv[0][1]))]
    return RecheckStats(
        definition="导入日期在所选范围内的复查工单，按承办单位和复查结论计数；尚未记录结论的计为「待复查」",
        start=start, end=end, by_department_and_outcome=rows_out, by_outcome=by_outcome, total=sum(counted.values()))


HANDLERS = [upload, upload_rows, show_import, commit_import, order_rechecks, stats]
