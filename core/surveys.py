"""满意率统计调查: a supervisor's survey of closed orders, asked by phone, reported beside the ordinary 满意率.

The sample is drawn once, when the survey is defined, from the orders closed (办结) in its period within
its channels and departments, reachable by phone (anonymous callers and protected reporters are never
called): a simple random sample, or stratified by department (proportional allocation) when departments
are chosen. The seed is stored, so the same definition over the same orders draws the same sample.

The agents' call list works like the callback queue (``core.callbacks``): the same outcomes (未接通,
拒访, 号码错误), the same retries (未接通 again after ``retry_hours`` working hours, up to ``tries``
attempts, then 无法回访), the number revealed by one click with the reveal audited on the order. Every
answer and attempt is an audited event on the order's timeline; a definition is in the access audit.

The report states the survey's 满意率 with its 95 % confidence interval (normal approximation, with the
finite population correction, per stratum when stratified) beside the ordinary 满意率 of the callbacks
of the same sampled orders and of the whole population.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from typing import Annotated, Any, Literal

import msgspec
from piccolo.query.functions.aggregate import Count

from core import access_audit
from core.callbacks import CLOSED_AS, CLOSED_LABELS, OUTCOMES, policy_of
from core.clock import SHANGHAI
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.lifecycle import GOOD_SATISFACTION, SATISFACTION
from core.model import Actor

DEFINERS = frozenset({"supervisor", "admin"})
CALLERS = frozenset({"agent", "admin"})
READERS = frozenset({"agent", "dispatcher", "supervisor", "admin", "auditor"})
MAX_PERIOD_DAYS = 366
YEARS = (2000, 2100)
MAX_SAMPLE = 2000
MAX_QUESTIONS = 10
Z95 = 1.96
CLOSED_STATUSES = ("completed", "archived")
COMPLETING_ACTIONS = ("approve", "resolve_at_intake")  # the steps that close (办结) an order
REVEAL_REASON = "满意率调查"
CALL_STATUSES = {"pending": "待拨打", "answered": "已回答", **CLOSED_LABELS}
EVENTS = {"survey_answer": "满意率调查回答", "survey_attempt": "满意率调查未成功"}  # on the order's timeline
METHOD = ("满意率 =（满意 + 基本满意）÷ 回答人数。95% 置信区间按正态近似计算：标准误 = √(p(1−p)/n × (N−n)/(N−1))，"
          "其中 n 为回答人数、N 为总体工单数，(N−n)/(N−1) 为有限总体校正；分层抽样时按各单位总体占比加权合并。")

Short = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Code = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class Question(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    text: Short
    choices: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=50)]],
                       msgspec.Meta(max_length=10)] = []  # none: a free-text answer


class SurveyDefinition(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    title: Short
    start: dt.date  # orders closed on these local days, both included
    end: dt.date
    departments: Annotated[list[Code], msgspec.Meta(max_length=100)] = []  # chosen: stratified by them
    channels: Annotated[list[Code], msgspec.Meta(max_length=50)] = []
    sample_size: Annotated[int, msgspec.Meta(ge=1, le=MAX_SAMPLE)] | None = None
    sample_rate: Annotated[float, msgspec.Meta(gt=0, le=1)] | None = None
    questions: Annotated[list[Question], msgspec.Meta(max_length=MAX_QUESTIONS)] = []
    seed: Annotated[int, msgspec.Meta(ge=0, le=2 ** 31 - 1)] | None = None


class SurveyAnswer(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Code
    satisfaction: Literal[tuple(SATISFACTION)]
    answers: Annotated[list[Annotated[str, msgspec.Meta(max_length=1000)]], msgspec.Meta(max_length=MAX_QUESTIONS)] = []
    note: Annotated[str, msgspec.Meta(max_length=1000)] = ""


class SurveyAttempt(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    number: Code
    outcome: Literal[tuple(OUTCOMES)]


def _check(actor: Actor, roles: frozenset[str], what: str) -> None:
    if actor.role not in roles:
        raise Forbidden(f"只有{what}")


def _bounds(start: dt.date, end: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(start, dt.time(), SHANGHAI),
            dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), SHANGHAI))


# -- sampling -------------------------------------------------------------------------------------------

def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Proportional allocation of ``n`` over strata of ``sizes`` (largest remainder), never more than a
    stratum holds."""
    total = sum(sizes.values())
    if not total:
        return {k: 0 for k in sizes}
    exact = {k: n * size / total for k, size in sizes.items()}
    given = {k: min(int(v), sizes[k]) for k, v in exact.items()}
    for k in sorted(sizes, key=lambda k: (given[k] - exact[k], k)):
        if sum(given.values()) >= n:
            break
        if given[k] < sizes[k]:
            given[k] += 1
    return given


