"""The screen pop in real headless Chromium: an agent is signed in, the PBX rings and answers at
their extension, the intake page opens with the caller's number and history within a second, and
the order the agent records there is linked to the call."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from core.model import Actor
from tests.test_browser import _backend, _left, driver, screenshots, server  # noqa: F401  (fixtures)
from tests.test_console_browser import Desk, _order

pytestmark = pytest.mark.browser

ADMIN = Actor(name="admin1", role="admin")
CALLER = "13712345678"


async def test_an_answered_call_pops_the_intake_page_and_the_order_is_linked(driver, server, platform, screenshots):
    from selenium.webdriver.support.ui import WebDriverWait

    earlier = await _order(platform, citizen={"name": "李女士", "phone": CALLER})
    made = await platform.telephony.create_connection("中心交换机", ADMIN)
    await platform.telephony.set_extension("agent1", "8001", ADMIN)
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    for _ in range(100):  # the home page's live stream is connected
        if platform.live._subscribers.get("user:agent1"):
            break
        await asyncio.sleep(0.05)
    assert platform.live._subscribers.get("user:agent1"), "the console page did not subscribe"
    page = me.find("html")
    call = {"callId": "pop-1", "from": CALLER, "to": "12345", "direction": "in", "queue": "热线"}
    async with httpx.AsyncClient(base_url=server) as pbx:
        assert (await pbx.post(f"/api/cti/{made['token']}", json={"event": "newCall", **call})).status_code == 200
        started = time.time()  # the browser's clock is this machine's: its timings compare with this
        answered = await pbx.post(f"/api/cti/{made['token']}", json={"event": "answer", "answeringNumber": "8001", **call})
        assert answered.status_code == 200
    WebDriverWait(driver, 5, poll_frequency=0.02).until(
        lambda d: "/console/intake" in d.current_url and d.execute_script(
            "var p = document.querySelector('[name=\"citizen.phone\"]'); return p && p.value") == CALLER)
    # when the popped page stood ready with the number and the history, by the browser's own timing
    ready = driver.execute_script("return performance.timing.domContentLoadedEventEnd") / 1000
    popped = ready - started
    assert popped < 1.0, f"the intake page popped after {popped:.2f} s"
    del page
    assert earlier in me.text("#history"), me.text("#history")  # the caller's earlier order beside the form
    assert "正在通话" in me.text("#call-banner")
    me.shoot("30-screen-pop")
    me.type('[name="subject"]', "小区门口路灯不亮")
    me.type('[name="content"]', "来电反映小区门口两盏路灯连续三晚不亮，请尽快维修。")
    me.press("#intake-submit")
    assert "已完成：受理" in me.text("#done"), me.text("main")
    number = me.text("#order-number")
    [logged] = await platform.telephony.calls(ADMIN, number=CALLER)
    assert logged["orders"] == [number] and logged["agent"] == "agent1" and logged["outcome"] == "talking"
    assert "通话中" in me.text("#order-calls") and CALLER not in me.text("#order-calls")  # masked as the order is
    me.shoot("31-order-with-its-call")
    me.open("/console/calls")
    assert number in me.text("#call-list") and "通话中" in me.text("#call-list")
    me.shoot("32-call-log")


async def test_the_callback_desk_dials_through_the_pbx_and_shows_the_call_as_it_happens(driver, server, platform, screenshots):
    """外呼 from the callback desk in Chromium: the desk's table follows the PBX's events without a
    reload, and the unanswered call is recorded as a callback attempt (未接通) with its retry."""
    import msgspec

    from tests.test_telephony_callbacks import PHONE, _completed

    platform.settings = msgspec.structs.replace(platform.settings, cti_originate_url="http://pbx.example/originate")
    platform.telephony.settings = platform.settings
    number = await _completed(platform)
    made = await platform.telephony.create_connection("中心交换机", ADMIN)
    await platform.telephony.set_extension("agent1", "8001", ADMIN)
    me = Desk(driver, server, screenshots / "console" / _backend(platform))
    me.sign_in("agent1")
    me.open(f"/console/orders/{number}?back=callbacks")
    me.press("#callback-originate")
    assert "电话系统先振铃分机 8001 再呼叫市民" in me.text("#done")
    assert "等待电话系统接通" in me.text("#callback-calls")
    for _ in range(100):  # the order page's live stream is connected
        if platform.live._subscribers.get("user:agent1"):
            break
        await asyncio.sleep(0.05)
    [dial] = await platform.telephony.dials_of_order(number)
    call = {"callId": "cb-out-1", "direction": "out", "from": "8001", "to": PHONE, "reference": dial["reference"]}
    async with httpx.AsyncClient(base_url=server) as pbx:
        assert (await pbx.post(f"/api/cti/{made['token']}", json={"event": "newCall", **call})).status_code == 200
        me.wait_for(lambda d: "振铃中" in me.text("#callback-calls"), 5)
        me.shoot("33-callback-dial-ringing")
        hangup = {"event": "hangup", "cause": "noAnswer", "callId": "cb-out-1"}
        assert (await pbx.post(f"/api/cti/{made['token']}", json=hangup)).status_code == 200
    # the attempt changed the callback: the desk shows it whole (tries, retry) with the call beside it
    me.wait_for(lambda d: "已回访 1 次未成功" in me.text("#callback-tries"), 5)
    assert "未接通" in me.text("#callback-calls") and "无人接听" in me.text("#callback-calls")
    assert "回访未成功" in me.text("main") and "外呼无人接听" in me.text("main")
    me.shoot("34-callback-dial-not-reached")
    order = await platform.orders.get(number, Actor(name="agent1", role="agent"))
    assert order.status == "completed" and order.deadlines["callback"]["attempts"] == 1
    assert len(await platform.telephony.dials_of_order(number)) == 1  # showing the result asked nothing again
