"""The edge every request crosses first: what no handler should ever see, and headers every answer gets.

Refused here with a 400 in the API error shape, before routing, so both backends see the same input:
in any body but a multipart form's, whatever content type it claims, a NUL character anywhere (PostgreSQL cannot store it, SQLite would), bytes that are not UTF-8, and
JSON nested deeper than any real request (msgspec would recurse until Python gives up). Every answer
gets ``nosniff`` and the other security headers; over HTTPS also HSTS and ``Secure`` cookies.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import unquote_to_bytes

from litestar.datastructures import MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("huying.api")

MAX_JSON_DEPTH = 32
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers
MAX_HEADER_BYTES = 32 * 1024  # a request line and headers together; the server (api/cli.py) reads no more
MAX_JSON_CONTAINERS = 5000
API_HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-resource-policy": "same-origin",
}
API_CSP = "default-src 'none'; frame-ancestors 'none'"  # JSON and files only: nothing may run
HSTS = "max-age=31536000; includeSubDomains"

_ONE_BRACKET = bytes.maketrans(b"{}", b"[]")
_NOT_BRACKET = bytes(set(range(256)) - set(b"[{]}"))


class Refused(Exception):
    def __init__(self, key: str, message: str, status_code: int = 400):
        super().__init__(message)
        self.key, self.message, self.status_code = key, message, status_code


def nesting_problem(body: bytes, limit: int = MAX_JSON_DEPTH) -> str | None:
    """Whether the arrays and objects of a JSON text nest deeper than ``limit`` (brackets inside
    strings do not count), in a bounded number of C-speed passes over the bytes: each pass removes
    the innermost pairs, so a text nested ``limit`` deep is empty after ``limit`` passes."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return None
    # outside the strings: drop escaped backslashes, then escaped quotes; what lies between the
    # remaining quotes is text. Only C-speed byte operations: a megabyte takes milliseconds.
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    brackets = b"".join(unescaped.split(b'"')[0::2]).translate(_ONE_BRACKET, _NOT_BRACKET)
    if len(brackets) > MAX_JSON_CONTAINERS * 2:  # no request of ours has this many arrays and objects
        return f"JSON 结构过于复杂（数组和对象不能超过 {MAX_JSON_CONTAINERS} 个）"
    for _ in range(limit):
        reduced = brackets.replace(b"[]", b"")
        if reduced == brackets:  # empty, or brackets that do not pair up
            break
        brackets = reduced
    if not brackets:
        return None
    if b"[]" in brackets:  # still pairs left after ``limit`` levels were removed
        return f"JSON 嵌套不能超过 {limit} 层"
    return "请求体不是合法的 JSON（括号不匹配）"


def _text(raw: bytes, key: str) -> str:
    if b"\x00" in raw:
        raise Refused(key, "不能包含空字符（\\0）")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(key, "不是合法的 UTF-8 文本") from None


def check_query(query: bytes) -> None:
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        name_text = _text(unquote_to_bytes(name.replace(b"+", b" ")), "query")
        _text(unquote_to_bytes(value.replace(b"+", b" ")), name_text or "query")


def check_json(body: bytes) -> None:
    _text(body, "body")
    if b"\\u0000" in body:  # (a text spelling out a backslash before "u0000" is refused too)
        raise Refused("body", "文本中不能包含空字符（\\u0000）")
    if problem := nesting_problem(body):
        raise Refused("body", problem)


def _media_type(scope: Scope) -> bytes:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";")[0].strip().lower()
    return b""


def _error_body(status_code: int, detail: str, extra: list[dict]) -> bytes:
    return json.dumps({"status_code": status_code, "detail": detail, "extra": extra},
                      ensure_ascii=False).encode()


