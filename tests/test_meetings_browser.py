"""协调会 in Chromium: a supervisor calls a meeting from a difficult order's page, writes the minutes
with a decision, and the owner department marks it done from the meeting page. Screenshots of each
page at 1366×768 and 1920×1080 go to ``test-artifacts/screenshots/console/<backend>/meeting-*.png``."""

from __future__ import annotations

import pytest

from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser


@pytest.mark.clock("2026-12-07T15:00:00+08:00")
async def test_a_meeting_is_called_from_an_order_and_its_decision_tracked_to_done(driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    first = await _order(platform, subject="工地夜间施工噪音扰民")
    second = await _order(platform, subject="工地渣土车夜间通行噪音", citizen={"name": "王先生", "phone": "13800001111"})

    me.sign_in("supervisor1")
    me.open(f"/console/orders/{first}")
    me.press("#call-meeting-link")
    assert first in me.find("#m-orders").get_attribute("value")
    me.type("#m-title", "梅溪湖片区工地夜间施工扰民协调会")
    driver.execute_script("arguments[0].value = arguments[1]", me.find("#m-at"), "2026-12-07T09:30")
    me.type("#m-place", "区政务服务中心三楼会议室")
    me.find("#m-orders").send_keys(f" {second}")
    for code in ("eco_env", "housing"):
        me.find(f'#m-departments input[value="{code}"]').click()
    me.shoot("meeting-01-call")
    me.press("#meeting-form button[type=submit]")
    assert "已召集协调会" in me.text("#done")
    assert first in me.text("#meeting-orders") and second in me.text("#meeting-orders")

    me.type("#minutes-text", "会议听取了生态环境分局和住房和城乡建设局的情况汇报。\n经研究，形成如下意见。")
    me.type('[name="task.0"]', "夜间噪声监测并依法处罚")
    me.choose('[name="department.0"]', "eco_env")
    driver.execute_script("arguments[0].value = arguments[1]", me.find('[name="due.0"]'), "2026-12-10")
    me.type('[name="task.1"]', "约谈施工单位，调整夜间施工计划")
    me.choose('[name="department.1"]', "housing")
    driver.execute_script("arguments[0].value = arguments[1]", me.find('[name="due.1"]'), "2026-12-04")
    me.shoot("meeting-02-minutes-form")
    me.press("#minutes-form button[type=submit]")
    assert "纪要已保存" in me.text("#done")
    assert "已逾期" in me.text("#decisions") and "生态环境分局" in me.text("#decisions")
    me.shoot("meeting-03-decisions")
    me.open("/console/meetings/decisions?state=overdue")
    assert "约谈施工单位" in me.text("#decision-list") and "夜间噪声监测" not in me.text("#decision-list")
    me.shoot("meeting-04-overdue")
    me.open(f"/console/orders/{second}")
    assert "夜间噪声监测并依法处罚" in me.text("#order-meetings")
    me.shoot("meeting-05-order")
    me.sign_out()

    me.sign_in("eco_handler")
    me.open("/console/meetings")
    me.shoot("meeting-06-handler-list")
    me.press("#meetings a")
    me.find(".decision-done input[name=note]").send_keys("已完成夜间监测并立案")
    me.press(".decision-done button[type=submit]")
    assert "已标记议定事项完成" in me.text("#done") and "已完成" in me.text("#decisions")
    me.shoot("meeting-07-done")
