"""Regression tests for the defects found when the platform was tried by hand, one per defect."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest

from core.storage import AttachmentRefused, sniff
from tests.helpers import intake_body


async def _new(client, tokens, channel="hotline", **overrides) -> dict:
    response = await client.post(f"/api/channels/{channel}/orders", json=intake_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def _do(client, tokens, user, number, action, payload=None, expect=200) -> dict:
    response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=tokens[user])
    assert response.status_code == expect, (action, response.text)
    return response.json()


async def _safety_report(client, tokens) -> str:
    details = {"hazard_type": "fire", "enterprise": "某物流公司", "site_address": "某工业园3号厂房",
               "observed_at": "昨天下午", "evidence": "", "reward_requested": False}
    order = await _new(client, tokens, channel="safety_reporting", kind="report", subject="厂房消防通道堵塞",
                       content="厂房消防通道长期堆放货物，灭火器过期。", details=details)
    return order["number"]


def _names(order: dict) -> set[str]:
    return {a["name"] for a in order["actions"]}


async def _resolved_and_rated_badly(client, tokens) -> str:
    number = (await _new(client, tokens))["number"]
    await _do(client, tokens, "agent1", number, "resolve_at_intake", {"reply": "已按政策解答"})
    await _do(client, tokens, "agent1", number, "callback", {"satisfaction": "unsatisfied", "resolved": False})
    return number


# 1 ------------------------------------------------------------------------------------------------

async def test_reworking_an_order_resolved_at_intake_sends_it_back_to_the_dispatchers(client, tokens):
    """It never had a department, so it goes to 待派单 (someone can dispatch it), not to 办理中."""
    number = await _resolved_and_rated_badly(client, tokens)
    reworked = await _do(client, tokens, "dispatcher1", number, "rework", {"reason": "市民表示问题未解决"})
    assert (reworked["status"], reworked["status_label"], reworked["department"]) == ("received", "待派单", None)
    assert "dispatch" in _names(reworked)
    dispatched = await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    assert dispatched["status"] == "dispatched"


async def test_reworking_an_order_a_department_handled_returns_it_to_that_department(client, tokens):
    number = (await _new(client, tokens))["number"]
    for user, action, payload in (("dispatcher1", "dispatch", {"department": "eco_env"}), ("eco_handler", "accept", {}),
                                  ("eco_handler", "reply", {"reply": "已处理"}), ("dispatcher1", "approve", {}),
                                  ("agent1", "callback", {"satisfaction": "unsatisfied", "resolved": False})):
        await _do(client, tokens, user, number, action, payload)
    reworked = await _do(client, tokens, "dispatcher1", number, "rework", {"reason": "仍有噪音"})
    assert (reworked["status"], reworked["department"]) == ("accepted", "eco_env")


# 2 ------------------------------------------------------------------------------------------------

@pytest.mark.clock("2026-11-28T09:00:00+08:00")
async def test_an_urgent_orders_deadlines_are_never_out_of_order(client, tokens):
    """Received on a Friday evening: two working hours to dispatch end on Monday, 24 natural hours to
    handle end on Saturday; the dispatch deadline is brought forward to the handling deadline."""
    friday_evening = "2026-11-27T20:00:00+08:00"
    order = await _new(client, tokens, priority="urgent", received_at=friday_evening)
    due = {d["name"]: dt.datetime.fromisoformat(d["due"]) for d in order["deadlines"]}
    assert due["handle"] == dt.datetime.fromisoformat("2026-11-28T20:00:00+08:00")
    assert due["dispatch"] <= due["handle"]
    dispatched = await _do(client, tokens, "dispatcher1", order["number"], "dispatch", {"department": "eco_env"})
    due = {d["name"]: dt.datetime.fromisoformat(d["due"]) for d in dispatched["deadlines"]}
    assert due["accept"] <= due["handle"]


# 3 ------------------------------------------------------------------------------------------------

async def test_after_a_bad_rating_the_status_reads_awaiting_appeal_or_rework_and_callback_is_gone(client, tokens):
    number = await _resolved_and_rated_badly(client, tokens)
    for user in ("agent1", "dispatcher1", "admin1"):
        order = (await client.get(f"/api/orders/{number}", headers=tokens[user])).json()
        assert order["status_label"] == "待申诉/重办"
        assert "callback" not in _names(order), user
    assert {"rework", "archive"} <= _names((await client.get(f"/api/orders/{number}", headers=tokens["dispatcher1"])).json())


async def test_an_unrated_order_offers_neither_archive_nor_rework(client, tokens):
    number = (await _new(client, tokens))["number"]
    completed = await _do(client, tokens, "agent1", number, "resolve_at_intake", {"reply": "已解答"})
    assert completed["status_label"] == "待回访"
    dispatcher = (await client.get(f"/api/orders/{number}", headers=tokens["dispatcher1"])).json()
    assert not {"archive", "rework"} & _names(dispatcher)
    assert "callback" in _names((await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json())


async def test_every_offered_action_is_one_the_caller_may_take(client, tokens):
    """Actions whose requirements fail are not listed: no pending extension → no approve_extension."""
    number = (await _new(client, tokens))["number"]
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    accepted = await _do(client, tokens, "eco_handler", number, "accept")
    assert "request_extension" in _names(accepted) and "answer_supervision" not in _names(accepted)
    supervisor = (await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])).json()
    assert not {"approve_extension", "reject_extension"} & _names(supervisor)
    other = (await client.get(f"/api/orders/{number}", headers=tokens["dispatcher1"])).json()
    assert "accept" not in _names(other)


# 6 ------------------------------------------------------------------------------------------------

async def test_the_departments_handler_may_reveal_the_citizens_phone_to_call_back(client, tokens):
    number = (await _new(client, tokens))["number"]
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "eco_env"})
    accepted = await _do(client, tokens, "eco_handler", number, "accept")
    assert accepted["citizen"]["phone"] == "139****5678" and "reveal_contact" in _names(accepted)
    unexplained = await _do(client, tokens, "eco_handler", number, "reveal_contact", {}, expect=400)
    assert unexplained["extra"][0]["key"] == "reason"
    revealed = await _do(client, tokens, "eco_handler", number, "reveal_contact", {"reason": "电话联系市民核实噪音时段"})
    assert revealed["citizen"]["phone"] == "13912345678"
    event = revealed["events"][-1]
    assert (event["action"], event["actor"], event["reason"]) == ("reveal_contact", "eco_handler", "电话联系市民核实噪音时段")
    await _do(client, tokens, "housing_handler", number, "reveal_contact", {"reason": "x"}, expect=404)


async def test_a_tip_off_reporter_stays_hidden_from_the_department(client, tokens):
    number = await _safety_report(client, tokens)
    await _do(client, tokens, "dispatcher1", number, "dispatch", {"department": "emergency"})
    accepted = await _do(client, tokens, "emergency_handler", number, "accept")
    assert "reveal_contact" not in _names(accepted)
    refused = await _do(client, tokens, "emergency_handler", number, "reveal_contact", {"reason": "核实"}, expect=403)
    assert "保密" in refused["detail"]


# 11 -----------------------------------------------------------------------------------------------

def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 64


@pytest.mark.parametrize("data, content_type", [
    (MP4, "video/mp4"),
    (b"\x00\x00\x00\x1cftypM4A \x00\x00\x00\x00M4A mp42isom" + b"\x00" * 32, "audio/mp4"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 32, "audio/mpeg"),
    (b"\xff\xfb\x90\x64" + b"\x00" * 32, "audio/mpeg"),
    (b"#!AMR\n" + b"\x3c" * 32, "audio/amr"),
    (_docx(), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "application/vnd.ms-office"),
])
def test_videos_call_recordings_and_office_documents_are_recognised_by_content(data, content_type):
    assert sniff(data) == content_type


@pytest.mark.parametrize("data", [b"MZ\x90\x00 an executable", b"PK\x03\x04 not really a zip", b"<html>"])
def test_anything_else_is_still_refused(data):
    with pytest.raises(AttachmentRefused):
        sniff(data)


def test_each_kind_of_file_has_its_own_limit():
    with pytest.raises(AttachmentRefused, match="MP4 视频不能超过 20 MB"):
        sniff(MP4 + b"\x00" * (20 * 1024 * 1024), web=True)
    assert sniff(MP4 + b"\x00" * (20 * 1024 * 1024)) == "video/mp4"  # staff may upload up to 50 MB


async def test_a_site_video_reaches_the_order_of_a_safety_report(client, tokens):
    number = await _safety_report(client, tokens)
    uploaded = await client.post(f"/api/orders/{number}/attachments", files={"data": ("现场.mp4", MP4, "video/mp4")},
                                 headers=tokens["agent1"])
    assert uploaded.status_code == 201, uploaded.text
    assert uploaded.json()["content_type"] == "video/mp4" and uploaded.json()["key"].endswith(".mp4")
