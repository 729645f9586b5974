"""A working density in real headless Chromium at 1366×768: every order list of a shift (the
dispatcher's 待派单, a department's 待签收 and 办理中, the supervisor's 临期 and 超期, the generic
工单查询) shows at least 15 whole rows without scrolling, each row one line however long the subject
(the full text in the row's tooltip); and a saved view (保存为视图) is one click away at the top of
the list. Screenshots go to ``test-artifacts/screenshots/density/<backend>/``.
"""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from api.console import queues
from core import clock
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk

pytestmark = pytest.mark.browser

ORDERS = 22
MONDAY = dt.datetime(2026, 11, 16, 9, 0, tzinfo=clock.SHANGHAI)  # a working Monday
AGENT = Actor(name="agent1", role="agent")
DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HANDLER = Actor(name="urban_handler", role="handler", department="urban_mgmt")
LONG_SUBJECT = "梅溪湖街道金茂悦小区东门外人行道上共享单车长期乱停乱放堵塞盲道，老人和孩子只能走机动车道，存在很大安全隐患"
LONG_CONTENT = ("来电人反映：" + "小区东门外人行道上共享单车长期乱停乱放，早晚高峰尤其严重，" * 6
                + "希望相关部门尽快清理并设置停放区域。")


async def _orders(platform) -> list[str]:
    numbers = []
    for i in range(ORDERS):
        body = intake_body(subject=f"{i + 1:02d} {LONG_SUBJECT}", content=LONG_CONTENT,
                           citizen={"name": f"欧阳先生{i}", "phone": f"1390000{i:04d}"},
                           priority="urgent" if i % 5 == 0 else "normal",
                           area="梅溪湖街道", address="岳麓区梅溪湖街道金茂悦小区东门外人行道（靠近地铁站三号出口）")
        _, made = await platform.orders.intake("hotline", msgspec.convert(body, IntakeRequest), AGENT)
        numbers.append(made.number)
    return numbers


def _queue(role: str, key: str) -> str:
    """The address of a role's queue, as its home page links to it."""
    return queues.find(role, key).href


def _visible_rows(me: Desk, table: str) -> int:
    """How many of the list's rows lie wholly inside the window, as the page first opens."""
    return me.d.execute_script("""
        const rows = document.querySelectorAll(arguments[0] + ' tbody tr');
        const h = window.innerHeight, w = window.innerWidth;
        return Array.from(rows).filter(r => { const b = r.getBoundingClientRect();
            return b.top >= 0 && b.bottom <= h && b.left >= 0 && b.right <= w && b.height > 0; }).length;
    """, table)


def _one_line_rows(me: Desk, table: str) -> bool:
    """Every row is one line high: its tallest cell no taller than the shortest row by much."""
    heights = me.d.execute_script("""
        return Array.from(document.querySelectorAll(arguments[0] + ' tbody tr')).map(r => r.getBoundingClientRect().height);
    """, table)
    return bool(heights) and max(heights) <= min(heights) + 1


def _check_dense(me: Desk, path: str, table: str, name: str) -> None:
    me.open(path)
    me.wait_for(lambda d: d.execute_script("return document.readyState") == "complete")
    me.d.execute_script("window.scrollTo(0, 0)")
    seen = _visible_rows(me, table)
    me.shoot(name)
    assert seen >= 15, f"{path}: 只有 {seen} 行完整地显示在 1366×768 的窗口里"
    assert _one_line_rows(me, table), f"{path}: 有的行折成了多行"


@pytest.mark.clock(MONDAY.isoformat())
async def test_every_list_of_a_shift_shows_fifteen_orders_at_1366_by_768(driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "density" / _backend(platform))
    numbers = await _orders(platform)

    me.sign_in("dispatcher1")
    _check_dense(me, "/console/dispatch", "#dispatch-list", "dispatch")
    _check_dense(me, "/console/orders", "#order-list", "orders")

    # the filter is folded behind 筛选条件; chosen there, it is saved as a view and found again at home
    me.find("#filter-more > summary").click()
    me.choose("#kind", "complaint")
    me.choose("#sort", "due")
    me.shoot("orders-filter-open")
    me.press("#filter-more .go button[type=submit]")
    assert "诉求类型：投诉" in me.text("#in-force")
    me.find("#save-view > summary").click()
    me.type("#view-name", "我的投诉（按时限）")
    me.shoot("orders-save-view")
    me.press("#save-view-form button[type=submit]")
    assert "已保存视图「我的投诉（按时限）」" in me.text("#done")
    assert me.text("h1").startswith("我的投诉（按时限）") and "我的投诉（按时限）" in me.text("#views")
    assert _visible_rows(me, "#order-list") >= 15
    me.shoot("orders-saved-view")
    me.press('header a[href="/console"]')
    me.shoot("home-with-views")
    me.press("#home-views a")
    assert me.text("h1").startswith("我的投诉（按时限）") and "kind=complaint" in me.d.current_url
    me.sign_out()

    clock.start_at(MONDAY + dt.timedelta(hours=1, minutes=45))  # 1.75 of the 2 working hours to dispatch
    me.sign_in("supervisor1")
    _check_dense(me, _queue("supervisor", "at_risk"), "#order-list", "at-risk")
    me.sign_out()
    clock.start_at(MONDAY + dt.timedelta(days=1))  # a day later: every one past its dispatch deadline
    me.sign_in("supervisor1")
    _check_dense(me, _queue("supervisor", "overdue"), "#order-list", "overdue")
    me.sign_out()

    for number in numbers:
        await platform.orders.act(number, "dispatch", {"department": "urban_mgmt"}, DISPATCHER)
    me.sign_in("urban_handler")
    _check_dense(me, "/console/accept", "#accept-list", "accept")
    _check_dense(me, _queue("handler", "accept"), "#order-list", "accept-queue")
    for number in numbers:
        await platform.orders.act(number, "accept", {}, HANDLER)
    _check_dense(me, _queue("handler", "handling"), "#order-list", "handling")
