"""An admin gives a member of staff the name colleagues know them by (周晓梅 rather than agent1), on the
user's own page or over the API, audited; the name is what the timeline, the lists, the header and the
API's events show from then on, while the username stays the sign-in."""

from __future__ import annotations

from tests.helpers import intake_body
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)


async def _order(client, tokens) -> str:
    made = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])
    assert made.status_code == 201, made.text
    return made.json()["number"]


async def test_a_name_set_by_the_admin_over_the_api_is_shown_wherever_the_person_is(client, tokens, people):  # noqa: F811
    from core.tables import AccessEvent

    number = await _order(client, tokens)
    renamed = await client.put("/api/users/agent1", headers=tokens["admin1"], json={"display_name": " 周晓梅 "})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json() == {"username": "agent1", "display_name": "周晓梅", "changed": True}

    detail = (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()
    assert detail["events"][0]["actor"] == "agent1" and detail["events"][0]["actor_label"] == "周晓梅（话务员）"
    acted = await client.post(f"/api/orders/{number}/actions/dispatch", headers=tokens["dispatcher1"],
                              json={"department": "housing"})
    assert acted.json()["events"][0]["actor_label"] == "周晓梅（话务员）"

    supervisor = await people("supervisor1")
    page = await supervisor.get(f"/console/orders/{number}")
    timeline = page.text.split('class="timeline"')[-1] if 'class="timeline"' in page.text else page.text
    assert "周晓梅（话务员）" in timeline and ">agent1<" not in page.text and "agent1（" not in page.text
    agent = await people("agent1")
    assert "周晓梅（话务员" in (await agent.get("/console/")).text.split('id="whoami"')[1][:80]
    admin = await people("admin1")
    listed = (await admin.get("/console/admin/users?q=周晓梅")).text.split('id="users"')[1]
    assert "agent1" in listed and "周晓梅" in listed  # found by the new name

    audit = await AccessEvent.select().where(AccessEvent.target == "agent1").output(load_json=True)
    change = next(a for a in audit if a["detail"].get("change") == "display_name")
    assert change["actor"] == "admin1" and change["detail"]["old"] == "agent1" and change["detail"]["new"] == "周晓梅"


async def test_a_bad_name_is_refused_naming_the_field_and_only_an_admin_renames(client, tokens):
    admin = tokens["admin1"]
    for body in ({"display_name": ""}, {"display_name": "   "}, {"display_name": "名" * 65},
                 {"display_name": "周\x07晓梅"}):
        refused = await client.put("/api/users/agent1", headers=admin, json=body)
        assert refused.status_code == 400, (body, refused.text)
        assert refused.json()["extra"][0]["key"] == "display_name"
    unknown = await client.put("/api/users/agent1", headers=admin, json={"display_name": "周", "colour": "red"})
    assert unknown.status_code == 400
    assert (await client.put("/api/users/nobody", headers=admin, json={"display_name": "周"})).status_code == 404
    assert (await client.put("/api/users/agent1", headers=tokens["supervisor1"],
                             json={"display_name": "周"})).status_code == 403
    assert (await client.put("/api/users/agent1", headers=tokens["agent1"],
                             json={"display_name": "周"})).status_code == 403


async def test_the_admin_renames_on_the_users_own_page_and_the_settings_pages_show_the_name(client, tokens, people):  # noqa: F811
    from core.tables import User

    admin = await people("admin1")
    user_id = (await User.select(User.id).where(User.username == "dispatcher1").first())["id"]
    page = await admin.get(f"/console/admin/users/{user_id}")
    assert 'id="user-rename"' in page.text
    empty = await admin.post(f"/console/admin/users/{user_id}", {"op": "rename", "display_name": "  "})
    assert empty.status_code == 400 and 'id="u-display-name-error"' in empty.text and "请填写姓名" in empty.text
    saved = await admin.post(f"/console/admin/users/{user_id}", {"op": "rename", "display_name": "王派单"})
    assert saved.status_code == 200 and "姓名已改为「王派单」" in saved.text and "<h1>王派单" in saved.text

    await client.put("/api/users/admin1", headers=tokens["admin1"], json={"display_name": "李管理"})
    changed = await client.put("/api/sla-rules", headers=tokens["admin1"], json={"changes": [
        {"channel": "hotline", "rule": "accept_days", "value": 2, "reason": "市里新规定"}]})
    assert changed.status_code == 200, changed.text
    rules = await admin.get("/console/admin/sla-rules?channel=hotline")
    assert "李管理" in rules.text.split("<table")[1] and "admin1" not in rules.text.split("<table")[1]