def draw(frame: dict[str, list[int]], n: int, seed: int) -> dict[str, list[int]]:
    """The sample by stratum: the same frame, size and seed always give the same orders."""
    rng = random.Random(seed)
    shares = allocate({k: len(v) for k, v in frame.items()}, n)
    return {k: sorted(rng.sample(sorted(frame[k]), shares[k])) for k in sorted(frame)}


def proportion_interval(good: int, answered: int, population: int) -> dict[str, float] | None:
    """p with its standard error and 95 % interval under simple random sampling without replacement."""
    if not answered:
        return None
    p = good / answered
    fpc = (population - answered) / (population - 1) if population > 1 else 0.0
    se = math.sqrt(p * (1 - p) / answered * max(fpc, 0.0))
    return {"rate": p, "se": se, "low": max(0.0, p - Z95 * se), "high": min(1.0, p + Z95 * se)}


def stratified_interval(strata: list[dict]) -> dict[str, float] | None:
    """Σ W_h p_h with Var = Σ W_h² · p_h(1−p_h)/n_h · (N_h−n_h)/(N_h−1), over strata that answered."""
    answered = [s for s in strata if s["answered"]]
    total = sum(s["population"] for s in answered)
    if not total:
        return None
    rate = variance = 0.0
    for s in answered:
        weight = s["population"] / total
        one = proportion_interval(s["good"], s["answered"], s["population"])
        rate += weight * one["rate"]
        variance += weight ** 2 * one["se"] ** 2
    se = math.sqrt(variance)
    return {"rate": rate, "se": se, "low": max(0.0, rate - Z95 * se), "high": min(1.0, rate + Z95 * se)}


# -- the service ------------------------------------------------------------------------------------------

