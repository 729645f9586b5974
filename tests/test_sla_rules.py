"""Time limits the centre sets (时限规则): listed for centre staff with labels, changed by an admin with
a reason and audited, counted for orders received after the change only (an order keeps the limits it
was received under for every later deadline), restored to the channel's default, and the same on the
console page."""

from __future__ import annotations

import datetime as dt
import re

from core.clock import SHANGHAI
from tests.helpers import intake_body
from tests.test_console import Staff

MONDAY = "2026-11-16T09:00:00+08:00"  # an ordinary working week (no holiday until 2027)


def _local(iso: str) -> dt.datetime:
    return dt.datetime.fromisoformat(iso).astimezone(SHANGHAI)


def _due(order: dict, name: str) -> dt.datetime:
    return _local(next(d["due"] for d in order["deadlines"] if d["name"] == name))


def _rule(listing: list[dict], channel: str, rule: str, kind: str | None = None) -> dict:
    return next(r for r in listing if r["channel"] == channel and r["rule"] == rule and r["kind"] == kind)


async def _intake(client, tokens, **overrides) -> dict:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def _act(client, headers, number, action, payload=None) -> dict:
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)
    assert response.status_code == 200, (action, response.text)
    return response.json()


def _set(channel: str, rule: str, value=None, *, kind=None, reason="依据市里新规定", reset=False) -> dict:
    change = {"channel": channel, "rule": rule, "reason": reason}
    if kind is not None:
        change["kind"] = kind
    if reset:
        change["reset"] = True
    else:
        change["value"] = value
    return {"changes": [change]}


async def test_every_channels_limits_are_listed_with_labels_for_centre_staff(client, tokens):
    response = await client.get("/api/sla-rules", headers=tokens["dispatcher1"])
    assert response.status_code == 200, response.text
    listing = response.json()["rules"]
    platform = client.platform
    for channel in platform.channels:
        mine = [r for r in listing if r["channel"] == channel.code]
        assert {r["channel_name"] for r in mine} == {channel.name}
        assert {r["kind"] for r in mine if r["rule"] == "handle_days"} == set(channel.kinds)
        assert {r["rule"] for r in mine} == {"dispatch_hours", "accept_days", "handle_days", "urgent_natural_hours",
                                              "callback_days", "appeal_days", "appeal_review_days", "difficult_days"}
        assert all(r["source"] == "default" and r["source_label"] == "渠道默认" and r["changed_by"] is None
                   for r in mine)
        assert _rule(mine, channel.code, "dispatch_hours")["value"] == channel.sla.dispatch_hours
    consult = _rule(listing, "hotline", "handle_days", "consult")
    assert consult | {"value": 3, "default": 3, "label": "办理时限（咨询）", "unit_label": "工作日",
                      "kind_label": "咨询", "channel_name": "综合热线"} == consult
    assert _rule(listing, "hotline", "dispatch_hours")["unit_label"] == "工作小时"
    assert _rule(listing, "hotline", "urgent_natural_hours")["unit_label"] == "自然小时"
    assert _rule(listing, "mayor_mailbox", "handle_days", "complaint")["value"] == 15  # the plugin's own default
    assert (await client.get("/api/sla-rules", headers=tokens["housing_handler"])).status_code == 403


