"""Request and response shapes of the public API (msgspec), as shown in the OpenAPI document."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from core.channels import FieldInfo


class ChannelOut(msgspec.Struct):
    code: str
    name: str
    description: str
    kinds: dict[str, str]
    public: bool
    fields: list[FieldInfo]


class DepartmentOut(msgspec.Struct):
    code: str
    name: str
    parent: str | None
    aliases: list[str] = []
    active: bool = True  # false: disabled, no new dispatch
    merged_into: str | None = None  # merged: the department that took over its orders and people


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: int
    user: dict[str, Any]


class ApiKeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    # the key acts as "api:<name>", which must fit the audit trail's actor column (128)
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    # left out: every channel; listed: those only; an empty list is refused (it read as "every channel")
    channels: Annotated[list[Annotated[str, msgspec.Meta(max_length=64)]], msgspec.Meta(max_length=50)] | None = None
    # a message board or special-line client that takes approved replies back (POSTed through the outbox)
    reply_url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://\S+$")] | None = None


class ApiKeyOut(msgspec.Struct):
    name: str
    channels: list[str]
    key: str  # shown once
    reply_url: str | None = None


class OrderPage(msgspec.Struct):
    items: list[dict[str, Any]]
    total: int  # at most 2,000: beyond, ``total_capped`` is true ("超过 2,000 件")
    page: int
    page_size: int
    total_capped: bool = False


class AttachmentOut(msgspec.Struct):
    key: str
    filename: str
    content_type: str
    size: int
    uploaded_by: str
    created_at: str


class CalendarDayIn(msgspec.Struct, forbid_unknown_fields=True):
    day: dt.date
    workday: bool
    note: Annotated[str, msgspec.Meta(max_length=128)] = ""


class CalendarDayOut(msgspec.Struct, omit_defaults=True):
    day: dt.date
    workday: bool
    note: str
    moved_orders: int = 0  # open orders whose deadlines the change moved


class NamedDayIn(msgspec.Struct, forbid_unknown_fields=True):
    date: dt.date
    name: Annotated[str, msgspec.Meta(max_length=20)] = ""


class CalendarImportIn(msgspec.Struct, forbid_unknown_fields=True):
    """The State Council's schedule of one year: its days off and its make-up working days (调休),
    each a date (``YYYY-MM-DD``) or ``{"date", "name"}``."""

    holidays: Annotated[list[dt.date | NamedDayIn], msgspec.Meta(max_length=120)] = []
    workdays: Annotated[list[dt.date | NamedDayIn], msgspec.Meta(max_length=60)] = []


class OfficeHoursIn(msgspec.Struct, forbid_unknown_fields=True):
    """1–4 periods ``["HH:MM", "HH:MM"]``, increasing and not overlapping."""

    office_hours: Annotated[list[Annotated[list[Annotated[str, msgspec.Meta(max_length=5)]],
                                           msgspec.Meta(min_length=2, max_length=2)]],
                            msgspec.Meta(min_length=1, max_length=4)]


class ErrorItem(msgspec.Struct):
    """One refused part of a request: ``key`` is its dotted path (``citizen.phone``) or a parameter."""

    key: str
    message: str
    source: str = "body"


class ErrorBody(msgspec.Struct):
    """Every refusal: HTTP status, a Chinese explanation, each bad field with why, and the request's
    id (also in the ``X-Request-ID`` header) to find it in the logs."""

    status_code: int
    detail: str
    extra: list[ErrorItem]
    request_id: str = ""


ERROR_MEANINGS = {
    400: "请求内容有误（extra 列出每个有误的字段及原因；未声明的字段和参数一律拒绝）",
    401: "未登录或凭证无效",
    403: "无权执行此操作",
    404: "不存在或无权查看",
    405: "不支持的请求方法",
    409: "与工单当前状态冲突",
    413: "请求体过大",
    429: "尝试次数过多，请按 Retry-After 等待后再试",
}


def errors(*codes: int) -> dict:
    """The documented refusals of one route, all in the ``ErrorBody`` shape."""
    from litestar.openapi.datastructures import ResponseSpec

    return {code: ResponseSpec(data_container=ErrorBody, description=ERROR_MEANINGS[code], generate_examples=False)
            for code in codes}
