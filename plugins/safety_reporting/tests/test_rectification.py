"""隐患整改: a founded hazard gets a rectification order, closes only when a re-inspection with photos
passes, gets a new deadline when one fails, and is escalated (督办, staff notices) once its deadline
passes; the reward still follows the verification."""

from __future__ import annotations

import datetime as dt

from core import clock
from core.calendar import SHANGHAI
from plugins.safety_reporting.rectification import overdue_sweep
from plugins.safety_reporting.tests.test_safety_reporting import act, safety, verified
from tests.helpers import png
from tests.test_console import Staff
from tests.test_sweeps import deliver_outbox

HANDLER = "emergency_handler"
MEASURES = "1. 立即清理储罐区周边易燃物；2. 动火作业一律办理审批；3. 组织全员安全培训"


def day(offset: int) -> str:
    return (clock.now().astimezone(SHANGHAI).date() + dt.timedelta(days=offset)).isoformat()


async def ordered(client, tokens, deadline_in: int = 10) -> str:
    number = await verified(client, tokens, fine_yuan=50000)
    response = await act(client, tokens[HANDLER], number, "order_rectification",
                         {"responsible_unit": "长沙某化工有限公司", "measures": MEASURES, "deadline": day(deadline_in)})
    assert response.status_code == 200, response.text
    return number


async def photo(client, tokens, number) -> str:
    response = await client.post(f"/api/orders/{number}/attachments", files={"data": ("整改后.png", png(), "image/png")},
                                 headers=tokens[HANDLER])
    assert response.status_code == 201, response.text
    return response.json()["key"]


async def test_a_hazard_runs_to_a_passed_reinspection_and_only_then_closes(client, tokens):
    number = await ordered(client, tokens)
    reply = {"reply": "已责令整改并复查合格。"}
    refused = await act(client, tokens[HANDLER], number, "reply", reply)
    assert refused.status_code == 409 and "复查" in refused.json()["detail"]

    key = await photo(client, tokens, number)
    passed = await act(client, tokens[HANDLER], number, "reinspect",
                       {"outcome": "passed", "findings": "易燃物已清理，动火审批制度已建立", "photos": [key]})
    assert passed.status_code == 200, passed.text
    assert [e["action"] for e in passed.json()["events"]][-3:] == ["order_rectification", "attach", "reinspect"]

    state = (await safety(client, tokens["dispatcher1"], number)).json()["rectification"]
    assert state["status"] == "closed" and state["status_label"] == "整改完成（复查通过）"
    assert state["responsible_unit"] == "长沙某化工有限公司" and state["measures"] == MEASURES
    [visit] = state["reinspections"]
    assert visit["outcome_label"] == "复查合格" and visit["photos"] == [key] and visit["inspected_by"] == HANDLER

    again = await act(client, tokens[HANDLER], number, "reinspect", {"outcome": "passed", "findings": "再查"})
    assert again.status_code == 409 and again.json()["detail"] == "整改已复查通过并关闭"
    assert (await act(client, tokens[HANDLER], number, "reply", reply)).status_code == 200
    assert (await act(client, tokens["dispatcher1"], number, "approve")).json()["status"] == "completed"


async def test_a_founded_hazard_still_earns_its_reward_after_rectification(client, tokens):
    number = await ordered(client, tokens)
    await act(client, tokens[HANDLER], number, "reinspect", {"outcome": "passed", "findings": "整改到位"})
    calculated = await act(client, tokens["dispatcher1"], number, "calculate_reward", {})
    assert calculated.status_code == 200, calculated.text
    reward = (await safety(client, tokens["dispatcher1"], number)).json()["reward"]
    assert reward["status"] == "calculated" and reward["amount_yuan"] == "7500.00"


async def test_rectification_is_refused_for_an_unfounded_report_twice_or_with_a_bad_deadline(client, tokens):
    number = await verified(client, tokens, fine_yuan=0)
    body = {"responsible_unit": "某公司", "measures": MEASURES, "deadline": day(-1)}
    past = await act(client, tokens[HANDLER], number, "order_rectification", body)
    assert past.status_code == 400 and past.json()["extra"][0]["key"] == "deadline"
    far = await act(client, tokens[HANDLER], number, "order_rectification", {**body, "deadline": day(400)})
    assert far.status_code == 400 and far.json()["extra"][0]["key"] == "deadline"
    assert (await act(client, tokens[HANDLER], number, "order_rectification", {**body, "deadline": day(3)})).status_code == 200
    twice = await act(client, tokens[HANDLER], number, "order_rectification", {**body, "deadline": day(3)})
    assert twice.status_code == 409 and twice.json()["detail"] == "该隐患已下达整改，不能重复下达"
    other = await act(client, tokens["housing_handler"], number, "reinspect", {"outcome": "passed", "findings": "x"})
    assert other.status_code == 404
    unfounded = await verified(client, tokens, result="false", fine_yuan=None)
    refused = await act(client, tokens[HANDLER], unfounded, "order_rectification", body | {"deadline": day(3)})
    assert refused.status_code == 409 and refused.json()["detail"] == "核查属实或部分属实的隐患才能下达整改"


