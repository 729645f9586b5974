"""The maintenance record: any member of staff reports a fault and is kept as its reporter; what is done
is appended entry by entry (methods, measures, progress, result) and never overwritten; the monthly
inspection runs once a month on schedule and each run is kept, listed and readable as a document."""

from __future__ import annotations

import datetime as dt
import io

from docx import Document

from core.clock import SHANGHAI
from core import inspections
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)

WHEN = "2026-12-07T09:30:00+08:00"


async def test_a_fault_reported_by_an_agent_keeps_every_update(client, tokens):
    filed = await client.post("/api/incidents", headers=tokens["agent1"],
                              json={"occurred_at": WHEN, "title": "受理页面打开很慢", "impact": "话务员无法及时录入"})
    assert filed.status_code == 201, filed.text
    fault = filed.json()
    assert fault["reported_by"] == "agent1" and fault["recorded_by"] == "agent1"
    url = f"/api/incidents/{fault['id']}"
    admin = tokens["admin1"]
    for kind, text in (("method", "查看数据库慢查询日志"), ("measure", "为工单列表补建索引"), ("progress", "页面已恢复到 1 秒内")):
        added = await client.post(f"{url}/updates", headers=admin, json={"kind": kind, "text": text})
        assert added.status_code == 201, added.text
    await client.post(url, headers=admin, json={"actions": "补建索引"})
    await client.post(url, headers=admin, json={"actions": "补建索引并清理过期会话"})  # the summary again: kept too
    closed = await client.post(f"{url}/updates", headers=admin, json={"kind": "result", "text": "已解决", "resolved": True})
    found = (await client.get(url, headers=admin)).json()
    assert [u["kind_label"] for u in found["updates"]] == ["处理方法", "处置措施", "进展", "处置措施", "处置措施", "结果"]
    assert [u["text"] for u in found["updates"]][:3] == ["查看数据库慢查询日志", "为工单列表补建索引", "页面已恢复到 1 秒内"]
    assert found["resolved"] is True and closed.json()["resolved_at"]
    assert (await client.post(f"{url}/updates", headers=tokens["agent1"],
                              json={"kind": "progress", "text": "x"})).status_code == 403
    bad = await client.post(f"{url}/updates", headers=admin, json={"kind": "guess", "text": "x"})
    assert bad.status_code == 400 and bad.json()["extra"][0]["key"] == "kind"
    assert (await client.post("/api/incidents/99999/updates", headers=admin,
                              json={"kind": "progress", "text": "x"})).status_code == 404


async def test_a_handler_reports_a_fault_in_the_console_and_the_admin_appends_to_its_history(client, people):  # noqa: F811
    handler = await people("housing_handler")
    await handler.get("/console/faults")
    sent = await handler.post("/console/faults", {"title": "附件上传失败", "impact": "无法上传现场照片", "occurred_at": ""})
    assert sent.status_code == 200 and "已报告故障" in sent.text
    admin = await people("admin1")
    listed = await admin.get("/console/faults")
    assert "附件上传失败" in listed.text
    fault_id = int(listed.text.split('href="/console/faults/')[1].split('"')[0])
    for kind, text in (("method", "检查存储目录权限"), ("measure", "修正目录权限"), ("result", "上传恢复正常")):
        await admin.get(f"/console/faults/{fault_id}")
        await admin.post(f"/console/faults/{fault_id}/updates", {"kind": kind, "text": text,
                                                                 **({"resolved": "on"} if kind == "result" else {})})
    page = await admin.get(f"/console/faults/{fault_id}")
    history = page.text.split('id="fault-history"')[1].split("</ol>")[0]
    assert history.index("检查存储目录权限") < history.index("修正目录权限") < history.index("上传恢复正常")
    assert "已解决" in page.text


async def test_the_inspection_runs_once_a_month_and_last_months_is_listed_as_a_document(client, people, platform,  # noqa: F811
                                                                                         frozen_clock):
    frozen_clock.freeze("2026-11-01T03:30:00+08:00")
    assert (await inspections.due(platform))["inspected"] is True
    assert (await inspections.due(platform))["inspected"] is False  # once in the month
    frozen_clock.freeze("2026-12-01T03:30:00+08:00")
    assert (await inspections.due(platform))["inspected"] is True
    frozen_clock.freeze(dt.datetime(2026, 12, 7, 10, tzinfo=SHANGHAI))
    admin = await people("admin1")
    page = await admin.get("/console/admin/inspections")
    assert page.status_code == 200 and "2026年11月" in page.text and "系统（定时巡检）" in page.text
    kept = await inspections.listing()
    november = next(i for i in kept if i["month"] == "2026-11")
    shown = await admin.get(f"/console/admin/inspections/{november['id']}")
    assert "月度巡检报告（2026年11月）" in shown.text and "数据库迁移" in shown.text
    document = await admin.get(f"/console/admin/inspections/{november['id']}?format=docx")
    words = Document(io.BytesIO(document.content))
    assert words.tables[0].rows[1].cells[0].text == "数据库迁移"
    agent = await people("agent1")
    assert (await agent.get("/console/admin/inspections")).status_code == 403


async def test_the_inspections_are_read_over_the_api_as_json_a_page_or_a_document(client, tokens, platform):
    kept = await inspections.run(platform, "admin1")
    listed = await client.get("/api/inspections", headers=tokens["admin1"])
    assert [i["id"] for i in listed.json()] == [kept["id"]]
    url = f"/api/inspections/{kept['id']}"
    assert (await client.get(url, headers=tokens["admin1"])).json()["findings"][0]["name"] == "数据库迁移"
    page = await client.get(f"{url}?format=html", headers=tokens["admin1"])
    assert page.headers["content-type"].startswith("text/html") and "月度巡检报告" in page.text
    document = await client.get(f"{url}?format=docx", headers=tokens["admin1"])
    assert Document(io.BytesIO(document.content)).tables
    assert (await client.get(f"{url}?format=pdf", headers=tokens["admin1"])).status_code == 400
    assert (await client.get(url, headers=tokens["dispatcher1"])).status_code == 403
    assert (await client.get("/api/inspections/999999", headers=tokens["admin1"])).status_code == 404
