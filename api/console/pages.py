"""How a console page is drawn: the Jinja environment (``Console``), the frame every page shares
(``render_page``: the role's nav, the calendar banner, unread notices) and the error pages. Every console
module renders through here, so none of them imports the router (``api.console.routes``) that
gathers their routes."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import Request, Response
from litestar.connection.base import ScopeState
from litestar.exceptions import NotFoundException, PermissionDeniedException
from litestar.response import Redirect

from api.console import queues
from api.console.session import NotSignedIn, Sessions
from core import calendar_admin, notices
from core.clock import SHANGHAI
from core.errors import HuyingError
from core.model import ROLES, Actor
from core.reply_templates import shown as template_text
from core.users import display_names

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


def console_of(request: Request) -> Console:
    return request.app.state.console


def platform_of(request: Request):
    """The platform serving this request (for the console's own pages; plugins get ``PluginServices``)."""
    return request.app.state.platform


def calendar_banner(platform, actor: Actor | None) -> str | None:
    """Admins and supervisors are told while next year's holidays are still provisional (see
    ``core.calendar_admin.banner``)."""
    if actor is None or actor.role not in ("admin", "supervisor"):
        return None
    today = platform.orders.clock().astimezone(platform.calendar.tz).date()
    return calendar_admin.banner(platform.calendar, today)


async def render_page(request: Request, actor: Actor | None, name: str, *, status_code: int = 200, **context) -> Response:
    """A console page: the template with what every page shows (the nav of the role, the calendar
    banner, the unread notices, the names of people)."""
    nav = queues.QUEUES.get(actor.role, []) if actor else []
    names = await platform_of(request).orders.department_names() if actor and actor.department else {}
    context.setdefault("calendar_banner", calendar_banner(platform_of(request), actor))
    if actor and "people" not in context:
        context["people"] = await display_names()
    context.setdefault("notices_unread", await notices.unread(actor) if actor else 0)
    return console_of(request).render(request, name, status_code=status_code, me=actor, nav=nav,
                                    my_department=names.get(actor.department or "", "") if actor else "", **context)


# -- error pages ----------------------------------------------------------------------------------

def signed_out(request: Request, exc: NotSignedIn) -> Response:
    if request.url.path == "/console/live":  # an event stream is not redirected: 401 ends its retries
        return Response({"detail": exc.reason or "请先登录"}, status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET" or request.url.path.startswith("/console/caller-history"):
        target = "/console"
    query = {"next": target}
    if exc.reason:
        query["notice"] = exc.reason
    response = Redirect(f"/console/login?{urlencode(query)}", status_code=303)
    response.set_cookie(console_of(request).sessions.expired_cookie())
    return response


def message(request: Request, status_code: int, title: str, text: str) -> Response:
    return console_of(request).render(request, "message.html", status_code=status_code, me=None, nav=[],
                                    title=title, text=text)


def huying_error(request: Request, exc: HuyingError) -> Response:
    titles = {400: "请求有误", 401: "请重新登录", 403: "无权访问", 404: "没有找到", 409: "操作未能完成"}
    return message(request, exc.status_code, titles.get(exc.status_code, "操作未能完成"), exc.detail)


def csrf_refused(request: Request, exc: Exception) -> Response:
    return message(request, 403, "页面已过期，请刷新后重试",
                    "这次提交没有通过安全校验（页面打开太久或 Cookie 被清除）。请返回上一页，刷新后再提交。")


def not_found(request: Request, exc: Exception) -> Response:
    return message(request, 404, "没有找到这个页面", "请从工作台首页重新进入。")


def server_error(request: Request, exc: Exception) -> Response:
    return message(request, 500, "系统暂时无法处理", "很抱歉，系统出了点问题，刚才的操作可能没有完成。请刷新页面核对后再试。")


ERROR_HANDLERS = {
    NotSignedIn: signed_out,
    HuyingError: huying_error,
    PermissionDeniedException: csrf_refused,
    NotFoundException: not_found,
    500: server_error,
}
