"""The console's phone pages under ``/console/m``: my scheduled on-site verifications (实地核实), the
record form (findings, conclusion, the phone's position or a typed address, photos from the camera)
and the schedule form. Small pages for a slow connection: one stylesheet and one short script, both
optional (photos are resized in the browser before upload when the script runs; without it the
original goes up and is checked the same way).

The same session, CSRF check and security headers as the rest of the console, except that these
pages may ask for the phone's position and camera (``Permissions-Policy``). Every read and write goes
through ``core.site_visits``, which applies the order's visibility and the roles.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import ERROR_HANDLERS
from api.console.session import current_actor
from api.web.protection import SECURITY_HEADERS, csrf_middleware, security_headers_allowing
from core.clock import SHANGHAI
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, chinese
from core.intake import field_errors
from core.model import CENTRE_ROLES, Actor
from core.site_visits import (
    CONCLUSIONS,
    MAX_PHOTOS_AT_ONCE,
    PURPOSES,
    Record,
    Schedule,
    place_text,
    purposes_for,
)
from core.storage import MB
from core.tables import User

PHONE_HEADERS = {
    "permissions_policy": "camera=(self), microphone=(), geolocation=(self)",
    # the chosen photos are read back from blob: addresses to be resized and previewed
    "content_security_policy": SECURITY_HEADERS["content-security-policy"].replace(
        "img-src 'self' data:", "img-src 'self' data: blob:"),
}
STAFF_CHOICES = 200


def _platform(request: Request):
    return request.app.state.platform


async def _render(request: Request, actor: Actor, name: str, *, status_code: int = 200, **context) -> Response:
    from core.users import display_names

    return request.app.state.console.render(request, name, status_code=status_code, me=actor,
                                            people=await display_names(), purposes=PURPOSES,
                                            conclusions=CONCLUSIONS, place_text=place_text, **context)


def _errors(exc: InvalidInput) -> dict[str, str]:
    """Each refused field's message, in Chinese, by the form's field name (``place.*`` is the position)."""
    return {e.key.split(".")[0]: chinese(e.message) for e in exc.errors}


def _required(values: dict[str, str], required: dict[str, str]) -> None:
    """Empty fields are named in the people's words before the schema's own checks."""
    missing = [FieldError(key, message) for key, message in required.items() if not values.get(key)]
    if missing:
        raise InvalidInput(missing)


@get("/visits")
async def my_visits(request: Request) -> Response:
    actor = await current_actor(request)
    visits = await _platform(request).site_visits.mine(actor)
    return await _render(request, actor, "m_visits.html", visits=visits, done=request.query_params.get("done", ""))


@get("/visits/{visit_id:int}")
async def visit_page(request: Request, visit_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    visit = await _platform(request).site_visits.get(visit_id, actor)
    return await _render(request, actor, "m_visit.html", visit=visit, values={}, errors={},
                         done=request.query_params.get("done", ""), max_photos=MAX_PHOTOS_AT_ONCE)


@post("/visits/{visit_id:int}", request_max_body_size=MAX_PHOTOS_AT_ONCE * 10 * MB + 256 * 1024)
async def record_visit(request: Request, visit_id: FromPath[int]) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("findings", "conclusion", "latitude", "longitude",
                                                           "accuracy", "address")}
    uploads = [(f.filename or "", await f.read()) for f in form.getall("photos", [])
               if isinstance(f, UploadFile) and f.filename]
    body: dict[str, Any] = {"findings": values["findings"], "conclusion": values["conclusion"],
                            "address": values["address"]}
    if values["latitude"] and values["longitude"]:
        body["place"] = {"latitude": values["latitude"], "longitude": values["longitude"],
                         "accuracy": values["accuracy"] or 0}
    try:
        _required(values, {"findings": "请填写核实情况", "conclusion": "请选择核实结论"})
        try:
            data = msgspec.convert(body, Record, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidInput(field_errors(exc)) from None
        await platform.site_visits.record(visit_id, data, actor, uploads=uploads, store=platform.attachments)
    except InvalidInput as refused:
        visit = await platform.site_visits.get(visit_id, actor)
        return await _render(request, actor, "m_visit.html", status_code=400, visit=visit, values=values,
                             errors=_errors(refused), done="", max_photos=MAX_PHOTOS_AT_ONCE)
    except (Conflict, Forbidden) as refused:
        visit = await platform.site_visits.get(visit_id, actor)
        return await _render(request, actor, "m_visit.html", status_code=refused.status_code, visit=visit,
                             values=values, errors={"_form": refused.detail}, done="", max_photos=MAX_PHOTOS_AT_ONCE)
    return Redirect(f"/console/m/visits/{visit_id}?{urlencode({'done': '已记录实地核实'})}", status_code=303)


async def _staff_choices(order, centre_only: bool) -> list[dict]:
    """Who may be sent: the centre's staff, and the order's own department's unless only an appeal fits."""
    rows = await User.select(User.username, User.display_name, User.role, User.department).where(
        User.active == True).order_by(User.username).limit(STAFF_CHOICES * 5)  # noqa: E712
    return [r for r in rows if r["role"] in CENTRE_ROLES or not centre_only and r["role"] == "handler"
            and r["department"] == order.department][:STAFF_CHOICES]


