"""The litestar application: routes, plugin routes, error shape, body limit, OpenAPI, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
import sqlite3
from pathlib import Path

from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.openapi.plugins import RedocRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.plugins import InitPlugin
from litestar.routes import HTTPRoute

import asyncpg
import msgspec

from api.open311 import OPEN311_ROUTER
from api.operations import OPERATION_ROUTES, RequestLog, configure_request_log
from api.integrations import ROUTES as INTEGRATION_ROUTES
from api.reports import ROUTES as REPORT_ROUTES
from api.knowledge_routes import ROUTES as KNOWLEDGE_ROUTES
from api.reply_template_routes import ROUTES as REPLY_TEMPLATE_ROUTES
from api.calendar_routes import ROUTES as CALENDAR_ROUTES
from api.department_routes import ROUTES as DEPARTMENT_ROUTES
from api.sla_rule_routes import ROUTES as SLA_RULE_ROUTES
from api.survey_routes import ROUTES as SURVEY_ROUTES
from api.meeting_routes import ROUTES as MEETING_ROUTES
from api.netboard_routes import ROUTES as NETBOARD_ROUTES
from api.people_routes import ROUTES as PEOPLE_ROUTES
from api.site_visit_routes import ROUTES as SITE_VISIT_ROUTES
from api.cti_routes import ROUTES as CTI_ROUTES
from api.routes import ROUTES
from api.console import ConsolePages
from api.openapi import StrictStructSchemaPlugin
from api.schemas import errors
from api.security import SECURED, SECURITY_SCHEMES, authenticated_first, document_security, provide_actor
from api.web import WebPages
from api.guard import InputGuard
from core.errors import HuyingError, TooManyRequests, chinese
from core.jobs import make_jobs
from core.platform import Platform
from core.search import dictionary_loaded


DOCS = "/schema-assets"
log = logging.getLogger("huying.api")
CLIENT_ERRORS = set(range(400, 500))  # answered with a reason: logged at INFO, no traceback


def _shaped(status_code: int, detail: str, extra, headers: dict | None = None) -> Response:
    return Response({"status_code": status_code, "detail": detail, "extra": extra},
                    status_code=status_code, headers=headers)


def _error(request: Request, exc: HuyingError) -> Response:
    if isinstance(exc.extra, list):
        extra = [msgspec.to_builtins(e) for e in exc.extra]
    else:  # every answer has a list, even when no single field is to blame
        extra = [{"key": k, "message": str(v), "source": "body"} for k, v in (exc.extra or {}).items()]
    log.info("%s %r → %s %r", request.method, request.url.path, exc.status_code, exc.detail)
    headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else None
    return _shaped(exc.status_code, exc.detail, extra, headers)


_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _invalid_request(request: Request, exc: ValidationException) -> Response:
    """Litestar's own 400s in the same shape, in Chinese, with ``key`` naming the field rather than ``data``."""
    extra = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        item = dict(item)
        message = str(item.get("message", ""))
        named = _NAMED_FIELD.search(message)
        if item.get("key") in ("data", "", None) and named:
            item["key"] = named.group(1)
        elif named and "missing required field" in message:
            item["key"] = f"{item['key']}.{named.group(1)}"
        item["key"] = item.get("key") or "body"
        item["message"] = chinese(message)
        extra.append(item)
    if not extra:
        extra = [{"key": "body", "message": chinese(str(exc.detail)), "source": "body"}]
    detail = "请求内容有误：" + "；".join(f"{e['key']}: {e['message']}" for e in extra)
    log.info("%s %r → 400 %r", request.method, request.url.path, detail)
    return _shaped(400, detail, extra)


def _http_error(request: Request, exc: HTTPException) -> Response:
    """Litestar's other refusals (unknown address, wrong method, body too large ...) in our shape."""
    status = exc.status_code
    path, method = request.url.path, request.method
    detail = {
        401: "请先登录",
        403: "无权访问",
        404: f"地址 {path} 不存在",
        405: f"地址 {path} 不支持 {method} 请求",
        413: f"请求体过大（上限 {request.app.state.platform.settings.max_body_bytes} 字节）",
        415: "不支持的请求内容类型",
        429: "请求过于频繁，请稍后再试",
    }.get(status) or (chinese(str(exc.detail)) if status < 500 else "服务暂时不可用，请稍后再试")
    if status >= 500:
        log.error("%s %r → %s %r", method, path, status, exc.detail)
    else:
        log.info("%s %r → %s %r", method, path, status, exc.detail)
    extra = [{"key": "body", "message": detail, "source": "body"}] if status == 400 else []
    return _shaped(status, detail, extra, getattr(exc, "headers", None))


