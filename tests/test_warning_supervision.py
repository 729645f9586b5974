"""From an early warning to the orders behind it: each warning that concerns orders offers 查看工单, the
list of exactly that warning's orders, where a supervisor 督办s or 催办s them at once and comes back to the
same list with the result. Warnings stay a supervisor's to acknowledge, and one surge is one warning."""

from __future__ import annotations

import datetime as dt
from urllib.parse import unquote

from core import clock
from core.model import Actor
from core.reports import warnings
from core.tables import OrderEvent
from tests.test_console import _order, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")


async def _mass_incident(platform, place: str = "观沙岭街道滨江路1号") -> tuple[int, list[str]]:
    """Five calls about one place within the hour: a 群体性事件 warning listing them; one order elsewhere."""
    numbers = [await _order(platform, address=place, subject=f"积水第{i}次") for i in range(5)]
    await _order(platform, address="麓谷街道麓松路88号", subject="别处的事", citizen={"name": "王", "phone": "13800000009"})
    await warnings.scan(platform, clock.now())
    found = await warnings.listing(kind="mass_incident")
    [warning] = [w for w in found["items"] if place in w["title"]]
    return warning["id"], numbers


async def _supervisions(number: str) -> list[dict]:
    from core.tables import Order

    order = await Order.select(Order.id).where(Order.number == number).first()
    return await OrderEvent.select().where((OrderEvent.order_id == order["id"]) & (OrderEvent.action == "supervise"))


async def test_a_supervisor_supervises_a_warnings_orders_from_its_list_and_comes_back_to_it(client, people, platform):
    warning_id, numbers = await _mass_incident(platform)
    supervisor = await people("supervisor1")
    board = await supervisor.get("/console/warnings")
    item = board.text.split(f'id="warning-{warning_id}"')[1].split("</li>")[0]
    assert f'href="/console/orders?warning={warning_id}"' in item and "查看工单" in item

    listed = await supervisor.get(f"/console/orders?warning={warning_id}")
    assert listed.status_code == 200 and 'id="warning-filter"' in listed.text and "观沙岭街道滨江路1号" in listed.text
    rows = listed.text.split('id="order-list"')[1]
    assert sorted(set(n for n in numbers if f'value="{n}"' in rows)) == sorted(numbers)
    assert "别处的事" not in rows and 'id="bulk"' in listed.text
    back = listed.text.split('name="back" value="')[1].split('"')[0]
    assert "warning=" in back

    done = await supervisor.post("/console/bulk/supervise", {
        "numbers": numbers, "kind": "supervise", "note": "请今日组织排水并回复", "due_days": "1",
        "back": unquote(back.replace("&amp;", "&"))})
    assert done.status_code == 200 and "已完成：督办 5 件" in done.text
    assert f"warning={warning_id}" in unquote(str(done.url)) and 'id="warning-filter"' in done.text
    for number in numbers:
        [event] = await _supervisions(number)
        assert event["actor"] == "supervisor1"
        [record] = (await platform.orders.get(number, DISPATCHER)).supervisions
        assert record["kind"] == "supervise" and record["note"] == "请今日组织排水并回复"


async def test_an_agent_sees_a_warnings_orders_but_cannot_supervise_them(client, people, platform):
    warning_id, numbers = await _mass_incident(platform)
    agent = await people("agent1")
    listed = await agent.get(f"/console/orders?warning={warning_id}")
    assert listed.status_code == 200 and 'id="bulk"' not in listed.text
    tried = await agent.post("/console/bulk/supervise", {"numbers": numbers, "kind": "supervise", "note": "请加快",
                                                         "back": f"warning={warning_id}"})
    assert f"{numbers[0]} 未能督办" in tried.text and "已完成" not in tried.text
    for number in numbers:
        assert await _supervisions(number) == []


async def test_a_warning_that_does_not_exist_lists_no_orders(client, people, platform):
    await _order(platform)
    supervisor = await people("supervisor1")
    listed = await supervisor.get("/console/orders?warning=999999")
    assert listed.status_code == 200 and "预警不存在" in listed.text and 'id="order-list"' not in listed.text


async def test_a_surge_seen_by_its_category_and_its_street_is_one_warning(client, people, frozen_clock):
    """Twelve calls within the hour, one category and one street: one surge for the supervisors, not one
    for the category and another for the street holding the same calls."""
    platform = client.platform
    now = frozen_clock.freeze("2026-11-18T10:00:00+08:00")
    for i in range(12):
        at = now - dt.timedelta(minutes=40 - i)
        platform.orders.clock = lambda at=at: at
        await _order(platform, category="城乡建设/排水", area="梅溪湖街道", address=f"梅溪湖街道{i}号",
                     received_at=at.isoformat(), citizen={"name": "李", "phone": f"1390000{i:04d}"})
    platform.orders.clock = clock.now
    await warnings.scan(platform, clock.now())
    surges = [w for w in (await warnings.listing(kind="surge"))["items"]]
    assert len(surges) == 1, [w["title"] for w in surges]
    later = frozen_clock.freeze(now + dt.timedelta(minutes=30))
    await warnings.scan(platform, later)
    assert len((await warnings.listing(kind="surge"))["items"]) == 1


async def test_the_api_lists_a_warnings_orders(client, tokens, platform):
    warning_id, numbers = await _mass_incident(platform)
    found = await client.get("/api/orders", params={"warning": warning_id, "page_size": 100},
                             headers=tokens["supervisor1"])
    assert found.status_code == 200, found.text
    assert sorted(o["number"] for o in found.json()["items"]) == sorted(numbers)
    bad = await client.get("/api/orders", params={"warning": "x"}, headers=tokens["supervisor1"])
    assert bad.status_code == 400 and "warning" in bad.text


async def test_a_warning_number_out_of_range_is_refused_not_a_server_error(client, tokens, people, platform):
    bad = await client.get("/api/orders", params={"warning": str(2 ** 40)}, headers=tokens["supervisor1"])
    assert bad.status_code == 400 and "warning" in bad.text
    supervisor = await people("supervisor1")
    listed = await supervisor.get(f"/console/orders?warning={2 ** 40}")
    assert listed.status_code == 400 and "预警" in listed.text
