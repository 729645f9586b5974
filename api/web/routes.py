"""The public pages: /forms, /forms/{code}, /forms/{code}/replies, /track (and rating), in Chinese.

Every page works without JavaScript. A refused submission shows the form again with everything the
citizen typed and each message beside its input; nothing personal ever goes into a URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from typing import Any

import anyio
from litestar import Request, Response, Router, get, post
from litestar.datastructures import CacheControlHeader, UploadFile
from litestar.exceptions import ClientException, NotFoundException, PermissionDeniedException
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.static_files import create_static_files_router

from api.client import client_address
from api.web.site import RECEIPT_COOKIE, STATIC
from api.web.forms import GENERAL, FormRejected, Section, all_fields, read_form, sections, submit
from api.web.protection import RateLimited, csrf_middleware, security_headers
from api.web.tracking import NOT_FOUND, find_order, public_view, published_replies, publishes_replies
from api.web.uploads import (
    ALLOWED_TEXT,
    MAX_FILE_BYTES,
    MAX_FILES,
    StoredFile,
    check,
    clean_filename,
)
from core import clock
from core.attachments import NewAttachment
from core.channels import describe_fields
from core.errors import Conflict, HuyingError
from core.lifecycle import SATISFACTION
from core.model import Actor
from core.tables import Order
from core.tracking_links import read_token

# The online callback is taken as an agent would record it on the phone; see the report to the lead:
# the core should let a citizen who proved the query code rate the order under a role of its own.
def _callback_actor(number: str) -> Actor:
    """The citizen who proved the order's query code: rates it as a citizen, not as centre staff."""
    return Actor(name="web-callback", role="citizen", kind="citizen", proven_order=number)
FORM_BODY_LIMIT = 30 * 1024 * 1024 + 512 * 1024  # all files of one form together (one video and photos)
_SUBMISSION = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def _page(name: str, *, status_code: int = 200, private: bool = False, headers: dict | None = None,
          **context: Any) -> Template:
    """A rendered page; ``private`` pages (query codes, an order's state) are never cached."""
    headers = dict(headers or {})
    if private:
        headers["cache-control"] = "no-store"
    return Template(template_name=name, context=context, status_code=status_code, headers=headers)


def _web(request: Request):
    return request.app.state.web


def _client(request: Request) -> str:
    return client_address(request) or "unknown"


def _public_channel(request: Request, code: str):
    channel = request.app.state.platform.channels.get(code)
    if channel is None or not channel.public:
        raise NotFoundException("没有这个反映渠道")
    return channel


def _minutes(seconds: int) -> str:
    return f"{-(-seconds // 60)} 分钟" if seconds >= 60 else f"{seconds} 秒"


# -- forms -------------------------------------------------------------------------------------------

@get("/", include_in_schema=False)
async def home() -> Redirect:
    return Redirect("/forms")


@get("/forms", include_in_schema=False)
async def forms_index(request: Request) -> Template:
    channels = [c for c in request.app.state.platform.channels if c.public]
    return _page("forms_index.html", channels=channels,
                 replies={c.code for c in channels if publishes_replies(c)})


def _defaults(parts: list[Section], channel) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if len(channel.kinds) == 1:
        values["kind"] = channel.kinds[0]
    for f in describe_fields(channel.fields):
        if f.default not in ("", None):
            values[f"details.{f.name}"] = f.default
    return values


async def _area_names(request: Request) -> list[str]:
    """The streets and towns 街道 is picked from."""
    return [a["name"] for a in await request.app.state.platform.orders.reference.areas()]


