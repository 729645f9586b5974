"""The agent's intake in real headless Chromium: a call being written down survives an expired
session (kept in the browser, brought back after a new sign-in), Enter moves to the next field, and a
second call about an open order is added to it from the caller history in one click. Screenshots go
to ``test-artifacts/screenshots/console/<backend>/intake-*``."""

from __future__ import annotations

import pytest

from core.model import Actor
from tests.test_browser import _backend, _left, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser

CALLER = "13755550002"


def _value(me: Desk, name: str) -> str:
    return me.d.execute_script(f"return document.querySelector('[name=\"{name}\"]').value")


async def test_a_call_typed_before_the_session_expired_comes_back_after_signing_in(driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    me.open("/console/intake")
    me.type('[name="citizen.phone"]', "13912340000")
    me.type('[name="citizen.name"]', "王先生")
    me.find('[name="subject"]').click()
    me.d.switch_to.active_element.send_keys("小区门口路灯不亮\n")  # Enter moves on, it does not submit
    assert me.d.execute_script("return document.activeElement.name") == "content"
    assert "/console/intake" in driver.current_url and not me.all("#done")
    me.d.switch_to.active_element.send_keys("王先生来电：小区门口两盏路灯连续三晚不亮，老人晚上出门不便。")

    driver.delete_all_cookies()  # the session ends while the agent is still typing
    me.open("/console/intake")
    assert "/console/login" in driver.current_url
    me.sign_in("agent1")
    me.open("/console/intake")
    assert not me.find("#draft-banner").get_attribute("hidden")
    assert _value(me, "subject") == "小区门口路灯不亮" and _value(me, "citizen.name") == "王先生"
    assert _value(me, "content").startswith("王先生来电：小区门口两盏路灯")
    me.shoot("intake-10-draft-restored")
    me.press("#intake-submit")
    assert "已完成：受理" in me.text("#done")
    me.open("/console/intake")  # recorded: the next call starts on an empty form
    assert me.find("#draft-banner").get_attribute("hidden") and _value(me, "subject") == ""


async def test_a_second_call_is_added_to_the_open_order_from_the_caller_history(driver, server, platform, screenshots):
    number = await _order(platform, subject="楼道灯坏了", citizen={"name": "李女士", "phone": CALLER})
    await platform.orders.act(number, "dispatch", {"department": "housing"}, Actor(name="d1", role="dispatcher"))
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    me.open("/console/intake")
    me.type('[name="citizen.phone"]', CALLER)
    me.wait_for(lambda d: me.all("button.follow-up"))
    me.type('[name="content"]', "李女士再次来电：楼道灯还是不亮。")
    me.shoot("intake-11-follow-up-offered")
    me.press("button.follow-up")
    assert "已完成：追加来电" in me.text("#done") and me.text("#order-number") == number
    assert "楼道灯还是不亮" in me.text("main")
    me.shoot("intake-12-follow-up-added")
    order = await platform.orders.get(number, Actor(name="d1", role="dispatcher"))
    assert [s["kind"] for s in order.supervisions] == ["urge"]


async def test_a_queue_is_worked_from_the_keyboard(driver, server, platform, screenshots):
    from selenium.webdriver.common.action_chains import ActionChains

    numbers = [await _order(platform, subject=f"来电 {i}", citizen={"name": "李女士", "phone": f"1375555100{i}"})
               for i in range(3)]
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("dispatcher1")
    me.open("/console/dispatch")
    me.find("h1").click()  # the page has the keyboard, not a field
    keys = ActionChains(driver)
    keys.send_keys("j").send_keys("j").send_keys("x").perform()
    current = me.find("#dispatch-list tbody tr.current")
    picked = current.get_attribute("data-number")
    assert picked in numbers and me.text("#picked") == "1"
    assert me.find(f'input.pick[value="{picked}"]').is_selected()
    me.shoot("intake-13-queue-keys")
    ActionChains(driver).send_keys("k").send_keys("j").perform()
    assert me.find("#dispatch-list tbody tr.current").get_attribute("data-number") == picked
    page = me.find("html")
    ActionChains(driver).send_keys("\ue007").perform()  # Enter opens the order of that row
    me.wait_for(_left(page))
    assert me.text("#order-number") == picked


async def test_the_street_is_picked_from_the_list_and_an_unknown_one_is_refused_beside_it(driver, server, platform,
                                                                                          screenshots):
    """街道 offers the streets of 湘江新区 as the agent types; 梅溪湖 is filed as 梅溪湖街道, and a street
    of another district is refused beside the field with the call kept as typed."""
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    me.open("/console/intake")
    area = me.find('[name="area"]')
    assert area.get_attribute("list") == "area-list"
    offered = me.d.execute_script("return [...document.querySelectorAll('#area-list option')].map(o => o.value)")
    assert "梅溪湖街道" in offered and "麓谷街道" in offered
    me.type('[name="citizen.phone"]', "13912340001")
    me.type('[name="subject"]', "路灯不亮")
    me.type('[name="content"]', "小区门口两盏路灯连续三晚不亮。")
    me.type('[name="area"]', "坡子街")
    me.type('[name="address"]', "坡子街1号")
    me.press("#intake-submit")
    assert "不在湘江新区的街道（乡镇）列表中" in me.text("#in-f-area-error")
    assert _value(me, "area") == "坡子街" and _value(me, "subject") == "路灯不亮"  # nothing typed is lost
    me.find('[name="area"]').location_once_scrolled_into_view
    me.shoot("intake-13-street-refused")
    me.find('[name="area"]').clear()
    me.type('[name="area"]', "梅溪湖")
    me.shoot("intake-14-street-typed")
    me.press("#intake-submit")
    assert "已完成：受理" in me.text("#done"), me.text("main")
    order = await platform.orders.get(me.text("#order-number"), Actor(name="d1", role="dispatcher"))
    assert order.area == "梅溪湖街道"
    me.shoot("intake-15-street-filed")
