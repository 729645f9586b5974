"""Open311 GeoReport v2 under ``/open311/v2/``, generated from the channels: every channel × kind it
takes is a service, the channel's fields are the service's attributes, and a request filed here goes
through the same order service (and so the same validation) as the native intake.

The mapping is documented in ``docs/open311.md``. Public answers carry no personal data: no name,
phone or exact address, only the street area and the subject with any long digit run masked; channels
that protect their reporter are neither listed nor readable here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from xml.etree import ElementTree as ET

import msgspec
from litestar import Request, Response, Router, get, post
from litestar.exceptions import HTTPException
from litestar.params import FromPath

from core import clock
from core.auth import actor_from_api_key
from core.channels import KINDS, describe_fields
from core.errors import HuyingError, InvalidInput, Unauthorized
from core.lifecycle import STATUSES
from core.clock import SHANGHAI as LOCAL_TZ
from core.orders import IntakeRequest, field_errors
from core.tables import Department, Order

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = dt.datetime(2026, 11, 28, tzinfo=LOCAL_TZ)
CLOSED_STATUSES = frozenset({"completed", "archived", "merged"})
DEFAULT_WINDOW = dt.timedelta(days=90)
MAX_IDS = 100
MAX_RESULTS = 1000
MAX_DESCRIPTION = 4000
UNASSIGNED_AGENCY = "12345热线（待派单）"
FORMATS = {"xml": "text/xml; charset=utf-8", "json": "application/json; charset=utf-8"}
DATATYPES = {"string": "string", "text": "text", "integer": "number", "number": "number",
             "date": "datetime", "datetime": "datetime", "boolean": "singlevaluelist",
             "choice": "singlevaluelist", "multi_choice": "multivaluelist", "list": "multivaluelist"}
BOOLEAN_VALUES = {"true": "是", "false": "否"}
# the element each list's items are written as in XML
ITEM_NAMES = {"services": "service", "attributes": "attribute", "values": "value", "endpoints": "endpoint",
              "formats": "format", "service_requests": "request", "errors": "error"}
# where the native intake names a field, the name the Open311 caller used
PARAMETER_OF = {"content": "description", "subject": "description", "citizen.phone": "phone",
                "citizen.name": "last_name", "address": "address_string", "kind": "service_code"}
LONG_DIGITS = re.compile(r"\d{7,}")


class Open311Error(Exception):
    def __init__(self, status: int, description: str | list[str]):
        self.status = status
        self.descriptions = [description] if isinstance(description, str) else description


# -- the wire format: XML (the spec's mandatory one) and JSON, by suffix -------------------------------

def _split(name: str, resource: str | None = None) -> tuple[str, str]:
    stem, dot, fmt = name.rpartition(".")
    if not dot or fmt not in FORMATS:
        raise Open311Error(404, "请在路径末尾写明格式：.xml 或 .json")
    if resource is not None and stem != resource:
        raise Open311Error(404, f"没有 {name} 这个接口")
    return stem, fmt


def _xml_value(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _xml_value(element, key, inner)
    elif isinstance(value, list):
        for item in value:
            _xml_value(element, ITEM_NAMES.get(name, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def render(root: str, data: Any, fmt: str, status: int = 200) -> Response:
    if fmt == "json":
        body = msgspec.json.encode(data)
    else:
        document = ET.Element(root)
        items = data if isinstance(data, list) else None
        if items is None:
            for key, value in data.items():
                _xml_value(document, key, value)
        else:
            for item in items:
                _xml_value(document, ITEM_NAMES[root], item)
        body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(document, encoding="utf-8")
    return Response(body, status_code=status, media_type=FORMATS[fmt])


def _error_response(request: Request, status: int, descriptions: list[str]) -> Response:
    fmt = getattr(request.state, "open311_format", "xml")
    return render("errors", [{"code": status, "description": d} for d in descriptions], fmt, status)


def _open311_error(request: Request, exc: Open311Error) -> Response:
    return _error_response(request, exc.status, exc.descriptions)


def _huying_error(request: Request, exc: HuyingError) -> Response:
    status = {401: 403}.get(exc.status_code, exc.status_code)
    if isinstance(exc, InvalidInput):
        return _error_response(request, 400, [f"{_parameter(e.key)}: {e.message}" for e in exc.errors])
    return _error_response(request, status, [exc.detail])


def _http_error(request: Request, exc: HTTPException) -> Response:
    return _error_response(request, exc.status_code, [str(exc.detail)])


def _parameter(key: str) -> str:
    if key.startswith("details."):
        return f"attribute[{key.removeprefix('details.').split('.')[0]}]"
    return PARAMETER_OF.get(key, key)


def _when(value: dt.datetime | None) -> str | None:
    return value.astimezone(LOCAL_TZ).isoformat(timespec="seconds") if value else None


def _check_jurisdiction(request: Request, fmt: str, given: str | None) -> None:
    request.state.open311_format = fmt
    ours = request.app.state.platform.settings.open311_jurisdiction
    if given and given != ours:
        raise Open311Error(404, f"未知的 jurisdiction_id：{given}（本平台为 {ours}）")


# -- services from the channels ---------------------------------------------------------------------

def _services(platform) -> dict[str, tuple[Any, str]]:
    """service_code → (channel, kind), for every public channel and every kind it takes."""
    return {f"{c.code}-{kind}": (c, kind) for c in platform.channels if c.public for kind in c.kinds}


def _service(code: str, channel, kind: str) -> dict[str, Any]:
    return {"service_code": code, "service_name": f"{channel.name}·{KINDS[kind]}",
            "description": channel.description, "metadata": channel.fields is not None, "type": "realtime",
            "keywords": ",".join((channel.name, KINDS[kind])), "group": channel.name}


def _lookup(platform, code: str) -> tuple[Any, str]:
    found = _services(platform).get(code)
    if found is None:
        raise Open311Error(404, f"没有服务代码为 {code} 的服务")
    return found


def _attributes(channel) -> list[dict[str, Any]]:
    attributes = []
    for order, info in enumerate(describe_fields(channel.fields), start=1):
        datatype = DATATYPES.get(info.type, "string")
        attribute = {"variable": True, "code": info.name, "datatype": datatype, "required": info.required,
                     "datatype_description": info.help, "order": order, "description": info.label}
        choices = BOOLEAN_VALUES if info.type == "boolean" else info.choices
        if datatype in ("singlevaluelist", "multivaluelist") and choices:
            attribute["values"] = [{"key": k, "name": v} for k, v in choices.items()]
        attributes.append(attribute)
    return attributes


@get("/{name:str}", summary="发现文档、服务列表或诉求查询（discovery / services / requests）")
async def index(request: Request, name: FromPath[str]) -> Response:
    stem, fmt = _split(name)
    _check_jurisdiction(request, fmt, request.query_params.get("jurisdiction_id"))
    platform = request.app.state.platform
    if stem == "discovery":
        base = str(request.base_url).rstrip("/") + "/open311/v2/"
        return render("discovery", {
            "changeset": _when(CHANGESET), "contact": "区12345热线事务中心",
            "key_service": "API Key 由平台管理员在 /api/api-keys 签发，可限定渠道",
            "endpoints": [{"specification": SPECIFICATION, "url": base, "changeset": _when(CHANGESET),
                           "type": "production", "formats": list(FORMATS_MIME)}]}, fmt)
    if stem == "services":
        return render("services", [_service(code, c, k) for code, (c, k) in _services(platform).items()], fmt)
    if stem == "requests":
        return render("service_requests", await _find_requests(platform, request.query_params), fmt)
    raise Open311Error(404, f"没有 {name} 这个接口")


FORMATS_MIME = ("text/xml", "application/json")


@get("/services/{name:str}", summary="服务定义：该渠道的专属字段")
async def service_definition(request: Request, name: FromPath[str]) -> Response:
    code, fmt = _split(name)
    _check_jurisdiction(request, fmt, request.query_params.get("jurisdiction_id"))
    channel, _ = _lookup(request.app.state.platform, code)
    return render("service_definition", {"service_code": code, "attributes": _attributes(channel)}, fmt)


# -- filing a request -------------------------------------------------------------------------------

def _attribute_values(form) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        match = re.fullmatch(r"attribute\[([^\[\]]+)\](\[\])?", key)
        if match and isinstance(value, str):
            found.setdefault(match.group(1), []).append(value)
    return found


def _details(channel, values: dict[str, list[str]]) -> tuple[dict[str, Any], list[str]]:
    """Attribute values as the channel's ``details``: lists for multi-value fields, one value else."""
    infos = {i.name: i for i in describe_fields(channel.fields)}
    details, errors = {}, []
    for code, given in values.items():
        info = infos.get(code)
        if info is None:
            errors.append(f"attribute[{code}]: 服务「{channel.name}」没有这个属性")
        elif DATATYPES.get(info.type) == "multivaluelist":
            details[code] = given
        elif len(given) > 1:
            errors.append(f"attribute[{code}]: 这个属性只能有一个值")
        elif given[0] != "" or info.required:
            details[code] = given[0]
    return details, errors


