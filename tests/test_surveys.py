"""满意率统计调查: a supervisor defines a survey of closed orders; the sample is drawn reproducibly
(stratified when departments are chosen); agents answer or record failed calls as on the callback
queue; the report states the 满意率 with its 95 % interval (finite population corrected) beside the
ordinary 满意率 of the same orders."""

from __future__ import annotations

import datetime as dt
import math

from core import clock
from core.calendar import SHANGHAI
from core.tables import SurveyCall
from tests.helpers import intake_body

QUESTIONS = [{"text": "办理速度", "choices": ["快", "一般", "慢"]}, {"text": "还有什么建议"}]


def today() -> str:
    return clock.now().astimezone(SHANGHAI).date().isoformat()


async def closed_orders(client, tokens, count: int) -> list[str]:
    """Orders answered on the call (即时办结), each from its own caller."""
    numbers = []
    for i in range(count):
        body = intake_body(kind="consult", subject=f"咨询公积金提取{i}", citizen={"name": "市民", "phone": f"139{i:08d}"})
        order = await client.post("/api/channels/hotline/orders", json=body, headers=tokens["agent1"])
        number = order.json()["number"]
        done = await client.post(f"/api/orders/{number}/actions/resolve_at_intake",
                                 json={"reply": "已告知提取条件和材料"}, headers=tokens["agent1"])
        assert done.status_code == 200, done.text
        numbers.append(number)
    return numbers


async def define(client, tokens, **overrides):
    body = {"title": "十二月咨询类满意率调查", "start": today(), "end": today(), "channels": ["hotline"],
            "sample_size": 50, "questions": QUESTIONS, "seed": 20261207, **overrides}
    return await client.post("/api/surveys", json=body, headers=tokens["supervisor1"])


async def test_a_survey_of_50_orders_yields_its_report_with_the_interval(client, tokens):
    numbers = await closed_orders(client, tokens, 60)
    created = await define(client, tokens)
    assert created.status_code == 201, created.text
    survey = created.json()
    assert survey["population"] == 60 and len(survey["calls"]) == 50
    assert all(c["status"] == "pending" and c["number"] in numbers for c in survey["calls"])
    assert "139" not in str(survey["calls"])  # the call list carries no phone number
    again = (await define(client, tokens)).json()  # the same definition and seed: the same orders
    assert sorted(c["number"] for c in again["calls"]) == sorted(c["number"] for c in survey["calls"])

    sid = survey["id"]
    sample = [c["number"] for c in survey["calls"]]
    choices = ["satisfied"] * 30 + ["basically_satisfied"] * 6 + ["unsatisfied"] * 9
    for number, satisfaction in zip(sample, choices):
        answered = await client.post(f"/api/surveys/{sid}/answers", headers=tokens["agent1"], json={
            "number": number, "satisfaction": satisfaction, "answers": ["快", "希望简化材料"]})
        assert answered.status_code == 200, answered.text
    for number in sample[45:]:
        refused = await client.post(f"/api/surveys/{sid}/attempts", json={"number": number, "outcome": "refused"},
                                    headers=tokens["agent1"])
        assert refused.status_code == 200, refused.text

    report = await client.get(f"/api/surveys/{sid}/report", headers=tokens["supervisor1"])
    assert report.status_code == 200, report.text
    r = report.json()
    assert (r["population"], r["sample"], r["answered"]) == (60, 50, 45)
    assert r["calls"]["refused"]["count"] == 5 and r["calls"]["refused"]["label"] == "市民拒访"
    assert r["satisfaction"]["satisfied"]["count"] == 30 and r["good"] == 36
    assert math.isclose(r["rate"], 0.8)
    se = math.sqrt(0.8 * 0.2 / 45 * (60 - 45) / (60 - 1))
    assert math.isclose(r["confidence"]["se"], se)
    assert math.isclose(r["confidence"]["low"], 0.8 - 1.96 * se) and math.isclose(r["confidence"]["high"], 0.8 + 1.96 * se)
    assert 0.74 < r["confidence"]["low"] < 0.75 and "有限总体校正" in r["method"]
    assert r["questions"][0]["counts"] == {"快": 45, "一般": 0, "慢": 0}
    assert r["questions"][1]["texts"][0] == "希望简化材料"
    # beside it the ordinary 满意率: these orders were not called back, so it has no valid ratings
    assert r["ordinary"]["population"]["orders"] == 60 and r["ordinary"]["sample"]["orders"] == 50

    view = (await client.get(f"/api/orders/{sample[0]}", headers=tokens["admin1"])).json()
    assert view["events"][-1]["action"] == "survey_answer" and "满意" in view["events"][-1]["reason"]


