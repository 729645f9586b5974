"""街道 comes from the list of 湘江新区's streets and towns, whatever the way in: the agent's intake form,
the citizens' web forms, the API, a routing rule. Any part of a name files the order under the one
street it names (梅溪湖 → 梅溪湖街道); a name that is no street, or names several, is refused beside
what was typed. So the statistics count each street once. A channel's own place field is the web
form's one address."""

from __future__ import annotations

import re

import msgspec

from core import areas
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (fixture)
from tests.test_web import Page, open_form, post_form, receipt, valid_form

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
CALL = {"channel": "hotline", "kind": "complaint", "subject": "路灯不亮", "content": "小区门口路灯不亮",
        "citizen.phone": "13912345678"}


def _number(page) -> str:
    return page.text.split('id="order-number">')[1].split("<")[0]


async def test_the_agent_picks_the_street_and_part_of_its_name_files_the_call_under_it(client, people, platform):  # noqa: F811
    agent = await people("agent1")
    page = await agent.get("/console/intake")
    assert 'list="area-list"' in page.text and '<option value="梅溪湖街道"></option>' in page.text
    made = await agent.post("/console/intake", {**CALL, "area": "梅溪湖"})
    assert made.status_code == 200 and "已完成：受理" in made.text
    assert (await platform.orders.get(_number(made), DISPATCHER)).area == "梅溪湖街道"
    listed = await (await people("dispatcher1")).get("/console/orders?area=梅溪湖")  # the list's filter too
    assert _number(made) in listed.text and 'value="梅溪湖街道"' in listed.text


async def test_a_street_not_in_the_list_is_refused_beside_what_was_typed(client, people, platform):  # noqa: F811
    agent = await people("agent1")
    await agent.get("/console/intake")
    refused = await agent.post("/console/intake", {**CALL, "area": "坡子街街道", "address": "坡子街1号"})
    assert refused.status_code == 400
    assert "「坡子街街道」不在湘江新区的街道（乡镇）列表中" in refused.text
    assert 'value="坡子街街道"' in refused.text and 'value="坡子街1号"' in refused.text  # nothing typed is lost
    several = await agent.post("/console/intake", {**CALL, "area": "麓"})
    assert several.status_code == 400 and "对应多个街道（乡镇），请选择其一" in several.text
    assert "麓谷街道" in several.text and "岳麓街道" in several.text
    assert (await platform.orders.listing(DISPATCHER, _all()))["total"] == 0
    left_empty = await agent.post("/console/intake", CALL)  # 街道 stays optional
    assert left_empty.status_code == 200 and (await platform.orders.get(_number(left_empty), DISPATCHER)).area == ""


def _all():
    from core.order_filter import OrderFilter

    return OrderFilter()


async def test_the_citizens_form_offers_the_streets_and_files_part_of_a_name_under_one(client, platform):
    channel = platform.channels.get("hotline")
    page = await open_form(client, "hotline")
    area = page.one("input", name="area")
    assert area["list"] == "f-area-list" and page.find("option", value="梅溪湖街道")
    sent = await post_form(client, "hotline", valid_form(channel, area="梅溪湖"), page=page)
    assert sent.status_code == 200 and receipt(sent)[0], sent.text
    [order] = (await platform.orders.listing(DISPATCHER, _all()))["items"]
    assert order["area"] == "梅溪湖街道"


async def test_the_citizens_form_refuses_an_unknown_street_and_keeps_what_was_typed(client, platform):
    channel = platform.channels.get("hotline")
    refused = await post_form(client, "hotline", valid_form(channel, area="天心区坡子街"))
    assert refused.status_code == 400
    page = Page(refused.text)
    assert "不在湘江新区的街道（乡镇）列表中" in page.text("f-area-error")
    assert page.one("input", name="area")["value"] == "天心区坡子街"
    assert page.one("input", name="subject")["value"] == "小区门口路灯坏了一个月"
    assert (await platform.orders.listing(DISPATCHER, _all()))["total"] == 0


async def test_a_channel_with_its_own_place_field_shows_one_address_beside_the_street(client, platform):
    """环保创卫 asks for 具体位置: the form shows it in place of 事发地址 (not both), and the order
    keeps it in its details and as its address."""
    channel = platform.channels.get("environment")
    page = await open_form(client, "environment")
    assert not page.find("input", name="address") and page.find("input", name="details.location")
    assert page.find("input", name="area")
    names = [a["name"] for t, a in page.tags if t in ("input", "select", "textarea") and a.get("name")]
    assert names.index("area") + 1 == names.index("details.location")  # one set: 街道, then the place
    sent = await post_form(client, "environment", valid_form(channel, **{
        "area": "麓谷", "details.location": "麓谷大道与文轩路路口东北角"}), page=page)
    assert sent.status_code == 200 and receipt(sent)[0], sent.text
    [listed] = (await platform.orders.listing(DISPATCHER, _all()))["items"]
    order = await platform.orders.get(listed["number"], DISPATCHER)
    assert order.area == "麓谷街道" and order.address == "麓谷大道与文轩路路口东北角"
    assert order.details["location"] == "麓谷大道与文轩路路口东北角"