async def _schedule_page(request: Request, actor: Actor, number: str, *, status_code: int = 200,
                         values: dict | None = None, errors: dict | None = None) -> Response:
    platform = _platform(request)
    order = await platform.orders.get(number, actor)
    default_time = (platform.orders.clock().astimezone(SHANGHAI) + dt.timedelta(days=1)).replace(
        hour=9, minute=0, second=0, microsecond=0)
    values = values or {"scheduled_at": default_time.strftime("%Y-%m-%dT%H:%M"), "staff": [actor.name]}
    fits = purposes_for(platform.channels.get(order.channel), order.status)
    return await _render(request, actor, "m_schedule.html", status_code=status_code, order=order, fits=fits,
                         staff_choices=await _staff_choices(order, list(fits) == ["appeal"]),
                         values=values, errors=errors or {})


@get("/orders/{number:str}/visits/new")
async def schedule_page(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    return await _schedule_page(request, actor, number)


@post("/orders/{number:str}/visits/new")
async def schedule_submit(request: Request, number: FromPath[str]) -> Response:
    actor = await current_actor(request)
    platform = _platform(request)
    form = await request.form()
    values = {"purpose": str(form.get("purpose") or ""), "scheduled_at": str(form.get("scheduled_at") or ""),
              "note": str(form.get("note") or "").strip(),
              "staff": [s for s in form.getall("staff", []) if isinstance(s, str) and s][:20]}
    try:
        _required(values, {"purpose": "请选择核实事由", "staff": "请选择核实人员"})
        try:
            when = dt.datetime.fromisoformat(values["scheduled_at"])
        except ValueError:
            raise InvalidInput([FieldError("scheduled_at", "请选择预约时间")]) from None
        body = {**values, "scheduled_at": when if when.tzinfo else when.replace(tzinfo=SHANGHAI)}
        try:
            data = msgspec.convert(body, Schedule, strict=False)
        except msgspec.ValidationError as exc:
            raise InvalidInput(field_errors(exc)) from None
        visit = await platform.site_visits.schedule(number, data, actor)
    except InvalidInput as refused:
        return await _schedule_page(request, actor, number, status_code=400, values=values, errors=_errors(refused))
    except (Conflict, Forbidden) as refused:
        return await _schedule_page(request, actor, number, status_code=refused.status_code, values=values,
                                    errors={"_form": refused.detail})
    return Redirect(f"/console/orders/{number}?{urlencode({'done': '安排实地核实'})}#site-visits", status_code=303)


def mobile_router(secret: str) -> Router:
    """The phone pages, with the console's error pages and a Permissions-Policy that lets them use the
    camera and the position."""
    return Router(
        path="/console/m",
        route_handlers=[my_visits, visit_page, record_visit, schedule_page, schedule_submit],
        middleware=[security_headers_allowing(**PHONE_HEADERS), csrf_middleware(secret)],
        exception_handlers=ERROR_HANDLERS,
        include_in_schema=False,
    )
