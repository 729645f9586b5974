"""话务人员绩效 in the periodic reports: per team and per agent, the figures of the person page, by the
people's names, the same in the printable page and the workbook (read back here), and only in the
whole centre's report."""

from __future__ import annotations

import io

import openpyxl
import pytest

from core import clock
from core.tables import User
from tests.helpers import PASSWORD, login
from tests.test_people import _act, _orders_of_agent1

pytestmark = pytest.mark.clock("2026-12-07T15:00:00+08:00")


async def _setting(client, tokens) -> dict:
    from core.users import add_user

    await add_user("agent2", role="agent", password=PASSWORD, display_name="李静", trained=True)
    await User.update({User.display_name: "王小明"}).where(User.username == "agent1")
    team = await client.post("/api/teams", headers=tokens["admin1"],
                             json={"name": "话务一组", "leader": "agent2", "members": ["agent1", "agent2"]})
    assert team.status_code == 201, team.text
    numbers = await _orders_of_agent1(client, tokens)
    today = clock.today().isoformat()
    drawn = await client.post("/api/quality/draws", json={"start": today, "end": today}, headers=tokens["supervisor1"])
    assert drawn.status_code == 201, drawn.text
    sample = next(s for s in (await client.get("/api/quality/samples", headers=tokens["supervisor1"])).json()
                  if s["order"] == numbers["rated"])
    scored = await client.post(f"/api/quality/samples/{sample['id']}/score", headers=tokens["supervisor1"],
                               json={"deductions": {"reply_manner": 12}, "comment": "答复口径不完整"})
    assert scored.status_code == 200, scored.text
    # agent2 answers one call and calls a citizen back who does not pick up
    second = await login(client, "agent2")
    made = await client.post("/api/channels/hotline/orders", headers=second, json={
        "kind": "consult", "subject": "公积金提取", "content": "咨询公积金提取条件", "source": "phone",
        "citizen": {"name": "赵先生", "phone": "13800000001"}, "address": "", "area": ""})
    assert made.status_code == 201, made.text
    await _act(client, second, made.json()["number"], "resolve_at_intake", {"reply": "已告知提取条件。"})
    return numbers


async def test_the_daily_report_shows_each_team_and_agent_the_same_in_html_and_xlsx(client, tokens):
    await _setting(client, tokens)
    today = clock.today().isoformat()
    body = (await client.get(f"/api/reports/daily?start={today}", headers=tokens["supervisor1"])).json()
    people = body["people"]
    rows = {(r["team"], r["name"]): r for r in people["rows"]}
    labels = [c["label"] for c in people["columns"]]
    assert set(rows) >= {("话务一组", "话务一组合计"), ("话务一组", "王小明"), ("话务一组", "李静")}
    assert not any("agent" in name or "admin" in name for _, name in rows)  # names, never usernames

    # the agent's row is the person page's figures for the same day
    mine = (await client.get(f"/api/agents/agent1/figures?start={today}&end={today}", headers=tokens["agent1"])).json()
    figures = mine["figures"]
    wang = dict(zip(labels, rows[("话务一组", "王小明")]["values"]))
    assert wang["受理量"] == figures["orders_recorded"] == 3 and wang["接听量"] == 3
    assert wang["即时办结率"] == figures["resolved_at_intake_rate"] == round(1 / 3, 4)
    assert wang["派错退回或改派"] == 1 and wang["派单准确率"] == 0.5
    assert wang["回访评价数"] == 1 and wang["回访满意率"] == 0
    assert wang["质检样本（已评分）"] == 1 and wang["质检平均分"] == 88.0 == figures["quality"]["score_avg"]
    assert wang["平均话后处理时长（秒）"] == figures["wrap_up_seconds_avg"]
    team = dict(zip(labels, rows[("话务一组", "话务一组合计")]["values"]))
    assert team["受理量"] == 4 and team["即时办结率"] == 0.5  # the members' sum: two of four at intake

    # the workbook's sheet holds exactly those rows, the printable page the same names and numbers
    workbook = await client.get(f"/api/reports/daily?start={today}&format=xlsx", headers=tokens["supervisor1"])
    sheet = openpyxl.load_workbook(io.BytesIO(workbook.content))["话务人员绩效"]
    read = list(sheet.iter_rows(values_only=True))
    assert list(read[0]) == ["班组", "人员", *labels]
    assert [list(r) for r in read[1:]] == [[r["team"], r["name"], *r["values"]] for r in people["rows"]]
    assert sheet.cell(row=3, column=2 + labels.index("即时办结率") + 1).number_format == "0.0%"
    page = (await client.get(f"/api/reports/daily?start={today}&format=html", headers=tokens["supervisor1"])).text
    section = page[page.index('id="people"'):page.index("<h2>指标定义")]
    assert "<td>王小明</td><td>3</td>" in section.replace("<td>话务一组</td>", "")
    assert "33.3%" in section and "88.0" in section and "李静" in section and "agent1" not in section
    docx = await client.get(f"/api/reports/daily?start={today}&format=docx", headers=tokens["supervisor1"])
    from docx import Document

    written = Document(io.BytesIO(docx.content))
    table = next(t for t in written.tables if t.rows[0].cells[0].text == "班组")
    assert [c.text for c in table.rows[1].cells] == ["话务一组", "4", "4", "50.0%", "50.0%", "0.0%", "88.0"]

    # the month and the year carry it too; a department's report has none
    month = (await client.get(f"/api/reports/monthly?start={today}", headers=tokens["supervisor1"])).json()
    assert dict(zip(labels, next(r for r in month["people"]["rows"] if r["name"] == "王小明")["values"]))["受理量"] == 3
    annual = (await client.get(f"/api/reports/annual?start={today}", headers=tokens["supervisor1"])).json()
    assert any(r["name"] == "李静" for r in annual["people"]["rows"])
    handler = (await client.get(f"/api/reports/daily?start={today}", headers=tokens["eco_handler"])).json()
    assert handler["people"] is None
    handler_book = await client.get(f"/api/reports/daily?start={today}&format=xlsx", headers=tokens["eco_handler"])
    assert "话务人员绩效" not in openpyxl.load_workbook(io.BytesIO(handler_book.content)).sheetnames