def _server_error(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the log (litestar logs it), the caller gets the shape and no details."""
    return _shaped(500, "服务器内部错误，请稍后再试", [])


def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is away (restarting, unreachable, or locked by another process for too long):
    a clean 503 the client may retry, never a 500; the pool reconnects by itself once it is back."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" not in str(exc):
        raise exc
    request.logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return Response({"status_code": 503, "detail": "数据库暂时不可用，请稍后重试", "extra": []},
                    status_code=503, headers={"Retry-After": "5"})


def _out_of_range(request: Request, exc: Exception) -> Response:
    """A number in the request too large for the database column (an id of 40 digits in a path):
    the client's mistake, refused alike on both backends."""
    request.logger.info("value out of range: %s: %s", type(exc).__name__, exc)
    return Response({"status_code": 400, "detail": "请求中的数值超出允许范围", "extra": []}, status_code=400)


OUT_OF_RANGE = (OverflowError, asyncpg.exceptions.DataError)


def _not_utf8(request: Request, exc: Exception) -> Response:
    """A form part that is not UTF-8 text (the framework decodes multipart fields itself, past the
    guard that checks paths, queries and JSON): the client's mistake, never a 500."""
    request.logger.info("undecodable request text: %s", exc)
    detail = "请求内容不是合法的 UTF-8 文本"
    return Response({"status_code": 400, "detail": detail, "extra": [{"key": "body", "message": detail,
                                                                       "source": "body"}]}, status_code=400)

# A PostgreSQL backend terminated under a request (pg_terminate_backend, a failover, a restart) shows as
# a lost connection, or, when the pool hands the dead connection to the next request, as asyncpg's
# "another operation is in progress" (an InternalClientError): both are 503 with Retry-After, not 500.
DATABASE_UNAVAILABLE = (OSError, sqlite3.OperationalError, asyncpg.PostgresConnectionError,
                        asyncpg.exceptions.OperatorInterventionError, asyncpg.InterfaceError,
                        asyncpg.exceptions.InternalClientError)


def _documented(handlers: list) -> list:
    """An API route that declares no refusals of its own is documented with the common ones, in the
    error shape every refusal has (litestar would otherwise describe its own 400 instead)."""
    for handler in handlers:
        if not getattr(handler, "responses", None) and any(p.startswith("/api") for p in getattr(handler, "paths", ())):
            handler.responses = errors(400, 401, 403, 404, 413)
        document_security(handler)
    return handlers


class PluginRoutes(InitPlugin):
    """Appends the route handlers plugins contribute through ``http_route_handlers``."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        for handlers in self.platform.pm.hook.http_route_handlers():
            for handler in handlers:  # a channel's routes refuse in the same shape: say so in the document
                handler.responses = {**errors(400, 401, 403, 404, 409, 413), **(handler.responses or {})}
                document_security(handler)
            app_config.route_handlers.extend(handlers)
        return app_config


def _answer_options_for_every_method(app: Litestar) -> None:
    """litestar builds a path's OPTIONS answer when the path's first handler is registered and keeps
    it when a second method joins (POST after GET): its Allow header then omits the later methods.
    Point each automatic OPTIONS handler at the route it finally belongs to."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            fn = getattr(handler.fn, "__func__", handler.fn)
            if fn.__qualname__.startswith("HTTPRoute.create_options_handler") and fn.__closure__:
                fn.__closure__[0].cell_contents = route


def _int_paths(app: Litestar) -> list[tuple[re.Pattern, tuple[str, ...]]]:
    """Each route's whole-number path parameters, for the guard to refuse an id no table holds."""
    found = []
    for route in app.routes:
        names = tuple(name for name, p in getattr(route, "path_parameters", {}).items() if p.type is int)
        if names:
            pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>[^/]+)", re.escape(route.path_format))
            found.append((re.compile(pattern), names))
    return found


