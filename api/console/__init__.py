"""The staff console (工作台) under ``/console``: queues, order detail and every action, the agent's
phone intake, and administration, for every role. Server-rendered Chinese pages; the few scripts and
the stylesheet are served by the application itself.

``ConsolePages`` is what the app mounts: the router (with the public pages' CSRF check and security
headers), its own Jinja environment and the session signer. Every read and action goes through the
order service, which applies the same role and department rules as the JSON API. How a page is
drawn is ``api/console/pages.py``; the order page is ``api/console/order_page.py``.
"""

from __future__ import annotations

from litestar.config.app import AppConfig
from litestar.plugins import InitPlugin

from api.console.mobile import mobile_router
from api.console.pages import Console, local_time
from api.console.routes import console_router

__all__ = ["ConsolePages", "Console", "local_time"]


class ConsolePages(InitPlugin):
    """Mounts the console on the app."""

    def __init__(self, platform):
        self.platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(console_router(self.platform.settings.secret_key))
        app_config.route_handlers.append(mobile_router(self.platform.settings.secret_key))
        app_config.state["console"] = Console(self.platform)
        return app_config
