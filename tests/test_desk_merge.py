"""Two departments become one (机构改革): every order of the merged one, open and closed, moves to the
target with an audited event of its own while the earlier events still say where it was handled; its
people follow, its name and aliases become the target's aliases, its code still leads there, and it is
disabled. Merging into itself, a disabled department or its own sub-department is refused naming
``into``."""

from __future__ import annotations

from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)
from tests.test_lifecycle_paths import _do, _new, _to


async def _dispatched(client, tokens, department: str, assisting: list[str] | None = None) -> str:
    number = await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", number, "dispatch",
              {"department": department, **({"assisting": assisting} if assisting else {})})
    return number


async def test_merging_moves_every_order_and_person_keeps_the_history_and_leaves_the_old_name_as_an_alias(
        client, tokens, platform):
    from core.tables import AssistingPart, Department, SettingChange

    admin = tokens["admin1"]
    await client.put("/api/departments/eco_env", headers=admin, json={"aliases": ["环保局"]})
    closed = await _new(client, tokens)
    await _to(client, tokens, closed, "approve")
    open_one = await _dispatched(client, tokens, "eco_env")
    assisted = await _dispatched(client, tokens, "housing", ["eco_env"])
    doubled = await _dispatched(client, tokens, "urban_mgmt", ["eco_env"])

    merged = await client.post("/api/departments/eco_env/merge", headers=admin,
                               json={"into": "urban_mgmt", "reason": "机构改革：生态环境分局并入城管局"})
    assert merged.status_code == 200, merged.text
    assert merged.json()["moved"]["orders"] == 4 and merged.json()["moved"]["users"] == 1
    assert merged.json()["merged"]["active"] is False and merged.json()["merged"]["merged_into"] == "urban_mgmt"
    assert merged.json()["into"]["aliases"] == ["生态环境分局", "环保局"]

    supervisor = tokens["supervisor1"]
    done = (await client.get(f"/api/orders/{closed}", headers=supervisor)).json()
    assert done["department"] == "urban_mgmt" and done["status"] == "completed"  # closed orders move too
    events = done["events"]
    assert events[-1]["action"] == "department_merged" and events[-1]["reason"] == "机构改革：生态环境分局并入城管局"
    assert events[-1]["payload"] == {"from_department": "eco_env", "department": "urban_mgmt"}
    assert events[-1]["actor"] == "admin1"
    dispatch = next(e for e in events if e["action"] == "dispatch")
    assert dispatch["payload"]["department"] == "eco_env"  # the history says where it was
    assert next(e for e in events if e["action"] == "accept")["department"] == "eco_env"

    assert (await client.get(f"/api/orders/{open_one}", headers=supervisor)).json()["department"] == "urban_mgmt"
    part = (await client.get(f"/api/orders/{assisted}", headers=supervisor)).json()["assisting"]
    assert [(p["department"], p["status"]) for p in part] == [("urban_mgmt", "pending")]
    assert await AssistingPart.count().where(AssistingPart.department == "eco_env") == 1  # only the doubled one
    twice = (await client.get(f"/api/orders/{doubled}", headers=supervisor)).json()
    assert twice["department"] == "urban_mgmt" and [p["status"] for p in twice["assisting"]] == ["withdrawn"]

    moved_handler = await client.get(f"/api/orders/{open_one}", headers=tokens["eco_handler"])
    assert moved_handler.status_code == 200  # the person works for the target now
    by_old_alias = await _new(client, tokens)
    sent = await client.post(f"/api/orders/{by_old_alias}/actions/dispatch", headers=tokens["dispatcher1"],
                             json={"department": "环保局"})
    assert sent.status_code == 200 and sent.json()["department"] == "urban_mgmt"
    by_old_code = await _new(client, tokens)
    sent = await client.post(f"/api/orders/{by_old_code}/actions/dispatch", headers=tokens["dispatcher1"],
                             json={"department": "eco_env"})
    assert sent.status_code == 200 and sent.json()["department"] == "urban_mgmt"

    audit = await SettingChange.select().where(SettingChange.setting == "department").output(load_json=True)
    source = next(a for a in audit if a["item"] == "eco_env" and "merged_into" in a["new_value"])
    assert source["new_value"]["moved"]["orders"] == 4 and source["actor"] == "admin1"
    assert next(a for a in audit if a["item"] == "urban_mgmt")["new_value"]["merged_from"] == "eco_env"
    row = await Department.select().where(Department.code == "eco_env").first()
    assert row["active"] is False
    listed = {d["code"]: d for d in (await client.get("/api/departments", headers=admin)).json()}
    assert listed["eco_env"]["merged_into"] == "urban_mgmt" and listed["urban_mgmt"]["merged_into"] is None
    again = await client.put("/api/departments/eco_env", headers=admin, json={"active": True})
    assert again.status_code == 400 and again.json()["extra"][0]["key"] == "active"
    twice_merged = await client.post("/api/departments/eco_env/merge", headers=admin, json={"into": "housing"})
    assert twice_merged.status_code == 409