async def test_a_change_counts_for_orders_received_after_it_and_earlier_orders_keep_theirs(client, tokens, frozen_clock):
    frozen_clock.freeze(MONDAY)
    before = await _intake(client, tokens, kind="consult")
    assert _due(before, "handle").date() == dt.date(2026, 11, 19)  # 3 working days: Thursday

    changed = await client.put("/api/sla-rules", headers=tokens["admin1"], json={"changes": [
        {"channel": "hotline", "rule": "handle_days", "kind": "consult", "value": 5, "reason": "市里将咨询类时限放宽"},
        {"channel": "hotline", "rule": "accept_days", "value": 3, "reason": "签收改为三个工作日"}]})
    assert changed.status_code == 200, changed.text
    assert [(c["label"], c["old_value"], c["new_value"], c["changed_by"]) for c in changed.json()["changed"]] == [
        ("办理时限（咨询）", 3, 5, "admin1"), ("签收时限", 1, 3, "admin1")]

    after = await _intake(client, tokens, kind="consult")
    assert _due(after, "handle").date() == dt.date(2026, 11, 23)  # 5 working days: the next Monday
    again = (await client.get(f"/api/orders/{before['number']}", headers=tokens["agent1"])).json()
    assert _due(again, "handle").date() == dt.date(2026, 11, 19)  # unchanged

    # a deadline that starts later counts by the rule the order was received under
    frozen_clock.freeze("2026-11-16T10:00:00+08:00")
    dispatched_before = await _act(client, tokens["dispatcher1"], before["number"], "dispatch", {"department": "eco_env"})
    dispatched_after = await _act(client, tokens["dispatcher1"], after["number"], "dispatch", {"department": "eco_env"})
    assert _due(dispatched_before, "accept").date() == dt.date(2026, 11, 17)  # 1 working day, as received
    assert _due(dispatched_after, "accept").date() == dt.date(2026, 11, 19)  # 3 working days

    # and so does the handling deadline set anew by a rework
    for user, action, payload in [("eco_handler", "accept", {}), ("eco_handler", "reply", {"reply": "已答复"}),
                                  ("dispatcher1", "approve", {}),
                                  ("agent1", "callback", {"satisfaction": "unsatisfied", "resolved": False})]:
        await _act(client, tokens[user], before["number"], action, payload)
    frozen_clock.freeze("2026-11-23T09:00:00+08:00")  # the next Monday
    reworked = await _act(client, tokens["dispatcher1"], before["number"], "rework", {"reason": "市民反映问题仍在"})
    assert _due(reworked, "handle").date() == dt.date(2026, 11, 26)  # 3 working days, not 5


async def test_orders_without_a_snapshot_count_by_the_plugins_declaration(client, tokens, frozen_clock):
    """Orders received before the rules could be set carry no snapshot: the plugin's limits apply."""
    from core.tables import Order

    frozen_clock.freeze(MONDAY)
    order = await _intake(client, tokens, kind="consult")
    await Order.update({Order.sla_limits: None}).where(Order.number == order["number"])
    assert (await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "accept_days", 4))).status_code == 200
    dispatched = await _act(client, tokens["dispatcher1"], order["number"], "dispatch", {"department": "eco_env"})
    assert _due(dispatched, "accept").date() == dt.date(2026, 11, 17)  # the plugin's 1 day, not the centre's 4


async def test_only_an_admin_changes_a_limit(client, tokens):
    for user in ("dispatcher1", "supervisor1", "agent1", "housing_handler"):
        response = await client.put("/api/sla-rules", headers=tokens[user], json=_set("hotline", "accept_days", 2))
        assert response.status_code == 403, (user, response.text)
    listing = (await client.get("/api/sla-rules", headers=tokens["admin1"])).json()["rules"]
    assert _rule(listing, "hotline", "accept_days")["value"] == 1


