"""保管期限 in real headless Chromium: an admin sets a rule with its basis, sees what is due, confirms
the destruction in a second step, and finds the run in the register. Screenshots go to
``test-artifacts/screenshots/console/<backend>/retention-*``."""

from __future__ import annotations

import pytest

from core import clock
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk
from tests.test_retention import NOW, _archived, _intake, years_ago

pytestmark = pytest.mark.browser


async def test_an_admin_sets_a_rule_and_destroys_what_is_due_after_confirming(driver, server, platform, screenshots,
                                                                              frozen_clock):
    kept = await _archived(platform, frozen_clock, years_ago(9))
    gone = [await _archived(platform, frozen_clock, years_ago(12)) for _ in range(3)]
    await _intake(platform, frozen_clock, NOW, kind="consult")  # today's call
    clock.start_at(NOW)
    desk = Desk(driver, server, screenshots / "console" / _backend(platform))
    desk.sign_in("admin1")
    desk.open("/console/admin")
    desk.press("a[href='/console/admin/retention']")
    assert "还没有保管规则" in desk.text("#retention-rules")
    desk.choose("#r-kind", "consult")
    desk.type("#r-years", "10")
    desk.press("#retention-form button[type=submit]")
    assert "请写明依据" in desk.text("#retention-form") and desk.find("#r-years").get_attribute("value") == "10"
    desk.type("#r-basis", "《档案管理办法》第十二条")
    desk.press("#retention-form button[type=submit]")
    assert "已设定：所有渠道 · 咨询 保管 10 年" in desk.text("#done")
    assert "3" in desk.text("#retention-due")
    desk.shoot("retention-rules")
    desk.press("#purge-start")
    assert desk.text("#confirm-total") == "3"
    desk.type("#confirmation", "确认")
    desk.press("#purge-form button[type=submit]")
    assert "请输入「确认销毁」" in desk.text("#confirm-error")
    desk.shoot("retention-confirm")
    desk.type("#confirmation", "确认销毁")
    desk.press("#purge-form button[type=submit]")
    assert "已销毁 3 件工单" in desk.text("#done")
    assert "3" in desk.text("#retention-runs") and "下载 CSV" in desk.text("#retention-runs")
    desk.shoot("retention-register")
    assert [o.number for o in await platform.retention.due()] == []
    from core.tables import Order

    assert await Order.count().where(Order.number == kept) == 1
    assert await Order.count().where(Order.number.is_in(gone)) == 0
