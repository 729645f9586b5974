"""Telephony over the API (``core.telephony``): PBX connections and their push address, the call log
(来电记录), 未接来电 with their callback outcome, blocked numbers and agents' extensions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.schemas import errors
from core.errors import FieldError, Forbidden, InvalidInput
from core.model import Actor
from core.telephony import CALLBACKS, CAUSES, DIAL_RESULTS, EVENTS, LIST_LIMIT, OUTCOMES, RECORDING_LIMIT, parse_event

TAGS = ["电话系统"]
PUSH_BODY_LIMIT = 16 * 1024  # an event is a few hundred bytes; a recording comes as a URL


class ConnectionIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64, description="对接名称，如「中心交换机」")]
    signed: Annotated[bool, msgspec.Meta(description="是否要求每次推送都带签名")] = False


class CallbackIn(msgspec.Struct, forbid_unknown_fields=True):
    outcome: Literal["called_back", "unreachable", "not_needed"]


class BlockIn(msgspec.Struct, forbid_unknown_fields=True):
    number: Annotated[str, msgspec.Meta(min_length=3, max_length=32, pattern=r"^[0-9+]+$")]
    note: Annotated[str, msgspec.Meta(max_length=200)] = ""


class ExtensionIn(msgspec.Struct, forbid_unknown_fields=True):
    extension: Annotated[str, msgspec.Meta(max_length=32, pattern=r"^[0-9]*$", description="分机号；空串表示取消")]


def _telephony(request: Request):
    return request.app.state.platform.telephony


@post("/api/cti/connections", tags=TAGS, status_code=201, responses=errors(400, 401, 403, 413),
      summary="添加电话系统对接（管理员）：返回推送地址的令牌与签名密钥，仅此一次")
async def create_connection(request: Request, data: JSONBody[ConnectionIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _telephony(request).create_connection(data.name, actor, signed=data.signed)


@get("/api/cti/connections", tags=TAGS, responses=errors(401, 403), summary="电话系统对接列表（管理员；不含令牌）")
async def list_connections(request: Request, actor: NamedDependency[Actor]) -> dict[str, Any]:
    return {"items": await _telephony(request).connections(actor)}


@post("/api/cti/{token:str}", tags=TAGS, status_code=200, responses=errors(400, 401, 404, 413),
      summary="电话系统推送通话事件（newCall、answer、hangup、recording；JSON 或表单）",
      description="地址中的令牌即身份，未知令牌返回 404 且不写任何记录。可选请求头 X-Huying-Signature: "
                  "sha256=<请求体的 HMAC-SHA256，密钥为添加对接时返回的 secret>。被屏蔽号码的 newCall 应答 "
                  '{"action": "reject", "reason": "busy"}。详见 docs/telephony.md。')
async def push(request: Request, token: FromPath[str]) -> dict[str, Any]:
    telephony = _telephony(request)
    connection = await telephony.connection(token[:100])
    body = await request.body()
    if len(body) > PUSH_BODY_LIMIT:
        raise InvalidInput([FieldError("body", f"事件过大（上限 {PUSH_BODY_LIMIT} 字节）")], "事件过大")
    telephony.check_signature(connection, body, request.headers.get("x-huying-signature"))
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        from urllib.parse import parse_qs

        try:
            fields = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=40)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput([FieldError("body", "表单不是合法的 UTF-8 文本")], "事件内容有误") from None
        data = {k: (v if k in ("user", "user[]") else v[-1]) for k, v in fields.items()}
    else:
        try:
            data = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raise InvalidInput([FieldError("body", "请求体应为 JSON 对象或表单")], "事件内容有误") from None
        if not isinstance(data, dict):
            raise InvalidInput([FieldError("body", "请求体应为 JSON 对象")], "事件内容有误")
    return await telephony.receive(connection, parse_event(data))


@post("/api/cti/{token:str}/recordings/{call_id:str}", tags=TAGS, status_code=200,
      request_max_body_size=RECORDING_LIMIT + 1024, responses=errors(400, 401, 404, 413),
      summary="电话系统直接上传一通电话的录音（multipart/form-data，字段 file：MP3、M4A 或 AMR 音频）")
async def push_recording(request: Request, token: FromPath[str], call_id: FromPath[str]) -> dict[str, Any]:
    platform = request.app.state.platform
    telephony = platform.telephony
    connection = await telephony.connection(token[:100])
    body = await request.body()
    telephony.check_signature(connection, body, request.headers.get("x-huying-signature"))
    upload = (await request.form()).get("file") if request.headers.get("content-type", "").startswith(
        "multipart/form-data") else None
    if upload is None or isinstance(upload, str):
        raise InvalidInput([FieldError("file", "请以 multipart/form-data 的 file 字段上传录音")], "缺少录音文件")
    content_type = await telephony.store_recording(f"{connection['id']}:{call_id[:128]}", await upload.read(),
                                                   platform.attachments, via="upload")
    return {"call_id": call_id, "type": content_type}


class ShareIn(msgspec.Struct, forbid_unknown_fields=True):
    shared: bool


@post("/api/calls/{call_id:str}/share", tags=TAGS, status_code=200, responses=errors(400, 401, 403, 404),
      summary="把通话录音共享给关联工单的承办单位（或取消共享；督办员、管理员）")
async def share_recording(request: Request, call_id: FromPath[str], data: JSONBody[ShareIn],
                          actor: NamedDependency[Actor]) -> dict[str, Any]:
    await _telephony(request).share_recording(call_id[:160], data.shared, actor)
    return {"call_id": call_id, "shared": data.shared}


@get("/api/calls", tags=TAGS, responses=errors(400, 401, 403),
     summary="来电记录（中心人员）：按号码、结果、回拨状态筛选，新的在前，含关联工单")
async def list_calls(request: Request, actor: NamedDependency[Actor],
                     number: FromQuery[Annotated[str, msgspec.Meta(max_length=32)]] = "",
                     outcome: FromQuery[Annotated[str, msgspec.Meta(max_length=16)]] = "",
                     callback: FromQuery[Annotated[str, msgspec.Meta(max_length=16)]] = "",
                     limit: FromQuery[int] = 50) -> dict[str, Any]:
    items = await _telephony(request).calls(actor, number=number, outcome=outcome, callback=callback, limit=limit)
    return {"items": items, "outcomes": OUTCOMES, "callbacks": CALLBACKS, "causes": CAUSES, "events": EVENTS}


@get("/api/calls/missed", tags=TAGS, responses=errors(400, 401, 403),
     summary="未接来电（待回拨与回拨未接通），等得最久的在前")
async def missed_calls(request: Request, actor: NamedDependency[Actor], limit: FromQuery[int] = 100) -> dict[str, Any]:
    if not 1 <= limit <= LIST_LIMIT:
        raise InvalidInput([FieldError("limit", f"条数应在 1 到 {LIST_LIMIT} 之间", "query")], "查询参数有误")
    return {"items": await _telephony(request).missed(actor, limit=limit)}


@get("/api/calls/{call_id:str}", tags=TAGS, responses=errors(400, 401, 403, 404), summary="一通电话")
async def one_call(request: Request, call_id: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _telephony(request).call(call_id, actor)


@post("/api/calls/{call_id:str}/callback", tags=TAGS, status_code=200, responses=errors(400, 401, 403, 404),
      summary="记录未接来电的回拨结果（已回拨、回拨未接通、无需回拨）")
async def call_callback(request: Request, call_id: FromPath[str], data: JSONBody[CallbackIn],
                        actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _telephony(request).set_callback(call_id[:160], data.outcome, actor)


@post("/api/calls/{call_id:str}/dial", tags=TAGS, status_code=202, responses=errors(400, 401, 403, 404),
      summary="外呼：请电话系统从我的分机回拨这通电话的号码（经发件箱发往 HUYING_CTI_ORIGINATE_URL）")
async def dial(request: Request, call_id: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    from api.client import client_address

    return await _telephony(request).originate(call_id, actor, address=client_address(request))


@post("/api/orders/{number:str}/callback/dials", tags=TAGS, status_code=202, responses=errors(400, 401, 403, 404, 409),
      summary="回访外呼：请电话系统从我的分机呼叫这张工单的市民（经发件箱发往 HUYING_CTI_ORIGINATE_URL）",
      description="请求带 reference；电话系统在这通呼出电话的事件中回传 reference（或在 10 分钟内从该分机呼叫该号码），"
                  "通话即关联到工单，结果记入回访：未接通（无人接听、忙线、线路拥塞、主动挂断）记一次回访未接通并按间隔"
                  "再次安排，号码不存在记为号码错误，接通则由话务员记录评价。未配置外呼接口时 409（请手动拨打）。")
async def dial_callback(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    from api.client import client_address

    return await _telephony(request).dial_order(number[:32], actor, address=client_address(request))


@get("/api/orders/{number:str}/callback/dials", tags=TAGS, responses=errors(400, 401, 403, 404),
     summary="工单的回访外呼：每次外呼的通话（振铃、接听、挂断时间，通话秒数）及其记入回访的结果")
async def callback_dials(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> dict[str, Any]:
    if not actor.in_centre:
        raise Forbidden("只有中心人员可以查看回访外呼")
    platform = request.app.state.platform
    await platform.orders.get(number[:32], actor)  # 404 for an order this user may not see
    return {"items": await _telephony(request).dials_of_order(number[:32]), "results": DIAL_RESULTS}


@get("/api/cti/blocked-numbers", tags=TAGS, responses=errors(401, 403), summary="屏蔽号码（管理员、督办员）")
async def blocked_numbers(request: Request, actor: NamedDependency[Actor]) -> dict[str, Any]:
    return {"items": await _telephony(request).blocked(actor)}


@post("/api/cti/blocked-numbers", tags=TAGS, status_code=201, responses=errors(400, 401, 403),
      summary="屏蔽一个骚扰号码（管理员）：其来电被拒接")
async def block_number(request: Request, data: JSONBody[BlockIn], actor: NamedDependency[Actor]) -> dict[str, Any]:
    await _telephony(request).block(data.number, data.note, actor)
    return {"number": data.number, "note": data.note}


@delete("/api/cti/blocked-numbers/{number:str}", tags=TAGS, status_code=204, responses=errors(400, 401, 403, 404),
        summary="解除屏蔽（管理员）")
async def unblock_number(request: Request, number: FromPath[str], actor: NamedDependency[Actor]) -> None:
    await _telephony(request).unblock(number[:32], actor)


@put("/api/users/{username:str}/extension", tags=TAGS, responses=errors(400, 401, 403, 404),
     summary="设置话务员的分机号（管理员）：电话系统的接听事件据此找到话务员")
async def set_extension(request: Request, username: FromPath[str], data: JSONBody[ExtensionIn],
                        actor: NamedDependency[Actor]) -> dict[str, Any]:
    from api.client import client_address

    await _telephony(request).set_extension(username[:64], data.extension, actor, address=client_address(request))
    return {"username": username, "extension": data.extension}


ROUTES = [create_connection, list_connections, push_recording, share_recording, dial, dial_callback, callback_dials, list_calls, missed_calls, one_call, call_callback, blocked_numbers,
          block_number, unblock_number, set_extension, push]
