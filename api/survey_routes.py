"""满意率统计调查 over the API: a supervisor defines a survey (its sample drawn at once), agents record
each call's answer or failed attempt, the centre reads the call list and the report (``core.surveys``)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from api.schemas import errors
from core.model import Actor
from core.surveys import SurveyAnswer, SurveyAttempt, SurveyDefinition

TAGS = ["满意率调查"]


def _surveys(request: Request):
    return request.app.state.platform.surveys


@post("/api/surveys", tags=TAGS, status_code=201, responses=errors(400, 401, 403),
      summary="发起满意率调查（督导、管理员）：按期间、渠道、单位抽取已办结工单，生成话务员的调查电话清单")
async def define_survey(request: Request, data: JSONBody[SurveyDefinition], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _surveys(request).define(data, actor)


@get("/api/surveys", tags=TAGS, summary="满意率调查列表（新的在前）", responses=errors(401, 403))
async def list_surveys(request: Request, actor: NamedDependency[Actor]) -> list[dict[str, Any]]:
    return await _surveys(request).listing(actor)


@get("/api/surveys/{survey_id:int}", tags=TAGS, summary="一次调查的设置和调查电话清单（不含电话号码）",
     responses=errors(400, 401, 403, 404))
async def get_survey(request: Request, survey_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _surveys(request).get(survey_id, actor)


@post("/api/surveys/{survey_id:int}/answers", tags=TAGS, status_code=200, responses=errors(400, 401, 403, 404, 409),
      summary="记录一位市民的调查回答（满意度和附加问题）")
async def answer_survey(request: Request, survey_id: FromPath[int], data: JSONBody[SurveyAnswer],
                        actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _surveys(request).answer(survey_id, data, actor)


@post("/api/surveys/{survey_id:int}/attempts", tags=TAGS, status_code=200, responses=errors(400, 401, 403, 404, 409),
      summary="记录一次未成功的调查电话（未接通、拒访、号码错误）；未接通按回访规则稍后重拨")
async def attempt_survey(request: Request, survey_id: FromPath[int], data: JSONBody[SurveyAttempt],
                         actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _surveys(request).attempt(survey_id, data, actor)


@get("/api/surveys/{survey_id:int}/report", tags=TAGS, responses=errors(400, 401, 403, 404),
     summary="调查结果：满意率及其 95% 置信区间（含有限总体校正），与同批工单的日常回访满意率对照")
async def survey_report(request: Request, survey_id: FromPath[int], actor: NamedDependency[Actor]) -> dict[str, Any]:
    return await _surveys(request).report(survey_id, actor)


ROUTES = [define_survey, list_surveys, get_survey, answer_survey, attempt_survey, survey_report]