async def _render_form(request: Request, channel, *, values: dict, errors: dict, submission: str,
                       kept: list[StoredFile] = (), status_code: int = 200, headers: dict | None = None,
                       limited: str = "") -> Template:
    web = _web(request)
    parts = sections(channel, await _area_names(request))
    fields = all_fields(parts)
    order = {f.name: i for i, f in enumerate(fields)}
    summary = [(f.id, f.label, errors[f.name]) for f in fields if f.name in errors]
    summary = [(i, "" if label in message else label, message) for i, label, message in summary]
    if "attachments" in errors:
        summary.append(("f-attachments", "附件", errors["attachments"]))
    summary.sort(key=lambda item: order.get(item[0], len(order)))
    return _page(web.form_template(channel.code), status_code=status_code, headers=headers, private=True,
                 channel=channel, sections=parts, values=values, errors=errors, summary=summary,
                 general=errors.get(GENERAL, ""), submission=submission,
                 kept=[(web.file_token(f), f) for f in kept], max_files=MAX_FILES,
                 max_mb=MAX_FILE_BYTES // (1024 * 1024), allowed=ALLOWED_TEXT, limited=limited)


@get("/forms/{code:str}", include_in_schema=False)
async def form_page(request: Request, code: FromPath[str]) -> Template:
    channel = _public_channel(request, code)
    return await _render_form(request, channel, values=_defaults(sections(channel), channel), errors={},
                        submission=secrets.token_urlsafe(18))


def _owner(request: Request) -> str:
    """Whose staged files these are: the client address, hashed (a name in the staging folder)."""
    return hashlib.sha256(_web(request)._key + _client(request).encode()).hexdigest()[:12]


async def _take_attachments(request: Request, form, *, accept_new: bool = True
                            ) -> tuple[list[StoredFile], list[str]]:
    """Files kept from an earlier round (signed, still staged) plus the new ones that pass the checks,
    staged until the order is recorded."""
    web = _web(request)
    store = web.store
    kept: list[StoredFile] = []
    problems: list[str] = []
    for token in form.getall("kept_attachment", []):
        stored = web.file_from_token(token)
        if stored is None or stored.key in {k.key for k in kept}:
            continue
        if store.is_staged(stored.key):
            kept.append(stored)
        else:
            problems.append(f"「{stored.filename}」保留时间已过，请重新选择")
    for upload in form.getall("attachments", []) if accept_new else ():
        if not isinstance(upload, UploadFile) or not upload.filename:
            continue
        name = clean_filename(upload.filename)
        if len(kept) >= MAX_FILES:
            problems.append(f"最多上传 {MAX_FILES} 个附件，「{name}」未能上传")
            continue
        data = await upload.read()
        content_type, why = await check(name, data)
        if why:
            problems.append(why)
            continue
        key = await anyio.to_thread.run_sync(store.stage, data, content_type, _owner(request))
        kept.append(StoredFile(key=key, filename=name, content_type=content_type, size=len(data)))
    return kept, problems


async def _keep_for_next_round(request: Request, kept: list[StoredFile]) -> None:
    """A refused form: this client's staged files are the ones shown again, no others (so posting
    refused forms again and again never piles files up), and they are kept fresh for the sweep."""
    store = _web(request).store

    def prune():
        store.discard_owner(_owner(request), keep={f.key for f in kept})
        for file in kept:
            with contextlib.suppress(OSError, KeyError):
                os.utime(store._staged(file.key))
    await anyio.to_thread.run_sync(prune)


async def _place(request: Request, order, kept: list[StoredFile]) -> None:
    """The order is recorded: move the files it lists into the store; a repeat of an earlier post (its
    order already has its files) leaves these unclaimed, and they go."""
    from core.tables import Attachment

    store = _web(request).store
    if not kept:
        return
    finals = {store.final_key(f.key): f.key for f in kept}
    rows = await Attachment.select(Attachment.key).where(Attachment.key.is_in(list(finals)))
    listed = {r["key"] for r in rows}

    def move():
        for final, staged in finals.items():
            store.place(staged) if final in listed else store.discard(staged)
    await anyio.to_thread.run_sync(move)


@post("/forms/{code:str}", include_in_schema=False, request_max_body_size=FORM_BODY_LIMIT)
async def submit_form(request: Request, code: FromPath[str]) -> Template | Redirect:
    platform = request.app.state.platform
    channel = _public_channel(request, code)
    form = await request.form()
    fields = all_fields(sections(channel, await _area_names(request)))
    data, values = read_form(form, fields)
    submission = form.get("_submission")
    if not (isinstance(submission, str) and _SUBMISSION.match(submission)):
        submission = secrets.token_urlsafe(18)
    web = _web(request)
    try:
        await web.limiter.acquire("attempt", _client(request))  # generous: a script, not a citizen correcting typos
    except RateLimited as limited:
        kept, _ = await _take_attachments(request, form, accept_new=False)
        await _keep_for_next_round(request, kept)
        return await _limited_form(request, channel, limited, values=values, submission=submission, kept=kept)
    kept, problems = await _take_attachments(request, form)
    try:
        order = await submit(platform, channel, fields, data, submission=submission, hold=bool(problems),
                             attachments=[NewAttachment(key=web.store.final_key(f.key), filename=f.filename,
                                                        content_type=f.content_type, size=f.size) for f in kept],
                             admit=lambda: web.limiter.acquire("submit", _client(request)))
    except RateLimited as limited:
        await _keep_for_next_round(request, kept)
        return await _limited_form(request, channel, limited, values=values, submission=submission, kept=kept)
    except FormRejected as rejected:
        errors = rejected.errors
        if problems:
            errors["attachments"] = "；".join(problems)
        await _keep_for_next_round(request, kept)
        return await _render_form(request, channel, values=values, errors=errors, submission=submission, kept=kept,
                            status_code=400)
    except Conflict:
        await _keep_for_next_round(request, kept)
        return await _render_form(request, channel, values=values, submission=secrets.token_urlsafe(18), kept=kept,
                            status_code=409, errors={
                                GENERAL: "这份表单已经提交过，工单已生成。如需另外反映一件事，请核对内容后再次提交。"})
    except BaseException:
        await _keep_for_next_round(request, kept)
        raise
    await _place(request, order, kept)
    # post/redirect/get: Back or reload on the confirmation never posts the form again
    response = Redirect(f"/forms/{channel.code}/done", status_code=303)
    response.set_cookie(web.receipt_cookie(order.number, order.query_code, secure=request.url.scheme == "https"))
    return response


async def _limited_form(request: Request, channel, limited: RateLimited, **kwargs) -> Template:
    return await _render_form(request, channel, status_code=429, errors={},
                        headers={"retry-after": str(limited.retry_after)},
                        limited=f"这台设备提交得太频繁了，请 {_minutes(limited.retry_after)}后再点「提交」。"
                                "您填写的内容都还在，不需要重新填写。", **kwargs)


async def _receipt_order(request: Request) -> dict | None:
    """The order of the receipt this browser was given after submitting (a signed, short-lived
    cookie: the query code never travels in a URL)."""
    receipt = _web(request).receipt_from_cookie(request.cookies.get(RECEIPT_COOKIE, ""))
    return await find_order(*receipt) if receipt else None


@get("/forms/{code:str}/done", include_in_schema=False)
async def done_page(request: Request, code: FromPath[str]) -> Template | Redirect:
    channel = _public_channel(request, code)
    order = await _receipt_order(request)
    if order is None or order["channel"] != channel.code:
        return Redirect("/track")
    view = await public_view(order, channel, request.app.state.platform)
    return _page("done.html", private=True, channel=channel, number=order["number"],
                 query_code=order["query_code"], anonymous=order["anonymous"], order=view,
                 attachments=view["attachments"])


@post("/track/receipt", include_in_schema=False, status_code=200)
async def download_receipt(request: Request) -> Response:
    """The number and query code as a small text file to keep (an anonymous filer's only key)."""
    form = await request.form()
    values = {k: form.get(k) if isinstance(form.get(k), str) else "" for k in ("number", "query_code")}
    try:
        await _web(request).limiter.acquire("track", _client(request))
    except RateLimited as limited:
        return _track_refused(values, f"操作太频繁了，请 {_minutes(limited.retry_after)}后再试。", 429,
                              {"retry-after": str(limited.retry_after)})
    order = await find_order(values["number"], values["query_code"])
    if order is None:
        return _track_refused(values, NOT_FOUND, 404)
    channel = request.app.state.platform.channels.get(order["channel"])
    view = await public_view(order, channel, request.app.state.platform)
    text = "\r\n".join([
        "12345 市民服务热线 · 网上反映回执", "",
        f"反映渠道：{view['channel_name']}", f"标题：{view['subject']}", f"受理时间：{view['received_at']}",
        f"工单编号：{order['number']}", f"查询码：{order['query_code']}",
        *([f"预计答复：{view['expected']['date']} 前"] if view["expected"] else []), "",
        "凭工单编号和查询码，在「查询办理进度」页面查看进度、答复和评价办理情况。",
        "查询码相当于密码，请妥善保存，不要告诉他人。", ""])
    return Response(text.encode("utf-8"), media_type="text/plain; charset=utf-8", headers={
        "cache-control": "no-store",
        "content-disposition": f"attachment; filename=\"receipt-{order['number']}.txt\"; "
                               f"filename*=UTF-8''12345%E5%9B%9E%E6%89%A7-{order['number']}.txt"})


@get("/forms/{code:str}/replies", include_in_schema=False)
async def replies_page(request: Request, code: FromPath[str], page: FromQuery[int] = 1) -> Template:
    channel = _public_channel(request, code)
    if not publishes_replies(channel):
        raise NotFoundException("该渠道不公开答复")
    page = max(1, min(page, 10_000))
    items, total = await published_replies(channel, page)
    pages = max(1, -(-total // 10))
    return _page("replies.html", channel=channel, items=items, page=page, pages=pages, total=total)


# -- tracking and the online callback ------------------------------------------------------------------

@get("/track", include_in_schema=False)
async def track_page(request: Request) -> Template:
    """Prefilled with the receipt this browser was given, if any (from the cookie, never the URL)."""
    receipt = _web(request).receipt_from_cookie(request.cookies.get(RECEIPT_COOKIE, ""))
    values = {"number": receipt[0], "query_code": receipt[1]} if receipt else {}
    return _page("track.html", values=values, error="", private=bool(receipt))


def _track_refused(values: dict, message: str, status_code: int, headers: dict | None = None) -> Template:
    return _page("track.html", status_code=status_code, private=True, headers=headers,
                 values={k: values.get(k, "") for k in ("number", "query_code")}, error=message)


@post("/track", include_in_schema=False)
async def track_order(request: Request) -> Template:
    form = await request.form()
    values = {k: form.get(k) if isinstance(form.get(k), str) else "" for k in ("number", "query_code")}
    try:
        await _web(request).limiter.acquire("track", _client(request))
    except RateLimited as limited:
        return _track_refused(values, f"查询太频繁了，请 {_minutes(limited.retry_after)}后再试。", 429,
                              {"retry-after": str(limited.retry_after)})
    if not values["number"].strip() or not values["query_code"].strip():
        return _track_refused(values, "请填写工单编号和查询码。", 400)
    order = await find_order(values["number"], values["query_code"])
    if order is None:
        return _track_refused(values, NOT_FOUND, 404)
    return await _track_result(request, order, values["query_code"])


LINK_INVALID = "这个链接不完整或不正确。请核对短信中的链接，或输入工单编号和查询码查询。"
LINK_EXPIRED = "这个链接已过期。请输入短信中的工单编号和查询码查询。"
NO_REFERRER = {"referrer-policy": "no-referrer"}  # the link is a key: never passed on to another site


@get("/t/{token:str}", include_in_schema=False)
async def track_link(request: Request, token: FromPath[str]) -> Template:
    """The tracking page opened from the signed link in a text message (core/tracking_links.py):
    the same view and rating as the number and query code give, without typing either."""
    await _web(request).limiter.acquire("track", _client(request))
    settings = request.app.state.platform.settings
    number, expired = read_token(token[:80], settings.secret_key, clock.today())
    order = None
    if number is not None and not expired:
        order = await Order.select().where(Order.number == number).output(load_json=True).first()
    if order is None or not order["query_code"]:
        return _page("track.html", status_code=410 if expired else 404, private=True, headers=NO_REFERRER,
                     values={"number": number or ""}, error=LINK_EXPIRED if expired else LINK_INVALID)
    return await _track_result(request, order, order["query_code"], headers=NO_REFERRER)


async def _track_result(request: Request, order: dict, query_code: str, *, notice: str = "",
                        rate_errors: dict | None = None, rate_values: dict | None = None,
                        status_code: int = 200, headers: dict | None = None) -> Template:
    channel = request.app.state.platform.channels.get(order["channel"])
    return _page("track_result.html", private=True, status_code=status_code, headers=headers,
                 order=await public_view(order, channel, request.app.state.platform), query_code=query_code.strip().upper(),
                 notice=notice, rate_errors=rate_errors or {}, rate_values=rate_values or {},
                 satisfaction=SATISFACTION)


@post("/track/rate", include_in_schema=False)
async def rate_order(request: Request) -> Template:
    form = await request.form()
    values = {k: form.get(k) if isinstance(form.get(k), str) else "" for k in
              ("number", "query_code", "satisfaction", "resolved", "note")}
    try:
        await _web(request).limiter.acquire("track", _client(request))
    except RateLimited as limited:
        return _track_refused(values, f"操作太频繁了，请 {_minutes(limited.retry_after)}后再试。", 429,
                              {"retry-after": str(limited.retry_after)})
    order = await find_order(values["number"], values["query_code"])
    if order is None:
        return _track_refused(values, NOT_FOUND, 404)
    errors = {}
    if values["satisfaction"] not in SATISFACTION:
        errors["satisfaction"] = "请选择您对办理情况是否满意"
    if values["resolved"] not in ("yes", "no"):
        errors["resolved"] = "请选择问题是否已经解决"
    if len(values["note"]) > 500:
        errors["note"] = f"补充说明不能超过 500 个字（现在 {len(values['note'])} 个字）"
    if errors:
        return await _track_result(request, order, values["query_code"], rate_errors=errors,
                                   rate_values=values, status_code=400)
    try:
        await request.app.state.platform.orders.act(order["number"], "callback", {
            "satisfaction": values["satisfaction"], "resolved": values["resolved"] == "yes",
            "note": values["note"].strip()}, _callback_actor(order["number"]))
    except HuyingError as refused:
        order = await find_order(values["number"], values["query_code"])
        return await _track_result(request, order, values["query_code"], status_code=409,
                                   notice=f"未能提交评价：{refused.detail}")
    order = await find_order(values["number"], values["query_code"])
    return await _track_result(request, order, values["query_code"], notice="感谢您的评价！我们会认真对待每一条意见。")


# -- error pages ---------------------------------------------------------------------------------------

def _message(request: Request, status_code: int, title: str, text: str, headers: dict | None = None) -> Response:
    template = request.app.template_engine.get_template("message.html")
    html = template.render(title=title, text=text, status_code=status_code, request=request)
    return Response(html, status_code=status_code, media_type="text/html",
                    headers={"cache-control": "no-store", **(headers or {})})


def _csrf_refused(request: Request, exc: Exception) -> Response:
    return _message(request, 403, "页面已过期，请重新提交",
                    "为保护您的信息，每份表单都带有安全校验，这次提交没有通过校验。请点浏览器的「返回」，"
                    "刷新页面后再提交（返回后您填写的内容通常还在）。如果一直出现这个提示，请确认浏览器允许使用 Cookie。")


def _not_found(request: Request, exc: Exception) -> Response:
    detail = getattr(exc, "detail", "") or ""
    return _message(request, 404, "没有找到这个页面", detail if re.search(r"[\u4e00-\u9fff]", detail)
                    else "您访问的页面不存在。请从「我要反映」重新进入。")


def _too_large(request: Request, exc: Exception) -> Response:
    return _message(request, 413, "附件太大，未能提交",
                    f"所有附件合计不能超过 {FORM_BODY_LIMIT // (1024 * 1024)} MB，每个附件不超过 "
                    f"{MAX_FILE_BYTES // (1024 * 1024)} MB。请点浏览器的「返回」，换用较小的文件或少选几个后再提交。")


def _bad_request(request: Request, exc: Exception) -> Response:
    if "Too Large" in str(getattr(exc, "detail", "")):
        return _too_large(request, exc)
    return _message(request, 400, "提交的内容无法识别", "请点浏览器的「返回」，刷新页面后重新填写提交。")


def _rate_limited(request: Request, exc: RateLimited) -> Response:
    return _message(request, 429, "操作太频繁", f"请 {_minutes(exc.retry_after)}后再试。",
                    {"retry-after": str(exc.retry_after)})


def _server_error(request: Request, exc: Exception) -> Response:
    return _message(request, 500, "系统暂时无法处理",
                    "很抱歉，系统出了点问题，您的内容可能没有提交成功。请稍后再试，或拨打 12345 热线反映。")


def web_router(secret: str) -> Router:
    """The public pages under one router, which alone carries the CSRF check and security headers."""
    static = create_static_files_router(path="/static", directories=[STATIC], name="web-static",
                                        include_in_schema=False,
                                        cache_control=CacheControlHeader(max_age=86400))  # URLs carry ?v=
    return Router(
        path="/",
        route_handlers=[home, forms_index, form_page, submit_form, done_page, replies_page, track_page,
                        track_link, track_order, download_receipt, rate_order, static],
        middleware=[security_headers, csrf_middleware(secret)],
        exception_handlers={
            PermissionDeniedException: _csrf_refused,
            NotFoundException: _not_found,
            RequestEntityTooLarge: _too_large,
            ClientException: _bad_request,
            RateLimited: _rate_limited,
            500: _server_error,
        },
        include_in_schema=False,
    )
