"""并入此单 in real headless Chromium: from a 疑似重复 in the 待派单 queue, the dispatcher looks at the
two orders side by side, steps back once, then confirms, and is back in the queue with the result
on top and the next order right there. Screenshots go to
``test-artifacts/screenshots/console/<backend>/merge-*.png``."""

from __future__ import annotations

import pytest

from core.model import Actor
from tests.test_browser import _backend, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser

FLOOD = "梅溪湖路与节庆路交叉口积水严重，水已经漫过人行道，车辆无法通行"


async def test_a_dispatcher_merges_a_duplicate_from_the_queue_after_a_side_by_side_look(
        driver, server, platform, screenshots):
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    first = await _order(platform, subject="节庆路口积水严重", content=FLOOD + "，请尽快排水。",
                         citizen={"name": "李女士", "phone": "13700004321"}, address="岳麓区梅溪湖路12号")
    second = await _order(platform, subject="梅溪湖路节庆路口积水", content=FLOOD + "，行人过不去。",
                          citizen={"name": "王先生", "phone": "13911112222"}, address="岳麓区节庆路3号")
    other = await _order(platform, subject="小区路灯不亮", content="桃花岭小区门口路灯坏了一周，晚上很黑",
                         citizen={"name": "赵女士", "phone": "13600000003"})

    me.sign_in("dispatcher1")
    me.open(f"/console/orders/{first}")  # the order page names the other order and what it is about
    assert second in me.text("#duplicates") and "梅溪湖路节庆路口积水" in me.text("#duplicates")
    me.shoot("merge-00-order-page-duplicates")
    me.press('a[href="/console/dispatch"]')
    row = f'tr[data-number="{second}"]'
    assert me.text(f"{row} .dups") == "疑似重复 1"  # the row stays one line: the duplicates fold open
    me.find(f"{row} .dups > summary").click()
    assert first in me.text(f"{row} .dups")
    assert me.text(f'tr[data-number="{other}"] .dups') == ""  # another matter: not flagged
    me.shoot("merge-01-queue-with-duplicates")

    me.press(f"{row} a.merge")  # a look first: nothing is merged by this click
    assert "合并预览" in me.text("h1")
    compared = me.text("#merge-compare")
    for shown in (first, second, "节庆路口积水严重", "梅溪湖路节庆路口积水", "137****4321", "139****2222",
                  "岳麓区梅溪湖路12号", "岳麓区节庆路3号", "待派单"):
        assert shown in compared, shown
    assert "13700004321" not in me.text("main")
    me.shoot("merge-02-preview")
    me.press("#merge-cancel")  # changed their mind: back in the queue, nothing done
    assert me.d.current_url.split("?")[0].endswith("/console/dispatch") and not me.all("#outcome")
    assert (await platform.orders.get(second, Actor(name="d", role="dispatcher"))).status == "received"

    me.find(f"{row} .dups > summary").click()
    me.press(f"{row} a.merge")
    me.type("#merge-reason", "同一积水点，多人来电")
    me.press("#merge-confirm")
    assert me.d.current_url.split("?")[0].endswith("/console/dispatch")
    assert f"已合并 1 件：{second} 并入 {first}" in me.text("#outcome")
    assert not me.all(row) and me.all(f'tr[data-number="{first}"]') and me.all(f'tr[data-number="{other}"]')
    me.shoot("merge-03-back-in-queue")
    record, events = await platform.orders.detail(second, Actor(name="d", role="dispatcher"))
    assert record.status == "merged" and record.merged_into == first
    assert [e.payload["reason"] for e in events if e.action == "merge"] == ["同一积水点，多人来电"]
