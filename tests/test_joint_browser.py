"""联合办理 end to end in real headless Chromium: a dispatcher sends an order to one lead (主办) and two
assisting (协办) departments; one submits its opinion with a photo, the other returns its part; the
lead replies once, the centre approves and calls the citizen back; the KPI page counts all three.
Screenshots go to ``test-artifacts/screenshots/console/<backend>/joint-*``.
"""

from __future__ import annotations

import pytest

from core.model import Actor
from tests.helpers import png
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_a_joint_order_runs_to_completion_and_callback(driver, server, platform, screenshots, tmp_path):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    shot = lambda name: me.shoot(f"joint-{name}")  # noqa: E731
    number = await _order(platform, subject="工地夜间施工噪音扰民，渣土车占道",
                          content="小区旁工地每晚十一点后仍在施工，渣土车占用人行道，希望环保、住建、城管一起处理。")

    # the dispatcher names the lead and two assisting departments on the order's dispatch form
    me.sign_in("dispatcher1")
    me.open(f"/console/orders/{number}")
    me.open_action("dispatch")
    me.choose("#dispatch-f-department", "eco_env")
    for code in ("housing", "urban_mgmt"):
        me.find(f'#action-dispatch input[name="assisting"][value="{code}"]').click()
    shot("01-dispatch-form")
    me.press("#action-dispatch button[type=submit]")
    assert me.text("#order-status") == "待签收"
    parts = me.all("#joint .part")
    assert [p.get_attribute("data-department") for p in parts] == ["eco_env", "housing", "urban_mgmt"]
    assert "生态环境分局" in parts[0].text and "住房和城乡建设局" in parts[1].text and "待签收" in parts[1].text
    assert "协办单位：住房和城乡建设局、城市管理和综合执法局" in me.text("#timeline")
    shot("02-dispatched")
    me.sign_out()

    # the lead accepts; its reply waits for the assisting departments
    me.sign_in("eco_handler")
    me.open(f"/console/orders/{number}")
    me.open_action("accept")
    me.press("#action-accept button[type=submit]")
    assert me.text("#order-status") == "办理中" and not me.all("#action-reply")
    assert "协办全部办结" in me.text("#joint .part.lead")
    me.sign_out()

    # the first assisting department finds the order in its own queue, accepts it and submits its
    # opinion with a photo from the site
    me.sign_in("housing_handler")
    me.press('a[data-queue="assisting"]')
    me.press(f'#order-list a[href="/console/orders/{number}"]')
    assert {a.get_attribute("id") for a in me.all("details.action")} == {"action-accept_part", "action-return_part"}
    me.open_action("accept_part")
    me.press("#action-accept_part button[type=submit]")
    photo = tmp_path / "工地现场.png"
    photo.write_bytes(png(64, 48))
    me.find("#upload-file").send_keys(str(photo))
    me.press("form.upload button[type=submit]")
    me.open_action("submit_opinion")
    me.type("#submit_opinion-f-opinion", "经查该工地夜间施工未办理夜间施工许可，已责令停止并约谈施工单位。")
    me.find('#action-submit_opinion input[name="attachments"]').click()
    shot("03-assisting-opinion-form")
    me.press("#action-submit_opinion button[type=submit]")
    housing = me.find('#joint .part[data-department="housing"]').text
    assert "已提交意见" in housing and "未办理夜间施工许可" in housing and "工地现场.png" in housing
    me.sign_out()

    # the second returns its part with a reason
    me.sign_in("urban_handler")
    me.press('a[data-queue="assisting"]')
    me.press(f'#order-list a[href="/console/orders/{number}"]')
    me.open_action("return_part")
    me.type("#return_part-f-reason", "渣土车已由交警部门处理，不属于本单位职责")
    me.press("#action-return_part button[type=submit]")
    assert "已退回" in me.find('#joint .part[data-department="urban_mgmt"]').text
    shot("04-assisting-returned")
    me.sign_out()

    # the lead sees both parts side by side and replies once with the combined answer
    me.sign_in("eco_handler")
    me.open(f"/console/orders/{number}")
    assert "未办理夜间施工许可" in me.text("#joint") and "不属于本单位职责" in me.text("#joint")
    shot("05-lead-sees-parts")
    me.open_action("reply")
    me.type("#reply-f-reply", "会同住建局核查：工地未办夜间施工许可，已责令停止夜间施工并约谈施工单位。")
    me.press("#action-reply button[type=submit]")
    assert me.text("#order-status") == "待审核"
    me.sign_out()

    me.sign_in("dispatcher1")
    me.open(f"/console/orders/{number}")
    me.open_action("approve")
    me.press("#action-approve button[type=submit]")
    assert me.text("#order-status") == "待回访"
    me.sign_out()

    me.sign_in("agent1")
    me.press('a[data-queue="callback"]')
    me.press(f"#call-{number}")
    me.find("#callback-resolved-yes").click()
    me.press("#rate-satisfied")
    assert "已完成：回访" in me.text("#done")
    me.sign_out()

    # the KPI page counts the lead among the departments and both assisting departments apart
    me.sign_in("supervisor1")
    me.open("/console/kpis?period=monthly&start=2026-12-01")
    assert me.find('#kpi-department tr[data-value="eco_env"]')
    housing = me.find('#kpi-assisting tr[data-value="housing"]').text
    urban = me.find('#kpi-assisting tr[data-value="urban_mgmt"]').text
    assert housing.split()[1:3] == ["1", "1"] and "100.0%" in housing  # assigned, on time
    assert urban.split()[1] == "1" and urban.split()[5] == "1"  # assigned, returned
    shot("06-kpis")
    me.open(f"/console/orders/{number}")
    shot("07-archived")
    me.sign_out()
    order = await platform.orders.get(number, Actor(name="s", role="supervisor"))
    assert order.status == "archived" and order.rating["satisfaction"] == "satisfied"