class InputGuard:
    """ASGI middleware wrapping the whole app (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int, https: bool = False,
                 int_paths: list[tuple[re.Pattern, tuple[str, ...]]] = ()):
        self.app = app
        self.int_paths = int_paths
        self.max_body_bytes = max_body_bytes
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":  # every page and resource answers HEAD as it answers GET, without the body
            scope = {**scope, "method": "GET"}
            send = _without_body(send)
        secure = self.https or scope.get("scheme") == "https"
        api = scope["path"].startswith("/api")
        send = self._with_headers(send, secure=secure, api=api)
        try:
            self._check_head(scope)
            receive = await self._checked_body(scope, receive)
        except Refused as refused:
            log.info("refused %s %r: %s", scope["method"], scope["path"], refused.message)
            await self._refuse(send, refused)
            return
        await self.app(scope, receive, send)

    def _check_head(self, scope: Scope) -> None:
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        if "\x00" in scope["path"] or b"%00" in raw_path:
            raise Refused("path", "地址中不能包含空字符（\\0）")
        _text(unquote_to_bytes(raw_path.split(b"?")[0]), "path")
        if any(part.isdigit() and len(part) > 18 for part in scope["path"].split("/")):
            raise Refused("path", "地址中的编号超出允许范围")  # no id fits: refused before any database
        for pattern, names in self.int_paths:  # an id past every table's range: the same 400 on both
            found = pattern.fullmatch(scope["path"])  # backends (SQLite would look, PostgreSQL refuse)
            if found:
                for name in names:
                    value = found[name].lstrip("+-")
                    if value.isdigit() and int(value) > MAX_ID:
                        raise Refused(name, f"编号超出允许范围（不能大于 {MAX_ID}）")
                break
        check_query(scope.get("query_string", b""))
        total = 0
        for name, value in scope.get("headers", ()):
            if b"\x00" in value:
                raise Refused(name.decode("latin-1"), "请求头中不能包含空字符", 400)
            total += len(name) + len(value) + 4
        if total > MAX_HEADER_BYTES:  # behind a server that does not bound them itself
            raise Refused("headers", f"请求头总长超过上限 {MAX_HEADER_BYTES} 字节", 431)

    async def _checked_body(self, scope: Scope, receive: Receive) -> Receive:
        media = _media_type(scope)
        if scope["method"] in ("GET", "HEAD") or media == b"multipart/form-data":
            return receive  # multipart parts are files: the form handlers check their text fields
        # the framework decodes a body as JSON whatever type it claims (text/plain, octet-stream, none):
        # every body but a form's is checked as JSON would be
        is_form = media == b"application/x-www-form-urlencoded"
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay(b"", receive, first=message)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_body_bytes:
                raise Refused("body", f"请求体超过上限 {self.max_body_bytes} 字节", 413)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if is_form:
            check_query(body)
        else:
            check_json(body)
        return _replay(body, receive)

    async def _refuse(self, send: Send, refused: Refused) -> None:
        body = _error_body(refused.status_code, f"请求内容有误：{refused.key}: {refused.message}",
                           [{"key": refused.key, "message": refused.message, "source": "request"}])
        await send({"type": "http.response.start", "status": refused.status_code,
                    "headers": [(b"content-type", b"application/json; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    def _with_headers(send: Send, *, secure: bool, api: bool) -> Send:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in API_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if api and "content-security-policy" not in headers:
                    headers["content-security-policy"] = API_CSP
                if secure:
                    headers["strict-transport-security"] = HSTS
                    cookies = headers.getall("set-cookie", [])
                    if cookies:
                        del headers["set-cookie"]
                        for cookie in cookies:
                            headers.add("set-cookie", cookie if "secure" in cookie.lower() else f"{cookie}; Secure")
            await send(message)

        return send_with_headers


def _without_body(send: Send) -> Send:
    async def send_head(message: Message) -> None:
        if message["type"] == "http.response.body":
            message = {**message, "body": b""}
        await send(message)

    return send_head


def _replay(body: bytes, receive: Receive, first: Message | None = None) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return first or {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
