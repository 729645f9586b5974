"""Message boards as sources: 区红网 and 区人民网 (and any board an admin adds) are sources of their own,
filterable in lists, counted apart in the reports' breakdown by source, and counted among the 特色工单
(the special-service lines plus the boards, not the general hotline's other intake)."""

from __future__ import annotations

import re

import pytest

from tests.helpers import intake_body

NOW = "2026-12-07T10:00:00+08:00"


async def _intake(client, tokens, channel="hotline", **overrides) -> dict:
    response = await client.post(f"/api/channels/{channel}/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.clock(NOW)
async def test_each_board_is_a_source_of_its_own_filterable_with_its_label(client, tokens):
    red = await _intake(client, tokens, source="hongwang")
    await _intake(client, tokens, source="renminwang")
    await _intake(client, tokens)
    assert red["source_label"] == "区红网"
    listed = await client.get("/api/orders?source=hongwang", headers=tokens["dispatcher1"])
    assert [o["number"] for o in listed.json()["items"]] == [red["number"]]
    refused = await client.post("/api/channels/hotline/orders", json=intake_body(source="nowhere"),
                                headers=tokens["agent1"])
    assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "source"
    from tests.test_console import Staff

    dispatcher = Staff(client)
    await dispatcher.login("dispatcher1")
    page = await dispatcher.get("/console/orders?source=hongwang")
    assert set(re.findall(r'href="/console/orders/(XJ\d+)"', page.text)) == {red["number"]}
    assert '<option value="hongwang" selected>区红网</option>' in page.text


@pytest.mark.clock(NOW)
async def test_an_admin_adds_a_board_that_becomes_a_source(client, tokens):
    body = {"code": "zhengwu", "name": "区政务留言板"}
    assert (await client.post("/api/netboards", json=body, headers=tokens["supervisor1"])).status_code == 403
    added = await client.post("/api/netboards", json=body, headers=tokens["admin1"])
    assert added.status_code == 201, added.text
    again = await client.post("/api/netboards", json=body, headers=tokens["admin1"])
    assert again.status_code == 400 and again.json()["extra"][0]["key"] == "code"
    bad = await client.post("/api/netboards", json={"code": "Bad Code", "name": ""}, headers=tokens["admin1"])
    assert {e["key"] for e in bad.json()["extra"]} == {"code", "name"}
    boards = (await client.get("/api/netboards", headers=tokens["dispatcher1"])).json()["items"]
    assert [b["name"] for b in boards][:2] == ["区红网", "区人民网"] and "区政务留言板" in [b["name"] for b in boards]
    order = await _intake(client, tokens, source="zhengwu")
    assert order["source_label"] == "区政务留言板"
    from tests.test_console import Staff

    admin = Staff(client)
    await admin.login("admin1")
    page = await admin.get("/console/admin/netboards")
    assert "区政务留言板" in page.text and "系统内置" in page.text
    refused = await admin.post("/console/admin/netboards", {"code": "zhengwu", "name": "又一个"})
    assert refused.status_code == 400 and "已有来源使用代码" in refused.text
    added = await admin.post("/console/admin/netboards", {"code": "xinfang", "name": "区信访留言板"},
                             follow_redirects=True)
    assert "已添加留言板「区信访留言板」" in added.text


@pytest.mark.clock(NOW)
async def test_board_orders_count_among_the_featured_orders_and_apart_in_every_report(client, tokens):
    await _intake(client, tokens, source="hongwang")
    await _intake(client, tokens, source="renminwang")
    await _intake(client, tokens, source="renminwang")
    await _intake(client, tokens)  # a phone call to the general hotline: not featured
    await _intake(client, tokens, channel="migrant_workers", subject="工地拖欠工资", content="老板拖欠三个月工资。",
                  details={"employer": "某劳务公司", "project": "某工地", "wage_period": "2026年9月至11月",
                           "still_on_site": True, "workers": 2, "amount_owed": 20000})
    report = (await client.get("/api/reports/monthly?start=2026-12-01", headers=tokens["supervisor1"])).json()
    assert report["featured"]["total"] == 4
    assert (report["featured"]["special_lines"], report["featured"]["netboards_in_hotline"]) == (1, 3)
    section = next(s for s in report["sections"] if s["title"] == "特色工单")
    rows = {r["label"]: r["value"] for r in section["rows"]}
    assert rows["特色工单合计"] == 4 and rows["网络留言：区人民网（各渠道）"] == 2
    by_source = {r["label"]: r["counts"]["intake"] for r in report["breakdowns"]["source"]["rows"]}
    assert by_source == {"区红网": 1, "区人民网": 2, "电话": 2}
    html = await client.get("/api/reports/monthly?start=2026-12-01&format=html", headers=tokens["supervisor1"])
    assert "特色工单合计" in html.text and "区人民网" in html.text
