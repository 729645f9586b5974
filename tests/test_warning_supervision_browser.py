"""In Chromium: a supervisor goes from a warning to its orders and 督办s them all at once; an admin adds
a routing rule and the waiting order's suggestion changes in the dispatcher's queue. Screenshots go to
``test-artifacts/screenshots/console/<backend>/``."""

from __future__ import annotations

import pytest

from core import clock
from core.reports import warnings
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser


async def test_from_a_warning_to_its_orders_and_a_rule_that_re_suggests(driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    numbers = [await _order(platform, address="观沙岭街道滨江路1号", subject=f"路面积水第{i}次") for i in range(5)]
    waiting = await _order(platform, subject="小区路灯不亮", content="路灯坏了一周", citizen={"name": "王", "phone": "13800000009"})
    await warnings.scan(platform, clock.now())

    me.sign_in("supervisor1")
    me.open("/console/warnings?kind=mass_incident")
    me.shoot("warning-01-list")
    me.press("a.warning-orders")
    assert "观沙岭街道滨江路1号" in me.text("#warning-filter")
    assert sorted(e.get_attribute("value") for e in me.all("input.pick")) == sorted(numbers)
    me.find("#pick-all").click()
    me.type("#bulk-note", "请今日组织排水并回复")
    me.shoot("warning-02-orders")
    me.press("#bulk-submit")
    assert "已完成：督办 5 件" in me.text("main")
    assert "观沙岭街道滨江路1号" in me.text("#warning-filter")  # back on the warning's list
    me.shoot("warning-03-done")
    me.sign_out()

    me.sign_in("admin1")
    me.open("/console/admin/rules")
    me.type("#r-keywords", "路灯")
    me.choose("#r-department", "housing")
    me.type("#r-position", "0")
    me.type("#r-reason", "小区内路灯归住建")
    me.press("#rule-add button[type=submit]")
    assert "1 张待派单工单的建议已更新" in me.text("#done")
    me.shoot("rules-01-added")
    me.press('#rules a[href^="/console/admin/rules/"]')
    assert "添加规则；1 张待派单工单的建议随之更新" in me.text("#rule-history") and me.all("#rule-delete")
    me.shoot("rules-03-rule-page")
    me.sign_out()

    me.sign_in("dispatcher1")
    me.open("/console/dispatch")
    row = me.find(f'tr[data-number="{waiting}"]').text
    assert "住房和城乡建设局" in row and "小区内路灯归住建" in row
    me.shoot("rules-02-queue")
