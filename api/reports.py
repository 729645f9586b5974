"""Reports, the real-time board, early warnings and the staffing forecast over HTTP.

Every parameter is checked (an unknown one is refused, not ignored) and a department handler's
figures are always limited to the handler's own department.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, JSONBody

from api.schemas import errors
from core.channels import KINDS
from core.errors import FieldError, Forbidden, InvalidInput, NotFound
from core.model import CENTRE_ROLES, Actor
from core.reports import board, forecast, kpis, snapshots, warnings
from core.reports.build import build_report
from core.reports.periods import KINDS as PERIOD_KINDS
from core.reports.periods import local_iso, today
from core.reports.templates import MAX_BYTES as TEMPLATE_MAX
from core.reports.written import DOCX
from core.tables import Department

FORMATS = ("json", "xlsx", "html", "docx")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _params(request: Request, allowed: dict[str, str]) -> dict[str, str]:
    """The query parameters, refusing unknown or repeated ones (``allowed`` maps name → label)."""
    errors, out = [], {}
    for name in request.query_params:
        values = request.query_params.getall(name)
        if name not in allowed:
            errors.append(FieldError(name, f"不支持的查询参数「{name}」，可用：{'、'.join(allowed)}", "query"))
        elif len(values) > 1:
            errors.append(FieldError(name, f"{allowed[name]}只能给一个值", "query"))
        else:
            out[name] = values[0]
    if errors:
        raise InvalidInput(errors, "查询参数有误")
    return out


def _staff(actor: Actor) -> None:
    if actor.role not in CENTRE_ROLES and actor.role != "handler":
        raise Forbidden("只有中心人员和承办单位可以查看统计")


def _day(value: str | None, key: str = "start") -> dt.date:
    if value is None:
        return today()
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidInput([FieldError(key, "日期格式应为 YYYY-MM-DD", "query")], "查询参数有误") from None
    if not dt.date(2000, 1, 1) <= day <= dt.date(2100, 12, 31):
        raise InvalidInput([FieldError(key, "日期应在 2000 年至 2100 年之间", "query")], "查询参数有误")
    return day


async def _filters(request: Request, params: dict[str, str], actor: Actor) -> dict[str, str]:
    platform = request.app.state.platform
    errors, filters = [], {}
    for name in kpis.FILTERS:
        value = params.get(name)
        if value is None or value == "":
            continue
        if name == "channel" and value not in platform.channels:
            errors.append(FieldError(name, f"渠道 {value} 不存在", "query"))
        elif name == "kind" and value not in KINDS:
            errors.append(FieldError(name, f"诉求类型应为：{'、'.join(KINDS)}", "query"))
        elif name == "department" and not await Department.exists().where(Department.code == value):
            errors.append(FieldError(name, f"单位 {value} 不存在", "query"))
        elif len(value) > 64:
            errors.append(FieldError(name, "不能超过 64 个字", "query"))
        filters[name] = value
    if errors:
        raise InvalidInput(errors, "查询参数有误")
    if actor.role == "handler":
        if filters.get("department", actor.department) != actor.department:
            raise Forbidden("承办单位只能查看本单位的统计")
        filters["department"] = actor.department
    return filters


REPORT_PARAMS = {"start": "起始日期", "format": "格式", "channel": "渠道", "department": "承办单位",
                 "area": "区域", "kind": "诉求类型", "version": "快照版本"}


@get("/api/reports/{kind:str}", tags=["统计报表"],
     summary="日报/周报/月报/季报/年报：KPI、环比同比、分项统计、单位排名、热点问题（format=json|xlsx|html|docx，docx 为文字材料）")
async def report(request: Request, kind: FromPath[str], actor: NamedDependency[Actor]) -> Response:
    _staff(actor)
    if kind not in PERIOD_KINDS:
        raise NotFound(f"没有「{kind}」这种报表，可用：{'、'.join(PERIOD_KINDS)}")
    params = _params(request, REPORT_PARAMS)
    fmt = params.get("format", "json")
    if fmt not in FORMATS:
        raise InvalidInput([FieldError("format", "格式应为 json、xlsx、html 或 docx", "query")], "查询参数有误")
    filters = await _filters(request, params, actor)
    start = _day(params.get("start"))
    platform = request.app.state.platform
    if "version" in params:
        if not params["version"].isdigit():
            raise InvalidInput([FieldError("version", "版本应为正整数", "query")], "查询参数有误")
        body = await snapshots.get(kind, start, filters, int(params["version"]))
    else:
        body = await build_report(platform, kind, start, filters)
    return await render(platform, body, fmt)


async def render(platform, body: dict[str, Any], fmt: str) -> Response:
    """One report body as JSON, a workbook, a printable page or the written report (.docx)."""
    from core.reports import html, written, xlsx

    name = f"report-{body['kind']}-{body['period']['start']}"
    if fmt == "docx":
        return Response(await written.render(platform, body), media_type=written.DOCX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.docx"'})
    if fmt == "xlsx":
        return Response(xlsx.workbook(body), media_type=XLSX,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    if fmt == "html":
        return Response(html.page(body), media_type="text/html; charset=utf-8")
    return Response(body)


class SnapshotRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: dt.date
    channel: str = ""
    department: str = ""
    area: str = ""
    kind: str = ""


@get("/api/reports/{kind:str}/snapshots", tags=["统计报表"], summary="某期报表已保存的各个版本")
async def list_snapshots(request: Request, kind: FromPath[str], actor: NamedDependency[Actor]) -> list[dict]:
    _staff(actor)
    if kind not in PERIOD_KINDS:
        raise NotFound(f"没有「{kind}」这种报表")
    params = _params(request, {k: v for k, v in REPORT_PARAMS.items() if k not in ("format", "version")})
    filters = await _filters(request, params, actor)
    return await snapshots.versions(kind, _day(params.get("start")), filters)


@post("/api/reports/{kind:str}/snapshots", tags=["统计报表"], status_code=201,
      summary="生成并保存报表快照（内容变化时产生新版本，旧版本不变）")
async def create_snapshot(request: Request, kind: FromPath[str], data: JSONBody[SnapshotRequest],
                          actor: NamedDependency[Actor]) -> dict:
    if actor.role not in ("supervisor", "admin"):
        raise Forbidden("只有督办员和管理员可以保存报表快照")
    if kind not in PERIOD_KINDS:
        raise NotFound(f"没有「{kind}」这种报表")
    params = {k: v for k, v in msgspec.to_builtins(data).items() if k != "start" and v}
    filters = await _filters(request, params, actor)
    saved = await snapshots.save(request.app.state.platform, kind, data.start, filters, actor.name)
    return {**{key: saved[key] for key in ("kind", "start", "scope", "version", "digest", "new")},
            "created_at": local_iso(saved["created_at"])}


@get("/api/board", tags=["实时看板"], summary="实时数据：今日分时分渠道受理量、各状态在办量、各单位临期和超期")
async def get_board(request: Request, actor: NamedDependency[Actor]) -> dict:
    _staff(actor)
    _params(request, {})
    return await board.snapshot(request.app.state.platform,
                                department=actor.department if actor.role == "handler" else None)


@get("/api/warnings", tags=["预警研判"], summary="预警：超期与临期、激增、群体性事件、重复来电（每条说明原因）")
async def list_warnings(request: Request, actor: NamedDependency[Actor]) -> dict:
    _staff(actor)
    params = _params(request, {"kind": "预警类型", "acknowledged": "是否已确认", "scan": "是否先扫描"})
    kind = params.get("kind")
    if kind and kind not in warnings.KINDS:
        raise InvalidInput([FieldError("kind", f"预警类型应为：{'、'.join(warnings.KINDS)}", "query")], "查询参数有误")
    acknowledged = params.get("acknowledged")
    if acknowledged not in (None, "true", "false"):
        raise InvalidInput([FieldError("acknowledged", "应为 true 或 false", "query")], "查询参数有误")
    if params.get("scan", "true") not in ("true", "false"):
        raise InvalidInput([FieldError("scan", "应为 true 或 false", "query")], "查询参数有误")
    platform = request.app.state.platform
    if params.get("scan", "true") == "true":
        await warnings.scan(platform)
    department = actor.department if actor.role == "handler" else None
    return await warnings.listing(kind=kind, acknowledged=None if acknowledged is None else acknowledged == "true",
                                  department=department)


class Acknowledge(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    note: Annotated[str, msgspec.Meta(max_length=1000, description="处置意见（必填）")] = ""


@post("/api/warnings/{warning_id:int}/acknowledge", tags=["预警研判"], status_code=200, summary="确认预警（记录人和时间）",
      responses=errors(400, 401, 403, 404, 409, 413))
async def acknowledge_warning(warning_id: FromPath[int], actor: NamedDependency[Actor],
                              data: JSONBody[Acknowledge | None] = None) -> dict:
    return await warnings.acknowledge(warning_id, actor, (data or Acknowledge()).note)


@get("/api/warnings/thresholds", tags=["预警研判"], summary="预警阈值")
async def get_thresholds(actor: NamedDependency[Actor]) -> dict:
    _staff(actor)
    return msgspec.to_builtins(await warnings.thresholds())


# the thresholds an admin changes, any of them: the same names and limits, nothing else (a 400 names
# an unknown one), so the document says ``additionalProperties: false`` as the server refuses them
ThresholdsChange = msgspec.defstruct(
    "ThresholdsChange", [(f.name, f.type | None, None) for f in msgspec.structs.fields(warnings.Thresholds)],
    forbid_unknown_fields=True, kw_only=True, omit_defaults=True)


@put("/api/warnings/thresholds", tags=["预警研判"], summary="修改预警阈值（仅管理员）")
async def set_thresholds(data: JSONBody[ThresholdsChange], actor: NamedDependency[Actor]) -> dict:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改预警阈值")
    return msgspec.to_builtins(await warnings.set_thresholds(msgspec.to_builtins(data), actor))


@get("/api/forecast", tags=["话务预测"], summary="话务量预测与排班：未来各小时来电量、Erlang C 所需线路数、现行排班是否达标")
async def get_forecast(request: Request, actor: NamedDependency[Actor]) -> dict:
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看话务预测")
    params = _params(request, {"weeks": "预测周数", "service_level": "服务水平", "answer_seconds": "应答时限（秒）"})
    errors = []
    def number(name, low, high, default, cast):
        try:
            value = cast(params.get(name, default))
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            errors.append(FieldError(name, f"应在 {low} 到 {high} 之间", "query"))
        return value
    weeks = number("weeks", 1, 8, 2, int)
    level = number("service_level", 0.5, 0.99, 0.8, float)
    seconds = number("answer_seconds", 5, 120, 20, int)
    if errors:
        raise InvalidInput(errors, "查询参数有误")
    platform = request.app.state.platform
    return await forecast.plan(weeks=weeks, target=level, answer_seconds=seconds, calendar=platform.calendar,
                               channels={c.code: c.name for c in platform.channels})


# -- written-report templates ----------------------------------------------------------------------------

@dataclass
class TemplateUpload:
    """The multipart body: the .docx in the part named ``file``, and why (for the audit)."""

    file: UploadFile
    reason: str = ""


def _template_reader(actor: Actor) -> None:
    if actor.role not in ("supervisor", "admin"):
        raise Forbidden("只有督办员和管理员可以查看文字材料模板")


@get("/api/reports/templates", tags=["统计报表"], responses=errors(400, 401, 403),
     summary="文字材料模板：每种报表现用的模板（自定义、全部报表通用或默认）和更换记录")
async def list_templates(actor: NamedDependency[Actor]) -> dict:
    _template_reader(actor)
    from core.reports import templates

    return {"items": await templates.listing(), "history": await templates.history()}


@get("/api/reports/templates/{kind:str}", tags=["统计报表"], responses=errors(400, 401, 403, 404),
     media_type=DOCX, summary="下载某种报表现用的文字材料模板（.docx）；kind=default 为系统默认模板")
async def download_template(kind: FromPath[str], actor: NamedDependency[Actor]) -> Response[bytes]:
    _template_reader(actor)
    from core.reports import templates

    if kind == "default":
        content, name = templates.default_bytes(), "written_template.docx"
    else:
        content, name, _ = await templates.current(kind)
    return Response(content, media_type=DOCX, headers={"Content-Disposition": f'attachment; filename="{quote(name)}"'})


@put("/api/reports/templates/{kind:str}", tags=["统计报表"], request_max_body_size=TEMPLATE_MAX + 64 * 1024,
     responses=errors(400, 401, 403, 404, 413),
     summary="上传文字材料模板（管理员，.docx，字段见文档）：kind 为某种报表或 all（全部报表）；先用示例数据试生成，不能生成时 400 说明原因")
async def upload_template(kind: FromPath[str], actor: NamedDependency[Actor],
                          data: Annotated[TemplateUpload, Body(media_type=RequestEncodingType.MULTI_PART)]) -> dict:
    from core.reports import templates

    templates._admin(actor)
    upload = data.file
    if not isinstance(upload, UploadFile):
        raise InvalidInput([FieldError("file", "请在 file 中上传一个 .docx 文件")])
    content = await upload.read()
    return await templates.save(kind, upload.filename or "", content, actor, str(data.reason or ""))


@delete("/api/reports/templates/{kind:str}", tags=["统计报表"], status_code=200, responses=errors(400, 401, 403, 404),
        summary="恢复默认文字材料模板（管理员；记入审计）")
async def revert_template(kind: FromPath[str], actor: NamedDependency[Actor]) -> dict:
    from core.reports import templates

    reverted = await templates.revert(kind, actor)
    return {"reverted": reverted, **next(r for r in await templates.listing() if r["kind"] == kind)}


ROUTES = [list_templates, download_template, upload_template, revert_template, report, list_snapshots, create_snapshot, get_board, list_warnings, acknowledge_warning,
          get_thresholds, set_thresholds, get_forecast]
