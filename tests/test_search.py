"""Search over orders (``GET /api/orders?q=``): segmented Chinese text, phone, name, address, channel
fields, with department isolation and protected reporters kept out of reach."""

from __future__ import annotations

from tests.helpers import intake_body
from plugins.safety_reporting.tests.test_safety_reporting import NAME as REPORTER, PHONE as REPORTER_PHONE, report


async def _take(client, headers, channel="hotline", **overrides) -> str:
    response = await client.post(f"/api/channels/{channel}/orders", json=intake_body(**overrides), headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def _find(client, headers, q: str) -> tuple[list[str], int]:
    response = await client.get("/api/orders", params={"q": q, "page_size": 100}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return [o["number"] for o in body["items"]], body["total"]


async def _dispatch(client, headers, number: str, department: str) -> None:
    response = await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": department},
                                 headers=headers)
    assert response.status_code == 200, response.text


async def test_two_words_apart_find_an_order_that_has_both(client, tokens):
    """`夜间 施工` finds an order whose text has both words in different places, not one with only one."""
    both = await _take(client, tokens["agent1"], subject="工地扰民", content="每天夜间都有卡车进出，周末也在施工。")
    only_one = await _take(client, tokens["agent1"], subject="道路施工", content="白天施工占道，行人难走。")
    found, total = await _find(client, tokens["agent1"], "夜间 施工")
    assert found == [both] and total == 1
    found, _ = await _find(client, tokens["agent1"], "施工")
    assert set(found) == {both, only_one}


async def test_a_word_is_found_inside_text_segmented_another_way(client, tokens):
    """jieba cuts 路灯不亮 as 路 / 灯不亮, yet an agent typing 路灯 (or 灯不亮) finds it; a text that
    only has the characters apart does not match."""
    lamp = await _take(client, tokens["agent1"], subject="路灯不亮", content="小区门口晚上一片漆黑。")
    await _take(client, tokens["agent1"], subject="马路积水", content="灯杆旁边的下水道堵了。")
    for q in ("路灯", "灯不亮", "路灯不亮"):
        found, total = await _find(client, tokens["agent1"], q)
        assert found == [lamp] and total == 1, q


async def test_found_by_number_name_address_and_area(client, tokens):
    """An agent finds an order by its number, the caller's name, the address or the area."""
    number = await _take(client, tokens["agent1"], citizen={"name": "欧阳春花", "phone": "13812345678"},
                         address="岳麓区桐梓坡路88号", area="望城坡街道")
    await _take(client, tokens["agent1"], citizen={"name": "张三", "phone": "13700001111"},
                address="洋湖大道", area="洋湖街道")
    for q in (number, number.lower(), "欧阳春花", "桐梓坡路", "望城坡街道"):
        assert (await _find(client, tokens["agent1"], q))[0] == [number], q


async def test_phone_found_normalised_and_by_its_masked_form_in_the_centre_only(client, tokens):
    """The centre finds a caller by the full phone however it is typed, and by the masked form copied
    from a page (with any other caller sharing those seven digits); a department cannot find orders by
    phone at all, masked or not (it would otherwise learn the hidden digits)."""
    number = await _take(client, tokens["agent1"], citizen={"name": "李女士", "phone": "13912345678"})
    await _dispatch(client, tokens["dispatcher1"], number, "eco_env")
    for q in ("13912345678", "139-1234-5678", "+86 13912345678"):
        assert (await _find(client, tokens["agent1"], q))[0] == [number], q
    other = await _take(client, tokens["agent1"], citizen={"name": "王先生", "phone": "13900005678"})
    await _take(client, tokens["agent1"], citizen={"name": "赵先生", "phone": "13812345678"})
    assert set((await _find(client, tokens["agent1"], "139****5678"))[0]) == {number, other}
    assert (await _find(client, tokens["eco_handler"], "13912345678")) == ([], 0)
    assert (await _find(client, tokens["eco_handler"], "139****5678")) == ([], 0)
    assert (await _find(client, tokens["eco_handler"], "李女士"))[0] == [number]


async def test_channel_fields_are_searchable(client, tokens):
    """An enterprise's name, given in the enterprise-help channel's own fields, finds its order."""
    body = intake_body(kind="help", subject="企业扩产资金紧张", content="急需一笔贷款用于资金周转。")
    body["details"] = {"enterprise_name": "长沙晨光精密制造有限公司", "credit_code": "91350100M000100Y43",
                       "industry": "manufacturing", "problem": "financing"}
    response = await client.post("/api/channels/enterprise_help/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    assert (await _find(client, tokens["agent1"], "晨光精密"))[0] == [response.json()["number"]]


async def test_a_department_finds_only_its_own_orders_and_counts(client, tokens):
    """A handler's search returns and counts only its department's orders, and follows a dispatch."""
    ours = await _take(client, tokens["agent1"], content="夜间施工噪音，请生态环境部门查处。")
    theirs = await _take(client, tokens["agent1"], content="夜间施工噪音，工地无证施工。")
    waiting = await _take(client, tokens["agent1"], content="夜间施工噪音，尚未派单。")
    await _dispatch(client, tokens["dispatcher1"], ours, "eco_env")
    await _dispatch(client, tokens["dispatcher1"], theirs, "housing")
    assert await _find(client, tokens["eco_handler"], "夜间 噪音") == ([ours], 1)
    assert await _find(client, tokens["housing_handler"], "夜间 噪音") == ([theirs], 1)
    assert (await _find(client, tokens["agent1"], "夜间 噪音"))[1] == 3
    response = await client.post(f"/api/orders/{theirs}/actions/return", json={"reason": "不属于本单位职责"},
                                 headers=tokens["housing_handler"])
    assert response.status_code == 200, response.text
    response = await client.post(f"/api/orders/{theirs}/actions/uphold_return", json={},
                                 headers=tokens["dispatcher1"])
    assert response.status_code == 200, response.text
    await _dispatch(client, tokens["dispatcher1"], theirs, "eco_env")
    assert await _find(client, tokens["housing_handler"], "夜间 噪音") == ([], 0)
    assert sorted((await _find(client, tokens["eco_handler"], "夜间 噪音"))[0]) == sorted([ours, theirs])
    assert waiting in (await _find(client, tokens["agent1"], "尚未派单"))[0]


async def test_a_protected_reporter_is_found_only_inside_the_centre(client, tokens):
    """A tip-off reporter's name and phone find the report for the centre, never for the department
    handling it, and never appear in the index in the clear."""
    response = await client.post("/api/channels/safety_reporting/orders", json=report(), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    number = response.json()["number"]
    await _dispatch(client, tokens["dispatcher1"], number, "emergency")
    assert (await _find(client, tokens["agent1"], REPORTER))[0] == [number]
    assert (await _find(client, tokens["agent1"], REPORTER_PHONE))[0] == [number]
    assert (await _find(client, tokens["emergency_handler"], "动火"))[0] == [number]
    assert await _find(client, tokens["emergency_handler"], REPORTER) == ([], 0)
    assert await _find(client, tokens["emergency_handler"], REPORTER_PHONE) == ([], 0)
    from piccolo.engine.sqlite import SQLiteEngine

    engine = client.platform.engine
    column = "tokens" if isinstance(engine, SQLiteEngine) else "document::text"
    rows = await _index_documents(engine, column, "order_search")
    text = " ".join(r["document"] for r in rows)
    assert "动火" in text and REPORTER_PHONE not in text and REPORTER[:2] not in text


async def _index_documents(engine, column, table):
    from piccolo.querystring import QueryString

    return await engine.run_querystring(QueryString(f"SELECT {column} AS document FROM {table}"))


async def test_an_overlong_or_empty_query_is_handled(client, tokens):
    """A query over 100 characters is refused with the field named; punctuation alone finds nothing."""
    response = await client.get("/api/orders", params={"q": "噪" * 101}, headers=tokens["agent1"])
    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "q"
    await _take(client, tokens["agent1"])
    assert await _find(client, tokens["agent1"], "！？") == ([], 0)
    response = await client.get("/api/orders", params={"q": " ".join("噪音" for _ in range(9))},
                                headers=tokens["agent1"])
    assert response.status_code == 400


async def test_an_intake_never_needs_the_segmenting_dictionary(client, tokens, monkeypatch):
    """Taking a call never waits for (or spends time in) word segmentation: documents are character
    n-grams, so an order taken while the dictionary is unusable is found by a three-character word."""
    import jieba

    def unusable(*args, **kwargs):
        raise AssertionError("intake segmented with the dictionary")

    monkeypatch.setattr(jieba, "cut", unusable)
    monkeypatch.setattr(jieba, "cut_for_search", unusable)
    number = await _take(client, tokens["agent1"], address="岳麓区望城坡街道", subject="开发商逾期交房")
    monkeypatch.undo()
    assert (await _find(client, tokens["agent1"], "开发商 望城坡"))[0] == [number]


async def test_a_document_an_earlier_version_indexed_provisionally_is_indexed_again(client, tokens):
    """Documents an earlier version wrote while its dictionary loaded carry a marker; the next start
    indexes them again, once, so they are found like any other."""
    from core.search import ORDER_INDEX, UNSEGMENTED

    number = await _take(client, tokens["agent1"], address="岳麓区望城坡街道", subject="开发商逾期交房")
    order = await client.platform.orders.find(number=number)
    await ORDER_INDEX.put(client.platform.engine, order.id, ["开发商逾期交房", UNSEGMENTED])
    assert (await _find(client, tokens["agent1"], "开发商 望城坡"))[0] == []
    assert await client.platform.orders.index.repair() == 1
    assert (await _find(client, tokens["agent1"], "开发商 望城坡"))[0] == [number]
    assert await client.platform.orders.index.repair() == 0


async def test_a_broad_search_counts_up_to_the_cap_and_says_so(client, tokens, monkeypatch):
    """However many orders match, the count stops at the cap (bounded work on two million orders) and
    the answer says the total is a lower bound; a narrow search is counted exactly."""
    import core.queries
    import core.search

    monkeypatch.setattr(core.queries, "COUNT_CAP", 3)
    monkeypatch.setattr(core.search, "NEWEST_WINDOW", 1)  # PostgreSQL widens its window of recent ids
    taken = [await _take(client, tokens["agent1"], subject="夜间施工噪音") for _ in range(5)]
    narrow = await _take(client, tokens["agent1"], subject="路灯不亮", content="小区门口晚上一片漆黑。")
    response = await client.get("/api/orders", params={"q": "施工", "page_size": 2}, headers=tokens["agent1"])
    body = response.json()
    assert (body["total"], body["total_capped"]) == (3, True)
    assert [o["number"] for o in body["items"]] == [taken[4], taken[3]]  # the newest first
    response = await client.get("/api/orders", params={"q": "施工", "page_size": 1, "page": 3},
                                headers=tokens["agent1"])
    assert [o["number"] for o in response.json()["items"]] == [taken[2]]
    response = await client.get("/api/orders", params={"q": "路灯"}, headers=tokens["agent1"])
    body = response.json()
    assert (body["total"], body["total_capped"], [o["number"] for o in body["items"]]) == (1, False, [narrow])
