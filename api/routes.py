"""The public contract v1 (DESIGN.md): channels, departments, intake, orders, actions, auth."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

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
from api.presenter import present, present_result
from api.security import require_role
from core.auth import create_api_key, issue_token, login
from core.channels import KINDS, describe_fields
from core.errors import FieldError, InvalidInput, NotFound
from core.model import Actor
from core.orders import IntakeRequest
from core.tables import Department


def _channel_out(channel) -> ChannelOut:
    return ChannelOut(code=channel.code, name=channel.name, description=channel.description,
                      kinds={k: KINDS[k] for k in channel.kinds}, public=channel.public,
                      fields=describe_fields(channel.fields))


@get("/api/channels", tags=["渠道"], summary="所有渠道及其专属字段")
async def list_channels(request: Request) -> list[ChannelOut]:
    return [_channel_out(c) for c in request.app.state.platform.channels]


@get("/api/channels/{code:str}", tags=["渠道"], summary="一个渠道及其专属字段")
async def get_channel(request: Request, code: FromPath[str]) -> ChannelOut:
    channel = request.app.state.platform.channels.get(code)
    if channel is None:
        raise NotFound(f"渠道 {code} 不存在")
    return _channel_out(channel)


@post("/api/channels/{code:str}/orders", tags=["工单"], summary="受理：新建工单", status_code=201)
async def intake(request: Request, code: FromPath[str], data: JSONBody[IntakeRequest],
                 actor: NamedDependency[Actor],
                 idempotency_key: Annotated[str | None, HeaderParameter(
                     name="Idempotency-Key", required=False, max_length=200)] = None) -> Response[dict]:
    platform = request.app.state.platform
    status, order = await platform.orders.intake(code, data, actor, idempotency_key=idempotency_key)
    return Response(present(platform, order, actor), status_code=status)


@get("/api/orders", tags=["工单"], summary="工单列表（按状态、渠道、单位、类型、关键词、时间筛选）")
async def list_orders(
    request: Request, actor: NamedDependency[Actor],
    status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None,
    department: FromQuery[str | None] = None, kind: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None,
    received_from: FromQuery[dt.datetime | None] = None, received_to: FromQuery[dt.datetime | None] = None,
    page: Annotated[int, Parameter(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=100)] = 20,
) -> OrderPage:
    platform = request.app.state.platform
    found = await platform.orders.search(
        actor, status=status, channel=channel, department=department, kind=kind, q=q,
        received_from=received_from, received_to=received_to, page=page, page_size=page_size)
    return OrderPage(items=[present(platform, o, actor) for o in found.items], total=found.total,
                     page=found.page, page_size=found.page_size)


@get("/api/orders/{number:str}", tags=["工单"], summary="工单详情（含时限和全部办理记录）")
async def get_order(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    platform = request.app.state.platform
    order, events = await platform.orders.detail(number, actor)
    return present(platform, order, actor, events)


@post("/api/orders/{number:str}/actions/{action:str}", tags=["工单"], status_code=200,
      summary="执行一个流转操作（派单、签收、退单、答复、审核、回访、归档……）")
async def perform_action(request: Request, number: FromPath[str], action: FromPath[str],
                         actor: NamedDependency[Actor],
                         data: JSONBody[dict[str, Any] | None] = None) -> dict[str, Any]:
    platform = request.app.state.platform
    return present_result(platform, await platform.orders.act(number, action, data, actor), actor)


@get("/api/departments", tags=["单位"], summary="承办单位树")
async def list_departments(actor: NamedDependency[Actor]) -> list[DepartmentOut]:
    rows = await Department.select().order_by(Department.sort).order_by(Department.code)
    return [DepartmentOut(code=r["code"], name=r["name"], parent=r["parent"]) for r in rows]


@post("/api/auth/token", tags=["认证"], summary="用户名密码换取访问令牌", status_code=200)
async def token(request: Request, data: JSONBody[TokenRequest]) -> TokenOut:
    settings = request.app.state.platform.settings
    user = await login(data.username, data.password)
    value, expires = issue_token(user["id"], settings.secret_key, settings.token_ttl_seconds)
    return TokenOut(access_token=value, token_type="bearer", expires_at=expires,
                    user={"username": user["username"], "role": user["role"], "department": user["department"]})


@post("/api/api-keys", tags=["认证"], summary="为对接系统创建 API Key（仅管理员）", status_code=201)
async def new_api_key(request: Request, data: JSONBody[ApiKeyRequest], actor: NamedDependency[Actor]) -> ApiKeyOut:
    require_role(actor, "admin")
    channels = request.app.state.platform.channels
    unknown = [c for c in data.channels if c not in channels]
    if unknown:
        raise InvalidInput([FieldError("channels", f"渠道不存在：{', '.join(unknown)}")])
    key = await create_api_key(data.name, data.channels)
    return ApiKeyOut(name=data.name, channels=data.channels, key=key)


ROUTES = [list_channels, get_channel, intake, list_orders, get_order, perform_action, list_departments,
          token, new_api_key]


# -- attachments and the working calendar (added with the full lifecycle) ---------------------------

from litestar.datastructures import UploadFile  # noqa: E402
from litestar.enums import RequestEncodingType  # noqa: E402
from litestar.params import Body  # noqa: E402

from api.schemas import AttachmentOut, CalendarDayIn, CalendarDayOut  # noqa: E402
from core.storage import MAX_BYTES, AttachmentRefused  # noqa: E402
from core.tables import CalendarDay  # noqa: E402


@post("/api/orders/{number:str}/attachments", tags=["工单"], summary="上传附件（JPG/PNG/PDF，10 MB 以内）",
      status_code=201, request_max_body_size=MAX_BYTES + 64 * 1024)
async def upload_attachment(
    request: Request, number: FromPath[str], actor: NamedDependency[Actor],
    data: Annotated[UploadFile, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> AttachmentOut:
    platform = request.app.state.platform
    content = await data.read()
    try:
        stored = await platform.orders.attach(number, data.filename or "", content, actor, platform.attachments)
    except AttachmentRefused as refused:
        raise InvalidInput([FieldError("data", str(refused))], str(refused)) from None
    return _attachment_out(stored)


@get("/api/orders/{number:str}/attachments", tags=["工单"], summary="工单的附件")
async def list_attachments(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> list[AttachmentOut]:
    rows = await request.app.state.platform.orders.attachments(number, actor)
    return [_attachment_out(r) for r in rows]


def _attachment_out(record) -> AttachmentOut:
    return AttachmentOut(**{**msgspec.structs.asdict(record), "created_at": record.created_at.isoformat()})


@get("/api/orders/{number:str}/attachments/{key:str}", tags=["工单"], summary="下载附件", media_type="application/octet-stream")
async def download_attachment(request: Request, number: FromPath[str], key: FromPath[str],
                              actor: NamedDependency[Actor]) -> Response[bytes]:
    platform = request.app.state.platform
    found = next((a for a in await platform.orders.attachments(number, actor) if a.key == key), None)
    if found is None:
        raise NotFound("附件不存在")
    return Response(platform.attachments.open(key), media_type=found.content_type,
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(found.filename)}"})


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name)


@get("/api/calendar/days", tags=["工作日历"], summary="中心设定的工作日和休息日（覆盖法定日历）")
async def list_calendar_days(actor: NamedDependency[Actor]) -> list[CalendarDayOut]:
    rows = await CalendarDay.select().order_by(CalendarDay.day)
    return [CalendarDayOut(day=r["day"], workday=r["workday"], note=r["note"]) for r in rows]


@post("/api/calendar/days", tags=["工作日历"], summary="设定某天为工作日或休息日（仅管理员）", status_code=200)
async def set_calendar_day(request: Request, data: JSONBody[CalendarDayIn], actor: NamedDependency[Actor]) -> CalendarDayOut:
    require_role(actor, "admin")
    platform = request.app.state.platform
    existing = await CalendarDay.select(CalendarDay.id).where(CalendarDay.day == data.day).first()
    if existing:
        await CalendarDay.update({CalendarDay.workday: data.workday, CalendarDay.note: data.note}).where(
            CalendarDay.id == existing["id"])
    else:
        await CalendarDay.insert(CalendarDay(day=data.day, workday=data.workday, note=data.note))
    await platform.load_calendar()
    return CalendarDayOut(day=data.day, workday=data.workday, note=data.note)


ROUTES += [upload_attachment, list_attachments, download_attachment, list_calendar_days, set_calendar_day]
