"""One order filter: the API's list (``GET /api/orders``) and the console's list (``/console/orders``)
select the same orders for the same criteria, because both build their SQL with
``core.order_filter.clauses``. 时限状态 正常 means an open deadline not yet 临期: an order with no
open deadline, or a closed one (merged, archived), is in none of 正常/临期/超期."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlencode

import pytest

from core import clock
from tests.helpers import intake_body
from tests.test_console import Staff

NUMBER = re.compile(r'href="/console/orders/([A-Z0-9]+)"')


async def _order(client, headers, **overrides) -> str:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def _api(client, headers, query: dict) -> set[str]:
    response = await client.get(f"/api/orders?{urlencode({**query, 'page_size': 100})}", headers=headers)
    assert response.status_code == 200, response.text
    return {o["number"] for o in response.json()["items"]}


async def _console(staff: Staff, query: dict) -> set[str]:
    page = await staff.get(f"/console/orders?{urlencode(query)}")
    assert page.status_code == 200, page.text
    table = page.text[page.text.find("<tbody>"):]
    return set(NUMBER.findall(table))


@pytest.mark.clock("2026-11-25T10:00:00+08:00")  # a Wednesday: every deadline counts working hours
async def test_the_api_and_the_console_list_the_same_orders_for_the_same_filter(client, tokens):
    dispatcher = tokens["dispatcher1"]
    now = clock.now()
    fresh = await _order(client, dispatcher, subject="路灯不亮", area="梅溪湖街道")
    urgent = await _order(client, dispatcher, subject="燃气泄漏气味", area="观沙岭街道", priority="urgent")
    old = await _order(client, dispatcher, subject="井盖缺失", area="",
                       received_at=(now - dt.timedelta(days=60)).isoformat())
    merged = await _order(client, dispatcher, subject="路灯不亮（重复来电）", area="梅溪湖街道")
    response = await client.post(f"/api/orders/{merged}/actions/merge", json={"into": fresh}, headers=dispatcher)
    assert response.status_code == 200, response.text
    staff = Staff(client)
    assert (await staff.login("dispatcher1")).status_code == 200

    cases = [
        ({}, {fresh, urgent, old, merged}),
        ({"deadline": "normal"}, {fresh, urgent}),  # not the merged order: it waits on nothing
        ({"deadline": "overdue"}, {old}),
        ({"deadline": "at_risk"}, set()),
        ({"status": "received"}, {fresh, urgent, old}),
        ({"status": "merged"}, {merged}),
        ({"priority": "urgent"}, {urgent}),
        ({"area": "梅溪湖街道"}, {fresh, merged}),
        ({"area": "-"}, {old}),  # no street given
        ({"department": "-"}, {fresh, urgent, old, merged}),  # none dispatched yet
        ({"q": old}, {old}),  # an order's number finds that order
        ({"q": old.lower()}, {old}),
        ({"area": "梅溪湖街道", "deadline": "normal"}, {fresh}),
        ({"deadline": "overdue", "status": "merged"}, set()),
    ]
    for query, expected in cases:
        api, console = await _api(client, dispatcher, query), await _console(staff, query)
        assert api == console == expected, (query, api, console)
    assert await _api(client, dispatcher, {"deadline": "正常"}) == {fresh, urgent}  # the API takes the label too


async def test_a_flag_the_filter_does_not_know_is_refused_by_the_api_naming_it(client, tokens):
    """The API's flag comes from the same list as the console's: a misspelt one is a 400 naming the
    parameter, not an empty list that reads as "no such orders"."""
    response = await client.get("/api/orders?flag=mass_incidnet", headers=tokens["dispatcher1"])
    assert response.status_code == 400, response.text
    assert [e["key"] for e in response.json()["extra"]] == ["flag"]
