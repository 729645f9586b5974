"""满意率调查 and 隐患整改 in real headless Chromium: a supervisor defines a survey, an agent calls from
the list and answers, the report shows the interval; the safety order's page shows its 隐患整改 panel.
Screenshots in ``test-artifacts/screenshots/console/<backend>/survey-*.png``."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.calendar import SHANGHAI
from core.intake import IntakeRequest
from core.model import Actor
from core.surveys import SurveyAnswer
from tests.helpers import intake_body
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk

AGENT = Actor(name="agent1", role="agent")


async def _closed(platform, count: int) -> list[str]:
    numbers = []
    for i in range(count):
        body = intake_body(kind="consult", subject=f"咨询医保报销{i}", citizen={"name": "市民", "phone": f"137{i:08d}"})
        _, made = await platform.orders.intake("hotline", msgspec.convert(body, IntakeRequest), AGENT)
        await platform.orders.act(made.number, "resolve_at_intake", {"reply": "已告知报销流程"}, AGENT)
        numbers.append(made.number)
    return numbers


@pytest.mark.browser
async def test_a_survey_is_defined_called_answered_and_reported_in_the_browser(driver, server, platform, screenshots):
    await _closed(platform, 12)
    today = platform.orders.clock().astimezone(SHANGHAI).date().isoformat()
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("supervisor1")
    me.open("/console/surveys")
    me.type("#s-title", "医保咨询满意率抽样调查")
    driver.execute_script(f"document.getElementById('s-start').value = '{today}';"
                          f"document.getElementById('s-end').value = '{today}';")
    me.type("#s-size", "10")
    me.type("#s-q", "办理速度：快/一般/慢\n还有什么建议")
    me.shoot("survey-define")
    me.press("#survey-form button[type=submit]")
    assert "已抽样并生成调查电话清单" in me.text("#done")
    survey_id = int(driver.current_url.split("?")[0].rsplit("/", 1)[1])
    assert len(me.all("#survey-calls tbody tr")) == 10
    me.sign_out()

    me.sign_in("agent1")
    me.open("/console/callbacks")
    assert "医保咨询满意率抽样调查" in me.text("#survey-calls-waiting")
    me.open(f"/console/surveys/{survey_id}")
    me.shoot("survey-calls")
    me.press("#survey-calls button.call")
    assert me.text(".phone").startswith("137")
    me.find("#sat-1").click()
    me.find("#q0-1").click()
    me.type("#q1", "希望网上也能办")
    me.shoot("survey-answer")
    me.press("#save-answer")
    assert "已记录：满意" in me.text("#done")
    survey = await platform.surveys.get(survey_id, Actor(name="admin1", role="admin"))
    for i, call in enumerate(c for c in survey["calls"] if c["status"] == "pending"):
        await platform.surveys.answer(survey_id, SurveyAnswer(
            number=call["number"], satisfaction="unsatisfied" if i % 4 == 0 else "basically_satisfied"), AGENT)
    me.sign_out()

    me.sign_in("supervisor1")
    me.open(f"/console/surveys/{survey_id}/report")
    assert "95% 置信区间" in me.text("#rate-survey")
    me.shoot("survey-report")


@pytest.mark.browser
async def test_the_safety_order_page_shows_its_rectification(driver, server, platform, screenshots):
    from plugins.safety_reporting.tests.test_safety_reporting import report

    handler = Actor(name="emergency_handler", role="handler", department="emergency")
    _, made = await platform.orders.intake("safety_reporting", msgspec.convert(report(), IntakeRequest), AGENT)
    number = made.number
    await platform.orders.act(number, "dispatch", {"department": "emergency"}, Actor(name="dispatcher1", role="dispatcher"))
    await platform.orders.act(number, "accept", {}, handler)
    await platform.orders.act(number, "verify", {"result": "true", "findings": "查实违规动火", "fine_yuan": 20000}, handler)
    deadline = platform.orders.clock().astimezone(SHANGHAI).date() + dt.timedelta(days=7)
    await platform.orders.act(number, "order_rectification", {
        "responsible_unit": "长沙某化工有限公司", "measures": "清理易燃物；动火作业办理审批",
        "deadline": deadline.isoformat()}, handler)
    await platform.orders.act(number, "reinspect", {
        "outcome": "failed", "findings": "易燃物仍未清理", "next_deadline": (deadline + dt.timedelta(days=7)).isoformat()},
        handler)
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("emergency_handler")
    me.open(f"/console/orders/{number}")
    text = me.text("main")
    assert "隐患整改" in text and "复查不合格" in text and "整改复查" in text
    me.shoot("survey-safety-rectification")
