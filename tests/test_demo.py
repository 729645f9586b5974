"""Demo history at scale: written in bulk, yet every order agrees with its audit trail."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Annotated, Literal

import msgspec

from core import clock
from core.demo import AREAS, Generator, seed_orders
from core.channels import Channel, SlaDefaults, field
from core.hookspecs import hookimpl
from core.lifecycle import STATUSES
from core.model import Actor
from core.reports.tables import ReportFact
from core.tables import Order, OrderEvent
from tests.helpers import bundled_channels, intake_body


async def test_demo_orders_agree_with_their_events_areas_and_channels(client, tokens):
    """Every channel gets demo orders; each address lies in its area; each order's status is where
    its events leave it, event after event; merged orders point at a real order; the report facts
    are derived for every order; and a new intake afterwards gets a fresh number."""
    platform = client.platform
    bundled = {c.code for c in bundled_channels(platform)}  # others: huying check-channel (test_conformance)
    skipped = {code: why for code, why in Generator(platform, clock.now()).skipped.items() if code in bundled}
    assert not skipped, "演示数据生成器跳过了这些渠道（运行 huying check-channel 查看详情）：" + str(skipped)
    made = await seed_orders(platform, 1500, progress=False)
    assert made == 1500 and await Order.count() == 1500 and await ReportFact.count() == 1500
    orders = await Order.select(Order.id, Order.number, Order.channel, Order.address, Order.area, Order.status,
                                Order.merged_into, Order.rating, Order.department).output(load_json=True)
    # every channel citizens can file with (a city recheck is made only from the city's callback file)
    assert {o["channel"] for o in orders} >= {c.code for c in bundled_channels(platform) if c.public}
    numbers = {o["number"] for o in orders}
    assert len(numbers) == 1500
    for o in orders:
        assert o["area"] in AREAS and o["address"].startswith(o["area"])
        assert o["status"] in STATUSES
        if o["status"] == "merged":
            assert o["merged_into"] in numbers and o["merged_into"] != o["number"]
        if o["status"] == "archived" and o["rating"] and not o["rating"]["valid"]:
            assert o["rating"]["appeal"]["decision"] == "upheld"
    events = defaultdict(list)
    for e in await OrderEvent.select(OrderEvent.order_id, OrderEvent.action, OrderEvent.from_status,
                                     OrderEvent.to_status, OrderEvent.created_at).order_by(OrderEvent.id):
        events[e["order_id"]].append(e)
    now = clock.now()
    for o in orders:
        trail = events[o["id"]]
        assert trail[0]["action"] == "intake" and trail[0]["to_status"] == "received"
        for before, after in zip(trail, trail[1:]):
            assert after["from_status"] == before["to_status"] and after["created_at"] >= before["created_at"]
        assert trail[-1]["to_status"] == o["status"] and trail[-1]["created_at"] <= now
    kinds = {e["action"] for trail in events.values() for e in trail}
    assert {"dispatch", "return", "accept", "reply", "approve", "callback", "appeal", "rework"} <= kinds
    response = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])
    assert response.status_code == 201 and response.json()["number"] not in numbers
    last = next(o for o in orders if o["status"] == "accepted")
    handler = Actor(name="h", role="handler", department=last["department"])
    acted = await platform.orders.act(last["number"], "reply", {"reply": "已办理"}, handler)
    assert acted.order.status == "replied"  # demo orders go on living through the service
    # the mayor's mailbox shows published letters in the demo: most writers consent to publication
    from api.web.tracking import published_replies

    items, total = await published_replies(platform.channels.get("mayor_mailbox"), 1)
    assert total > 0 and items and all(item["reply"] for item in items)


class Survey(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    aspects: Annotated[list[Literal["noise", "smell", "dust"]], field("涉及方面", choices={
        "noise": "噪音", "smell": "异味", "dust": "粉尘"})]
    people: Annotated[int, field("涉及人数", ge=3, le=1000)]
    noticed_on: Annotated[dt.date, field("发现日期")]


class SurveyPlugin:
    @hookimpl
    def register_channel(self):
        return Channel(code="survey_line", name="多选测试专线", description="一个必填的多选字段。", fields=Survey,
                       kinds=("complaint",), sla=SlaDefaults(handle_days_by_kind={"complaint": 10}))


async def test_a_channel_with_a_multi_choice_field_gets_demo_orders(with_plugins):
    """A required multi-choice field gets a list of its first choice (a single value used to fail the
    channel's own type, and the channel was silently left out of the demo)."""
    client = await with_plugins(SurveyPlugin())
    assert Generator(client.platform, clock.now()).skipped == {}
    await seed_orders(client.platform, 300, progress=False)
    rows = await Order.select(Order.details).where(Order.channel == "survey_line").output(load_json=True)
    assert rows and all(r["details"]["aspects"] == ["noise"] and r["details"]["people"] == 3 for r in rows)


async def test_the_demo_historys_figures_obey_their_own_definitions(client, tokens):
    """What a director signs: over every month of demo history (the running one included) and in every
    breakdown, no rate is outside 0–100 %; this month's 超期未办结 are exactly the orders the 办理超期 list
    shows, and every one of them is 超期 on the order list too."""
    platform = client.platform
    await seed_orders(platform, 600, progress=False, days=120)
    supervisor = tokens["supervisor1"]
    today = clock.today()
    month = dt.date(today.year, today.month, 1)
    for _ in range(5):
        report = (await client.get("/api/reports/monthly", params={"start": month.isoformat()},
                                   headers=supervisor)).json()
        rows = [("合计", report["rates"])] + [(f"{name}:{row['value']}", row["rates"])
                                            for name, table in report["breakdowns"].items() for row in table["rows"]]
        for where, rates in rows:
            outside = {k: v for k, v in rates.items() if v is not None and not 0 <= v <= 1}
            assert not outside, (month, where, outside)
        month = (month - dt.timedelta(days=1)).replace(day=1)
    current = (await client.get("/api/reports/monthly", params={"start": today.isoformat()},
                                headers=supervisor)).json()

    async def listed(**params) -> set[str]:
        numbers, page = set(), 1
        while True:
            found = (await client.get("/api/orders", params={**params, "page": page, "page_size": 100},
                                      headers=supervisor)).json()
            numbers |= {o["number"] for o in found["items"]}
            if len(numbers) >= found["total"] or not found["items"]:
                return numbers
            page += 1

    counted = await listed(kpi="open_overdue", kpi_to=today.isoformat())
    assert len(counted) == current["counts"]["open_overdue"]
    assert counted == await listed(deadline="handle_overdue")
    assert counted <= await listed(deadline="overdue")
