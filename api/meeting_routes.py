"""协调会 over the API: a supervisor calls a meeting on difficult orders, writes its minutes and
decisions afterwards, and downloads the minutes as a .docx; each decision's owner department marks
it done (``core.meetings``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, Parameter, QueryParameter

from api.schemas import errors
from core.calendar import local_iso
from core.meeting_minutes import minutes_docx
from core.meetings import DecisionDone, Minutes, NewMeeting
from core.model import Actor
from core.users import display_names

TAGS = ["协调会"]
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _meetings(request: Request):
    return request.app.state.platform.meetings


@post("/api/meetings", tags=TAGS, summary="召集协调会（督办员、管理员）：时间、地点、涉及工单、参会单位", status_code=201,
      responses=errors(400, 401, 403, 413))
async def call_meeting(request: Request, data: JSONBody[NewMeeting], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _meetings(request).call(data, actor)


@get("/api/meetings", tags=TAGS, summary="协调会列表（新的在前；承办单位只看到邀请本单位或本单位负责事项的会议）",
     responses=errors(400, 401, 403))
async def list_meetings(request: Request, actor: NamedDependency[Actor],
                        limit: Annotated[int, Parameter(ge=1, le=100)] = 50) -> dict[str, Any]:
    return {"items": await _meetings(request).listing(actor, limit=limit)}


@get("/api/meetings/decisions", tags=TAGS, summary="议定事项（按完成期限；state=open 办理中、overdue 已逾期、done 已完成）",
     responses=errors(400, 401, 403))
async def list_decisions(request: Request, actor: NamedDependency[Actor],
                         decision_state: Annotated[Literal["open", "overdue", "done"] | None,
                                                   QueryParameter(name="state")] = None) -> dict[str, Any]:
    return {"items": await _meetings(request).decisions(actor, state=decision_state or "")}


@get("/api/meetings/{meeting_id:int}", tags=TAGS, summary="一次协调会：涉及工单、参会单位、纪要和议定事项",
     responses=errors(400, 401, 403, 404))
async def get_meeting(request: Request, meeting_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _meetings(request).get(meeting_id, actor)


@put("/api/meetings/{meeting_id:int}/minutes", tags=TAGS,
     summary="填写（或在议定事项办结前修改）会议纪要和议定事项（督办员、管理员）",
     responses=errors(400, 401, 403, 404, 409, 413))
async def write_minutes(request: Request, meeting_id: FromPath[int], data: JSONBody[Minutes],
                        actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _meetings(request).write_minutes(meeting_id, data, actor)


@post("/api/meetings/{meeting_id:int}/decisions/{decision_id:int}/done", tags=TAGS, status_code=200,
      summary="责任单位标记议定事项完成", responses=errors(400, 401, 403, 404, 409))
async def decision_done(request: Request, meeting_id: FromPath[int], decision_id: FromPath[int],
                        data: JSONBody[DecisionDone], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _meetings(request).mark_done(meeting_id, decision_id, data, actor)


@get("/api/meetings/{meeting_id:int}/minutes.docx", tags=TAGS, summary="会议纪要（Word 文档）",
     responses=errors(400, 401, 403, 404), media_type=DOCX)
async def minutes_document(request: Request, meeting_id: FromPath[int], actor: NamedDependency[Actor]) -> Response:
    meeting = await _meetings(request).get(meeting_id, actor)
    body = minutes_docx(meeting, await display_names(), lambda iso: dt.datetime.fromisoformat(local_iso(iso)))
    name = f"meeting-{meeting_id}-minutes.docx"
    return Response(body, media_type=DOCX, headers={"Content-Disposition": f'attachment; filename="{name}"'})


ROUTES = [call_meeting, list_meetings, list_decisions, get_meeting, write_minutes, decision_done, minutes_document]
