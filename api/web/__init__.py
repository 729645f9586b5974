"""The public web pages: an intake form for every channel, order tracking, the online callback and
published replies. Server-rendered Chinese pages that work without JavaScript.

``WebPages`` is the one thing the app mounts: it adds the router (with its own CSRF check, so /api
is never affected), the Jinja templates and the shared state (rate limiter, attachment store).
"""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

from api.web.routes import web_router
from api.web.site import RECEIPT_COOKIE, STATIC, Web

__all__ = ["WebPages", "Web", "RECEIPT_COOKIE", "STATIC"]


class WebPages(InitPlugin):
    """Mounts the web pages on the app."""

    def __init__(self, platform, web: Web | None = None):
        self.platform = platform
        self.web = web

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        web = self.web or Web.from_env(self.platform)
        app_config.route_handlers.append(web_router(self.platform.settings.secret_key))
        app_config.template_config = TemplateConfig(instance=JinjaTemplateEngine.from_environment(web.env))
        app_config.state["web"] = web
        return app_config
