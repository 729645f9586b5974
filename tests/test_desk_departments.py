"""An admin changes what exists: a department renamed, moved, given aliases and contacts, disabled (no
new dispatch or routing to it, its open orders listed for reassignment) and enabled again, each change
audited; a department named in Chinese only gets a generated code."""

from __future__ import annotations

import msgspec

from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")


async def _dispatched(platform, department: str = "housing") -> str:
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(), IntakeRequest),
                                            Actor(name="agent1", role="agent"))
    await platform.orders.act(order.number, "dispatch", {"department": department}, DISPATCHER)
    return order.number


async def test_an_admin_renames_moves_and_disables_a_department_each_change_audited(client, tokens, platform):
    number = await _dispatched(platform)
    admin = tokens["admin1"]
    renamed = await client.put("/api/departments/housing", headers=admin, json={
        "name": "住房和城乡建设局（住建局）", "parent": "general_office", "aliases": ["住建局", "建设局"],
        "contacts": [{"name": "王科长", "phone": "0731-88880000", "duty": "信访科"}], "reason": "机构改革"})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["changed"] == ["aliases", "contacts", "name", "parent"]
    listed = {d["code"]: d for d in (await client.get("/api/departments", headers=admin)).json()}
    assert listed["housing"]["name"] == "住房和城乡建设局（住建局）" and listed["housing"]["parent"] == "general_office"
    assert listed["housing"]["aliases"] == ["住建局", "建设局"] and listed["housing"]["active"] is True

    disabled = await client.put("/api/departments/housing", headers=admin, json={"active": False, "reason": "撤并"})
    assert disabled.status_code == 200
    assert [o["number"] for o in disabled.json()["open_orders"]["items"]] == [number]
    assert disabled.json()["open_orders"]["items"][0]["status_label"] == "待签收"
    other = await _dispatched(platform, "eco_env")
    refused = await client.post(f"/api/orders/{other}/actions/redispatch", headers=tokens["dispatcher1"],
                                json={"department": "housing"})
    assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "department"

    seen = (await client.get("/api/departments/housing", headers=tokens["supervisor1"])).json()
    assert seen["active"] is False and seen["open_orders"]["total"] == 1
    history = seen["history"]
    assert [h["new_value"] for h in history][0] == {"active": False}
    assert history[0]["actor"] == "admin1" and history[0]["reason"] == "撤并"
    assert history[1]["old_value"]["name"] == "住房和城乡建设局" and history[1]["reason"] == "机构改革"
    enabled = await client.put("/api/departments/housing", headers=admin, json={"active": True})
    assert "open_orders" not in enabled.json()
    moved = await client.post(f"/api/orders/{other}/actions/redispatch", headers=tokens["dispatcher1"],
                              json={"department": "housing"})
    assert moved.status_code == 200, moved.text


async def test_a_department_cannot_be_moved_under_itself_and_only_an_admin_changes_one(client, tokens):
    await client.put("/api/departments/housing", headers=tokens["admin1"], json={"parent": "general_office"})
    loop = await client.put("/api/departments/general_office", headers=tokens["admin1"], json={"parent": "housing"})
    assert loop.status_code == 400 and loop.json()["extra"][0]["key"] == "parent"
    assert (await client.put("/api/departments/housing", headers=tokens["supervisor1"],
                             json={"name": "x"})).status_code == 403
    unknown = await client.put("/api/departments/housing", headers=tokens["admin1"], json={"colour": "red"})
    assert unknown.status_code == 400
    missing = await client.put("/api/departments/nowhere", headers=tokens["admin1"], json={"name": "某局"})
    assert missing.status_code == 404


async def test_a_department_named_in_chinese_gets_a_generated_code(client, tokens):
    made = await client.post("/api/departments", headers=tokens["admin1"], json={"name": "水务局", "code": "水务局"})
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "shuiwuju"
    again = await client.post("/api/departments", headers=tokens["admin1"], json={"name": "水务局"})
    assert again.json()["code"] == "shuiwuju_2"


