"""Every path a real 12345 order takes, over the API: returns, rework, appeals, extensions,
suspension, supervision, merges, comments and attachments, timed on the working calendar."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from core import clock
from core.tables import Order
from tests import helpers
from tests.helpers import intake_body

PNG = helpers.png()


async def _new(client, tokens, **overrides) -> str:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def _do(client, tokens, user, number, action, payload=None, expect=200):
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=tokens[user])
    assert response.status_code == expect, (action, response.text)
    return response.json()


async def _to(client, tokens, number, step):
    """Walk an order along the main path up to and including ``step``."""
    path = [("dispatcher1", "dispatch", {"department": "eco_env"}), ("eco_handler", "accept", {}),
            ("eco_handler", "reply", {"reply": "已处理", "public_reply": "已责令整改"}),
            ("dispatcher1", "approve", {}),
            ("agent1", "callback", {"satisfaction": "unsatisfied", "resolved": False})]
    for user, action, payload in path:
        order = await _do(client, tokens, user, number, action, payload)
        if action == step:
            return order


def _deadline(order, name):
    return next(d for d in order["deadlines"] if d["name"] == name)


async def test_a_returned_order_is_ruled_on_by_the_centre(client, tokens):
    number = await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    returned = await _do(client, tokens, "eco_handler", number, "return", {}, expect=400)  # no reason given
    assert returned["extra"][0]["key"] == "reason"
    returned = await _do(client, tokens, "eco_handler", number, "return", {"reason": "属住建职责"})
    assert returned["status"] == "returned"
    kept = await _do(client, tokens, "dispatcher1", number, "reject_return", {"reason": "噪音属生态环境职责"})
    assert kept["status"] == "dispatched" and kept["department"] == "eco_env"
    await _do(client, tokens, "eco_handler", number, "return", {"reason": "再次退回"})
    upheld = await _do(client, tokens, "dispatcher1", number, "uphold_return", {"note": "改派住建"})
    assert upheld["status"] == "received" and upheld["department"] is None
    assert (await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "housing"}))["department"] == "housing"


async def test_answered_on_the_spot_then_called_back(client, tokens):
    number = await _new(client, tokens, kind="consult")
    done = await _do(client, tokens, "agent1", number, "resolve_at_intake", {"reply": "按知识库答复：可到政务中心办理"})
    assert done["status"] == "completed" and _deadline(done, "dispatch")["done"]
    archived = await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "satisfied", "resolved": True})
    assert archived["status"] == "archived"


async def test_rework_after_a_bad_rating_is_counted_and_the_order_is_rated_again(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "callback")
    reworked = await _do(client, tokens, "dispatcher1", number, "rework", {"reason": "市民反映噪音仍在"})
    assert reworked["status"] == "accepted" and reworked["rework_count"] == 1 and reworked["rating"] is None
    await _do(client, tokens, "eco_handler", number, "reply", {"reply": "已联合执法，工地夜间停工"})
    await _do(client, tokens, "dispatcher1", number, "approve")
    final = await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "satisfied", "resolved": True})
    assert final["status"] == "archived" and final["rework_count"] == 1


async def test_an_upheld_appeal_voids_the_rating(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "callback")
    appealing = await _do(client, tokens, "eco_handler", number, "appeal",
                          {"reason": "已按规定处理", "evidence": "执法记录和现场照片"})
    assert appealing["status"] == "appealing"
    review = _deadline(appealing, "appeal_review")  # the centre's own time to rule, shown like any other
    assert review["label"] == "申诉审核时限" and not review["done"]
    await _do(client, tokens, "dispatcher1", number, "uphold_appeal", expect=403)
    upheld = await _do(client, tokens, "supervisor1", number, "uphold_appeal", {"reason": "证据充分"})
    assert upheld["status"] == "archived" and _deadline(upheld, "appeal_review")["done"]
    assert upheld["rating"]["valid"] is False and upheld["rating"]["appeal"]["decision"] == "upheld"


async def test_a_rejected_appeal_leaves_rework_or_archive_and_cannot_be_repeated(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "callback")
    await _do(client, tokens, "eco_handler", number, "appeal", {"reason": "已处理"})
    rejected = await _do(client, tokens, "supervisor1", number, "reject_appeal", {"reason": "问题未解决"})
    assert rejected["status"] == "completed" and rejected["rating"]["valid"] is True
    again = await _do(client, tokens, "eco_handler", number, "appeal", {"reason": "再申诉"}, expect=409)
    assert again["detail"] == "该评价已申诉过，不能再次申诉"
    assert (await _do(client, tokens, "dispatcher1", number, "rework", {"reason": "重办"}))["status"] == "accepted"


async def test_an_appeal_after_its_window_is_refused(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "callback")
    row = await Order.select(Order.deadlines).where(Order.number == number).output(load_json=True).first()
    deadlines = row["deadlines"]
    deadlines["appeal"]["due"] = (clock.now() - dt.timedelta(hours=1)).isoformat()
    await Order.update({Order.deadlines: deadlines}).where(Order.number == number)
    late = await _do(client, tokens, "eco_handler", number, "appeal", {"reason": "晚了"}, expect=409)
    assert "申诉期限" in late["detail"]


async def test_an_approved_extension_moves_the_deadline_and_shows_it(client, tokens):
    number = await _new(client, tokens)
    accepted = await _to(client, tokens, number, "accept")
    before = dt.datetime.fromisoformat(_deadline(accepted, "handle")["due"])
    asked = await _do(client, tokens, "eco_handler", number, "request_extension", {"days": 5, "reason": "需多部门会商"})
    assert asked["status"] == "accepted" and asked["extensions"][0]["status"] == "requested"
    await _do(client, tokens, "eco_handler", number, "request_extension", {"days": 1, "reason": "再申请"}, expect=409)
    approved = await _do(client, tokens, "supervisor1", number, "approve_extension", {"reason": "同意"})
    handle = _deadline(approved, "handle")
    assert handle["extended"] is True and dt.datetime.fromisoformat(handle["due"]) > before + dt.timedelta(days=5)
    assert approved["extensions"][0]["status"] == "approved"
    await _do(client, tokens, "eco_handler", number, "request_extension", {"days": 2, "reason": "三申请"})
    rejected = await _do(client, tokens, "dispatcher1", number, "reject_extension", {"reason": "不同意"})
    assert _deadline(rejected, "handle")["due"] == handle["due"]


async def test_a_reply_withdraws_an_extension_still_waiting_for_a_decision(client, tokens):
    """Answered before the centre ruled on more time: the request no longer waits 待审批 for ever."""
    number = await _new(client, tokens)
    await _to(client, tokens, number, "accept")
    await _do(client, tokens, "eco_handler", number, "request_extension", {"days": 3, "reason": "需联合执法"})
    replied = await _do(client, tokens, "eco_handler", number, "reply", {"reply": "已责令整改"})
    assert replied["extensions"][0]["status"] == "withdrawn"
    assert replied["extensions"][0]["decision_reason"] == "已答复，延期申请随之撤回"
    assert "approve_extension" not in {a["name"] for a in (await client.get(
        f"/api/orders/{number}", headers=tokens["dispatcher1"])).json()["actions"]}


async def test_an_extension_must_be_asked_before_the_deadline(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "accept")
    row = await Order.select(Order.deadlines).where(Order.number == number).output(load_json=True).first()
    deadlines = row["deadlines"]
    deadlines["handle"]["due"] = (clock.now() - dt.timedelta(minutes=1)).isoformat()
    await Order.update({Order.deadlines: deadlines}).where(Order.number == number)
    late = await _do(client, tokens, "eco_handler", number, "request_extension", {"days": 2, "reason": "来不及"}, expect=409)
    assert "到期前" in late["detail"]


async def test_suspension_stops_the_clock_and_resume_returns_to_where_it_was(client, tokens):
    number = await _new(client, tokens)
    accepted = await _to(client, tokens, number, "accept")
    suspended = await _do(client, tokens, "dispatcher1", number, "suspend", {"reason": "等待市民补充材料"})
    assert suspended["status"] == "suspended" and suspended["status_before_suspend"] == "accepted"
    # pretend the suspension began three working days ago
    three_days_ago = clock.now() - dt.timedelta(days=5)
    await Order.update({Order.suspended_at: three_days_ago}).where(Order.number == number)
    resumed = await _do(client, tokens, "dispatcher1", number, "resume")
    assert resumed["status"] == "accepted" and resumed["suspended_at"] is None
    before = dt.datetime.fromisoformat(_deadline(accepted, "handle")["due"])
    after = dt.datetime.fromisoformat(_deadline(resumed, "handle")["due"])
    assert after > before and _deadline(resumed, "handle")["start"] == _deadline(accepted, "handle")["start"]


async def test_supervision_is_recorded_and_answered_without_changing_the_status(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "accept")
    pressed = await _do(client, tokens, "supervisor1", number, "supervise", {"note": "市民多次来电，请加快", "kind": "urge"})
    assert pressed["status"] == "accepted" and pressed["supervisions"][0]["answer"] is None
    answered = await _do(client, tokens, "eco_handler", number, "answer_supervision",
                         {"supervision": 1, "answer": "已约谈施工方，本周内整改"})
    assert answered["supervisions"][0]["answer"] == "已约谈施工方，本周内整改"
    await _do(client, tokens, "eco_handler", number, "answer_supervision", {"supervision": 1, "answer": "再答"}, expect=409)
    await _do(client, tokens, "eco_handler", number, "answer_supervision", {"supervision": 9, "answer": "无"}, expect=400)


async def test_a_duplicate_is_merged_into_the_order_it_repeats(client, tokens):
    first, duplicate = await _new(client, tokens), await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", duplicate, "merge", {"into": duplicate}, expect=400)
    await _do(client, tokens, "dispatcher1", duplicate, "merge", {"into": "XJ20990101999999"}, expect=400)
    merged = await _do(client, tokens, "dispatcher1", duplicate, "merge", {"into": first, "reason": "同一工地"})
    assert merged["status"] == "merged" and merged["merged_into"] == first
    assert merged["actions"] == [{"name": "reveal_contact", "label": "查看完整号码"}]
    await _do(client, tokens, "dispatcher1", duplicate, "dispatch", {"department": "eco_env"}, expect=409)
    third = await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", third, "merge", {"into": duplicate}, expect=409)


async def test_comments_are_kept_on_open_orders_only(client, tokens):
    number = await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    noted = await _do(client, tokens, "eco_handler", number, "comment", {"text": "已电话联系市民"})
    assert noted["events"][-1]["payload"] == {"text": "已电话联系市民"}
    await _do(client, tokens, "agent1", number, "comment", {"text": ""}, expect=400)
    await _do(client, tokens, "housing_handler", number, "comment", {"text": "看不到"}, expect=404)


async def test_attachments_are_checked_stored_and_only_shown_to_who_may_see_the_order(client, tokens):
    number = await _new(client, tokens)
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    up = await client.post(f"/api/orders/{number}/attachments", files={"data": ("现场.png", PNG, "image/png")},
                           headers=tokens["eco_handler"])
    assert up.status_code == 201, up.text
    key = up.json()["key"]
    assert up.json()["content_type"] == "image/png" and up.json()["filename"] == "现场.png"
    fake = await client.post(f"/api/orders/{number}/attachments",
                             files={"data": ("报告.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")},
                             headers=tokens["eco_handler"])
    assert fake.status_code == 400 and "PDF" in fake.json()["detail"]
    listed = await client.get(f"/api/orders/{number}/attachments", headers=tokens["agent1"])
    assert [a["key"] for a in listed.json()] == [key]
    download = await client.get(f"/api/orders/{number}/attachments/{key}", headers=tokens["eco_handler"])
    assert download.content == PNG
    assert (await client.get(f"/api/orders/{number}/attachments/{key}", headers=tokens["housing_handler"])).status_code == 404
    detail = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert detail["events"][-1]["action"] == "attach"


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_a_consult_received_before_national_day_is_due_on_the_third_working_day(client, tokens):
    number = await _new(client, tokens, kind="consult", source="netboard", external_id="WZ-0930",
                        received_at="2026-09-30T10:00:00+08:00")
    order = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    # 10-01..07 are the holiday; 10-08, 10-09 and the make-up Saturday 10-10 are the working days
    assert dt.datetime.fromisoformat(_deadline(order, "handle")["due"]) == dt.datetime.fromisoformat(
        "2026-10-10T18:00:00+08:00")
    assert _deadline(order, "handle")["state"] == "overdue" and _deadline(order, "handle")["state_label"] == "超期"


async def test_an_admin_can_declare_a_day_off_and_deadlines_follow(client, tokens):
    before = (await client.get(f"/api/orders/{await _new(client, tokens, kind='consult')}",
                               headers=tokens["agent1"])).json()
    due_before = dt.datetime.fromisoformat(_deadline(before, "handle")["due"]).date()
    refused = await client.post("/api/calendar/days", json={"day": due_before.isoformat(), "workday": False},
                                headers=tokens["dispatcher1"])
    assert refused.status_code == 403
    saved = await client.post("/api/calendar/days", json={"day": due_before.isoformat(), "workday": False,
                                                          "note": "临时调整"}, headers=tokens["admin1"])
    assert saved.status_code == 200
    after = (await client.get(f"/api/orders/{await _new(client, tokens, kind='consult')}",
                              headers=tokens["agent1"])).json()
    assert dt.datetime.fromisoformat(_deadline(after, "handle")["due"]).date() > due_before
    listed = (await client.get("/api/calendar/days", headers=tokens["agent1"])).json()
    assert listed == [{"day": due_before.isoformat(), "workday": False, "note": "临时调整"}]


async def test_concurrent_rework_and_archive_exactly_one_wins(client, tokens):
    number = await _new(client, tokens)
    await _to(client, tokens, number, "callback")
    results = await asyncio.gather(
        client.post(f"/api/orders/{number}/actions/rework", json={"reason": "重办"}, headers=tokens["dispatcher1"]),
        client.post(f"/api/orders/{number}/actions/archive", json={}, headers=tokens["supervisor1"]))
    assert sorted(r.status_code for r in results) == [200, 409]