async def test_bad_changes_are_refused_naming_the_field(client, tokens):
    cases = [
        (_set("nowhere", "accept_days", 2), "changes.0.channel"),
        (_set("hotline", "sleep_days", 2), "changes.0.rule"),
        (_set("hotline", "handle_days", 5), "changes.0.kind"),
        (_set("hotline", "handle_days", 5, kind="tipoff"), "changes.0.kind"),
        (_set("hotline", "accept_days", 2, kind="consult"), "changes.0.kind"),
        (_set("hotline", "accept_days", 0), "changes.0.value"),
        (_set("hotline", "accept_days", 366), "changes.0.value"),
        (_set("hotline", "accept_days", 1.5), "changes.0.value"),
        (_set("hotline", "dispatch_hours", 721), "changes.0.value"),
        (_set("hotline", "dispatch_hours", 1.25), "changes.0.value"),
        (_set("hotline", "urgent_natural_hours", 0.5), "changes.0.value"),
        (_set("hotline", "accept_days", None), "changes.0.value"),
        (_set("hotline", "accept_days", 2, reason="  "), "changes.0.reason"),
        (_set("hotline", "accept_days", reset=True), "changes.0.reset"),  # already the default
        ({"changes": []}, "changes"),
    ]
    for body, key in cases:
        response = await client.put("/api/sla-rules", headers=tokens["admin1"], json=body)
        assert response.status_code == 400, (body, response.text)
        assert key in [e["key"] for e in response.json()["extra"]], (body, response.json())
        assert re.search(r"[\u4e00-\u9fff]", response.json()["detail"])
    mixed = await client.put("/api/sla-rules", headers=tokens["admin1"], json={"changes": [
        _set("hotline", "accept_days", 2)["changes"][0], _set("hotline", "appeal_days", 400)["changes"][0]]})
    assert mixed.status_code == 400 and mixed.json()["extra"][0]["key"] == "changes.1.value"
    listing = (await client.get("/api/sla-rules", headers=tokens["admin1"])).json()["rules"]
    assert _rule(listing, "hotline", "accept_days")["value"] == 1  # all or none
    history = (await client.get("/api/sla-rules/history", headers=tokens["admin1"])).json()["items"]
    assert history == []
    assert (await client.get("/api/sla-rules/history?channel=nowhere", headers=tokens["admin1"])).status_code == 400
    assert (await client.get("/api/sla-rules/history?limit=100000", headers=tokens["admin1"])).status_code == 400


async def test_history_shows_old_and_new_who_and_why_and_a_reset_restores_the_default(client, tokens):
    assert (await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "handle_days", 5, kind="consult", reason="市里新规"))).status_code == 200
    assert (await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "handle_days", 4, kind="consult", reason="试行后调整"))).status_code == 200
    listing = (await client.get("/api/sla-rules", headers=tokens["agent1"])).json()["rules"]
    consult = _rule(listing, "hotline", "handle_days", "consult")
    assert (consult["value"], consult["source_label"], consult["changed_by"], consult["reason"]) == (
        4, "中心设定", "admin1", "试行后调整")

    reset = await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "handle_days", kind="consult", reset=True, reason="恢复原规定"))
    assert reset.status_code == 200, reset.text
    consult = _rule(reset.json()["rules"], "hotline", "handle_days", "consult")
    assert (consult["value"], consult["source"], consult["changed_by"]) == (3, "default", None)

    history = (await client.get("/api/sla-rules/history?channel=hotline", headers=tokens["supervisor1"])).json()["items"]
    assert [(h["label"], h["old_value"], h["old_source_label"], h["new_value"], h["new_source_label"], h["changed_by"],
             h["reason"]) for h in history] == [
        ("办理时限（咨询）", 4, "中心设定", 3, "渠道默认", "admin1", "恢复原规定"),
        ("办理时限（咨询）", 5, "中心设定", 4, "中心设定", "admin1", "试行后调整"),
        ("办理时限（咨询）", 3, "渠道默认", 5, "中心设定", "admin1", "市里新规"),
    ]
    assert all(h["channel_name"] == "综合热线" and h["at"].endswith("+08:00") for h in history)


async def test_another_process_follows_a_change_within_its_refresh(client, tokens):
    """Each process caches the rules; another one sees a change once its short TTL has passed."""
    from core.sla_rules import SlaRules

    other = SlaRules(client.platform.channels)
    await other.refresh()
    assert other.snapshot("hotline", "consult")["handle_days"] == 3
    assert (await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "handle_days", 6, kind="consult"))).status_code == 200
    assert client.platform.sla.limits_now("hotline", "consult")["handle_days"] == 6  # this process at once
    await other.refresh()
    assert other.snapshot("hotline", "consult")["handle_days"] == 3  # still cached
    assert other.TTL <= 60
    other._loaded_at -= other.TTL + 1
    await other.refresh()
    assert other.snapshot("hotline", "consult")["handle_days"] == 6


