"""The staffing forecast measures handling times per hour and per channel from the call log (a call's
queue when it names a channel, else the channel of the order recorded from it), falls back per cell
to the hour's measure, then the overall one, then the default, and says which it used for every
figure: in the API and, in Chinese, on the console's 话务预测 page."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest

from core.clock import SHANGHAI
from core.intake import IntakeRequest
from core.model import Actor
from tests.helpers import intake_body
from tests.test_telephony import pbx  # noqa: F401  (fixture)

pytestmark = pytest.mark.clock("2026-12-07T10:00:00+08:00")  # a Monday
T0 = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
AGENT = Actor(name="agent1", role="agent")
MAILBOX = {"kind": "suggestion", "details": {"topic": "economy", "reply_method": "phone"}}


async def _phone_intake(platform, channel: str, received: dt.datetime) -> str:
    body = intake_body(received_at=received.isoformat(), **(MAILBOX if channel == "mayor_mailbox" else {}))
    _, made = await platform.orders.intake(channel, msgspec.convert(body, IntakeRequest), AGENT)
    return made.number


async def _answered(pbx, call_id: str, talk: int, *, queue: str = "", hour_offset: int = -1) -> None:
    start = T0 + dt.timedelta(hours=hour_offset)
    call = {"callId": call_id, "direction": "in", "from": "13900000000", "queue": queue}
    await pbx(event="newCall", timestamp=start.isoformat(), **call)
    await pbx(event="answer", answeringNumber="8001", timestamp=(start + dt.timedelta(seconds=5)).isoformat(), **call)
    await pbx(event="hangup", cause="normalClearing", timestamp=(start + dt.timedelta(seconds=5 + talk)).isoformat(), **call)


async def test_handling_times_per_hour_and_channel_with_their_sources(client, tokens, pbx, platform):
    # the history of phone intakes at 09:00: two general-line calls for each mailbox one and environment one
    last_week = T0 - dt.timedelta(days=7, hours=1)
    for channel in ("hotline", "hotline", "mayor_mailbox", "hotline", "hotline", "mayor_mailbox"):
        await _phone_intake(platform, channel, last_week)
    await _phone_intake(platform, "hotline", last_week + dt.timedelta(hours=2))  # 11:00: the general line only
    # today 09:00: five mailbox calls by their queue (300 s), five general-line calls by their order (100 s)
    for n in range(5):
        await _answered(pbx, f"m{n}", 300, queue="区长信箱")
        await _answered(pbx, f"h{n}", 100)
        [call] = (await client.get("/api/calls", params={"number": "13900000000", "limit": 1},
                                   headers=tokens["agent1"])).json()["items"]
        number = await _phone_intake(platform, "hotline", T0 - dt.timedelta(minutes=50))
        assert await platform.telephony.link_order(call["call_id"], number, AGENT)
    # 11:00 a day earlier: three calls only, too few for an hour of its own
    for n in range(3):
        await _answered(pbx, f"e{n}", 400, hour_offset=-23)

    plan = (await client.get("/api/forecast", params={"weeks": "1"}, headers=tokens["supervisor1"])).json()
    assert plan["handling_seconds_by_channel"] == {"hotline": {"9": 100.0}, "mayor_mailbox": {"9": 300.0}}
    assert plan["handling_seconds_by_hour"] == {"9": 200.0}
    overall = plan["average_handling_seconds"]
    assert overall == round((5 * 300 + 5 * 100 + 3 * 400) / 13, 1)
    nine = next(r for r in plan["hours"] if r["hour"] == 9 and r["day_type"] == "workday")
    cells = {c["channel"]: (c["share"], c["handling_seconds"], c["handling_from"], c["handling_from_label"])
             for c in nine["handling_by_channel"]}
    assert cells["hotline"][1:] == (100.0, "hour_channel", "该渠道该时段实测")
    assert cells["mayor_mailbox"][1:] == (300.0, "hour_channel", "该渠道该时段实测")
    hotline_share = cells["hotline"][0]
    assert nine["handling_seconds"] == pytest.approx(hotline_share * 100 + (1 - hotline_share) * 300, abs=0.1)
    assert nine["handling_from"] == "hour_channel"
    eleven = next(r for r in plan["hours"] if r["hour"] == 11 and r["day_type"] == "workday")
    assert [(c["channel"], c["share"], c["handling_from"]) for c in eleven["handling_by_channel"]] == [
        ("hotline", 1.0, "calls")]  # no measure of its own: the call log's overall mean
    assert eleven["handling_seconds"] == overall and eleven["handling_from_label"] == "电话系统实测总平均"
    three = next(r for r in plan["hours"] if r["hour"] == 3)  # no intakes at 03:00: the whole day's mix
    assert {c["channel"] for c in three["handling_by_channel"]} == {"hotline", "mayor_mailbox"}
    assert three["handling_from"] == "calls"
    assert "渠道" in plan["aht_source"] and plan["handling_sources"]["hour"] == "该时段实测（不分渠道）"

    from tests.test_console import Staff

    supervisor = Staff(client)
    await supervisor.login("supervisor1")
    page = await supervisor.get("/console/forecast?weeks=1")
    assert page.status_code == 200
    text = page.text
    assert "该渠道该时段实测" in text and "区长信箱" in text and "综合热线" in text and "电话系统实测总平均" in text
    assert "hour_channel" not in text and "mayor_mailbox" not in text  # labels, never codes
    bad = await supervisor.get("/console/forecast?weeks=20")
    assert bad.status_code == 400 and "预测周数" in bad.text
    handler = Staff(client)
    await handler.login("housing_handler")
    assert (await handler.get("/console/forecast")).status_code == 403


async def test_without_calls_an_hour_mixes_the_mailbox_and_says_the_default(client, tokens, platform):
    await _phone_intake(platform, "hotline", T0 - dt.timedelta(days=7, hours=1))
    plan = (await client.get("/api/forecast", params={"weeks": "1"}, headers=tokens["supervisor1"])).json()
    nine = next(r for r in plan["hours"] if r["hour"] == 9)
    assert (nine["handling_seconds"], nine["handling_from"], nine["handling_from_label"]) == (240.0, "default", "默认 240 秒")
    assert plan["handling_seconds_by_channel"] == {} and not plan["aht_measured"]
