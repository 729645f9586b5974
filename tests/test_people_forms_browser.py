"""培训 in real headless Chromium: an admin records an induction session for a new agent, is told
beside the field what is missing, marks the agent passed; the agent, refused at intake before, is now
已培训上岗 and records an order. Screenshots go to ``test-artifacts/screenshots/console/<backend>/``."""

from __future__ import annotations

import pytest

from tests.helpers import PASSWORD
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk

pytestmark = [pytest.mark.browser, pytest.mark.clock("2026-12-07T10:00:00+08:00")]


def _sign_in_as(me: Desk, username: str, name: str) -> None:
    me.open("/console/login")
    me.type("#username", username)
    me.type("#password", PASSWORD)
    me.press(".login button[type=submit]")
    assert me.text("#whoami").startswith(name), me.text("main")


def _take_a_call(me: Desk) -> None:
    me.open("/console/intake")
    me.type('[name="citizen.phone"]', "13700005678")
    me.type('[name="citizen.name"]', "陈先生")
    me.type('[name="subject"]', "小区路灯不亮")
    me.type('[name="content"]', "小区东门路灯连续三晚不亮，夜间出行不便。")
    me.press("#intake-submit")


async def test_an_admin_trains_a_new_agent_who_then_records_an_order(driver, server, platform, screenshots):
    from core.users import add_user

    await add_user("newcomer", role="agent", password=PASSWORD, display_name="新人小林")
    me = Desk(driver, server, screenshots / "console" / _backend(platform))

    _sign_in_as(me, "newcomer", "新人小林")
    _take_a_call(me)
    assert "培训" in me.text("body"), me.text("body")
    me.shoot("people-untrained-agent-refused")
    me.open("/console")
    me.sign_out()

    me.sign_in("admin1")
    me.open("/console/people/training")
    assert "新人小林（未培训）" in me.text("#session-attendees")
    me.type("#session-course", "12345热线岗前培训（第一期）")
    me.choose("#session-kind", "induction")
    me.type("#session-place", "三楼培训室")
    me.press("#session-form button[type=submit]")  # no day, nobody ticked
    assert "请填写培训日期" in me.text("#session-form") and "请勾选出勤人员" in me.text("#session-form")
    assert me.find("#session-course").get_attribute("value") == "12345热线岗前培训（第一期）"  # kept
    assert me.find("#session-place").get_attribute("value") == "三楼培训室"
    me.shoot("people-training-refused")
    me.d.execute_script("document.getElementById('session-day').value = '2026-12-05'")
    me.find("#session-attendees input[value=newcomer]").click()
    me.press("#session-form button[type=submit]")
    assert "已登记培训「12345热线岗前培训（第一期）」，出勤 1 人" in me.text("#done"), me.text("main")
    assert "新人小林" in me.text("#sessions")
    me.find("#sessions .passed-form input[value=newcomer]").click()
    me.press("#sessions .passed-form button[type=submit]")
    assert "1 人考核合格" in me.text("#done") and "新人小林（合格）" in me.text("#sessions")
    me.shoot("people-training")
    me.open("/console/people/users/newcomer")
    assert "已培训上岗" in me.text("#trained")

    # the other settings pages beside it: shifts, leave, the 质检 checklist (one refusal shown in place)
    me.open("/console/people/shifts")
    me.type("#shift-name", "早高峰班")
    me.type("#shift-starts", "7点")
    me.type("#shift-hours", "6")
    me.press("#shift-form button[type=submit]")
    assert "开始时间应为 HH:MM" in me.text("#shift-form") and me.find("#shift-name").get_attribute("value") == "早高峰班"
    me.shoot("people-shifts")
    me.open("/console/people/leave")
    me.choose("#leave-person", "newcomer")
    me.choose("#leave-kind", "personal")
    me.press("#leave-form button[type=submit]")
    assert "请填写开始日期" in me.text("#leave-form")
    me.shoot("people-leave")
    me.open("/console/people/quality/settings")
    me.type("#checklist input[name='points:0']", "30")
    me.press("#checklist-form button[type=submit]")
    assert "合计须为 100（现为 110）" in me.text("#form-error")
    me.shoot("people-quality-settings")
    me.sign_out()

    _sign_in_as(me, "newcomer", "新人小林")
    _take_a_call(me)
    assert "已完成：受理" in me.text("#done"), me.text("main")
    assert me.text("#order-number")
    me.shoot("people-trained-agent-intake")