async def _freeze_start_up_objects() -> None:
    """What a serving process made at start-up (the segmenting dictionary above all, hundreds of
    thousands of entries) lives as long as the process: once the dictionary is in, it is moved out of
    the collector's reach, so a full collection no longer stops every request in flight for 100 ms and
    more (bench/console.py at 410,000 orders: 用户管理 p95 115 ms beside a p50 of 13 ms)."""
    for _ in range(1200):  # the dictionary loads beside serving, in a few seconds
        if dictionary_loaded():
            break
        await asyncio.sleep(0.05)
    gc.freeze()


def create_app(platform: Platform | None = None, *, pool: bool = True, run_jobs: bool = True) -> Litestar:
    platform = platform or Platform()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar):
        await platform.start(pool=pool)
        jobs = make_jobs(platform) if run_jobs else None
        app.state.jobs = jobs
        if jobs:
            await jobs.start()
            platform.orders.outbox_written = platform.telephony.outbox_written = jobs.kick
        # a serving process (its own pool and jobs); a test's app leaves the collector alone
        settling = asyncio.ensure_future(_freeze_start_up_objects()) if pool and run_jobs else None
        try:
            yield
        finally:
            if settling:
                settling.cancel()
            if jobs:
                await jobs.stop()
            await platform.stop()

    app = Litestar(
        route_handlers=[*_documented([*ROUTES, *OPERATION_ROUTES, *INTEGRATION_ROUTES, *REPORT_ROUTES, *KNOWLEDGE_ROUTES,
                                    *REPLY_TEMPLATE_ROUTES, *SLA_RULE_ROUTES, *CALENDAR_ROUTES, *SURVEY_ROUTES,
                                    *MEETING_ROUTES, *NETBOARD_ROUTES, *DEPARTMENT_ROUTES, *PEOPLE_ROUTES,
                                    *SITE_VISIT_ROUTES, *CTI_ROUTES]),
                        OPEN311_ROUTER,
                        create_static_files_router(path=DOCS, directories=[Path(__file__).parent / "docs_assets"],
                                                   name="docs-assets", include_in_schema=False)],
        dependencies={"actor": Provide(provide_actor),  # who asks
                      "services": Provide(lambda: platform.services, sync_to_thread=False)},  # for plugin routes
        guards=[authenticated_first],
        exception_handlers={HuyingError: _error, ValidationException: _invalid_request,
                            HTTPException: _http_error, 500: _server_error,
                            **{exc: _database_unavailable for exc in DATABASE_UNAVAILABLE},
                            **{exc: _out_of_range for exc in OUT_OF_RANGE}, UnicodeDecodeError: _not_utf8},
        logging_config=LoggingConfig(log_exceptions="always", disable_stack_trace=CLIENT_ERRORS),
        plugins=[PluginRoutes(platform), WebPages(platform), ConsolePages(platform),  # public pages, console
                 StrictStructSchemaPlugin()],
        lifespan=[lifespan],
        request_max_body_size=platform.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="呼应 Huying 12345 工单平台 API", version="1.0.0",
            description="受理、派单、签收、答复、审核、回访、归档；每个特色专线是一个插件。",
            path="/schema", render_plugins=[  # served from api/docs_assets: no CDN on closed networks
                SwaggerRenderPlugin(js_url=f"{DOCS}/swagger-ui-bundle.js", css_url=f"{DOCS}/swagger-ui.css",
                                    standalone_preset_js_url=f"{DOCS}/swagger-ui-standalone-preset.js",
                                    favicon="<link rel='icon' href='data:,'>"),
                RedocRenderPlugin(js_url=f"{DOCS}/redoc.standalone.js", google_fonts=False,
                                  favicon="<link rel='icon' href='data:,'>"),
            ],
            components=Components(security_schemes={
                name: SecurityScheme(type=spec["type"], scheme=spec.get("scheme"), name=spec.get("name"),
                                     security_scheme_in=spec.get("in"), description=spec["description"])
                for name, spec in SECURITY_SCHEMES.items()}),
            security=SECURED,
        ),
        debug=False,
    )
    app.state.platform = platform
    configure_request_log()
    _answer_options_for_every_method(app)
    guarded = InputGuard(app.asgi_handler, max_body_bytes=max(platform.settings.max_body_bytes, 16 << 20),
                         https=platform.settings.https, int_paths=_int_paths(app))
    app.asgi_handler = RequestLog(guarded)  # outermost: sees every request, routed or not
    return app