class Surveys:
    def __init__(self, platform):
        self.platform = platform

    async def _frame(self, start: dt.date, end: dt.date, channels: list[str],
                     departments: list[str]) -> dict[str, list[int]]:
        """Closed, callable orders of the period, channels and departments, by stratum (department
        code; one stratum "" when none were chosen)."""
        from core.tables import Order, OrderEvent

        since, until = _bounds(start, end)
        closed = OrderEvent.select(OrderEvent.order_id).where(
            OrderEvent.action.is_in(list(COMPLETING_ACTIONS)) & (OrderEvent.created_at >= since)
            & (OrderEvent.created_at < until))
        query = Order.select(Order.id, Order.department).where(
            Order.id.is_in(closed) & Order.status.is_in(list(CLOSED_STATUSES)) & (Order.anonymous == False)  # noqa: E712
            & (Order.citizen_phone != ""))
        if channels:
            query = query.where(Order.channel.is_in(channels))
        if departments:
            query = query.where(Order.department.is_in(departments))
        frame: dict[str, list[int]] = {k: [] for k in departments} if departments else {"": []}
        for row in await query.order_by(Order.id):
            frame[row["department"] if departments else ""].append(row["id"])
        return frame

    async def _refuse_bad(self, d: SurveyDefinition) -> None:
        problems = []
        if not d.title.strip():
            problems.append(FieldError("title", "请填写调查名称"))
        for key in ("start", "end"):
            if not YEARS[0] <= getattr(d, key).year <= YEARS[1]:
                problems.append(FieldError(key, f"日期应在 {YEARS[0]} 年到 {YEARS[1]} 年之间"))
        if problems:
            raise InvalidInput(problems, "调查设置有误")
        if d.end < d.start:
            problems.append(FieldError("end", "结束日期不能早于开始日期"))
        elif (d.end - d.start).days >= MAX_PERIOD_DAYS:
            problems.append(FieldError("end", f"调查期间不能超过 {MAX_PERIOD_DAYS} 天"))
        if (d.sample_size is None) == (d.sample_rate is None):
            problems.append(FieldError("sample_size", "请填写样本量或抽样比例（二选一）"))
        known = await self.platform.orders.department_names()
        for i, code in enumerate(d.departments):
            if code not in known:
                problems.append(FieldError(f"departments[{i}]", f"没有承办单位「{code}」"))
        for i, code in enumerate(d.channels):
            if self.platform.channels.get(code) is None:
                problems.append(FieldError(f"channels[{i}]", f"没有渠道「{code}」"))
        if len(set(d.departments)) != len(d.departments) or len(set(d.channels)) != len(d.channels):
            problems.append(FieldError("departments", "承办单位或渠道有重复"))
        for i, q in enumerate(d.questions):
            if len(set(q.choices)) != len(q.choices) or len(q.choices) == 1:
                problems.append(FieldError(f"questions[{i}].choices", "选项至少两个且不能重复；不设选项为自由回答"))
        if problems:
            raise InvalidInput(problems, "调查设置有误")

    async def define(self, d: SurveyDefinition, actor: Actor) -> dict[str, Any]:
        """Check the definition, draw the sample and build the call list, in one transaction."""
        from core.tables import Order, Survey, SurveyCall

        _check(actor, DEFINERS, "督导和管理员可以发起满意率调查")
        await self._refuse_bad(d)
        frame = await self._frame(d.start, d.end, d.channels, d.departments)
        population = sum(len(v) for v in frame.values())
        wanted = d.sample_size if d.sample_size is not None else math.ceil(d.sample_rate * population)
        n = min(wanted, population, MAX_SAMPLE)
        if n == 0:
            raise InvalidInput([FieldError("start", "该期间和范围内没有可调查的已办结工单")], "没有可抽取的工单")
        seed = d.seed if d.seed is not None else random.SystemRandom().randrange(2 ** 31)
        sample = draw(frame, n, seed)
        ids = [i for chosen in sample.values() for i in chosen]
        numbers = {r["id"]: r["number"] for r in await Order.select(Order.id, Order.number).where(Order.id.is_in(ids))}
        now = self.platform.orders.clock()
        strata = {k: {"population": len(frame[k]), "sample": len(v)} for k, v in sample.items()}
        async with write_transaction(self.platform.engine):
            [row] = await Survey.insert(Survey(
                title=d.title.strip(), period_start=d.start, period_end=d.end, departments=d.departments,
                channels=d.channels, sample_size=d.sample_size, sample_rate=d.sample_rate, seed=seed,
                questions=msgspec.to_builtins(d.questions), population=population, strata=strata,
                created_by=actor.name, created_at=now)).returning(Survey.id)
            await SurveyCall.insert(*[SurveyCall(survey_id=row["id"], order_id=i, order_number=numbers[i],
                                                 stratum=k, status="pending")
                                      for k, chosen in sample.items() for i in chosen])
        await access_audit.record("survey_created", actor=actor.name, role=actor.role, target=str(row["id"]),
                                  detail={"title": d.title, "population": population, "sample": n, "seed": seed})
        return await self.get(row["id"], actor)

    async def _survey(self, survey_id: int) -> dict:
        from core.tables import Survey

        found = await Survey.select().where(Survey.id == survey_id).output(load_json=True).first()
        if found is None:
            raise NotFound(f"满意率调查 {survey_id} 不存在")
        return found

    async def listing(self, actor: Actor) -> list[dict]:
        from core.tables import Survey, SurveyCall

        _check(actor, READERS, "中心人员可以查看满意率调查")
        surveys = await Survey.select().order_by(Survey.id, ascending=False).limit(100).output(load_json=True)
        counts = await SurveyCall.select(SurveyCall.survey_id, SurveyCall.status, Count(alias="n")).where(
            SurveyCall.survey_id.is_in([s["id"] for s in surveys] or [-1])).group_by(
            SurveyCall.survey_id, SurveyCall.status)
        for s in surveys:
            mine = {c["status"]: c["n"] for c in counts if c["survey_id"] == s["id"]}
            s["calls"] = sum(mine.values())
            s["open"] = mine.get("pending", 0)
        return [self._shown(s) for s in surveys]

    def _shown(self, s: dict) -> dict:
        return {"id": s["id"], "title": s["title"], "start": s["period_start"], "end": s["period_end"],
                "departments": s["departments"], "channels": s["channels"], "sample_size": s["sample_size"],
                "sample_rate": s["sample_rate"], "seed": s["seed"], "population": s["population"],
                "strata": s["strata"], "questions": s["questions"], "created_by": s["created_by"],
                "created_at": s["created_at"], **({k: s[k] for k in ("calls", "open") if k in s})}

    async def get(self, survey_id: int, actor: Actor) -> dict[str, Any]:
        """The definition and its call list, each call with where it stands (no phone number)."""
        from core.tables import SurveyCall

        _check(actor, READERS, "中心人员可以查看满意率调查")
        survey = await self._survey(survey_id)
        calls = await SurveyCall.select().where(SurveyCall.survey_id == survey_id).order_by(
            SurveyCall.id).output(load_json=True)
        now = self.platform.orders.clock()
        shown = []
        for c in calls:
            shown.append({"number": c["order_number"], "department": c["stratum"], "status": c["status"],
                          "status_label": CALL_STATUSES[c["status"]], "attempts": c["attempts"],
                          "retry_at": c["retry_at"], "waiting": bool(c["retry_at"] and c["retry_at"] > now),
                          "satisfaction": c["satisfaction"],
                          "satisfaction_label": SATISFACTION.get(c["satisfaction"] or "", ""),
                          "answers": c["answers"], "called_by": c["called_by"], "answered_at": c["answered_at"]})
        return {**self._shown(survey), "tries": policy_of(self.platform.orders).tries, "calls": shown}

    async def _open_call(self, survey_id: int, number: str) -> dict:
        from core.tables import SurveyCall

        await self._survey(survey_id)
        call = await SurveyCall.select().where((SurveyCall.survey_id == survey_id)
                                               & (SurveyCall.order_number == number)).first()
        if call is None:
            raise InvalidInput([FieldError("number", f"工单 {number} 不在本次调查的样本中")], "工单不在样本中")
        if call["status"] != "pending":
            raise Conflict(f"工单 {number} 的调查已结束（{CALL_STATUSES[call['status']]}）")
        return call

    async def _record(self, call: dict, changes: dict, event: str, reason: str, payload: dict, actor: Actor) -> None:
        """The call's new state and the audited event on the order, in one transaction; a call someone
        else recorded meanwhile is refused."""
        from core.tables import SurveyCall

        async with write_transaction(self.platform.engine):
            updated = await SurveyCall.update(changes).where(
                (SurveyCall.id == call["id"]) & (SurveyCall.status == "pending")
                & (SurveyCall.attempts == call["attempts"])).returning(SurveyCall.id)
            if not updated:
                raise Conflict("该调查电话已被他人记录，请刷新后重试")
            await self.platform.orders.note(call["order_number"], event, actor, reason=reason, payload=payload)

    async def answer(self, survey_id: int, a: SurveyAnswer, actor: Actor) -> dict[str, Any]:
        from core.tables import SurveyCall

        _check(actor, CALLERS, "话务员和管理员可以记录调查结果")
        survey = await self._survey(survey_id)
        call = await self._open_call(survey_id, a.number)
        questions = survey["questions"]
        if len(a.answers) > len(questions):
            raise InvalidInput([FieldError("answers", f"本次调查只有 {len(questions)} 个附加问题")], "回答有误")
        answers = [*a.answers, *[""] * (len(questions) - len(a.answers))]
        problems = [FieldError(f"answers[{i}]", f"「{q['text']}」的回答应为：{'、'.join(q['choices'])}")
                    for i, (q, given) in enumerate(zip(questions, answers)) if q["choices"] and given
                    and given not in q["choices"]]
        if problems:
            raise InvalidInput(problems, "回答有误")
        now = self.platform.orders.clock()
        await self._record(call, {SurveyCall.status: "answered", SurveyCall.satisfaction: a.satisfaction,
                                  SurveyCall.answers: answers, SurveyCall.note: a.note,
                                  SurveyCall.called_by: actor.name, SurveyCall.answered_at: now,
                                  SurveyCall.attempts: call["attempts"] + 1},
                           "survey_answer", f"满意率调查「{survey['title']}」：{SATISFACTION[a.satisfaction]}",
                           {"survey": survey_id, "satisfaction": SATISFACTION[a.satisfaction]}, actor)
        return await self.get(survey_id, actor)

    async def attempt(self, survey_id: int, a: SurveyAttempt, actor: Actor) -> dict[str, Any]:
        """未接通 waits ``retry_hours`` working hours for the next try and closes as 无法回访 after the
        last; 拒访 and 号码错误 close the call at once (as for a callback)."""
        from core.tables import SurveyCall

        _check(actor, CALLERS, "话务员和管理员可以记录调查结果")
        survey = await self._survey(survey_id)
        call = await self._open_call(survey_id, a.number)
        policy = policy_of(self.platform.orders)
        now = self.platform.orders.clock()
        attempts = call["attempts"] + 1
        if call["retry_at"] and call["retry_at"] > now:
            raise Conflict(f"上次未接通，请在 {call['retry_at'].astimezone(SHANGHAI):%m-%d %H:%M} 之后再拨")
        closes = a.outcome != "no_answer" or attempts >= policy.tries
        changes = {SurveyCall.attempts: attempts, SurveyCall.called_by: actor.name}
        if closes:
            changes[SurveyCall.status] = CLOSED_AS[a.outcome]
        else:
            changes[SurveyCall.retry_at] = self.platform.calendar.add_working_hours(now, policy.retry_hours)
        reason = f"满意率调查「{survey['title']}」：{OUTCOMES[a.outcome]}（第 {attempts} 次）"
        if closes:
            reason += f"，{CLOSED_LABELS[CLOSED_AS[a.outcome]]}"
        await self._record(call, changes, "survey_attempt", reason,
                           {"survey": survey_id, "outcome": OUTCOMES[a.outcome], "attempt": attempts}, actor)
        return await self.get(survey_id, actor)

    async def report(self, survey_id: int, actor: Actor) -> dict[str, Any]:
        """The survey's figures, its 满意率 with the 95 % interval, and the ordinary 满意率 beside it."""
        from core.tables import Order, SurveyCall

        _check(actor, READERS, "中心人员可以查看满意率调查")
        survey = await self._survey(survey_id)
        calls = await SurveyCall.select().where(SurveyCall.survey_id == survey_id).output(load_json=True)
        answered = [c for c in calls if c["status"] == "answered"]
        counts = {status: sum(c["status"] == status for c in calls) for status in CALL_STATUSES}
        choices = {k: sum(c["satisfaction"] == k for c in answered) for k in SATISFACTION}
        good = sum(choices[k] for k in GOOD_SATISFACTION)
        strata = []
        for key, figures in sorted(survey["strata"].items()):
            mine = [c for c in answered if c["stratum"] == key]
            strata.append({"department": key, "population": figures["population"], "sample": figures["sample"],
                           "answered": len(mine), "good": sum(c["satisfaction"] in GOOD_SATISFACTION for c in mine)})
        stratified = bool(survey["departments"])
        interval = stratified_interval(strata) if stratified else proportion_interval(
            good, len(answered), survey["population"])
        for s in strata:
            s["rate"] = s["good"] / s["answered"] if s["answered"] else None

        # the ordinary 满意率 (valid callback ratings) of the sampled orders and of the whole population
        frame = await self._frame(survey["period_start"], survey["period_end"], survey["channels"],
                                  survey["departments"])
        population_ids = [i for ids in frame.values() for i in ids]
        sampled = {c["order_id"] for c in calls}
        ratings = await Order.select(Order.id, Order.rating).where(
            Order.id.is_in(population_ids or [-1])).output(load_json=True)

        def ordinary(rows) -> dict:
            valid = [r["rating"] for r in rows if r["rating"] and r["rating"].get("valid", True)]
            good_ratings = sum(r["satisfaction"] in GOOD_SATISFACTION for r in valid)
            return {"orders": len(rows), "valid_ratings": len(valid), "good": good_ratings,
                    "rate": good_ratings / len(valid) if valid else None}

        questions = []
        for i, q in enumerate(survey["questions"]):
            given = [c["answers"][i] for c in answered if i < len(c["answers"]) and c["answers"][i]]
            questions.append({"text": q["text"], "choices": q["choices"],
                              "counts": {choice: given.count(choice) for choice in q["choices"]},
                              "texts": [] if q["choices"] else given[:200], "answered": len(given)})
        return {
            "survey": self._shown(survey),
            "population": survey["population"], "sample": len(calls), "answered": len(answered),
            "response_rate": len(answered) / len(calls) if calls else None,
            "calls": {k: {"label": CALL_STATUSES[k], "count": v} for k, v in counts.items()},
            "satisfaction": {k: {"label": SATISFACTION[k], "count": v} for k, v in choices.items()},
            "good": good, "rate": interval["rate"] if interval else None,
            "confidence": {"level": 0.95, "se": interval["se"], "low": interval["low"], "high": interval["high"],
                           "margin": Z95 * interval["se"]} if interval else None,
            "stratified": stratified, "strata": strata, "method": METHOD,
            "ordinary": {"sample": ordinary([r for r in ratings if r["id"] in sampled]),
                         "population": ordinary(ratings)},
            "questions": questions,
        }
