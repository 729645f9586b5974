"""The staff console (工作台) under ``/console``: queues, order detail and every action, the agent's
phone intake, and administration, for every role. Server-rendered Chinese pages; the few scripts and
the stylesheet are served by the application itself.

``ConsolePages`` is what the app mounts: the router (with the public pages' CSRF check and security
headers), its own Jinja environment and the session signer. Every read and action goes through the
order service, which applies the same role and department rules as the JSON API.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.config.app import AppConfig
from litestar.connection.base import ScopeState
from litestar.plugins import InitPlugin

from api.console.session import Sessions
from core.reply_templates import shown as template_text
from core.clock import SHANGHAI
from core.model import ROLES

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


def local_time(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """An instant (datetime or ISO text) in Beijing time, as people at the centre read it."""
    if not value:
        return ""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(SHANGHAI).strftime(fmt)


def hours_text(hours: float) -> str:
    """Working hours left (or over, when negative) in words."""
    over = hours < 0
    hours = abs(hours)
    text = f"{hours / 8:.1f} 个工作日" if hours >= 16 else f"{hours:.1f} 小时"
    return f"超出 {text}" if over else f"剩 {text}"


class Console:
    """What the console's pages share within one app."""

    def __init__(self, platform, *, idle_seconds: int | None = None):
        self.platform = platform
        idle = idle_seconds or int(os.environ.get("HUYING_CONSOLE_IDLE_MINUTES", "30")) * 60
        hours = float(os.environ.get("HUYING_CONSOLE_MAX_HOURS", "12"))
        self.sessions = Sessions(idle_seconds=idle, max_seconds=int(hours * 3600),
                                 secure=os.environ.get("HUYING_CONSOLE_SECURE_COOKIE", "") == "1")
        self.env = Environment(loader=FileSystemLoader(TEMPLATES),
                               autoescape=select_autoescape(default=True, default_for_string=True),
                               trim_blocks=True, lstrip_blocks=True)
        self.env.filters["local"] = local_time
        self.env.filters["hours"] = hours_text
        self.env.globals["roles"] = ROLES
        self.env.filters["placeholders"] = template_text
        self.env.policies["json.dumps_kwargs"] = {"sort_keys": True, "ensure_ascii": False}
        self.env.globals["asset_version"] = hashlib.sha256(
            b"".join(p.read_bytes() for p in sorted(STATIC.iterdir()) if p.is_file())).hexdigest()[:10]

    def render(self, request: Request, name: str, *, status_code: int = 200, **context: Any) -> Response:
        csrf = ScopeState.from_scope(request.scope).csrf_token
        html = self.env.get_template(name).render(request=request, csrf_token=csrf if isinstance(csrf, str) else "",
                                                  **context)
        response = Response(html, status_code=status_code, media_type="text/html",
                            headers={"cache-control": "no-store"})
        return response


class ConsolePages(InitPlugin):
    """Mounts the console on the app."""

    def __init__(self, platform):
        self.platform = platform

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        from api.console.mobile import mobile_router
        from api.console.routes import console_router

        app_config.route_handlers.append(console_router(self.platform.settings.secret_key))
        app_config.route_handlers.append(mobile_router(self.platform.settings.secret_key))
        app_config.state["console"] = Console(self.platform)
        return app_config
