"""A department's other names at work: a dispatcher types 城管 (an alias) or the department's Chinese
name in the dispatch picker and the order goes there; a citizen's text naming a department by an alias
suggests it when no rule fires; a channel's routing rule may name its department by name or alias."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec

from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)

AGENT = Actor(name="agent1", role="agent")


async def _received(platform, **overrides) -> str:
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(**overrides), IntakeRequest), AGENT)
    return order.number


async def _aliases(client, tokens, code: str, aliases: list[str]) -> None:
    changed = await client.put(f"/api/departments/{code}", headers=tokens["admin1"], json={"aliases": aliases})
    assert changed.status_code == 200, changed.text


async def test_a_dispatcher_types_an_alias_or_the_chinese_name_in_the_picker_and_the_order_goes_there(
        client, tokens, people, platform):  # noqa: F811
    await _aliases(client, tokens, "urban_mgmt", ["城管局"])
    first, second, third = [await _received(platform) for _ in range(3)]
    dispatcher = await people("dispatcher1")
    page = await dispatcher.get("/console/dispatch")
    assert '<option value="城管局">城市管理和综合执法局</option>' in page.text  # the alias is offered as typed

    by_alias = await dispatcher.post(f"/console/orders/{first}/act/dispatch", {"department": "城管"})  # 城市管理…
    assert by_alias.status_code == 200 and "承办单位不存在" not in by_alias.text
    assert (await platform.orders.get(first, AGENT)).department == "urban_mgmt"
    by_name = await dispatcher.post(f"/console/orders/{second}/act/dispatch", {"department": "住房和城乡建设局"})
    assert by_name.status_code == 200 and "承办单位不存在" not in by_name.text
    assert (await platform.orders.get(second, AGENT)).department == "housing"

    abbreviated = await _received(platform)
    short = await dispatcher.post(f"/console/orders/{abbreviated}/act/dispatch", {"department": "人社"})
    assert short.status_code == 200 and (await platform.orders.get(abbreviated, AGENT)).department == "hrss"

    ambiguous = await dispatcher.post(f"/console/orders/{third}/act/dispatch", {"department": "市场监督"})
    assert ambiguous.status_code == 400
    assert "「市场监督」可能是：" in ambiguous.text and "市场监督管理局麓谷所" in ambiguous.text
    assert (await platform.orders.get(third, AGENT)).status == "received"
    unknown = await dispatcher.post(f"/console/orders/{third}/act/dispatch", {"department": "不存在的局"})
    assert unknown.status_code == 400 and "承办单位不存在" in unknown.text

    bulk = await dispatcher.post("/console/bulk/dispatch", {"numbers": [third], "department": "城管局"})
    assert bulk.status_code == 200 and f"已派单 1 件：{third}" in bulk.text


async def test_the_api_takes_a_department_by_its_name_or_alias_and_records_its_code(client, tokens, platform):
    await _aliases(client, tokens, "housing", ["住建局"])
    number = await _received(platform)
    answer = await client.post(f"/api/orders/{number}/actions/dispatch", headers=tokens["dispatcher1"],
                               json={"department": "住建局"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["department"] == "housing"
    dispatch = next(e for e in answer.json()["events"] if e["action"] == "dispatch")
    assert dispatch["payload"]["department"] == "housing"  # the timeline and the reports see the code
    again = await client.post(f"/api/orders/{number}/actions/redispatch", headers=tokens["dispatcher1"],
                              json={"department": "市场监督"})
    assert again.status_code == 400 and again.json()["extra"][0]["key"] == "department"
    joint = await _received(platform)
    both = await client.post(f"/api/orders/{joint}/actions/dispatch", headers=tokens["dispatcher1"],
                             json={"department": "城管", "assisting": ["住建局", "人社"]})
    assert both.status_code == 200, both.text
    assert both.json()["department"] == "urban_mgmt"
    assert [p["department"] for p in both.json()["assisting"]] == ["housing", "hrss"]
    unclear = await _received(platform)
    refused = await client.post(f"/api/orders/{unclear}/actions/dispatch", headers=tokens["dispatcher1"],
                                json={"department": "城管", "assisting": ["市场监督"]})
    assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "assisting"


async def test_a_citizen_naming_a_department_by_an_alias_gets_it_suggested_when_no_rule_fires(
        client, tokens, platform, people):  # noqa: F811
    plain = await _received(platform, subject="想问一件事", content="我家门口那件事到底归谁管？")
    assert (await platform.orders.get(plain, AGENT)).suggested_department is None
    await _aliases(client, tokens, "urban_mgmt", ["城管"])
    named = await _received(platform, subject="想问一件事", content="城管说这件事不归他们管，到底归谁管？")
    order = await platform.orders.get(named, AGENT)
    assert order.suggested_department == "urban_mgmt" and order.suggestion_reason == "诉求中提到「城管」"
    admin = await people("admin1")
    tried = await admin.get("/console/admin/rules?text=城管不管这事&channel=hotline")
    assert "提到「城管」，将建议派往 <b>城市管理和综合执法局</b>" in tried.text.split('id="try-result"')[1]
    ruled = await _received(platform, subject="路灯不亮", content="城管说路灯坏了要等")
    assert (await platform.orders.get(ruled, AGENT)).suggestion_reason != "诉求中提到「城管」"  # a rule wins


async def test_a_channels_routing_rule_may_name_its_department_by_name_or_alias(platform):
    from core.department_names import match
    from core.routing import RuleSpec, sync_plugin_rules
    from core.tables import Department, RoutingRule

    await Department.update({Department.aliases: ["住建局"]}).where(Department.code == "housing")
    platform.orders.forget_reference_data()
    rows = await platform.orders.reference.directory()
    assert match("住建局", rows, partial=False).code == "housing"
    assert match("住建", rows, partial=False).code is None and match("住建", rows).code == "housing"

    class Named:
        """A channel whose rule names the department as its people say it."""

        def __init__(self, channels):
            self.channels = channels

        def __iter__(self):
            return iter(self.channels)

        def hooks(self, code):
            rules = [[RuleSpec(department="住建局", keywords=("物业",), position=5)]] if code == "hotline" else []
            return SimpleNamespace(routing_rules=lambda channel: rules)

    await platform.channels.check_routing(rows)
    await sync_plugin_rules(Named(platform.channels), rows)
    stored = await RoutingRule.select().where(RoutingRule.origin == "plugin:hotline").first()
    assert stored["department"] == "housing"
    platform.orders.forget_reference_data()
    number = await _received(platform, subject="物业不作为", content="小区物业乱收费")
    assert (await platform.orders.get(number, AGENT)).suggested_department == "housing"


async def test_a_dispatcher_may_type_a_departments_pinyin_initials(client, people, platform):  # noqa: F811
    first, second = await _received(platform), await _received(platform)
    dispatcher = await people("dispatcher1")
    await dispatcher.get("/console/dispatch")
    typed = await dispatcher.post(f"/console/orders/{first}/act/dispatch", {"department": "cgj", "back": "dispatch"})
    assert typed.status_code == 200 and "城市管理和综合执法局" in typed.text
    assert (await platform.orders.get(first, AGENT)).department == "urban_mgmt"
    several = await dispatcher.post(f"/console/orders/{second}/act/dispatch", {"department": "zj", "back": "dispatch"})
    assert several.status_code == 400 and "「zj」可能是：" in several.text and "住房和城乡建设局" in several.text
    assert (await platform.orders.get(second, AGENT)).department is None