def _visible(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


async def test_the_console_page_lists_limits_in_chinese_and_its_form_changes_one(client, tokens, frozen_clock):
    frozen_clock.freeze(MONDAY)
    admin = Staff(client)
    assert (await admin.login("admin1")).status_code == 200
    page = await admin.get("/console/admin/sla-rules?channel=hotline")
    assert page.status_code == 200
    text = _visible(page.text)
    for words in ("时限规则", "综合热线", "办理时限（咨询）", "办理时限（投诉）", "派单时限", "工作小时", "紧急工单办理时限",
                  "自然小时", "渠道默认", "修改原因"):
        assert words in text, words
    for code in ("hotline", "consult", "complaint", "handle_days", "dispatch_hours", "working_days", "default"):
        assert code not in text, code
    index = await admin.get("/console/admin")
    assert "/console/admin/sla-rules" in index.text

    form = {"channel": "hotline", "value:handle_days:consult": "5", "reason": ""}
    missing = await admin.post("/console/admin/sla-rules", form)
    assert missing.status_code == 400 and "请写明修改原因" in missing.text
    assert 'value="5"' in missing.text  # what was typed comes back
    bad = await admin.post("/console/admin/sla-rules", {**form, "value:handle_days:consult": "999", "reason": "x"})
    assert bad.status_code == 400 and "1 到 365" in bad.text

    done = await admin.post("/console/admin/sla-rules", {**form, "reason": "市里将咨询类时限放宽"},
                            follow_redirects=True)
    assert done.status_code == 200
    assert "已修改：办理时限（咨询） 3 → 5 工作日" in done.text
    history = done.text[done.text.find('id="sla-history"'):]
    assert "市里将咨询类时限放宽" in history and "admin1" in history and "渠道默认" in history
    listing = (await client.get("/api/sla-rules", headers=tokens["agent1"])).json()["rules"]
    assert _rule(listing, "hotline", "handle_days", "consult")["value"] == 5
    order = await _intake(client, tokens, kind="consult")
    assert _due(order, "handle").date() == dt.date(2026, 11, 23)

    reset = await admin.post("/console/admin/sla-rules", {"channel": "hotline", "reset:handle_days:consult": "1",
                                                          "reason": "恢复原规定"}, follow_redirects=True)
    assert reset.status_code == 200 and "5 → 3" in reset.text

    supervisor = Staff(client)
    await supervisor.login("supervisor1")
    read = await supervisor.get("/console/admin/sla-rules")
    assert read.status_code == 200 and "办理时限（咨询）" in read.text and 'id="sla-form"' not in read.text
    refused = await supervisor.post("/console/admin/sla-rules", {**form, "reason": "试试"})
    assert refused.status_code == 403
    handler = Staff(client)
    await handler.login("housing_handler")
    assert (await handler.get("/console/admin/sla-rules")).status_code == 403


async def test_the_citizen_reads_the_limit_their_request_was_received_under(client, tokens):
    """The tracking page says how long handling takes by the order's own limits, not today's rule."""
    from tests.test_web import Page, post_form, receipt, track, valid_form

    channel = client.platform.channels.get("hotline")
    before = receipt(await post_form(client, "hotline", valid_form(channel, kind="complaint")))
    assert (await client.put("/api/sla-rules", headers=tokens["admin1"],
                             json=_set("hotline", "handle_days", 10, kind="complaint"))).status_code == 200
    after = receipt(await post_form(client, "hotline", valid_form(channel, kind="complaint")))
    assert "13 个工作日" in Page((await track(client, *before)).text).text("expected-reply")
    assert "10 个工作日" in Page((await track(client, *after)).text).text("expected-reply")
