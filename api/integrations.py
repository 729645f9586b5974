"""Integrations and operations: the city platform's signed pushes, reconciliation differences, the
outbox (list, retry, abandon), background jobs, staff notices and SMS opt-outs."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post
from litestar.response import ServerSentEvent
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from api.presenter import present
from api.schemas import errors
from api.live_stream import event_stream
from api.security import SECURED, require_role
from core import city, notices, outbox
from core.builtins.notifications import recipients_for
from core.errors import Forbidden, NotFound
from core.model import CENTRE_ROLES, Actor

Reason = Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]
Page = Annotated[int, QueryParameter(ge=1, le=100000)]
PageSize = Annotated[int, QueryParameter(ge=1, le=200)]


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason


class OptOutIn(msgspec.Struct, forbid_unknown_fields=True):
    phone: Annotated[str, msgspec.Meta(pattern=r"^1[3-9]\d{9}$")]
    note: Annotated[str, msgspec.Meta(max_length=255)] = ""


class ListPage(msgspec.Struct):
    items: list[dict[str, Any]]
    total: int
    page: int
    page_size: int


def _centre(actor: Actor) -> None:
    require_role(actor, *CENTRE_ROLES)


# -- the city platform -----------------------------------------------------------------------------------

@post("/api/integrations/city/orders", tags=["市级平台"], status_code=201, security=[{"CitySignature": []}],
      responses=errors(400, 401, 404, 409, 413),
      summary="市级平台推送转派工单或其催办、补充材料、撤单（HMAC 签名）",
      description="请求头 X-Huying-Timestamp（Unix 秒）与 X-Huying-Signature = HMAC-SHA256(密钥, 时间戳 + \".\" + 请求体) "
                  "的十六进制；超过 5 分钟或重放的请求返回 401。请求体 type 为 order（新工单，按市级工单号幂等）"
                  "或 follow_up（按 follow_up_id 幂等）。")
async def city_push(request: Request) -> Response[dict]:
    platform = request.app.state.platform
    body = await request.body()
    await city.verify(platform.settings.city_secret, request.headers.get("x-huying-timestamp"),
                      request.headers.get("x-huying-signature"), body)
    status, order = await city.take(platform, city.decode(body))
    return Response(present(platform, order, city.CITY), status_code=status)


@get("/api/integrations/city/discrepancies", tags=["市级平台"], summary="对账差异（我方状态与市级平台不一致的转派工单）")
async def city_discrepancies(actor: NamedDependency[Actor], resolved: FromQuery[bool] = False,
                             page: Page = 1, page_size: PageSize = 50) -> ListPage:
    _centre(actor)
    return ListPage(**await city.discrepancies(include_resolved=resolved, page=page, page_size=page_size))


# -- the outbox ------------------------------------------------------------------------------------------

@get("/api/outbox", tags=["运维"], summary="待发消息（按主题、状态筛选，含最近一次错误）")
async def list_outbox(actor: NamedDependency[Actor], topic: FromQuery[str | None] = None,
                      message_state: Annotated[Literal["pending", "delivered", "abandoned"] | None,
                                               QueryParameter(name="state")] = None,
                      order: FromQuery[str | None] = None, page: Page = 1, page_size: PageSize = 50) -> ListPage:
    require_role(actor, "admin", "supervisor")
    return ListPage(**await outbox.list_messages(topic=topic, state=message_state, order_number=order, page=page,
                                                 page_size=page_size))


@get("/api/outbox/{message_id:int}", tags=["运维"], summary="一条消息及其操作记录")
async def get_outbox_message(actor: NamedDependency[Actor], message_id: FromPath[int]) -> dict[str, Any]:
    require_role(actor, "admin", "supervisor")
    from core.tables import OutboxMessage

    row = await OutboxMessage.select().where(OutboxMessage.id == message_id).output(load_json=True).first()
    if row is None:
        raise NotFound(f"消息 {message_id} 不存在")
    return {**row, "state": outbox.state_of(row), "state_label": outbox.STATES[outbox.state_of(row)],
            "history": await outbox.history(message_id)}


@post("/api/outbox/{message_id:int}/retry", tags=["运维"], status_code=200, summary="立即重发（同一消息编号，附原因）",
      responses=errors(400, 401, 403, 404, 409, 413))
async def retry_outbox_message(request: Request, actor: NamedDependency[Actor], message_id: FromPath[int],
                               data: JSONBody[ReasonIn]) -> dict[str, Any]:
    require_role(actor, "admin")
    result = await outbox.retry(message_id, actor.name, data.reason)
    request.app.state.platform.orders.outbox_written()
    return result


@post("/api/outbox/{message_id:int}/abandon", tags=["运维"], status_code=200, summary="放弃发送（附原因）",
      responses=errors(400, 401, 403, 404, 409, 413))
async def abandon_outbox_message(request: Request, actor: NamedDependency[Actor], message_id: FromPath[int],
                                 data: JSONBody[ReasonIn]) -> dict[str, Any]:
    require_role(actor, "admin")
    result = await outbox.abandon(message_id, actor.name, data.reason)
    request.app.state.platform.orders.outbox_written()  # the order's later messages may now go
    return result


# -- jobs ------------------------------------------------------------------------------------------------

@get("/api/jobs", tags=["运维"], summary="后台任务、计划与最近一次运行结果")
async def list_jobs(request: Request, actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    require_role(actor, "admin", "supervisor")
    from core.tables import JobRun

    found = []
    for job in request.app.state.platform.jobs.values():
        last = await (JobRun.select().where(JobRun.name == job.name).order_by(JobRun.id, ascending=False)
                      .output(load_json=True).first())
        found.append({"name": job.name, "label": job.label, "schedule": job.schedule, "last_run": last})
    return found


@post("/api/jobs/{name:str}/run", tags=["运维"], status_code=202, summary="立即运行一次后台任务（仅管理员）")
async def run_job_now(request: Request, actor: NamedDependency[Actor], name: FromPath[str]) -> dict[str, str]:
    require_role(actor, "admin")
    platform = request.app.state.platform
    if name not in platform.jobs:
        raise NotFound(f"没有名为 {name} 的后台任务")
    runner = getattr(request.app.state, "jobs", None)
    if runner is None:
        raise NotFound("本进程未运行后台任务")
    runner.enqueue(name)
    return {"name": name, "queued": runner.mode}


# -- notices and text messages --------------------------------------------------------------------------------

@get("/api/notifications", tags=["通知"], summary="发给我（本单位、本角色）的通知，如临期超期提醒、督办队列")
async def my_notifications(actor: NamedDependency[Actor], page: Page = 1, page_size: PageSize = 50) -> ListPage:
    if actor.kind != "user":
        raise Forbidden("通知仅对工作人员开放")
    from core.tables import TextMessage

    where = (TextMessage.kind == "staff") & TextMessage.recipient.is_in(recipients_for(actor))
    rows = await (TextMessage.select().where(where).order_by(TextMessage.id, ascending=False)
                  .limit(page_size).offset((page - 1) * page_size))
    return ListPage(items=rows, total=await TextMessage.count().where(where), page=page, page_size=page_size)


async def _listener(request: Request) -> Actor:
    """A bearer token (or key) when one is sent, else the console's session: the console's own page
    listens on its cookie, another client on its token."""
    from api.console.session import NotSignedIn, current_actor
    from api.security import provide_actor
    from core.errors import Unauthorized

    if request.headers.get("authorization") or request.headers.get("x-api-key"):
        actor = await provide_actor(request)
    else:
        try:
            actor = await current_actor(request)
        except NotSignedIn:
            raise Unauthorized("请先登录工作台，或提供 Authorization: Bearer <token>") from None
    if actor.kind != "user":
        raise Forbidden("通知仅对工作人员开放")
    return actor


@get("/api/notifications/stream", tags=["通知"], security=SECURED, responses=errors(401, 403),
     media_type="text/event-stream",
     summary="通知的实时推送（服务器发送事件，event: notice，data 为 JSON：text、href），工作台会话或 Bearer 令牌")
async def notification_stream(request: Request) -> ServerSentEvent:
    actor = await _listener(request)
    return event_stream(request.app.state.platform.live, notices.topics(actor))


@get("/api/sms", tags=["通知"], summary="短信记录（已发送、仅记录、退订、限流）")
async def list_sms(actor: NamedDependency[Actor], order: FromQuery[str | None] = None,
                   page: Page = 1, page_size: PageSize = 50) -> ListPage:
    require_role(actor, "admin", "supervisor")
    from core.visibility import mask_phone
    from core.tables import TextMessage

    where = TextMessage.kind == "sms"
    if order:
        where = where & (TextMessage.order_number == order)
    rows = await (TextMessage.select().where(where).order_by(TextMessage.id, ascending=False)
                  .limit(page_size).offset((page - 1) * page_size))
    for row in rows:
        row["recipient"] = mask_phone(row["recipient"])
    return ListPage(items=rows, total=await TextMessage.count().where(where), page=page, page_size=page_size)


@post("/api/sms/opt-outs", tags=["通知"], status_code=201, summary="登记退订短信的号码")
async def opt_out(actor: NamedDependency[Actor], data: JSONBody[OptOutIn]) -> dict[str, str]:
    _centre(actor)
    from core.tables import SmsOptOut

    if not await SmsOptOut.exists().where(SmsOptOut.phone == data.phone):
        await SmsOptOut.insert(SmsOptOut(phone=data.phone, note=data.note))
    return {"phone": data.phone, "note": data.note}


ROUTES = [city_push, city_discrepancies, list_outbox, get_outbox_message, retry_outbox_message,
          abandon_outbox_message, list_jobs, run_job_now, my_notifications, notification_stream, list_sms, opt_out]