async def test_a_merge_into_itself_a_disabled_department_or_its_own_sub_department_is_refused(client, tokens):
    admin = tokens["admin1"]
    await client.put("/api/departments/commerce", headers=admin, json={"active": False})
    for into, why in (("housing", "自己"), ("commerce", "已停用"), ("nowhere", "不存在")):
        refused = await client.post("/api/departments/housing/merge", headers=admin, json={"into": into})
        assert refused.status_code == 400, refused.text
        assert refused.json()["extra"][0]["key"] == "into" and why in refused.json()["extra"][0]["message"]
    below = await client.post("/api/departments/market/merge", headers=admin, json={"into": "market_lugu"})
    assert below.status_code == 400 and "下级单位" in below.json()["extra"][0]["message"]
    missing = await client.post("/api/departments/housing/merge", headers=admin, json={})
    assert missing.status_code == 400 and missing.json()["extra"][0]["key"] == "into"
    assert (await client.post("/api/departments/housing/merge", headers=tokens["supervisor1"],
                              json={"into": "urban_mgmt"})).status_code == 403
    assert (await client.post("/api/departments/nowhere/merge", headers=admin,
                              json={"into": "urban_mgmt"})).status_code == 404
    listed = {d["code"]: d for d in (await client.get("/api/departments", headers=admin)).json()}
    assert listed["housing"]["active"] is True  # nothing refused changed anything


async def test_the_admin_merges_in_the_console_and_the_timeline_says_where_the_order_was(client, tokens, people):  # noqa: F811
    number = await _dispatched(client, tokens, "housing")
    admin = await people("admin1")
    page = await admin.get("/console/admin/departments/housing")
    assert 'id="merge-form"' in page.text
    assert '<option value="housing"' not in page.text.split('id="merge-form"')[1].split("</select>")[0]
    empty = await admin.post("/console/admin/departments/housing/merge", {"into": "", "reason": "两局合并"})
    assert empty.status_code == 400 and "请选择并入的单位" in empty.text and 'value="两局合并"' in empty.text
    done = await admin.post("/console/admin/departments/housing/merge", {"into": "urban_mgmt", "reason": "两局合并"})
    assert done.status_code == 200 and "已将「住房和城乡建设局」并入本单位：工单 1 件、人员 1 人" in done.text
    assert "并入的单位：住房和城乡建设局" in done.text  # the target's change record
    tree = await admin.get("/console/admin/departments")
    assert "已并入城市管理和综合执法局" in tree.text
    old = await admin.get("/console/admin/departments/housing")
    assert 'id="merged"' in old.text and 'id="merge-form"' not in old.text
    order = await admin.get(f"/console/orders/{number}")
    timeline = order.text.split('id="order-department"')[1]
    assert "城市管理和综合执法局" in timeline.split("</dd>")[0]
    assert "单位合并" in order.text and "原承办单位：住房和城乡建设局" in order.text
    assert "from_department" not in order.text and "department_merged" not in order.text