async def test_an_unanswered_call_is_retried_then_closed_as_unreachable(client, tokens, frozen_clock):
    frozen_clock.freeze("2026-12-07T10:00:00+08:00")  # a Monday morning
    [number] = await closed_orders(client, tokens, 1)
    sid = (await define(client, tokens, start="2026-12-07", end="2026-12-07")).json()["id"]
    first = await client.post(f"/api/surveys/{sid}/attempts", json={"number": number, "outcome": "no_answer"},
                              headers=tokens["agent1"])
    call = first.json()["calls"][0]
    assert call["status"] == "pending" and call["attempts"] == 1 and call["waiting"]
    too_soon = await client.post(f"/api/surveys/{sid}/attempts", json={"number": number, "outcome": "no_answer"},
                                 headers=tokens["agent1"])
    assert too_soon.status_code == 409
    for hours in (5, 10):
        frozen_clock.freeze(dt.datetime(2026, 12, 7, 10, tzinfo=SHANGHAI) + dt.timedelta(days=hours // 5))
        await client.post(f"/api/surveys/{sid}/attempts", json={"number": number, "outcome": "no_answer"},
                          headers=tokens["agent1"])
    [row] = await SurveyCall.select().where(SurveyCall.survey_id == sid)
    assert row["status"] == "unreachable" and row["attempts"] == 3
    late = await client.post(f"/api/surveys/{sid}/answers", json={"number": number, "satisfaction": "satisfied"},
                             headers=tokens["agent1"])
    assert late.status_code == 409


async def test_departments_stratify_the_sample_and_the_report(client, tokens):
    numbers = []
    for department, count in (("eco_env", 6), ("housing", 3)):
        for i in range(count):
            order = (await client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                                       json=intake_body(citizen={"name": "市民", "phone": f"1380000{i:04d}"}))).json()
            n = order["number"]
            handler = {"eco_env": "eco_handler", "housing": "housing_handler"}[department]
            for who, action, payload in (("dispatcher1", "dispatch", {"department": department}), (handler, "accept", {}),
                                         (handler, "reply", {"reply": "已处理"}), ("dispatcher1", "approve", {})):
                done = await client.post(f"/api/orders/{n}/actions/{action}", json=payload, headers=tokens[who])
                assert done.status_code == 200, done.text
            numbers.append(n)
    created = await define(client, tokens, departments=["eco_env", "housing"], sample_size=None, sample_rate=0.66)
    assert created.status_code == 201, created.text
    survey = created.json()
    assert survey["strata"] == {"eco_env": {"population": 6, "sample": 4}, "housing": {"population": 3, "sample": 2}}
    for call in survey["calls"]:
        await client.post(f"/api/surveys/{survey['id']}/answers", headers=tokens["agent1"], json={
            "number": call["number"], "satisfaction": "satisfied" if call["department"] == "eco_env" else "unsatisfied"})
    r = (await client.get(f"/api/surveys/{survey['id']}/report", headers=tokens["supervisor1"])).json()
    assert r["stratified"] and math.isclose(r["rate"], 6 / 9)  # weighted by the strata's sizes, not 4/6
    assert r["confidence"]["se"] == 0.0  # each stratum answered unanimously


async def test_bad_definitions_and_the_wrong_people_are_refused(client, tokens):
    await closed_orders(client, tokens, 2)
    both = await define(client, tokens, sample_rate=0.5)
    assert both.status_code == 400 and both.json()["extra"][0]["key"] == "sample_size"
    backwards = await define(client, tokens, end="2000-01-01")
    assert backwards.status_code == 400 and backwards.json()["extra"][0]["key"] == "end"
    unknown = await define(client, tokens, departments=["nowhere"])
    assert unknown.status_code == 400 and unknown.json()["extra"][0]["key"] == "departments[0]"
    far = await define(client, tokens, start="9999-12-31", end="9999-12-31")
    assert far.status_code == 400 and far.json()["extra"][0]["key"] == "start"
    blank = await define(client, tokens, title="   ")
    assert blank.status_code == 400 and blank.json()["extra"][0]["key"] == "title"
    too_big = await define(client, tokens, sample_size=10 ** 6)
    assert too_big.status_code == 400
    assert (await client.post("/api/surveys", json={"title": "x"}, headers=tokens["agent1"])).status_code in (400, 403)
    ok = await define(client, tokens)
    assert (await define(client, tokens, start="2001-01-01", end="2001-01-31")).status_code == 400  # nothing to draw
    assert (await client.post("/api/surveys", headers=tokens["agent1"], json={
        "title": "x", "start": today(), "end": today(), "sample_size": 1})).status_code == 403
    sid = ok.json()["id"]
    assert (await client.get(f"/api/surveys/{sid}", headers=tokens["eco_handler"])).status_code == 403
    stranger = await client.post(f"/api/surveys/{sid}/answers", json={"number": "XJ1", "satisfaction": "satisfied"},
                                 headers=tokens["agent1"])
    assert stranger.status_code == 400 and stranger.json()["extra"][0]["key"] == "number"
    number = ok.json()["calls"][0]["number"]
    bad_choice = await client.post(f"/api/surveys/{sid}/answers", headers=tokens["agent1"], json={
        "number": number, "satisfaction": "satisfied", "answers": ["很快"]})
    assert bad_choice.status_code == 400 and bad_choice.json()["extra"][0]["key"] == "answers[0]"
    assert (await client.get("/api/surveys/999999", headers=tokens["supervisor1"])).status_code == 404


async def test_the_console_defines_calls_answers_and_reports(client, tokens):
    from tests.test_console import Staff

    numbers = await closed_orders(client, tokens, 3)
    supervisor = Staff(client)
    assert (await supervisor.login("supervisor1")).status_code == 200
    page = await supervisor.get("/console/surveys")
    assert "发起调查" in page.text and "综合热线" in page.text
    bad = await supervisor.post("/console/surveys", {"title": "年度调查", "start": today(), "end": today()})
    assert bad.status_code == 400 and "样本量或抽样比例" in bad.text
    created = await supervisor.post("/console/surveys", {
        "title": "年度调查", "start": today(), "end": today(), "sample_rate": "100", "channels": "hotline",
        "questions": "办理速度：快/一般/慢\n还有什么建议"}, follow_redirects=True)
    assert created.status_code == 200 and "已抽样并生成调查电话清单" in created.text
    sid = int(created.url.path.rsplit("/", 1)[1])

    agent = Staff(client)
    assert (await agent.login("agent1")).status_code == 200
    queue = await agent.get("/console/callbacks")
    assert "满意率调查待拨打" in queue.text and "年度调查" in queue.text
    await agent.get(f"/console/surveys/{sid}")
    form = await agent.post(f"/console/surveys/{sid}/calls/{numbers[0]}")
    assert "13900000000" in form.text and "办理速度" in form.text  # the number revealed for the call
    saved = await agent.post(f"/console/surveys/{sid}/answers", {
        "number": numbers[0], "satisfaction": "basically_satisfied", "answer_0": "快", "answer_1": "很好"},
        follow_redirects=True)
    assert "已记录：基本满意" in saved.text
    await agent.post(f"/console/surveys/{sid}/calls/{numbers[1]}")
    missed = await agent.post(f"/console/surveys/{sid}/answers", {"number": numbers[1], "outcome": "no_answer"},
                              follow_redirects=True)
    assert "未接通" in missed.text
    events = (await client.get(f"/api/orders/{numbers[0]}", headers=tokens["admin1"])).json()["events"]
    assert [e["action"] for e in events][-2:] == ["reveal_contact", "survey_answer"]

    report = await supervisor.get(f"/console/surveys/{sid}/report")
    assert report.status_code == 200
    assert "100.0%" in report.text and "95% 置信区间" in report.text and "日常回访" in report.text
