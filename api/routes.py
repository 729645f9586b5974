"""The public contract v1 (docs/architecture.md): channels, departments, intake, orders, actions, auth."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import msgspec

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, HeaderParameter, JSONBody, Parameter

from api.schemas import (
    ApiKeyOut,
    ApiKeyRequest,
    ChannelOut,
    DepartmentOut,
    OrderPage,
    TokenOut,
    TokenRequest,
)
from api.client import client_address
from api.presenter import present, present_result
from api.schemas import errors
from api.security import PUBLIC, require_role
from core import access_audit
from core.auth import create_api_key, issue_token
from core.channels import KINDS, SOURCES, describe_fields
from core.errors import FieldError, InvalidInput, NotFound
from core.model import Actor
from core.calendar import DEADLINE_STATE_LABELS, local_iso
from core.lifecycle import STATUSES
from core.order_filter import KPI_FILTERS, LIST_FLAGS, kpi_errors, parse_filter
from core.intake import Kind, Source
from core.orders import IntakeRequest
from core.tables import Department


def _channel_out(channel) -> ChannelOut:
    return ChannelOut(code=channel.code, name=channel.name, description=channel.description,
                      kinds={k: KINDS[k] for k in channel.kinds}, public=channel.public,
                      fields=describe_fields(channel.fields))


@get("/api/channels", tags=["渠道"], summary="所有渠道及其专属字段", security=PUBLIC)
async def list_channels(request: Request) -> list[ChannelOut]:
    return [_channel_out(c) for c in request.app.state.platform.channels]


@get("/api/channels/{code:str}", tags=["渠道"], summary="一个渠道及其专属字段", security=PUBLIC,
     responses=errors(400, 404))
async def get_channel(request: Request, code: FromPath[str]) -> ChannelOut:
    channel = request.app.state.platform.channels.get(code)
    if channel is None:
        raise NotFound(f"渠道 {code} 不存在")
    return _channel_out(channel)


@post("/api/channels/{code:str}/orders", tags=["工单"], summary="受理：新建工单", status_code=201,
      responses=errors(400, 401, 403, 404, 409, 413))
async def intake(request: Request, code: FromPath[str], data: JSONBody[IntakeRequest],
                 actor: NamedDependency[Actor],
                 idempotency_key: Annotated[str | None, HeaderParameter(
                     name="Idempotency-Key", required=False, max_length=200)] = None) -> Response[dict]:
    platform = request.app.state.platform
    status, order = await platform.orders.intake(code, data, actor, idempotency_key=idempotency_key)
    return Response(present(platform, order, actor), status_code=status)


Status = Literal[tuple(STATUSES)]  # type: ignore[valid-type]
DeadlineState = Literal["normal", "at_risk", "overdue", "handle_overdue", "正常", "临期", "超期", "办理超期"]
_STATE_CODES = {**{label: code for code, label in DEADLINE_STATE_LABELS.items()}, "办理超期": "handle_overdue"}
Code = Annotated[str | None, Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Words = Annotated[str | None, Parameter(min_length=1, max_length=64)]
ORDER_FILTERS = frozenset({"status", "channel", "department", "kind", "priority", "flag", "deadline", "area",
                           "source", "q", "received_from", "received_to", "kpi", "kpi_from", "kpi_to", "part",
                           "warning", "page", "page_size"})
KpiName = Literal[tuple(KPI_FILTERS)]  # type: ignore[valid-type]


@get("/api/orders", tags=["工单"], summary="工单列表（按状态、渠道、单位、类型、优先级、预警标记、时限状态、区域、来源、关键词、受理时间、统计口径筛选）",
     responses=errors(400, 401, 403))
async def list_orders(
    request: Request, actor: NamedDependency[Actor],
    status: FromQuery[Status | None] = None, channel: Code = None,
    department: Annotated[str | None, Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                                description="承办单位代码；“-” 为未派单或中心办结")] = None,
    kind: FromQuery[Kind | None] = None,
    priority: FromQuery[Literal["normal", "urgent"] | None] = None,
    flag: Annotated[str | None, Parameter(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$",
                                          description="预警标记：" + "、".join(f"{c} {n}" for c, n in LIST_FLAGS.items()))] = None,
    deadline: Annotated[DeadlineState | None, Parameter(
        description="时限状态（按未完成的时限；没有未完成时限的工单不属于其中任何一种）：normal 正常（尚未临期）、at_risk 临期（已用 80% 工作时间）、overdue 超期（按未完成的时限）、"
                    "handle_overdue 办理超期（办理时限已过、尚未答复的在办工单，即此刻的超期未办结量）")] = None,
    area: Annotated[str | None, Parameter(min_length=1, max_length=64, description="街道（乡镇）；“-” 为未填写")] = None, source: FromQuery[Source | None] = None,
    q: Annotated[str | None, Parameter(min_length=1, max_length=100)] = None,
    received_from: FromQuery[dt.datetime | None] = None, received_to: FromQuery[dt.datetime | None] = None,
    kpi: Annotated[KpiName | None, Parameter(description=(
        "统计口径：只列出该统计数计入的工单（与统计指标同一口径）。intake 受理量、dispatched 派单工单数、"
        "completed 办结量、callbacks 回访量等按各自时间落在 kpi_from 至 kpi_to（含）之内；open_overdue "
        "超期未办结量为 kpi_to 日终（kpi_to 为今天或以后时为此刻）仍未办结、办理时限已过且尚未答复（不用 kpi_from）"))] = None,
    kpi_from: Annotated[dt.date | None, Parameter(description="统计开始日期（本地日，YYYY-MM-DD）")] = None,
    kpi_to: Annotated[dt.date | None, Parameter(description="统计截止日期（本地日，含当天）")] = None,
    part: Annotated[Literal["open"] | None, Parameter(description=(
        "open 协办未办结：承办单位为本单位协办、尚未签收或提交协办意见的工单；中心为有协办未办结的工单"))] = None,
    warning: Annotated[int | None, Parameter(ge=1, le=2_147_483_647, description="预警编号：只列出该条预警所列的工单（GET /api/warnings 的 id）")] = None,
    page: Annotated[int, Parameter(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> OrderPage:
    unknown = sorted(set(request.query_params) - ORDER_FILTERS)
    if unknown:
        raise InvalidInput([FieldError(name, "不支持的查询参数", source="query") for name in unknown],
                           f"不支持的查询参数：{'、'.join(unknown)}")
    bad_times = [FieldError(name, "时间须带时区，例如 2026-11-28T09:30:00+08:00", source="query")
                 for name, value in (("received_from", received_from), ("received_to", received_to))
                 if value is not None and value.tzinfo is None]
    bad_times += kpi_errors(kpi or "", kpi_from, kpi_to)
    if bad_times:
        raise InvalidInput(bad_times)
    platform = request.app.state.platform
    if channel and channel not in platform.channels:
        raise InvalidInput([FieldError("channel", f"渠道 {channel} 不存在", source="query")])
    await platform.orders.sources.refresh()
    if source and source not in SOURCES:
        raise InvalidInput([FieldError("source", f"来源 {source} 不存在", source="query")])
    wanted = parse_filter({
        "status": status, "channel": channel, "department": department, "kind": kind, "q": q,
        "received_after": received_from, "received_before": received_to, "priority": priority, "flag": flag,
        "deadline": _STATE_CODES.get(deadline, deadline) if deadline else None, "area": area, "source": source,
        "kpi": kpi, "kpi_from": kpi_from, "kpi_to": kpi_to, "open_part": part == "open",
        "warning": warning})
    found = await platform.orders.search(actor, wanted, page=page, page_size=page_size)
    return OrderPage(items=[present(platform, o, actor) for o in found.items], total=found.total,
                     page=found.page, page_size=found.page_size, total_capped=found.total_capped)


@get("/api/orders/{number:str}", tags=["工单"], summary="工单详情（含时限和全部办理记录）",
     responses=errors(400, 401, 404))
async def get_order(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    platform = request.app.state.platform
    order, events = await platform.orders.detail(number, actor)
    await access_audit.record_view(actor, number, client_address(request))
    return await _named(present(platform, order, actor, events))


@post("/api/orders/{number:str}/actions/{action:str}", tags=["工单"], status_code=200,
      summary="执行一个流转操作（派单、签收、退单、答复、审核、回访、归档……）",
      responses=errors(400, 401, 403, 404, 409, 413))
async def perform_action(request: Request, number: FromPath[str], action: FromPath[str],
                         actor: NamedDependency[Actor],
                         data: JSONBody[dict[str, Any] | None] = None) -> dict[str, Any]:
    platform = request.app.state.platform
    return await _named(present_result(platform, await platform.orders.act(number, action, data, actor), actor))


async def _named(view: dict[str, Any]) -> dict[str, Any]:
    """Each event with ``actor_label``: who did it as a person reads it (周晓梅（话务员）), beside the
    username in ``actor``."""
    from core.model import actor_label
    from core.users import display_names

    people = await display_names()
    for event in view.get("events") or ():
        event["actor_label"] = actor_label(event["actor"], event["role"], people)
    return view


@get("/api/departments", tags=["单位"], summary="承办单位树", responses=errors(401))
async def list_departments(actor: NamedDependency[Actor]) -> list[DepartmentOut]:
    rows = await Department.select().order_by(Department.sort).order_by(Department.code).output(load_json=True)
    return [DepartmentOut(code=r["code"], name=r["name"], parent=r["parent"], aliases=r["aliases"] or [],
                          active=bool(r["active"]), merged_into=r.get("merged_into")) for r in rows]


@post("/api/auth/token", tags=["认证"], summary="用户名密码换取访问令牌", status_code=200, security=PUBLIC,
      responses=errors(400, 401, 429))
async def token(request: Request, data: JSONBody[TokenRequest]) -> TokenOut:
    platform = request.app.state.platform
    settings = platform.settings
    user = await platform.sign_in.sign_in(data.username, data.password, address=client_address(request), via="api")
    value, expires = issue_token(user["id"], settings.secret_key, settings.token_ttl_seconds, user["token_version"])
    return TokenOut(access_token=value, token_type="bearer", expires_at=expires,
                    user={"username": user["username"], "role": user["role"], "department": user["department"]})


@post("/api/api-keys", tags=["认证"], summary="为对接系统创建 API Key（仅管理员）", status_code=201,
      responses=errors(400, 401, 403))
async def new_api_key(request: Request, data: JSONBody[ApiKeyRequest], actor: NamedDependency[Actor]) -> ApiKeyOut:
    require_role(actor, "admin")
    channels = request.app.state.platform.channels
    if data.channels == []:
        raise InvalidInput([FieldError("channels", "至少列出一个渠道；可用于全部渠道的 Key 请不填 channels")])
    unknown = [c for c in data.channels or () if c not in channels]
    if unknown:
        raise InvalidInput([FieldError("channels", f"渠道不存在：{', '.join(unknown)}")])
    key = await create_api_key(data.name, data.channels or [], data.reply_url)
    return ApiKeyOut(name=data.name, channels=data.channels or [], key=key, reply_url=data.reply_url)


ROUTES = [list_channels, get_channel, intake, list_orders, get_order, perform_action, list_departments,
          token, new_api_key]


# -- attachments (added with the full lifecycle); the working calendar is api/calendar_routes.py ----

from dataclasses import dataclass  # noqa: E402

from litestar.datastructures import UploadFile  # noqa: E402
from litestar.enums import RequestEncodingType  # noqa: E402
from litestar.params import Body  # noqa: E402

from api.schemas import AttachmentOut  # noqa: E402
from core.storage import MAX_BYTES, AttachmentRefused, clean_filename  # noqa: E402


@dataclass
class AttachmentUpload:
    """The multipart body: one file in the part named ``data``."""

    data: UploadFile


@post("/api/orders/{number:str}/attachments", tags=["工单"], summary="上传附件（图片、PDF、视频、录音、Office 文档，按类型限制大小）",
      status_code=201, request_max_body_size=MAX_BYTES + 64 * 1024, responses=errors(400, 401, 403, 404, 409, 413))
async def upload_attachment(
    request: Request, number: FromPath[str], actor: NamedDependency[Actor],
    data: Annotated[AttachmentUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> AttachmentOut:
    platform = request.app.state.platform
    upload = data.data
    if not isinstance(upload, UploadFile):
        raise InvalidInput([FieldError("data", "请在 data 中上传一个文件")])
    content = await upload.read()
    try:
        stored = await platform.orders.attach(number, upload.filename or "", content, actor, platform.attachments)
    except AttachmentRefused as refused:
        raise InvalidInput([FieldError("data", str(refused))], str(refused)) from None
    return _attachment_out(stored)


@get("/api/orders/{number:str}/attachments", tags=["工单"], summary="工单的附件", responses=errors(400, 401, 404))
async def list_attachments(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> list[AttachmentOut]:
    rows = await request.app.state.platform.orders.attachments(number, actor)
    return [_attachment_out(r) for r in rows]


def _attachment_out(record) -> AttachmentOut:
    return AttachmentOut(**{**msgspec.structs.asdict(record), "created_at": local_iso(record.created_at)})


@get("/api/orders/{number:str}/attachments/{key:str}", tags=["工单"], summary="下载附件",
     media_type="application/octet-stream", responses=errors(400, 401, 404))
async def download_attachment(request: Request, number: FromPath[str], key: FromPath[str],
                              actor: NamedDependency[Actor]) -> Response[bytes]:
    platform = request.app.state.platform
    found = next((a for a in await platform.orders.attachments(number, actor) if a.key == key), None)
    if found is None:
        raise NotFound("附件不存在")
    return Response(platform.attachments.open(key), media_type=found.content_type,
                    headers={"Content-Disposition": content_disposition(found.filename, key),
                             "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store"})


def content_disposition(filename: str, key: str) -> str:
    """Always a download, never shown inline; the name cleaned again (rows stored before names were
    cleaned), an ASCII fallback for old clients and the UTF-8 name for the rest."""
    from urllib.parse import quote

    name = clean_filename(filename)
    fallback = "".join(ch for ch in name if ch.isascii() and (ch.isalnum() or ch in "._-")).strip(".") or key
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name)}"


ROUTES += [upload_attachment, list_attachments, download_attachment]