def _location(form) -> tuple[str, list[str]]:
    address = (form.get("address_string") or "").strip()
    lat, long = (form.get("lat") or "").strip(), (form.get("long") or "").strip()
    errors = []
    point = ""
    if lat or long:
        try:
            lat_value, long_value = float(lat), float(long)
            if not (-90 <= lat_value <= 90 and -180 <= long_value <= 180):
                raise ValueError
            point = f"坐标 {lat_value:.6f},{long_value:.6f}"
        except ValueError:
            errors.append("lat/long: 须同时提供，纬度 -90～90、经度 -180～180 的数字")
    if not address and not point and not errors:
        errors.append("lat/long: 须提供位置：lat 和 long，或 address_string")
    return (f"{address}（{point}）" if address and point else address or point), errors


@post("/{name:str}", summary="提交诉求（表单编码，需 api_key）", status_code=201)
async def file_request(request: Request, name: FromPath[str]) -> Response:
    _, fmt = _split(name, "requests")
    form = await request.form()
    _check_jurisdiction(request, fmt, form.get("jurisdiction_id"))
    key = form.get("api_key")
    if not key:
        raise Open311Error(403, "缺少 api_key")
    try:
        actor = await actor_from_api_key(key)
    except Unauthorized:
        raise Open311Error(403, "api_key 无效") from None
    platform = request.app.state.platform
    channel, kind = _lookup(platform, form.get("service_code") or "")
    errors = []
    description = (form.get("description") or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors.append(f"description: 不能超过 {MAX_DESCRIPTION} 字")
    media_url = (form.get("media_url") or "").strip()
    if media_url and (not re.match(r"^https?://\S+$", media_url) or len(media_url) > 1000):
        errors.append("media_url: 须是 http(s) 网址，1000 字以内")
    address, location_errors = _location(form)
    details, attribute_errors = _details(channel, _attribute_values(form)) if channel.fields else ({}, [])
    if not channel.fields and _attribute_values(form):
        attribute_errors = ["attribute: 该服务没有属性"]
    errors += location_errors + attribute_errors
    if errors:
        raise Open311Error(400, errors)
    phone = (form.get("phone") or "").strip()
    name_given = ((form.get("last_name") or "").strip() + (form.get("first_name") or "").strip())[:64]
    first_line = description.splitlines()[0] if description else ""
    body = {"kind": kind, "source": "api",
            "subject": (first_line[:40] + "…" if len(first_line) > 40 else first_line) or _service(
                "", channel, kind)["service_name"],
            "content": description + (f"\n\n图片：{media_url}" if media_url else ""),
            "citizen": {"name": name_given, "phone": phone}, "anonymous": not phone,
            "address": address, "details": details}
    try:
        intake = msgspec.convert(body, IntakeRequest, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(field_errors(exc)) from None
    _, order = await platform.orders.intake(channel.code, intake, actor)
    return render("service_requests", [{"service_request_id": order.number,
                                        "service_notice": "已受理，可凭编号查询办理进度",
                                        "account_id": None}], fmt, 201)


# -- reading requests -------------------------------------------------------------------------------

def _public_channels(platform) -> list[str]:
    return [c.code for c in platform.channels if c.public and not c.protect_reporter]


async def _present(platform, rows: list[dict]) -> list[dict[str, Any]]:
    names = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    shown = []
    for row in rows:
        channel = platform.channels.get(row["channel"])
        code = f"{row['channel']}-{row['kind']}"
        notes = STATUSES.get(row["status"], row["status"])
        if row["status"] == "merged" and row["merged_into"]:
            notes += f"：并入 {row['merged_into']}"
        due = (row["deadlines"] or {}).get("handle", {}).get("due")
        shown.append({
            "service_request_id": row["number"],
            "status": "closed" if row["status"] in CLOSED_STATUSES else "open",
            "status_notes": notes,
            "service_name": f"{channel.name}·{KINDS.get(row['kind'], row['kind'])}" if channel else code,
            "service_code": code,
            "description": LONG_DIGITS.sub(lambda m: "*" * len(m.group()), row["subject"]),
            "agency_responsible": names.get(row["department"], UNASSIGNED_AGENCY) if row["department"]
            else UNASSIGNED_AGENCY,
            "service_notice": None,
            "requested_datetime": _when(row["received_at"]),
            "updated_datetime": _when(row["updated_at"]),
            "expected_datetime": _when(dt.datetime.fromisoformat(due)) if due else None,
            "address": row["area"] or None, "address_id": None, "zipcode": None,
            "lat": None, "long": None, "media_url": None,
        })
    return shown


PUBLIC_COLUMNS = (Order.number, Order.channel, Order.kind, Order.status, Order.subject, Order.department,
                  Order.received_at, Order.updated_at, Order.deadlines, Order.area, Order.merged_into)


def _datetime(params, name: str) -> dt.datetime | None:
    value = params.get(name)
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Open311Error(400, f"{name}: 须是 W3C 时间格式，例如 2026-11-01T00:00:00+08:00") from None
    if parsed.tzinfo is None:
        raise Open311Error(400, f"{name}: 时间须带时区，例如 2026-11-01T00:00:00Z")
    return parsed


async def _find_requests(platform, params) -> list[dict[str, Any]]:
    query = Order.select(*PUBLIC_COLUMNS).where(Order.channel.is_in(_public_channels(platform))).output(
        load_json=True)
    ids = [i.strip() for i in (params.get("service_request_id") or "").split(",") if i.strip()]
    if ids:  # overrides every other filter
        if len(ids) > MAX_IDS:
            raise Open311Error(400, f"service_request_id: 一次最多查询 {MAX_IDS} 个")
        return await _present(platform, await query.where(Order.number.is_in(ids)).order_by(Order.id))
    codes = [c.strip() for c in (params.get("service_code") or "").split(",") if c.strip()]
    if codes:
        services = _services(platform)
        unknown = [c for c in codes if c not in services]
        if unknown:
            raise Open311Error(404, f"没有服务代码为 {', '.join(unknown)} 的服务")
        wanted = [(services[c][0].code, services[c][1]) for c in codes]
        clause = None
        for channel, kind in wanted:
            one = (Order.channel == channel) & (Order.kind == kind)
            clause = one if clause is None else clause | one
        query = query.where(clause)
    statuses = {s.strip() for s in (params.get("status") or "").split(",") if s.strip()}
    if statuses - {"open", "closed"}:
        raise Open311Error(400, "status: 只能是 open 或 closed")
    if statuses == {"open"}:
        query = query.where(Order.status.not_in(list(CLOSED_STATUSES)))
    elif statuses == {"closed"}:
        query = query.where(Order.status.is_in(list(CLOSED_STATUSES)))
    start, end = _datetime(params, "start_date"), _datetime(params, "end_date")
    if start and end and end < start:
        raise Open311Error(400, "end_date: 不能早于 start_date")
    if start and end and end - start > DEFAULT_WINDOW:
        raise Open311Error(400, "start_date/end_date: 时间范围不能超过 90 天")
    if start is None and end is None:
        end = clock.now()
    if start is None:
        start = end - DEFAULT_WINDOW
    if end is None:
        end = start + DEFAULT_WINDOW
    query = query.where((Order.received_at >= start) & (Order.received_at <= end))
    return await _present(platform, await query.order_by(Order.received_at, ascending=False).limit(MAX_RESULTS))


@get("/requests/{name:str}", summary="一条诉求的办理状态")
async def one_request(request: Request, name: FromPath[str]) -> Response:
    number, fmt = _split(name)
    _check_jurisdiction(request, fmt, request.query_params.get("jurisdiction_id"))
    platform = request.app.state.platform
    rows = await Order.select(*PUBLIC_COLUMNS).where(
        (Order.number == number) & Order.channel.is_in(_public_channels(platform))).output(load_json=True)
    if not rows:
        raise Open311Error(404, f"没有编号为 {number} 的诉求")
    return render("service_requests", await _present(platform, rows), fmt)


@get("/tokens/{name:str}", summary="由提交时的 token 查诉求编号")
async def token(request: Request, name: FromPath[str]) -> Response:
    """Requests are recorded at once, so the token a client holds is the request's own number."""
    number, fmt = _split(name)
    _check_jurisdiction(request, fmt, request.query_params.get("jurisdiction_id"))
    platform = request.app.state.platform
    found = await Order.exists().where((Order.number == number)
                                       & Order.channel.is_in(_public_channels(platform)))
    if not found:
        raise Open311Error(404, f"没有 token 为 {number} 的诉求")
    return render("service_requests", [{"service_request_id": number, "token": number}], fmt)


OPEN311_ROUTER = Router(
    path="/open311/v2", route_handlers=[index, service_definition, file_request, one_request, token],
    tags=["Open311 GeoReport v2"],
    # described by the published GeoReport v2 standard and docs/open311.md (its errors are the
    # standard's lists, not the native API's error shape), so it stays out of the native document
    include_in_schema=False,
    exception_handlers={Open311Error: _open311_error, HuyingError: _huying_error, HTTPException: _http_error},
)
