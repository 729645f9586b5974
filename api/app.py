"""The litestar application: routes, plugin routes, error shape, body limit, OpenAPI, lifespan."""

from __future__ import annotations

import contextlib
import re
import sqlite3

from litestar import Litestar, Request, Response
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.logging import LoggingConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.plugins import InitPlugin

import asyncpg
import msgspec

from api.knowledge_routes import ROUTES as KNOWLEDGE_ROUTES
from api.routes import ROUTES
from api.security import provide_actor
from api.web import WebPages
from core.errors import HuyingError
from core.jobs import make_jobs
from core.platform import Platform


def _error(request: Request, exc: HuyingError) -> Response:
    extra = [msgspec.to_builtins(e) for e in exc.extra] if isinstance(exc.extra, list) else exc.extra
    return Response({"status_code": exc.status_code, "detail": exc.detail, "extra": extra},
                    status_code=exc.status_code)


_NAMED_FIELD = re.compile(r"field `([^`]+)`")


def _invalid_request(request: Request, exc: ValidationException) -> Response:
    """Litestar's own 400s in the same shape, with ``key`` naming the field rather than ``data``."""
    extra = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        item = dict(item)
        named = _NAMED_FIELD.search(item.get("message", ""))
        if item.get("key") in ("data", "", None) and named:
            item["key"] = named.group(1)
        elif named and "missing required field" in item.get("message", ""):
            item["key"] = f"{item['key']}.{named.group(1)}"
        extra.append(item)
    return Response({"status_code": 400, "detail": "请求内容有误：" + "；".join(
        f"{e.get('key')}: {e.get('message')}" for e in extra) if extra else exc.detail, "extra": extra},
                    status_code=400)


def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database is away (restarting, unreachable, or locked by another process for too long):
    a clean 503 the client may retry, never a 500; the pool reconnects by itself once it is back."""
    if isinstance(exc, sqlite3.OperationalError) and "locked" not in str(exc):
        raise exc
    request.logger.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return Response({"status_code": 503, "detail": "数据库暂时不可用，请稍后重试", "extra": []},
                    status_code=503, headers={"Retry-After": "5"})


DATABASE_UNAVAILABLE = (OSError, sqlite3.OperationalError, asyncpg.PostgresConnectionError,
                        asyncpg.exceptions.OperatorInterventionError, asyncpg.InterfaceError)


class PluginRoutes(InitPlugin):
    """Appends the route handlers plugins contribute through ``http_route_handlers``."""

    def __init__(self, platform: Platform):
        self.platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        for handlers in self.platform.pm.hook.http_route_handlers():
            app_config.route_handlers.extend(handlers)
        return app_config


def create_app(platform: Platform | None = None, *, pool: bool = True, run_jobs: bool = True) -> Litestar:
    platform = platform or Platform()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar):
        await platform.start(pool=pool)
        jobs = make_jobs(platform) if run_jobs else None
        if jobs:
            await jobs.start()
            platform.orders.outbox_written = jobs.kick
        try:
            yield
        finally:
            if jobs:
                await jobs.stop()
            await platform.stop()

    app = Litestar(
        route_handlers=[*ROUTES, *KNOWLEDGE_ROUTES],
        dependencies={"actor": Provide(provide_actor)},
        exception_handlers={HuyingError: _error, ValidationException: _invalid_request,
                            **{exc: _database_unavailable for exc in DATABASE_UNAVAILABLE}},
        logging_config=LoggingConfig(log_exceptions="always"),
        plugins=[PluginRoutes(platform), WebPages(platform)],  # the public pages (api/web)
        lifespan=[lifespan],
        request_max_body_size=platform.settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="呼应 Huying 12345 工单平台 API", version="1.0.0",
            description="受理、派单、签收、答复、审核、回访、归档；每个特色专线是一个插件。",
            path="/schema", render_plugins=[SwaggerRenderPlugin()],
        ),
        debug=False,
    )
    app.state.platform = platform
    return app
