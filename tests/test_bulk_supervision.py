"""Supervision that adds up: a supervisor 督办s or 催办s several orders of a list (the 超期 list, say) at
once, each through the lifecycle, and comes back to the same list with what was done and refused."""

from __future__ import annotations

from urllib.parse import unquote

from core.model import Actor
from tests.test_console import _order, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")


async def test_a_supervisor_urges_several_orders_of_a_list_at_once(client, people, platform):
    first, second = await _order(platform, subject="噪音一"), await _order(platform, subject="噪音二")
    for number in (first, second):
        await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    supervisor = await people("supervisor1")
    page = await supervisor.get("/console/orders?status=dispatched")
    assert 'id="bulk"' in page.text and f'value="{first}"' in page.text
    done = await supervisor.post("/console/bulk/supervise", {
        "numbers": [first, second], "kind": "urge", "note": "请今天内联系市民", "due_days": "1",
        "back": "status=dispatched"})
    assert done.status_code == 200 and "已完成：催办 2 件" in done.text
    assert "status=dispatched" in unquote(str(done.url))  # back on the same list
    for number in (first, second):
        [urge] = (await platform.orders.get(number, DISPATCHER)).supervisions
        assert urge["kind"] == "urge" and urge["note"] == "请今天内联系市民" and urge["issued_by"] == "supervisor1"


async def test_without_a_note_nothing_is_supervised_and_the_list_says_why(client, people, platform):
    number = await _order(platform)
    supervisor = await people("supervisor1")
    await supervisor.get("/console/orders")
    refused = await supervisor.post("/console/bulk/supervise", {"numbers": [number], "kind": "supervise", "note": " "})
    assert "请写明督办要求" in refused.text and 'id="refused"' in refused.text
    assert (await platform.orders.get(number, DISPATCHER)).supervisions == []


async def test_an_order_that_cannot_be_supervised_is_named_and_the_others_go_through(client, people, platform):
    open_one, merged = await _order(platform), await _order(platform)
    await platform.orders.act(merged, "merge", {"into": open_one, "reason": "同一诉求"}, DISPATCHER)
    supervisor = await people("supervisor1")
    await supervisor.get("/console/orders")
    mixed = await supervisor.post("/console/bulk/supervise",
                                  {"numbers": [open_one, merged], "kind": "supervise", "note": "请加快办理"})
    assert "督办 1 件" in mixed.text and f"{merged} 未能督办" in mixed.text


async def test_only_the_supervisors_see_and_may_use_bulk_supervision(client, people, platform):
    number = await _order(platform)
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get("/console/orders")
    assert 'id="bulk"' not in page.text
    tried = await dispatcher.post("/console/bulk/supervise", {"numbers": [number], "note": "x"})
    assert f"{number} 未能督办" in tried.text
    assert (await platform.orders.get(number, DISPATCHER)).supervisions == []