async def test_a_failed_reinspection_sets_a_new_deadline_and_needs_one(client, tokens):
    number = await ordered(client, tokens)
    missing = await act(client, tokens[HANDLER], number, "reinspect", {"outcome": "failed", "findings": "仍有易燃物"})
    assert missing.status_code == 400 and missing.json()["extra"][0]["key"] == "next_deadline"
    stranger = await act(client, tokens[HANDLER], number, "reinspect",
                         {"outcome": "failed", "findings": "仍有易燃物", "next_deadline": day(20), "photos": ["nope"]})
    assert stranger.status_code == 400 and stranger.json()["extra"][0]["key"] == "photos"
    failed = await act(client, tokens[HANDLER], number, "reinspect",
                       {"outcome": "failed", "findings": "仍有易燃物", "next_deadline": day(20)})
    assert failed.status_code == 200, failed.text
    state = (await safety(client, tokens[HANDLER], number)).json()["rectification"]
    assert state["status"] == "open" and state["round"] == 2 and state["deadline"] == day(20)
    assert [v["outcome"] for v in state["reinspections"]] == ["failed"]
    assert state["reinspections"][0]["next_deadline"] == day(20)
    assert (await act(client, tokens[HANDLER], number, "reply", {"reply": "已整改"})).status_code == 409


async def test_an_overdue_rectification_is_escalated_once_with_notices(client, tokens):
    number = await ordered(client, tokens, deadline_in=2)
    platform = client.platform
    assert (await overdue_sweep(platform.services))["escalated"] == 0  # not yet due
    later = clock.now() + dt.timedelta(days=4)
    platform.orders.clock = lambda: later
    assert (await overdue_sweep(platform.services))["escalated"] == 1
    assert (await overdue_sweep(platform.services))["escalated"] == 0  # once per deadline

    view = (await client.get(f"/api/orders/{number}", headers=tokens[HANDLER])).json()
    [supervision] = view["supervisions"]
    assert supervision["kind"] == "supervise" and supervision["issued_by"] == "system"
    assert supervision["department"] == "emergency" and "整改逾期" in supervision["note"]
    event = view["events"][-1]
    assert event["action"] == "rectification_overdue" and event["role"] == "system"
    assert all(a["name"] != "rectification_overdue" for a in view["actions"])
    state = (await safety(client, tokens["dispatcher1"], number)).json()["rectification"]
    assert state["escalated_for"] == state["deadline"]

    await deliver_outbox(platform)
    for user in ("supervisor1", "dispatcher1", HANDLER):
        items = (await client.get("/api/notifications", headers=tokens[user])).json()["items"]
        assert any(number in i["text"] and "整改逾期" in i["text"] for i in items), user

    # a failed re-inspection sets a new deadline; its passing is escalated again
    failed = await act(client, tokens[HANDLER], number, "reinspect",
                       {"outcome": "failed", "findings": "未整改", "next_deadline": later.astimezone(SHANGHAI).date().isoformat()})
    assert failed.status_code == 200, failed.text
    assert (await overdue_sweep(platform.services))["escalated"] == 0
    later2 = later + dt.timedelta(days=2)
    platform.orders.clock = lambda: later2
    assert (await overdue_sweep(platform.services))["escalated"] == 1


async def test_the_department_reinspects_on_the_console_and_the_panel_shows_the_rectification(client, tokens):
    number = await ordered(client, tokens)
    handler = Staff(client)
    assert (await handler.login(HANDLER)).status_code == 200
    page = await handler.get(f"/console/orders/{number}")
    assert "整改复查" in page.text and "新的整改期限" in page.text  # the generated form
    done = await handler.post(f"/console/orders/{number}/act/reinspect",
                              {"outcome": "failed", "findings": "仍有易燃物", "next_deadline": day(15)})
    assert done.status_code in (200, 303), done.text
    text = (await handler.get(f"/console/orders/{number}")).text
    assert "隐患整改" in text and "整改中" in text and "第 1 轮复查" in text and "复查不合格" in text
    assert "长沙某化工有限公司" in text and day(15) in text
