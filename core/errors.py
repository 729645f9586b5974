"""Refusals the core raises; the API turns each into ``{status_code, detail, extra}``."""

from __future__ import annotations

import msgspec


class FieldError(msgspec.Struct, frozen=True):
    """One bad field: ``key`` is its dotted path in the request (``details.letter_category``)."""

    key: str
    message: str
    source: str = "body"


class HuyingError(Exception):
    status_code = 400

    def __init__(self, detail: str, extra: list[FieldError] | dict | None = None):
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class InvalidInput(HuyingError):
    status_code = 400

    def __init__(self, errors: list[FieldError], detail: str = "请求内容有误"):
        super().__init__(detail, list(errors))
        self.errors = list(errors)


class Unauthorized(HuyingError):
    status_code = 401


class Forbidden(HuyingError):
    status_code = 403


class NotFound(HuyingError):
    status_code = 404


class Conflict(HuyingError):
    status_code = 409
