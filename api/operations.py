"""Running the platform: request ids and one log line per request, Prometheus metrics, liveness and
readiness probes, and the admin/auditor views of the fault log and the access audit."""

from __future__ import annotations

import contextvars
import datetime as dt
import itertools
import logging
import os
import re
import time
import uuid
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from api.client import client_address
from api.schemas import errors
from api.security import require_role
from core import access_audit, incidents
from core.errors import NotFound
from core.metrics import LATENCY, REQUESTS, DatabaseCollector, gather, render
from core.model import Actor
from core.plugins import PluginInfo, describe_plugins

REQUEST_ID_HEADER = "x-request-id"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_LINK_TOKEN = re.compile(r"^/t/[^/]+")


def _logged_path(path: str) -> str:
    """The path as the log keeps it: a tracking link's token is a key to an order, never written down."""
    return _LINK_TOKEN.sub("/t/…", path)
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
log = logging.getLogger("huying.requests")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(),
                "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        line.update(getattr(record, "fields", {}))
        return msgspec.json.encode(line).decode()


def configure_request_log(fmt: str | None = None) -> None:
    """One line per request on stderr: plain text, or JSON with ``HUYING_LOG_FORMAT=json``."""
    fmt = (fmt or os.environ.get("HUYING_LOG_FORMAT", "text")).lower()
    handler = logging.StreamHandler()
    handler.setFormatter(_JsonFormatter() if fmt == "json" else logging.Formatter("%(asctime)s %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO)
    log.propagate = False


class RequestLog:
    """Outermost ASGI layer: gives every request an id (a caller's ``X-Request-ID`` when sane),
    returns it in the header and in every JSON error body, logs one line and counts the request
    by its route template (not its raw path, so the metric's label set stays bounded)."""

    def __init__(self, app):
        self.app = app
        # ids need to be unique, not secret: a random prefix per process and a counter (a uuid4 per
        # request is a system call each, measurable on the intake path)
        self._prefix = uuid.uuid4().hex[:16]
        self._issued = itertools.count(1)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _GIVEN_ID.match(given) else f"{self._prefix}{next(self._issued):016x}"
        token = request_id.set(rid)
        started = time.perf_counter()
        state: dict[str, Any] = {"status": 500, "held": None, "body": b"", "done": False}

        def finish() -> None:
            """Count and log the request once, just before its last byte leaves (so the line is
            written by the time the caller has the answer), or when it failed without one."""
            if state["done"]:
                return
            state["done"] = True
            elapsed = time.perf_counter() - started
            route = scope.get("path_template") or "(unmatched)"
            method = scope.get("method", "")
            verb = method if method in METHODS else "OTHER"  # a client-made verb must not grow the label set
            REQUESTS.labels(verb, route, str(state["status"])).inc()
            LATENCY.labels(verb, route).observe(elapsed)
            path = _logged_path(scope.get("path", ""))
            log.info("%s %s %s %s %.1fms", rid, method, path, state["status"], elapsed * 1000,
                     extra={"fields": {"request_id": rid, "method": method, "path": path,
                                       "route": route, "status": state["status"],
                                       "duration_ms": round(elapsed * 1000, 2)}})

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", ()) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
                content_type = dict(headers).get(b"content-type", b"")
                disposition = dict(headers).get(b"content-disposition", b"")
                if message["status"] < 400 and disposition.lower().startswith(b"attachment"):
                    await _audit_export(scope, disposition.decode("latin-1"))  # recorded before it leaves
                if message["status"] >= 400 and content_type.startswith(b"application/json"):
                    state["held"] = message  # the error body gets the id before it leaves
                    return
            elif message["type"] == "http.response.body" and state["held"] is not None:
                state["body"] += message.get("body", b"")
                if message.get("more_body"):
                    return
                start, body = state["held"], _with_request_id(state["body"], rid)
                state["held"] = None
                headers = [(k, str(len(body)).encode() if k.lower() == b"content-length" else v)
                           for k, v in start["headers"]]
                await send({**start, "headers": headers})
                message = {"type": "http.response.body", "body": body}
            if message["type"] == "http.response.body" and not message.get("more_body"):
                finish()
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            finish()
            request_id.reset(token)


async def _audit_export(scope, disposition: str) -> None:
    """Every file a signed-in caller takes away (a report export, an attachment) is in the access
    audit, whichever route served it: a route marks a download by answering ``Content-Disposition:
    attachment``. It is recorded before the first byte leaves; if the record cannot be written, the
    file does not go out (the request fails instead)."""
    actor = (scope.get("state") or {}).get("actor")
    if actor is None:
        return
    query = scope.get("query_string", b"").decode("latin-1")
    path = scope.get("path", "") + (f"?{query}" if query else "")
    await access_audit.record_export(actor, path, client_address(scope), disposition=disposition[:200])


def _with_request_id(body: bytes, rid: str) -> bytes:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body
    if isinstance(data, dict):
        data["request_id"] = rid
        return msgspec.json.encode(data)
    return body


# -- probes and metrics -------------------------------------------------------------------------------

@get("/health", tags=["运维"], summary="存活检查：进程在运行", include_in_schema=True)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@get("/ready", tags=["运维"], summary="就绪检查：数据库可达且已迁移、Redis 可达（如已配置）")
async def ready(request: Request) -> Response[dict]:
    from core.healthcheck import readiness

    checks = await readiness(request.app.state.platform)
    ok = all(c["ok"] for c in checks.values())
    return Response({"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503)


_collector = DatabaseCollector()


@get("/metrics", tags=["运维"], summary="Prometheus 指标（Authorization: Bearer HUYING_METRICS_TOKEN）",
     media_type="text/plain", security=[{"MetricsToken": []}], responses=errors(401))
async def metrics(request: Request) -> Response[bytes]:
    """Internal figures (queues, backlogs, latencies) for the centre's scraper only: a bearer token
    set in ``HUYING_METRICS_TOKEN``; without it set, nobody may read them."""
    import hmac

    from core.errors import Unauthorized

    expected = request.app.state.platform.settings.metrics_token
    if not expected:
        raise Unauthorized("未配置指标令牌（HUYING_METRICS_TOKEN），指标不对外提供")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
        raise Unauthorized("指标接口需要令牌：Authorization: Bearer <HUYING_METRICS_TOKEN>")
    await gather(_collector, request.app.state.platform.sla)
    body, content_type = render(_collector)
    return Response(body, media_type=content_type)


# -- the fault log (故障跟踪) ---------------------------------------------------------------------------

class IncidentIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    occurred_at: dt.datetime
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    impact: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    actions: Annotated[str, msgspec.Meta(max_length=4000)] = ""
    resolved: bool = False
    reported_by: Annotated[str, msgspec.Meta(max_length=128, description="发现并报告故障的人（默认为提交人）")] = ""


class IncidentChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None
    impact: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    actions: Annotated[str, msgspec.Meta(max_length=4000)] | None = None
    resolved: bool | None = None


class IncidentUpdateIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    kind: Annotated[str, msgspec.Meta(description="method 处理方法 / measure 处置措施 / progress 进展 / result 结果")]
    text: Annotated[str, msgspec.Meta(min_length=1, max_length=4000)]
    resolved: bool | None = None


def _aware(value: dt.datetime, key: str) -> dt.datetime:
    from core.errors import FieldError, InvalidInput

    if value.tzinfo is None:
        raise InvalidInput([FieldError(key, "时间须带时区，例如 2026-11-28T09:30:00+08:00")])
    return value


def _staff(actor: Actor) -> None:
    from core.errors import Forbidden

    if actor.kind != "user":
        raise Forbidden("故障只能由工作人员报告")


@post("/api/incidents", tags=["运维"], summary="报告一次故障（任何工作人员；记录报告人）", status_code=201)
async def record_incident(data: JSONBody[IncidentIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    _staff(actor)
    return await incidents.record(title=data.title, occurred_at=_aware(data.occurred_at, "occurred_at"),
                                  impact=data.impact, actions=data.actions, resolved=data.resolved,
                                  recorded_by=actor.name, reported_by=data.reported_by.strip() or actor.name)


@post("/api/incidents/{incident_id:int}", tags=["运维"], status_code=200,
      summary="更新故障记录的摘要（管理员）；新的处理措施同时追加到处理记录，原有内容不被覆盖")
async def change_incident(incident_id: FromPath[int], data: JSONBody[IncidentChange],
                          actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, "admin")
    changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
    changed = await incidents.update(incident_id, changes, by=actor.name)
    if changed is None:
        raise NotFound(f"故障记录 {incident_id} 不存在")
    return changed


@post("/api/incidents/{incident_id:int}/updates", tags=["运维"], status_code=201,
      responses=errors(400, 401, 403, 404, 413),
      summary="追加一条处理记录（管理员）：处理方法、处置措施、进展或结果；可同时标记已解决")
async def add_incident_update(incident_id: FromPath[int], data: JSONBody[IncidentUpdateIn],
                              actor: NamedDependency[Actor]) -> dict[str, Any]:
    from core.errors import FieldError, InvalidInput

    require_role(actor, "admin")
    if data.kind not in incidents.UPDATE_KINDS:
        raise InvalidInput([FieldError("kind", "应为 method、measure、progress 或 result")])
    found = await incidents.add_update(incident_id, kind=data.kind, text=data.text.strip(), author=actor.name,
                                       resolved=data.resolved)
    if found is None:
        raise NotFound(f"故障记录 {incident_id} 不存在")
    return found


@get("/api/incidents/{incident_id:int}", tags=["运维"], summary="一次故障及其全部处理记录（管理员、审计员）",
     responses=errors(400, 401, 403, 404))
async def get_incident(incident_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    require_role(actor, *access_audit.READERS)
    found = await incidents.detail(incident_id)
    if found is None:
        raise NotFound(f"故障记录 {incident_id} 不存在")
    return found


@get("/api/inspections", tags=["运维"], summary="月度巡检记录（管理员、审计员）：每次巡检的结论和各项结果",
     responses=errors(401, 403))
async def list_inspections(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    from core import inspections

    require_role(actor, *access_audit.READERS)
    return await inspections.listing()


@get("/api/inspections/{inspection_id:int}", tags=["运维"], responses=errors(400, 401, 403, 404),
     summary="一次巡检（format=json|html|docx：巡检文档，含检查项目、运行数据和当月故障）")
async def get_inspection(request: Request, inspection_id: FromPath[int], actor: NamedDependency[Actor]) -> Response:
    from core import inspections
    from core.errors import FieldError, InvalidInput
    from core.users import display_names

    require_role(actor, *access_audit.READERS)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "html", "docx") or len(request.query_params) > 1:
        raise InvalidInput([FieldError("format", "格式应为 json、html 或 docx（只接受 format 参数）", "query")])
    found = await inspections.get(inspection_id)
    if found is None:
        raise NotFound(f"巡检记录 {inspection_id} 不存在")
    if fmt == "json":
        return Response(found)
    facts, names = await inspections.context(found), await display_names()
    if fmt == "html":
        return Response(inspections.html(found, facts, names), media_type="text/html; charset=utf-8")
    return Response(inspections.docx(found, facts, names), media_type=inspections.DOCX, headers={
        "Content-Disposition": f'attachment; filename="inspection-{found["month"]}-{found["id"]}.docx"'})


@get("/api/incidents", tags=["运维"], summary="故障记录（管理员、审计员）")
async def list_incidents(actor: NamedDependency[Actor], resolved: FromQuery[bool | None] = None) -> list[dict[str, Any]]:
    require_role(actor, *access_audit.READERS)
    return await incidents.listing(resolved=resolved)


# -- the access audit -----------------------------------------------------------------------------------

@get("/api/access-audit", tags=["运维"], summary="访问审计：登录、查看工单详情、导出（审计员、管理员）")
async def access_log(
    actor: NamedDependency[Actor], action: FromQuery[str | None] = None, user: FromQuery[str | None] = None,
    target: FromQuery[str | None] = None, since: FromQuery[dt.datetime | None] = None,
    until: FromQuery[dt.datetime | None] = None,
    page: Annotated[int, Parameter(ge=1, le=100000)] = 1,
    page_size: Annotated[int, Parameter(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    require_role(actor, *access_audit.READERS)
    since = _aware(since, "since") if since else None
    until = _aware(until, "until") if until else None
    return await access_audit.search(action=action, actor=user, target=target, since=since, until=until,
                                     page=page, page_size=page_size)


# -- the installed plugins ------------------------------------------------------------------------------

@get("/api/plugins", tags=["运维"], summary="已安装的渠道和插件：版本、实现的钩子、路由和后台任务（管理员）",
     responses=errors(401, 403))
async def list_plugins(request: Request, actor: NamedDependency[Actor]) -> list[PluginInfo]:
    require_role(actor, "admin")
    platform = request.app.state.platform
    return describe_plugins(platform.pm, platform.channels)


OPERATION_ROUTES = [health, ready, metrics, record_incident, change_incident, add_incident_update, get_incident,
                    list_incidents, list_inspections, get_inspection, access_log,
                    list_plugins]

