"""协调会: a supervisor calls a meeting on two difficult orders, writes its minutes with decisions,
downloads the minutes as a Word document that opens, and each decision is tracked on both orders'
timelines until its owner department marks it done; overdue ones show on the supervisor's list, and
only the departments concerned see the meeting."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from docx import Document

from tests.helpers import intake_body

NOW = "2026-12-07T15:00:00+08:00"  # a Monday afternoon; the meeting was at 09:30


async def _order(client, tokens, **overrides) -> str:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def _meeting(client, tokens, numbers, departments=("eco_env", "housing")) -> dict:
    response = await client.post("/api/meetings", headers=tokens["supervisor1"], json={
        "title": "梅溪湖片区工地夜间施工扰民协调会", "at": "2026-12-07T09:30:00+08:00",
        "place": "区政务服务中心三楼会议室", "orders": numbers, "departments": list(departments)})
    assert response.status_code == 201, response.text
    return response.json()


async def _events(client, tokens, number) -> list[dict]:
    response = await client.get(f"/api/orders/{number}", headers=tokens["supervisor1"])
    assert response.status_code == 200, response.text
    return response.json()["events"]


async def _notices() -> set[tuple[str, str]]:
    """The staff notices queued (through the outbox, with the change that sends them)."""
    from core.notices import STAFF_TOPIC
    from core.tables import OutboxMessage

    rows = await OutboxMessage.select(OutboxMessage.payload).where(OutboxMessage.topic == STAFF_TOPIC).output(
        load_json=True)
    return {(r["payload"]["to"], r["payload"]["template"]) for r in rows}


MINUTES = {
    "text": "会议听取了生态环境分局和住房和城乡建设局的情况汇报。\n经研究，形成如下意见。",
    "decisions": [
        {"department": "eco_env", "task": "夜间噪声监测并依法处罚", "due": "2026-12-10"},
        {"department": "housing", "task": "约谈施工单位，调整夜间施工计划", "due": "2026-12-04"},
    ],
}


@pytest.mark.clock(NOW)
async def test_a_meeting_on_two_orders_gives_minutes_as_a_docx_and_decisions_tracked_on_both_orders(client, tokens):
    first = await _order(client, tokens)
    second = await _order(client, tokens, subject="工地夜间渣土车噪音", citizen={"name": "王先生", "phone": "13800001111"})
    meeting = await _meeting(client, tokens, [first, second])
    assert [o["number"] for o in meeting["orders"]] == [first, second]
    assert [d["name"] for d in meeting["departments"]] == ["生态环境分局", "住房和城乡建设局"]
    for number in (first, second):
        assert any(e["action"] == "meeting_called" for e in await _events(client, tokens, number))
    assert await _notices() == {("department:eco_env", "meeting"), ("department:housing", "meeting")}

    response = await client.put(f"/api/meetings/{meeting['id']}/minutes", json=MINUTES, headers=tokens["supervisor1"])
    assert response.status_code == 200, response.text
    decisions = response.json()["decisions"]
    assert ("department:housing", "meeting_decision") in await _notices()
    assert [(d["department_name"], d["due"], d["state"]) for d in decisions] == [
        ("生态环境分局", "2026-12-10", "open"), ("住房和城乡建设局", "2026-12-04", "overdue")]

    document = await client.get(f"/api/meetings/{meeting['id']}/minutes.docx", headers=tokens["supervisor1"])
    assert document.status_code == 200
    assert document.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument")
    doc = Document(io.BytesIO(document.content))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "会议纪要" in text and "梅溪湖片区工地夜间施工扰民协调会" in text
    assert "2026年12月7日 09:30" in text and "区政务服务中心三楼会议室" in text
    assert "生态环境分局、住房和城乡建设局" in text and first in text and second in text
    assert "会议听取了生态环境分局" in text
    rows = [[c.text for c in row.cells] for row in doc.tables[0].rows]
    assert rows[0] == ["序号", "议定事项", "责任单位", "完成时限"]
    assert rows[1] == ["1", "夜间噪声监测并依法处罚", "生态环境分局", "2026年12月10日"]

    for number in (first, second):  # each decision on each order's timeline, with owner and due date
        tracked = [e for e in await _events(client, tokens, number) if e["action"] == "meeting_decision"]
        assert [(e["payload"]["department"], e["payload"]["due"]) for e in tracked] == [
            ("eco_env", "2026-12-10"), ("housing", "2026-12-04")]

    overdue = await client.get("/api/meetings/decisions?state=overdue", headers=tokens["supervisor1"])
    assert [d["task"] for d in overdue.json()["items"]] == ["约谈施工单位，调整夜间施工计划"]

    eco = decisions[0]["id"]
    refused = await client.post(f"/api/meetings/{meeting['id']}/decisions/{eco}/done", json={},
                                headers=tokens["housing_handler"])
    assert refused.status_code == 403
    done = await client.post(f"/api/meetings/{meeting['id']}/decisions/{eco}/done", json={"note": "已立案处罚"},
                             headers=tokens["eco_handler"])
    assert done.status_code == 200, done.text
    assert done.json()["decisions"][0]["state_label"] == "已完成"
    again = await client.post(f"/api/meetings/{meeting['id']}/decisions/{eco}/done", json={},
                              headers=tokens["eco_handler"])
    assert again.status_code == 409
    for number in (first, second):
        assert any(e["action"] == "meeting_decision_done" for e in await _events(client, tokens, number))
    # a decision done fixes the minutes
    amended = await client.put(f"/api/meetings/{meeting['id']}/minutes", json=MINUTES, headers=tokens["supervisor1"])
    assert amended.status_code == 409


@pytest.mark.clock(NOW)
async def test_only_the_departments_concerned_see_a_meeting(client, tokens):
    number = await _order(client, tokens)
    meeting = await _meeting(client, tokens, [number], departments=("eco_env",))
    mine = await client.get("/api/meetings", headers=tokens["eco_handler"])
    assert [m["id"] for m in mine.json()["items"]] == [meeting["id"]]
    assert (await client.get(f"/api/meetings/{meeting['id']}", headers=tokens["eco_handler"])).status_code == 200
    assert (await client.get("/api/meetings", headers=tokens["hrss_handler"])).json()["items"] == []
    assert (await client.get(f"/api/meetings/{meeting['id']}", headers=tokens["hrss_handler"])).status_code == 404
    assert (await client.get(f"/api/meetings/{meeting['id']}/minutes.docx",
                             headers=tokens["hrss_handler"])).status_code == 404
    # a department given a decision sees the meeting from then on
    minutes = {"text": "研究决定", "decisions": [{"department": "hrss", "task": "核查欠薪", "due": "2026-12-11"}]}
    assert (await client.put(f"/api/meetings/{meeting['id']}/minutes", json=minutes,
                             headers=tokens["supervisor1"])).status_code == 200
    assert (await client.get(f"/api/meetings/{meeting['id']}", headers=tokens["hrss_handler"])).status_code == 200
    assert [d["task"] for d in (await client.get("/api/meetings/decisions",
                                                 headers=tokens["hrss_handler"])).json()["items"]] == ["核查欠薪"]
    assert (await client.get("/api/meetings/decisions", headers=tokens["eco_handler"])).json()["items"] == []


@pytest.mark.clock(NOW)
async def test_bad_meetings_and_minutes_are_refused_naming_the_field(client, tokens):
    number = await _order(client, tokens)
    body = {"title": "协调会", "at": "2026-12-07T09:30:00+08:00", "orders": [number]}
    assert (await client.post("/api/meetings", json=body, headers=tokens["dispatcher1"])).status_code == 403
    assert (await client.post("/api/meetings", json=body, headers=tokens["eco_handler"])).status_code == 403
    for bad, key in (({"orders": ["XJ00000000000000"]}, "orders.0"), ({"departments": ["nowhere"]}, "departments.0"),
                     ({"orders": []}, "orders"), ({"at": "2026-12-07T09:30:00"}, "at"),
                     ({"at": "2031-12-07T09:30:00+08:00"}, "at"), ({"title": " "}, "title")):
        response = await client.post("/api/meetings", json={**body, **bad}, headers=tokens["supervisor1"])
        assert response.status_code == 400, (bad, response.text)
        assert key in [e["key"] for e in response.json()["extra"]], (bad, response.text)
    meeting = (await client.post("/api/meetings", json=body, headers=tokens["supervisor1"])).json()
    url = f"/api/meetings/{meeting['id']}/minutes"
    response = await client.put(url, json={"text": "纪要", "decisions": [{"department": "eco_env", "task": "x",
                                                                          "due": "2040-01-01"}]},
                                headers=tokens["supervisor1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "decisions.0.due"
    later = (await client.post("/api/meetings", json={**body, "at": "2026-12-09T09:30:00+08:00"},
                               headers=tokens["supervisor1"])).json()
    response = await client.put(f"/api/meetings/{later['id']}/minutes", json={"text": "纪要"},
                                headers=tokens["supervisor1"])
    assert response.status_code == 409  # the meeting has not been held yet
    assert (await client.get("/api/meetings/99999", headers=tokens["supervisor1"])).status_code == 404


@pytest.mark.clock(NOW)
async def test_meetings_and_decisions_are_counted_in_the_reports(client, tokens):
    number = await _order(client, tokens)
    await client.post(f"/api/orders/{number}/actions/mark_difficult", json={"reason": "涉及多个部门"},
                      headers=tokens["supervisor1"])
    await _order(client, tokens)
    meeting = await _meeting(client, tokens, [number])
    await client.put(f"/api/meetings/{meeting['id']}/minutes", json=MINUTES, headers=tokens["supervisor1"])
    start = dt.date(2026, 12, 1).isoformat()
    report = (await client.get(f"/api/reports/monthly?start={start}", headers=tokens["supervisor1"])).json()
    assert report["coordination"] == {"meetings": 1, "decisions": 2, "decisions_done": 0, "decisions_overdue": 1,
                                      "difficult": 1}
    section = next(s for s in report["sections"] if s["title"] == "疑难工单与协调会")
    assert {r["label"]: r["value"] for r in section["rows"]}["协调会"] == 1


# -- the console pages ------------------------------------------------------------------------------

@pytest.mark.clock(NOW)
async def test_the_console_calls_a_meeting_from_an_order_writes_minutes_and_the_owner_marks_done(client, tokens):
    from tests.test_console import Staff

    first = await _order(client, tokens)
    second = await _order(client, tokens, subject="工地夜间渣土车噪音")
    supervisor = Staff(client)
    await supervisor.login("supervisor1")
    page = await supervisor.get(f"/console/orders/{first}")
    assert "就本工单召集协调会" in page.text
    form = await supervisor.get(f"/console/meetings?order={first}")
    assert first in form.text
    refused = await supervisor.post("/console/meetings", {"title": "", "at": "", "orders": first})
    assert refused.status_code == 400 and "请选择会议时间" in refused.text
    called = await supervisor.post("/console/meetings", {
        "title": "夜间施工扰民协调会", "at": "2026-12-07T09:30", "place": "三楼会议室",
        "orders": f"{first} {second}", "departments": ["eco_env", "housing"]}, follow_redirects=True)
    assert called.status_code == 200 and "已召集协调会" in called.text
    meeting_id = int(called.url.path.rsplit("/", 1)[1])
    half = await supervisor.post(f"/console/meetings/{meeting_id}/minutes", {
        "text": "经研究决定如下。", "task.0": "夜间噪声监测", "department.0": "eco_env", "due.0": "",
        "task.1": "", "department.1": "", "due.1": ""})
    assert half.status_code == 400 and "请选择完成期限" in half.text and "夜间噪声监测" in half.text
    saved = await supervisor.post(f"/console/meetings/{meeting_id}/minutes", {
        "text": "经研究决定如下。", "task.0": "夜间噪声监测", "department.0": "eco_env", "due.0": "2026-12-10",
        "task.1": "", "department.1": "", "due.1": ""}, follow_redirects=True)
    assert "纪要已保存" in saved.text and "生态环境分局" in saved.text
    docx = await supervisor.get(f"/console/meetings/{meeting_id}/minutes.docx")
    assert "夜间噪声监测" in "\n".join(c.text for t in Document(io.BytesIO(docx.content)).tables
                                       for row in t.rows for c in row.cells)
    order_page = await supervisor.get(f"/console/orders/{second}")
    assert "夜间施工扰民协调会" in order_page.text and "召开协调会" in order_page.text and "协调会议定事项" in order_page.text

    eco = Staff(client)
    await eco.login("eco_handler")
    listed = await eco.get("/console/meetings")
    assert "夜间施工扰民协调会" in listed.text
    meeting = await eco.get(f"/console/meetings/{meeting_id}")
    assert "标记完成" in meeting.text
    decision = (await client.get(f"/api/meetings/{meeting_id}", headers=tokens["eco_handler"])).json()["decisions"][0]
    done = await eco.post(f"/console/meetings/{meeting_id}/decisions/{decision['id']}/done", {"note": "已监测"},
                          follow_redirects=True)
    assert "已标记议定事项完成" in done.text and "已完成" in done.text
    hrss = Staff(client)
    await hrss.login("hrss_handler")
    assert "夜间施工扰民协调会" not in (await hrss.get("/console/meetings")).text
    assert (await hrss.get(f"/console/meetings/{meeting_id}")).status_code == 404
    overdue = await supervisor.get("/console/meetings/decisions?state=overdue")
    assert overdue.status_code == 200 and "夜间噪声监测" not in overdue.text
