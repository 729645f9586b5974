"""班组与质检 in real headless Chromium: a supervisor proposes next month's rota from the page, reads
the grid and the hours still short, and publishes it; draws 质检 samples and scores one item by item;
the agent reads the score and comment on their own page and appeals once; their figures and training
show on their person page. Screenshots go to ``test-artifacts/screenshots/console/<backend>/``."""

from __future__ import annotations

import msgspec
import pytest

from core import clock
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import PASSWORD, intake_body
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk

pytestmark = pytest.mark.browser


async def _team(platform) -> None:
    from core.people import teams
    from core.users import add_user

    members = ["agent1"]
    for n in range(2, 13):
        await add_user(f"agent{n}", role="agent", password=PASSWORD, display_name=f"话务员{n}号", trained=True)
        members.append(f"agent{n}")
    await teams.save(teams.TeamSpec(name="话务一组", leader="agent2", members=members),
                     Actor(name="admin1", role="admin"))


async def _orders(platform) -> None:
    agent = Actor(name="agent1", role="agent")
    for n in range(3):
        _, made = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest), agent)
        if n == 0:
            await platform.orders.act(made.number, "resolve_at_intake", {"reply": "已告知办理流程。"}, agent)


async def test_a_supervisor_rosters_and_inspects_and_the_agent_reads_and_appeals(driver, server, platform,
                                                                                 screenshots):
    await _team(platform)
    await _orders(platform)
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("supervisor1")
    me.open("/console/people")
    assert "话务一组" in me.text("#teams") and "早班" in me.text("#shifts")
    me.press("#propose-form button[type=submit]")
    assert "排班草案" in me.text("#done"), me.text("main")
    assert len(me.all("#rota-grid tbody tr")) == 12
    me.shoot("people-rota-draft")
    me.press("#publish-form button[type=submit]")
    assert "已发布" in me.text("#done") and "已发布" in me.text("h1")
    me.open("/console/people")
    me.shoot("people-teams")

    me.open("/console/people/quality")
    me.press("#draw-form button[type=submit]")
    assert "已抽取 1 个样本" in me.text("#done"), me.text("main")
    me.type("#samples input[name='deduct:service_language']", "5")
    me.type("#samples input[name=comment]", "未使用规范结束语")
    me.press("#samples form button[type=submit]")
    assert "95" in me.text("#samples") and "服务用语规范 −5" in me.text("#samples")
    assert "话务一组" in me.text("#quality-report")
    me.shoot("people-quality-inspector")
    me.sign_out()

    me.sign_in("agent1")
    me.open("/console/people/quality")
    assert "未使用规范结束语" in me.text("#samples")
    me.type("#samples input[name=reason]", "已使用结束语，请复听")
    me.press("#samples form button[type=submit]")
    assert "已提交申诉" in me.text("#done") and "申诉中" in me.text("#samples")
    assert not me.all("#samples input[name=reason]")  # once
    me.shoot("people-quality-agent")
    me.open("/console/people/users/agent1")
    assert "已培训上岗" in me.text("#trained")
    figures = me.text("#figures")
    assert "受理量" in figures and "即时办结率" in figures and "33.3%" in figures and "质检平均分" in figures
    assert str(clock.today().year) in me.find("#end").get_attribute("value")
    me.shoot("people-person")
