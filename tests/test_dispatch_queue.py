"""Dispatch at queue speed: a dispatch made from a row of 待派单 brings the dispatcher back to the
queue with the result on top (or the refusal, beside the other orders), and a queue longer than a
page has pages."""

from __future__ import annotations

import msgspec

from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_console import _order, _rows, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")


async def test_a_dispatch_from_the_queue_stays_in_the_queue_with_its_result(client, people, platform):
    first = await _order(platform, subject="工地夜间噪音", citizen={"name": "王先生", "phone": "13700000001"})
    second = await _order(platform, subject="小区路灯不亮", citizen={"name": "李女士", "phone": "13700000002"})
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/dispatch")
    sent = await dispatcher.post(f"/console/orders/{first}/act/dispatch",
                                 {"department": "城管", "back": "dispatch", "q": "", "page": "1"})
    assert sent.status_code == 200 and str(sent.url.path) == "/console/dispatch"
    assert f"已派单 1 件：{first} → 城市管理和综合执法局" in sent.text
    assert f'value="{first}"' not in _rows(sent) and f'value="{second}"' in _rows(sent)  # the next order is right there
    assert (await platform.orders.get(first, DISPATCHER)).department == "urban_mgmt"


async def test_a_refused_dispatch_is_said_in_the_queue_and_nothing_changes(client, people, platform):
    number = await _order(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/dispatch")
    refused = await dispatcher.post(f"/console/orders/{number}/act/dispatch",
                                    {"department": "没有这个单位", "back": "dispatch"})
    assert refused.status_code == 400 and f"{number} 未能派单" in refused.text and 'id="dispatch-list"' in refused.text
    assert (await platform.orders.get(number, DISPATCHER)).status == "received"


async def test_a_long_queue_has_pages(client, people, platform):


    agent = Actor(name="agent1", role="agent")
    rows = [msgspec.convert(intake_body(subject=f"来电 {i}", content=f"第 {i} 个来电的内容"), IntakeRequest)
            for i in range(53)]
    for row in rows:
        await platform.orders.intake("hotline", row, agent)
    dispatcher = await people("dispatcher1")
    first = await dispatcher.get("/console/dispatch")
    assert "53 件" in first.text and "第 1 / 2 页" in first.text and "下一页" in first.text
    second = await dispatcher.get("/console/dispatch?page=2")
    assert "第 2 / 2 页" in second.text and _rows(second).count('class="pick"') == 3
    beyond = await dispatcher.get("/console/dispatch?page=abc")
    assert beyond.status_code == 200 and "第 1 / 2 页" in beyond.text
