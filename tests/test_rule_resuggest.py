"""Pending suggestions follow the routing rules: when an admin adds, edits, stops, starts or deletes a
rule, every order still waiting for dispatch (待派单) shows what the rules now say, the admin is told how
many changed, and the change is on the rule's record. Orders already dispatched, and orders that came back
from a 退单, keep theirs."""

from __future__ import annotations

from core.model import Actor
from core.tables import Order, RoutingRule, SettingChange
from tests.test_console import _order, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")
RULE = {"keywords": "路灯", "department": "housing", "position": "0", "reason": "小区内路灯归住建",
        "channel": "", "area": "", "kind": "", "category": ""}


def _queue_row(page: str, number: str) -> str:
    return page.split(f'data-number="{number}"')[1].split("</tr>")[0]


async def _suggestion(number: str) -> tuple[str | None, str]:
    row = await Order.select(Order.suggested_department, Order.suggestion_reason).where(Order.number == number).first()
    return row["suggested_department"], row["suggestion_reason"]


async def test_a_new_rule_re_suggests_the_waiting_orders_and_deleting_it_puts_them_back(client, people, platform):
    waiting = await _order(platform, subject="小区路灯不亮", content="梅溪湖街道某小区路灯坏了一周")
    sent = await _order(platform, subject="路灯整晚不亮", content="小区路灯坏了")
    await platform.orders.act(sent, "dispatch", {"department": "eco_env"}, DISPATCHER)
    at_intake, sent_before = await _suggestion(waiting), await _suggestion(sent)
    assert at_intake[0] != "housing"

    admin = await people("admin1")
    await admin.get("/console/admin/rules")
    added = await admin.post("/console/admin/rules", RULE)
    assert added.status_code == 200 and "1 张待派单工单的建议已更新" in added.text

    dispatcher = await people("dispatcher1")
    row = _queue_row((await dispatcher.get("/console/dispatch")).text, waiting)
    assert "住房和城乡建设局" in row and "小区内路灯归住建" in row
    assert await _suggestion(sent) == sent_before  # already dispatched: untouched

    rule = await RoutingRule.select().where(RoutingRule.origin == "admin").first()
    [audit] = await SettingChange.select().where(SettingChange.item == str(rule["id"])).output(load_json=True)
    assert audit["new_value"]["resuggested"] == 1 and audit["actor"] == "admin1"

    await admin.get(f"/console/admin/rules/{rule['id']}")
    deleted = await admin.post(f"/console/admin/rules/{rule['id']}/delete", {})
    assert deleted.status_code == 200 and "已删除规则" in deleted.text and "1 张待派单工单的建议已更新" in deleted.text
    assert not await RoutingRule.exists().where(RoutingRule.id == rule["id"])
    assert await _suggestion(waiting) == at_intake  # what the remaining rules say
    row = _queue_row((await dispatcher.get("/console/dispatch")).text, waiting)
    assert "小区内路灯归住建" not in row
    history = await SettingChange.select().where(SettingChange.item == str(rule["id"])).output(load_json=True)
    assert [h["new_value"].get("deleted") for h in history] == [None, True] and history[-1]["old_value"]["keywords"] == ["路灯"]


async def test_editing_and_stopping_a_rule_re_suggest_and_say_how_many(client, people, platform):
    waiting = await _order(platform, subject="小区路灯不亮", content="路灯坏了")
    admin = await people("admin1")
    await admin.get("/console/admin/rules")
    await admin.post("/console/admin/rules", RULE)
    rule = await RoutingRule.select().where(RoutingRule.origin == "admin").first()
    await admin.get(f"/console/admin/rules/{rule['id']}")
    saved = await admin.post(f"/console/admin/rules/{rule['id']}/edit",
                             {**RULE, "department": "urban_mgmt", "reason": "路灯归城管", "op": "save"})
    assert "已保存；1 张待派单工单的建议已更新" in saved.text
    assert "1 张待派单工单的建议随之更新" in saved.text  # on the rule's record
    assert await _suggestion(waiting) == ("urban_mgmt", "路灯归城管")
    await admin.get("/console/admin/rules")
    stopped = await admin.post(f"/console/admin/rules/{rule['id']}", {})
    assert "已停用规则" in stopped.text
    assert await _suggestion(waiting) != ("urban_mgmt", "路灯归城管")
    started = await admin.post(f"/console/admin/rules/{rule['id']}", {})
    assert "已启用规则；1 张待派单工单的建议已更新" in started.text
    assert await _suggestion(waiting) == ("urban_mgmt", "路灯归城管")


async def test_an_order_back_from_a_return_keeps_the_returning_departments_word(client, people, platform):
    number = await _order(platform, subject="小区路灯不亮", content="路灯坏了")
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    await platform.orders.act(number, "return", {"reason": "路灯不归我局", "reason_type": "not_ours",
                                                 "suggested_department": "urban_mgmt"}, HOUSING)
    await platform.orders.act(number, "uphold_return", {"note": "同意"}, DISPATCHER)
    held = await _suggestion(number)
    admin = await people("admin1")
    await admin.get("/console/admin/rules")
    added = await admin.post("/console/admin/rules", RULE)
    assert "待派单工单的建议没有变化" in added.text
    assert await _suggestion(number) == held == ("urban_mgmt", "退单单位建议")


async def test_only_an_admin_changes_rules(client, people, platform):
    from core import rule_admin
    from core.errors import Forbidden

    import pytest

    edit = rule_admin.RuleEdit(keywords=["路灯"], department="housing")
    with pytest.raises(Forbidden):
        await rule_admin.add(platform, edit, None, DISPATCHER)