async def test_the_api_files_part_of_a_name_under_the_street_and_refuses_others_naming_the_field(client, tokens):
    headers = tokens["agent1"]
    made = await client.post("/api/channels/hotline/orders", json=intake_body(area="梅溪湖"), headers=headers)
    assert made.status_code == 201 and made.json()["area"] == "梅溪湖街道"
    for typed, why in (("坡子街街道", "不在湘江新区的街道（乡镇）列表中"), ("湖", "对应多个街道（乡镇）")):
        refused = await client.post("/api/channels/hotline/orders", json=intake_body(area=typed), headers=headers)
        assert refused.status_code == 400, refused.text
        [error] = [e for e in refused.json()["extra"] if e["key"] == "area"]
        assert why in error["message"]
    listed = await client.get("/api/areas", headers=headers)
    assert listed.status_code == 200 and "梅溪湖街道" in [a["name"] for a in listed.json()]


async def test_the_city_platforms_transfer_is_never_refused_for_its_street(platform):
    city = Actor(name="city", role="city", kind="city")
    request = msgspec.convert(intake_body(source="city_transfer", area="天心区坡子街街道", external_id="SZ-1"),
                              IntakeRequest)
    _, order = await platform.orders.intake("hotline", request, city)
    assert order.area == "天心区坡子街街道"
    named = msgspec.convert(intake_body(source="city_transfer", area="梅溪湖", external_id="SZ-2"), IntakeRequest)
    _, order = await platform.orders.intake("hotline", named, city)
    assert order.area == "梅溪湖街道"


async def test_the_admin_keeps_the_list_and_a_renamed_street_answers_to_its_old_name(client, tokens, people):  # noqa: F811
    admin = tokens["admin1"]
    added = await client.post("/api/areas", json={"name": "湘江新区新街道", "aliases": "新街"}, headers=admin)
    assert added.status_code == 201, added.text
    assert (await client.post("/api/areas", json={"name": "新城街道"}, headers=tokens["agent1"])).status_code == 403
    clash = await client.post("/api/areas", json={"name": "新城街道", "aliases": "新街"}, headers=admin)
    assert clash.status_code == 409 and clash.json()["extra"][0]["key"] == "aliases"
    renamed = await client.patch(f"/api/areas/{added.json()['id']}", json={"name": "新城街道"}, headers=admin)
    assert renamed.status_code == 200 and "湘江新区新街道" in renamed.json()["aliases"]
    made = await client.post("/api/channels/hotline/orders", json=intake_body(area="湘江新区新街道"),
                             headers=tokens["agent1"])
    assert made.status_code == 201 and made.json()["area"] == "新城街道"
    page = await (await people("admin1")).get("/console/admin/areas")
    assert page.status_code == 200 and 'value="新城街道"' in page.text and "湘江新区新街道" in page.text


async def test_a_routing_rule_names_the_street_as_orders_record_it(client, people, platform):  # noqa: F811
    admin = await people("admin1")
    await admin.get("/console/admin/rules")
    refused = await admin.post("/console/admin/rules", {"keywords": "", "department": "housing", "area": "坡子街"})
    assert refused.status_code == 400 and "不在湘江新区的街道（乡镇）列表中" in refused.text
    added = await admin.post("/console/admin/rules", {"keywords": "", "department": "housing", "area": "洋湖"})
    assert added.status_code == 200 and "已添加派单规则" in added.text
    from core.tables import RoutingRule

    assert await RoutingRule.exists().where((RoutingRule.area == "洋湖街道") & (RoutingRule.origin == "admin"))


async def test_the_kpis_by_street_never_split_a_street_in_two(client, people, platform):  # noqa: F811
    agent = await people("agent1")
    await agent.get("/console/intake")
    for typed in ("梅溪湖", "梅溪湖街道", "岳麓区梅溪湖街道办事处"):
        made = await agent.post("/console/intake", {**CALL, "area": typed})
        assert made.status_code == 200, typed
    page = await (await people("supervisor1")).get("/console/kpis")
    assert page.status_code == 200
    table = page.text[page.text.index('id="kpi-area"'):]
    table = table[:table.index("</table>")]
    assert re.findall(r'<tr data-value="([^"]*)">', table) == ["梅溪湖街道"]


def test_part_of_a_name_an_other_name_or_a_longer_address_resolve_to_one_street():
    listed = [{"name": n, "aliases": list(a)} for n, a in areas.SEED]
    assert areas.resolve("梅溪湖", listed) == ("梅溪湖街道", [])
    assert areas.resolve("岳麓区梅溪湖街道办事处", listed) == ("梅溪湖街道", [])
    assert areas.resolve("桔子洲街道", listed) == ("橘子洲街道", [])  # a common variant spelling
    assert areas.resolve("岳麓区", listed) == (None, [])  # the district is no street
    assert areas.resolve("麓", listed)[0] is None and len(areas.resolve("麓", listed)[1]) == 2