async def test_the_admin_console_renames_and_disables_and_lists_the_open_orders(client, people, platform):  # noqa: F811
    number = await _dispatched(platform)
    admin = await people("admin1")
    page = await admin.get("/console/admin/departments/housing")
    assert page.status_code == 200 and "住房和城乡建设局" in page.text
    saved = await admin.post("/console/admin/departments/housing", {
        "name": "住房和城乡建设局", "parent": "", "aliases": "住建局、建设局", "contacts": "王科长 0731-88880000 信访科",
        "active": "on", "reason": "增补别名和联系人"})
    assert saved.status_code == 200 and "已保存：别名、联系人" in saved.text
    assert 'id="reassign"' not in saved.text
    saved = await admin.post("/console/admin/departments/housing", {
        "name": "住房和城乡建设局（已撤并）", "parent": "", "aliases": "住建局、建设局",
        "contacts": "王科长 0731-88880000 信访科", "reason": "撤并到城管局"})  # "active" unticked
    assert "已保存：名称、启用" in saved.text and 'id="reassign"' in saved.text
    assert f'href="/console/orders/{number}"' in saved.text
    assert "名称：住房和城乡建设局 → 住房和城乡建设局（已撤并）；启用：停用" in saved.text
    tree = await admin.get("/console/admin/departments")
    assert "已停用" in tree.text
    added = await admin.post("/console/admin/departments", {"code": "", "name": "水务局", "parent": ""})
    assert "已添加单位「水务局」（代码 shuiwuju）" in added.text


async def test_the_admin_finds_users_by_name_role_department_and_state_and_opens_one(client, people):  # noqa: F811
    admin = await people("admin1")
    found = await admin.get("/console/admin/users?q=housing")
    rows = found.text.split('id="users"')[1]
    assert "housing_handler" in rows and "eco_handler" not in rows
    handlers = (await admin.get("/console/admin/users?role=handler&department=eco_env")).text.split('id="users"')[1]
    assert "eco_handler" in handlers and "housing_handler" not in handlers and "agent1" not in handlers
    user_id = int(rows.split('href="/console/admin/users/')[1].split('"')[0])
    page = await admin.get(f"/console/admin/users/{user_id}")
    assert page.status_code == 200 and "housing_handler" in page.text and "住房和城乡建设局" in page.text
    changed = await admin.post(f"/console/admin/users/{user_id}", {"op": "change", "role": "handler",
                                                                   "department": "eco_env"})
    assert "现为承办人" in changed.text
    stopped = await admin.get("/console/admin/users?state=inactive")
    assert "housing_handler" not in stopped.text.split('id="users"')[1]


async def test_the_admin_previews_a_rule_change_on_recent_orders_then_saves_it_audited(client, people, platform):  # noqa: F811
    from core.tables import RoutingRule, SettingChange

    admin = await people("admin1")
    await admin.get("/console/admin/rules")
    await admin.post("/console/admin/rules", {"keywords": "路灯", "department": "urban_mgmt", "position": "1",
                                              "reason": "", "channel": "", "area": "", "kind": "", "category": ""})
    rule = await RoutingRule.select().where(RoutingRule.origin == "admin").first()
    _, lamp = await platform.orders.intake("hotline", msgspec.convert(intake_body(subject="路灯不亮", content="小区路灯坏了"),
                                                                       IntakeRequest), Actor(name="agent1", role="agent"))
    edit = {"keywords": "路灯、灯杆", "department": "housing", "position": "1", "area": "", "kind": "", "category": "",
            "reason": "小区内路灯归住建"}
    await admin.get(f"/console/admin/rules/{rule['id']}")
    previewed = await admin.post(f"/console/admin/rules/{rule['id']}/edit", {**edit, "op": "preview"})
    assert previewed.status_code == 200
    table = previewed.text.split('id="preview-list"')[1].split("</table>")[0]
    assert lamp.number in table and "城市管理和综合执法局" in table and "住房和城乡建设局" in table
    assert (await RoutingRule.select().where(RoutingRule.id == rule["id"]).first())["department"] == "urban_mgmt"
    saved = await admin.post(f"/console/admin/rules/{rule['id']}/edit", {**edit, "op": "save"})
    assert "已保存" in saved.text and "派往：城市管理和综合执法局 → 住房和城乡建设局" in saved.text
    audit = await SettingChange.select().where(SettingChange.setting == "routing_rule").output(load_json=True)
    assert audit[-1]["new_value"]["department"] == "housing" and audit[-1]["actor"] == "admin1"
    await admin.get("/console/admin/rules")
    await admin.post(f"/console/admin/rules/{rule['id']}", {})  # stopped: audited too
    assert (await SettingChange.select().where(SettingChange.setting == "routing_rule").output(load_json=True))[-1][
        "new_value"] == {"active": False, "resuggested": 1}  # the lamp order still waits
    plugin_rule = await RoutingRule.select().where(RoutingRule.origin != "admin").first()
    if plugin_rule:
        refused = await admin.post(f"/console/admin/rules/{plugin_rule['id']}/edit", {**edit, "op": "save"})
        assert refused.status_code == 409
