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


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class TokenOut(msgspec.Struct):
    access_token: str
    token_type: str
    expires_at: int
    user: dict[str, Any]


class ApiKeyRequest(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    channels: list[str] = []
    # a message board or special-line client that takes approved replies back (POSTed through the outbox)
    reply_url: Annotated[str, msgspec.Meta(max_length=500, pattern=r"^https?://\S+$")] | None = None


class ApiKeyOut(msgspec.Struct):
    name: str
    channels: list[str]
    key: str  # shown once
    reply_url: str | None = None


class OrderPage(msgspec.Struct):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


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


class CalendarDayOut(msgspec.Struct):
    day: dt.date
    workday: bool
    note: str
