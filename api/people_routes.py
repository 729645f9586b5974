"""The people who answer, over the API: training and the 已培训上岗 flag, teams and shifts, leave, the
month's rota from the forecast, per-agent and per-team figures, and quality inspection (质检)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from api.schemas import errors
from core import clock
from core.errors import FieldError, Forbidden, InvalidInput
from core.model import CENTRE_ROLES, Actor
from core.people import figures, quality, rota, teams, training

Name = Annotated[str, msgspec.Meta(max_length=64)]


def _month(value: str | None, source: str = "query") -> str | None:
    """A ``YYYY-MM`` from the query or the path, or a 400 naming it."""
    if value is not None and not rota.MONTH_PATTERN.match(value):
        raise InvalidInput([FieldError("month", "月份格式应为 YYYY-MM", source)], "查询参数有误")
    return value


def _centre(actor: Actor) -> None:
    if actor.kind != "user" or actor.role not in CENTRE_ROLES:
        raise Forbidden("只有中心人员可以查看")


# -- the account itself ------------------------------------------------------------------------------

class UserChange(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    display_name: Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                              description="姓名：工单记录、列表、选择框和文书中显示的名字（登录用户名不变）")]


@put("/api/users/{username:str}", tags=["账号"], summary="修改账号的显示姓名（仅管理员；记入访问审计）",
     responses=errors(400, 401, 403, 404, 413))
async def change_user(request: Request, username: FromPath[Name], data: JSONBody[UserChange],
                      actor: NamedDependency[Actor]) -> dict[str, Any]:
    from api.client import client_address
    from core.users import set_display_name

    if actor.kind != "user" or actor.role != "admin":
        raise Forbidden("只有管理员可以修改账号")
    return await set_display_name(username, data.display_name, by=actor.name, role=actor.role,
                                  address=client_address(request))


# -- training ---------------------------------------------------------------------------------------

@get("/api/users/{username:str}/training", tags=["培训"], summary="一个账号的培训记录和上岗资格（已培训上岗）",
     responses=errors(400, 401, 403, 404))
async def user_training(username: FromPath[Name], actor: NamedDependency[Actor]) -> dict[str, Any]:
    if actor.name != username and not await teams.may_manage(actor, username):
        raise Forbidden("只能查看本人的培训记录")
    return await training.of_user(username)


@post("/api/users/{username:str}/training", tags=["培训"], status_code=201,
      summary="登记一个账号的培训结果（仅管理员；合格即取得上岗资格）", responses=errors(400, 401, 403, 404))
async def record_training(username: FromPath[Name], data: JSONBody[training.TrainingResult],
                          actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await training.record_result(username, data, actor)


@put("/api/users/{username:str}/trained", tags=["培训"], summary="管理员人工设定上岗资格（须写原因，记入审计）",
     responses=errors(400, 401, 403, 404))
async def override_trained(username: FromPath[Name], data: JSONBody[training.TrainedOverride],
                           actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await training.override(username, data, actor)


@get("/api/training/sessions", tags=["培训"], summary="培训场次与出勤（岗前培训、集中培训）", responses=errors(400, 401, 403))
async def list_sessions(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return await training.sessions()


@post("/api/training/sessions", tags=["培训"], status_code=201,
      summary="登记一次培训及出勤人员（仅管理员；岗前培训合格者取得上岗资格）", responses=errors(400, 401, 403))
async def add_session(data: JSONBody[training.NewSession], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await training.add_session(data, actor)


@post("/api/training/sessions/{session_id:int}/passed", tags=["培训"], status_code=200,
      summary="登记某场培训的出勤人员考核合格（仅管理员；岗前培训合格者取得上岗资格）", responses=errors(400, 401, 403, 404))
async def session_passed(session_id: FromPath[int], data: JSONBody[training.Passed],
                         actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await training.mark_passed(session_id, data, actor)


# -- teams, shifts, leave ---------------------------------------------------------------------------

@get("/api/teams", tags=["班组与排班"], summary="班组、班组长和成员", responses=errors(400, 401, 403))
async def list_teams(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return await teams.listing()


@post("/api/teams", tags=["班组与排班"], status_code=201, summary="新建班组（仅管理员）",
      responses=errors(400, 401, 403, 409))
async def create_team(data: JSONBody[teams.TeamSpec], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await teams.save(data, actor)


@put("/api/teams/{team_id:int}", tags=["班组与排班"], summary="修改班组名称、班组长和成员（仅管理员）",
     responses=errors(400, 401, 403, 404, 409))
async def change_team(team_id: FromPath[int], data: JSONBody[teams.TeamSpec],
                      actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await teams.save(data, actor, team_id)


@get("/api/shifts", tags=["班组与排班"], summary="班次（早班、中班、夜班，覆盖 7×24 小时）", responses=errors(400, 401, 403))
async def list_shifts(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return teams.shift_listing(await teams.shifts())


@put("/api/shifts", tags=["班组与排班"], summary="设定班次（仅管理员；须覆盖全天 24 小时）", responses=errors(400, 401, 403))
async def set_shifts(data: JSONBody[teams.ShiftPatterns], actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await teams.set_shifts(data, actor)


@get("/api/shifts/all", tags=["班组与排班"], summary="全部班次，含已停用的", responses=errors(400, 401, 403))
async def all_shifts(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return await teams.all_shifts()


@post("/api/shifts/patterns", tags=["班组与排班"], status_code=201,
      summary="新增一个班次（仅管理员；启用的班次须覆盖全天 24 小时）", responses=errors(400, 401, 403, 409))
async def add_shift(data: JSONBody[teams.Shift], actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await teams.save_shift(data, actor, new=True)


@put("/api/shifts/patterns/{code:str}", tags=["班组与排班"], summary="修改一个班次的名称、开始时间和时长（仅管理员）",
     responses=errors(400, 401, 403, 404, 409))
async def change_shift(code: FromPath[Name], data: JSONBody[teams.ShiftEdit],
                       actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await teams.save_shift(teams.Shift(code=code, name=data.name, starts=data.starts, hours=data.hours), actor,
                                  new=False)


@put("/api/shifts/patterns/{code:str}/active", tags=["班组与排班"],
     summary="停用或启用一个班次（仅管理员；停用后其余班次仍须覆盖全天，且无排班在用）", responses=errors(400, 401, 403, 404, 409))
async def shift_active(code: FromPath[Name], data: JSONBody[teams.ShiftState],
                       actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await teams.set_shift_active(code, data.active, actor)


@get("/api/leave", tags=["班组与排班"], summary="某月的请假记录", responses=errors(400, 401, 403))
async def list_leave(actor: NamedDependency[Actor], month: FromQuery[Name | None] = None) -> list[dict[str, Any]]:
    _centre(actor)
    days = rota.month_days(_month(month) or f"{clock.today():%Y-%m}")
    return await teams.leave_between(days[0], days[-1])


@post("/api/leave", tags=["班组与排班"], status_code=201, summary="登记请假（管理员、督办员或其班组长）",
      responses=errors(400, 401, 403, 404))
async def record_leave(data: JSONBody[teams.LeaveSpec], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await teams.record_leave(data, actor)


@post("/api/leave/{leave_id:int}/cancel", tags=["班组与排班"], status_code=200,
      summary="撤销请假（管理员、督办员或其班组长；须写原因）", responses=errors(400, 401, 403, 404))
async def cancel_leave(leave_id: FromPath[int], data: JSONBody[teams.LeaveCancel],
                       actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await teams.cancel_leave(leave_id, data, actor)


# -- rota -------------------------------------------------------------------------------------------

@post("/api/rota/proposals", tags=["班组与排班"], status_code=201,
      summary="按话务预测为某月生成排班草案（每人的班次、仍缺线路的小时）", responses=errors(400, 401, 403, 409))
async def propose_rota(request: Request, data: JSONBody[rota.Proposal], actor: NamedDependency[Actor]) -> dict[str, Any]:
    platform = request.app.state.platform
    return await rota.propose(data, actor, platform.calendar, {c.code: c.name for c in platform.channels})


@get("/api/rotas", tags=["班组与排班"], summary="排班（草案、已发布）", responses=errors(400, 401, 403))
async def list_rotas(actor: NamedDependency[Actor], month: FromQuery[Name | None] = None) -> list[dict[str, Any]]:
    _centre(actor)
    return await rota.listing(_month(month))


@get("/api/rotas/{rota_id:int}", tags=["班组与排班"], summary="一份排班：每人的班次、缺口、工时规则检查",
     responses=errors(400, 401, 403, 404))
async def show_rota(rota_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    _centre(actor)
    return await rota.show(rota_id)


@put("/api/rotas/{rota_id:int}/shifts", tags=["班组与排班"],
     summary="手工调整排班（班组长只能调整本班组；须符合工时规则并写原因）", responses=errors(400, 401, 403, 404, 409))
async def edit_rota(rota_id: FromPath[int], data: JSONBody[rota.RotaEdit], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await rota.edit(rota_id, data, actor)


@post("/api/rotas/{rota_id:int}/swaps", tags=["班组与排班"], status_code=200, summary="调班：两人互换某天的班次",
      responses=errors(400, 401, 403, 404, 409))
async def swap_rota(rota_id: FromPath[int], data: JSONBody[rota.Swap], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await rota.swap(rota_id, data, actor)


@get("/api/rotas/{rota_id:int}/swaps", tags=["班组与排班"], summary="一份排班上的调班记录（含已撤销的）",
     responses=errors(400, 401, 403, 404))
async def list_swaps(rota_id: FromPath[int], actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return await rota.swaps(rota_id)


@post("/api/rotas/{rota_id:int}/swaps/{swap_id:int}/cancel", tags=["班组与排班"], status_code=200,
      summary="撤销一次调班：两人换回原班次（须写原因）", responses=errors(400, 401, 403, 404, 409))
async def cancel_swap(rota_id: FromPath[int], swap_id: FromPath[int], data: JSONBody[rota.SwapCancel],
                      actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await rota.cancel_swap(rota_id, swap_id, data, actor)


@post("/api/rotas/{rota_id:int}/publish", tags=["班组与排班"], status_code=200,
      summary="发布排班（取代该月此前发布的版本）", responses=errors(400, 401, 403, 404, 409))
async def publish_rota(rota_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await rota.publish(rota_id, actor)


@get("/api/rota/on-duty", tags=["班组与排班"], summary="已发布排班中此刻在班的话务员", responses=errors(400, 401, 403))
async def on_duty(actor: NamedDependency[Actor]) -> dict[str, Any]:
    _centre(actor)
    people = await rota.on_duty(clock.now())
    return {"at": clock.now().isoformat(), "lines": len(people), "people": people}


# -- figures ----------------------------------------------------------------------------------------

@get("/api/agents/{username:str}/figures", tags=["个人绩效"],
     summary="话务员的个人绩效（本人可看自己的；督办员、管理员、班组长可看所有人）", responses=errors(400, 401, 403, 404))
async def agent_figures(username: FromPath[Name], actor: NamedDependency[Actor],
                        start: FromQuery[Annotated[str, msgspec.Meta(max_length=10)] | None] = None,
                        end: FromQuery[Annotated[str, msgspec.Meta(max_length=10)] | None] = None) -> dict[str, Any]:
    first, last = figures.period(start, end, clock.today())
    return await figures.of_agent(username, first, last, actor)


@get("/api/teams/{team_id:int}/figures", tags=["个人绩效"], summary="班组绩效：合计与每位成员",
     responses=errors(400, 401, 403, 404))
async def team_figures(team_id: FromPath[int], actor: NamedDependency[Actor],
                       start: FromQuery[Annotated[str, msgspec.Meta(max_length=10)] | None] = None,
                       end: FromQuery[Annotated[str, msgspec.Meta(max_length=10)] | None] = None) -> dict[str, Any]:
    first, last = figures.period(start, end, clock.today())
    return await figures.of_team(team_id, first, last, actor)


# -- quality ----------------------------------------------------------------------------------------

@get("/api/quality/checklist", tags=["质检"], summary="质检评分表（各项分值，合计 100）", responses=errors(400, 401, 403))
async def get_checklist(actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    _centre(actor)
    return [msgspec.to_builtins(i) for i in await quality.checklist()]


@put("/api/quality/checklist", tags=["质检"], summary="修改质检评分表（仅管理员）", responses=errors(400, 401, 403))
async def set_checklist(data: JSONBody[quality.Checklist], actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await quality.set_checklist(data, actor)


@get("/api/quality/rule", tags=["质检"], summary="抽检规则", responses=errors(400, 401, 403))
async def get_rule(actor: NamedDependency[Actor]) -> dict[str, Any]:
    _centre(actor)
    return msgspec.to_builtins(await quality.rule())


@put("/api/quality/rule", tags=["质检"], summary="修改抽检规则（仅管理员）", responses=errors(400, 401, 403))
async def set_rule(data: JSONBody[quality.Rule], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.set_rule(data, actor)


@post("/api/quality/draws", tags=["质检"], status_code=201, summary="按抽检规则抽取质检样本（督办员、管理员）",
      responses=errors(400, 401, 403))
async def draw_samples(data: JSONBody[quality.Draw], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.draw(data, actor)


@get("/api/quality/samples", tags=["质检"], summary="质检样本（话务员只看到自己的）", responses=errors(400, 401, 403))
async def list_samples(actor: NamedDependency[Actor], agent: FromQuery[Name | None] = None,
                       status: FromQuery[Annotated[str, msgspec.Meta(max_length=16)] | None] = None) -> list[dict[str, Any]]:
    _centre(actor)
    if status and status not in quality.STATUSES:
        raise InvalidInput([FieldError("status", "没有这个状态", "query")], "查询参数有误")
    return await quality.samples(actor, agent=agent, status=status)


@get("/api/quality/samples/{sample_id:int}", tags=["质检"], summary="一个质检样本：得分、扣分、评语、申诉",
     responses=errors(400, 401, 403, 404))
async def show_sample(sample_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    _centre(actor)
    return await quality.show(sample_id, actor)


@post("/api/quality/samples/{sample_id:int}/score", tags=["质检"], status_code=200, summary="质检评分（督办员、管理员）",
      responses=errors(400, 401, 403, 404, 409))
async def score_sample(sample_id: FromPath[int], data: JSONBody[quality.Score], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.score(sample_id, data, actor)


@post("/api/quality/samples/{sample_id:int}/appeal", tags=["质检"], status_code=200, summary="话务员对质检结果申诉（限一次）",
      responses=errors(400, 401, 403, 404, 409))
async def appeal_sample(sample_id: FromPath[int], data: JSONBody[quality.Appeal], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.appeal(sample_id, data, actor)


@post("/api/quality/samples/{sample_id:int}/ruling", tags=["质检"], status_code=200, summary="裁定质检申诉（督办员、管理员）",
      responses=errors(400, 401, 403, 404, 409))
async def rule_sample(sample_id: FromPath[int], data: JSONBody[quality.Ruling], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.rule_appeal(sample_id, data, actor)


@get("/api/quality/reports/{month:str}", tags=["质检"], summary="月度质检报表：按班组和话务员",
     responses=errors(400, 401, 403))
async def quality_report(month: FromPath[Name], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await quality.monthly(_month(month, "path"), actor)


ROUTES = [change_user, user_training, record_training, override_trained, list_sessions, add_session, session_passed, list_teams,
          create_team, change_team, list_shifts, set_shifts, all_shifts, add_shift, change_shift, shift_active, list_leave,
          record_leave, cancel_leave, propose_rota, list_rotas, show_rota, edit_rota, swap_rota, list_swaps, cancel_swap,
          publish_rota, on_duty, agent_figures, team_figures, get_checklist, set_checklist,
          get_rule, set_rule, draw_samples, list_samples, show_sample, score_sample, appeal_sample, rule_sample,
          quality_report]
