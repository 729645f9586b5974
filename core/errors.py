"""Refusals the core raises; the API turns each into ``{status_code, detail, extra}``.

msgspec and litestar word their refusals in English; ``chinese`` turns each of their messages into the
Chinese a user of the platform reads, so every error the API sends is Chinese.
"""

from __future__ import annotations

import re

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


class TooManyRequests(HuyingError):
    """Too many attempts in a short time; ``retry_after`` seconds until the next may succeed."""

    status_code = 429

    def __init__(self, detail: str, retry_after: int, key: str = "body"):
        super().__init__(detail, [FieldError(key, f"请 {retry_after} 秒后再试", source="request")])
        self.retry_after = retry_after


TYPE_NAMES = {
    "str": "文本", "int": "整数", "float": "数字", "bool": "true 或 false", "object": "对象",
    "array": "数组", "null": "null", "datetime": "带时区的时间", "date": "日期（YYYY-MM-DD）",
    "uuid": "UUID", "bytes": "二进制数据",
}


def _type(name: str) -> str:
    return "或".join(TYPE_NAMES.get(part.strip(), part.strip()) for part in name.split("|"))


_TRANSLATIONS: list[tuple[re.Pattern[str], object]] = [
    (re.compile(r"^Object missing required field `([^`]+)`"), lambda m: f"缺少必填字段 {m[1]}"),
    (re.compile(r"^Object contains unknown field `([^`]+)`"), lambda m: f"不允许的字段 {m[1]}"),
    (re.compile(r"^Invalid enum value (.+)$"), lambda m: f"取值 {m[1]} 不在允许的范围内"),
    (re.compile(r"^Expected `([^`]+)` of length <= (\d+)"), lambda m: f"{_type(m[1])}长度不能超过 {m[2]}"),
    (re.compile(r"^Expected `([^`]+)` of length >= (\d+)"),
     lambda m: "不能为空" if m[2] == "1" else f"{_type(m[1])}长度不能少于 {m[2]}"),
    (re.compile(r"^Expected `([^`]+)` (>=|<=|>|<) (-?[\d.e+]+)"),
     lambda m: f"应为{_type(m[1])}，且{ {'>=': '不小于', '<=': '不大于', '>': '大于', '<': '小于'}[m[2]] } {m[3]}"),
    (re.compile(r"^Expected `([^`]+)`, got `([^`]+)`"), lambda m: f"应为{_type(m[1])}，实际为{_type(m[2])}"),
    (re.compile(r"^Invalid RFC3339 encoded datetime"), lambda m: "时间格式不正确，应为 RFC 3339，例如 2026-11-28T09:30:00+08:00"),
    (re.compile(r"^Invalid RFC3339 encoded date"), lambda m: "日期格式不正确，应为 YYYY-MM-DD"),
    (re.compile(r"^Only UTC offsets of"), lambda m: "时区偏移不正确"),
    (re.compile(r"^Expected `datetime` with a timezone component"), lambda m: "时间须带时区，例如 2026-11-28T09:30:00+08:00"),
    (re.compile(r"^Input data was truncated|^JSON is malformed|^Invalid JSON|malformed|truncated", re.I),
     lambda m: "请求体不是合法的 JSON"),
    (re.compile(r"^Input contains trailing characters"), lambda m: "请求体不是合法的 JSON（末尾有多余内容）"),
    (re.compile(r"^Missing required (?:header|query|path|cookie) parameter '([^']+)'", re.I),
     lambda m: f"缺少必填参数 {m[1]}"),
]


def chinese(message: str) -> str:
    """msgspec's or litestar's English refusal in Chinese (unchanged when it already is Chinese)."""
    message = (message or "").strip()
    if any("\u4e00" <= ch <= "\u9fff" for ch in message):
        return message
    for pattern, render in _TRANSLATIONS:
        match = pattern.search(message)
        if match:
            return render(match)  # type: ignore[operator]
    return f"内容不正确（{message}）" if message else "内容不正确"


_AT = re.compile(r" - at `\$(?:\.)?(.*)`$")


def field_errors(exc: msgspec.ValidationError, prefix: str = "") -> list[FieldError]:
    """Turn msgspec's message ("... - at `$.a.b`") into a FieldError naming ``prefix.a.b``."""
    message = str(exc)
    match = _AT.search(message)
    path = match.group(1) if match else ""
    message = _AT.sub("", message)
    path = re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")
    key = ".".join(p for p in (prefix, path) if p)
    if not key:  # "Object missing required field `x`" is reported at the parent
        missing = re.search(r"field `([^`]+)`", message)
        key = ".".join(p for p in (prefix, missing.group(1) if missing else "") if p) or "body"
    elif "missing required field" in message or "unknown field" in message:  # name the field, not its parent
        named = re.search(r"field `([^`]+)`", message)
        key = f"{key}.{named.group(1)}" if named else key
    return [FieldError(key=key, message=chinese(message))]
