"""满意率调查 in the console: the list and the definition form (督导、管理员), a survey's call list worked
like the callback desk (one click reveals the number, audited as 满意率调查, and opens the answer form
with the outcome buttons 未接通/拒访/号码错误), and the report with its confidence interval. The logic
and its checks are the core's (``core.surveys``), the same as ``/api/surveys``."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from api.console.pages import render_page
from api.client import client_address
from api.console.session import current_actor
from api.presenter import present, present_result
from core import access_audit
from core.callbacks import OUTCOMES
from core.clock import SHANGHAI
from core.errors import Conflict, Forbidden, InvalidInput
from core.lifecycle import SATISFACTION
from core.surveys import (
    CALLERS,
    DEFINERS,
    MAX_QUESTIONS,
    READERS,
    REVEAL_REASON,
    SurveyAnswer,
    SurveyAttempt,
    SurveyDefinition,
)

LIST = "/console/surveys"


def _platform(request: Request):
    return request.app.state.platform


async def _reader(request: Request):
    actor = await current_actor(request)
    if actor.role not in READERS:
        raise Forbidden("只有中心人员可以查看满意率调查")
    return actor


async def _render(request: Request, actor, name: str, status_code: int = 200, **context) -> Response:
    return await render_page(request, actor, name, status_code=status_code, **context)


def _today(request: Request) -> str:
    return _platform(request).orders.clock().astimezone(SHANGHAI).date().isoformat()


async def _list_page(request: Request, actor, *, status_code: int = 200, values: dict | None = None,
                     errors: dict | None = None) -> Response:
    platform = _platform(request)
    today = _today(request)
    start = (dt.date.fromisoformat(today) - dt.timedelta(days=30)).isoformat()
    return await _render(request, actor, "surveys.html", status_code=status_code,
                         surveys=await platform.surveys.listing(actor), may_define=actor.role in DEFINERS,
                         departments=await platform.orders.department_names(), channels=list(platform.channels),
                         values=values or {"start": start, "end": today, "sample_size": "50"}, errors=errors or {},
                         max_questions=MAX_QUESTIONS, done=request.query_params.get("done", "")[:60])


@get("/surveys")
async def survey_list(request: Request) -> Response:
    return await _list_page(request, await _reader(request))


def _questions(text: str) -> list[dict[str, Any]]:
    """One question a line: "办理速度：快/一般/慢" offers choices, a line without "：" takes free text."""
    questions = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        head, sep, tail = line.replace(":", "：").partition("：")
        choices = [c.strip() for c in tail.replace("／", "/").split("/") if c.strip()] if sep else []
        questions.append({"text": head.strip(), "choices": choices})
    return questions


FORM_KEYS = {"sample_rate": "sample_size", "questions": "questions"}  # where an error on a key is shown


@post("/surveys")
async def survey_define(request: Request) -> Response:
    actor = await _reader(request)
    form = await request.form()
    values = {k: str(form.get(k) or "")[:4000] for k in ("title", "start", "end", "sample_size", "sample_rate",
                                                          "questions", "seed")}
    values["departments"] = [v for v in form.getall("departments", []) if isinstance(v, str)][:100]
    values["channels"] = [v for v in form.getall("channels", []) if isinstance(v, str)][:50]
    data: dict[str, Any] = {"title": values["title"].strip(), "start": values["start"], "end": values["end"],
                            "departments": values["departments"], "channels": values["channels"],
                            "questions": _questions(values["questions"])}
    for key in ("sample_size", "seed"):
        if values[key].strip():
            data[key] = values[key].strip()
    if values["sample_rate"].strip():
        try:
            data["sample_rate"] = float(values["sample_rate"]) / 100
        except ValueError:
            data["sample_rate"] = values["sample_rate"]
    try:
        definition = msgspec.convert(data, SurveyDefinition, strict=False)
        created = await _platform(request).surveys.define(definition, actor)
    except msgspec.ValidationError as exc:
        path = str(exc).rpartition("at `$.")[2].rstrip("`")
        key = path.split("[")[0].split(".")[0] or "title"
        return await _list_page(request, actor, status_code=400, values=values,
                                errors={FORM_KEYS.get(key, key): "请检查这一项的填写（必填、格式或范围不对）"})
    except InvalidInput as exc:
        errors = {}
        for e in exc.errors:
            key = e.key.split("[")[0].split(".")[0]
            errors.setdefault(FORM_KEYS.get(key, key), e.message)
        return await _list_page(request, actor, status_code=400, values=values, errors=errors)
    return Redirect(f"{LIST}/{created['id']}?{urlencode({'done': '已抽样并生成调查电话清单'})}", status_code=303)


@get("/surveys/{survey_id:int}")
async def survey_calls(request: Request, survey_id: FromPath[int]) -> Response:
    """The call list: open calls first (those waiting for a retry after them), then the finished."""
    actor = await _reader(request)
    survey = await _platform(request).surveys.get(survey_id, actor)
    order = {"pending": 0}
    calls = sorted(survey["calls"], key=lambda c: (order.get(c["status"], 1), c["waiting"]))
    return await _render(request, actor, "survey_calls.html", survey=survey, calls=calls,
                         may_call=actor.role in CALLERS, names=await _platform(request).orders.department_names(),
                         done=request.query_params.get("done", "")[:60], number=request.query_params.get("number", "")[:32])


async def _answer_page(request: Request, actor, survey_id: int, number: str, *, order: dict | None = None,
                       status_code: int = 200, error: str = "") -> Response:
    platform = _platform(request)
    survey = await platform.surveys.get(survey_id, actor)
    call = next((c for c in survey["calls"] if c["number"] == number), None)
    if call is None:
        raise InvalidInput([], f"工单 {number} 不在本次调查的样本中")
    if order is None:
        record, events = await platform.orders.detail(number, actor)
        order = present(platform, record, actor, events)
    return await _render(request, actor, "survey_answer.html", status_code=status_code, survey=survey, call=call,
                         order=order, satisfaction=SATISFACTION, outcomes=OUTCOMES, error=error)


@post("/surveys/{survey_id:int}/calls/{number:str}")
async def survey_call(request: Request, survey_id: FromPath[int], number: FromPath[str]) -> Response:
    """One click from the call list: the number is revealed (audited on the order as 满意率调查) and the
    answer form opens beside it."""
    actor = await _reader(request)
    if actor.role not in CALLERS:
        raise Forbidden("只有话务员和管理员可以拨打调查电话")
    platform = _platform(request)
    await platform.surveys.get(survey_id, actor)  # 404 for a survey that does not exist
    result = await platform.orders.act(number, "reveal_contact", {"reason": REVEAL_REASON}, actor)
    await access_audit.record_view(actor, number, client_address(request), via="console")
    return await _answer_page(request, actor, survey_id, number, order=present_result(platform, result, actor))


def _back(survey_id: int, number: str, label: str) -> Redirect:
    return Redirect(f"{LIST}/{survey_id}?{urlencode({'done': label, 'number': number})}", status_code=303)


@post("/surveys/{survey_id:int}/answers")
async def survey_answer(request: Request, survey_id: FromPath[int]) -> Response:
    actor = await _reader(request)
    form = await request.form()
    number = str(form.get("number") or "")[:32]
    survey = await _platform(request).surveys.get(survey_id, actor)
    answers = [str(form.get(f"answer_{i}") or "")[:1000].strip() for i in range(len(survey["questions"]))]
    outcome = str(form.get("outcome") or "")
    try:
        if outcome in OUTCOMES:
            await _platform(request).surveys.attempt(survey_id, SurveyAttempt(number=number, outcome=outcome), actor)
            return _back(survey_id, number, OUTCOMES[outcome])
        satisfaction = str(form.get("satisfaction") or "")
        if satisfaction not in SATISFACTION:
            return await _answer_page(request, actor, survey_id, number, status_code=400, error="请选择满意度")
        await _platform(request).surveys.answer(survey_id, SurveyAnswer(
            number=number, satisfaction=satisfaction, answers=answers, note=str(form.get("note") or "")[:1000]), actor)
    except (InvalidInput, Conflict) as exc:
        message = "；".join(e.message for e in getattr(exc, "errors", [])) or exc.detail
        return await _answer_page(request, actor, survey_id, number, status_code=exc.status_code, error=message)
    return _back(survey_id, number, f"已记录：{SATISFACTION[satisfaction]}")


@get("/surveys/{survey_id:int}/report")
async def survey_report(request: Request, survey_id: FromPath[int]) -> Response:
    actor = await _reader(request)
    platform = _platform(request)
    return await _render(request, actor, "survey_report.html", report=await platform.surveys.report(survey_id, actor),
                         names=await platform.orders.department_names())


SURVEY_ROUTES = [survey_list, survey_define, survey_calls, survey_call, survey_answer, survey_report]
