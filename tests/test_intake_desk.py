"""The agent's intake form through a working shift: a call about an open order is added to it as
追加来电 in one step, 分类 comes from the centre's own tree, and typing keeps the session alive.
(The draft kept in the browser is in ``test_intake_browser.py``.)"""

from __future__ import annotations

from core.model import Actor
from tests.test_console import Staff, _order, people  # noqa: F401  (fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
CALLER = "13755550001"


async def _dispatched(platform, **overrides) -> str:
    number = await _order(platform, **overrides)
    await platform.orders.act(number, "dispatch", {"department": "housing"}, DISPATCHER)
    return number


async def test_a_second_call_about_an_open_order_is_added_to_it_as_a_follow_up(client, people, platform):
    number = await _dispatched(platform, subject="楼道灯坏了", citizen={"name": "李女士", "phone": CALLER})
    agent = await people("agent1")
    history = await agent.get(f"/console/caller-history?phone={CALLER}")
    assert f'formaction="/console/intake/follow-up/{number}"' in history.text  # offered beside the open order
    await agent.get("/console/intake")
    added = await agent.post(f"/console/intake/follow-up/{number}", {
        "channel": "hotline", "kind": "complaint", "citizen.phone": CALLER, "subject": "",
        "content": "李女士再次来电：楼道灯还是不亮，晚上老人上下楼很危险"})
    assert added.status_code == 200 and "已完成：追加来电" in added.text
    assert "晚上老人上下楼很危险" in added.text  # on the order's own page, in the caller's words
    order = await platform.orders.get(number, DISPATCHER)
    [urge] = order.supervisions
    assert urge["kind"] == "urge" and urge["from_caller"] and urge["department"] == "housing"
    assert urge["note"].startswith("李女士再次来电")
    assert (await platform.orders.caller_history(DISPATCHER, CALLER))["total"] == 1  # no second order
    handler = await people("housing_handler")
    page = await handler.get(f"/console/orders/{number}")
    assert "回复督办" in page.text and "楼道灯还是不亮" in page.text  # the department answers it as a 催办


async def test_a_follow_up_without_the_callers_words_keeps_the_form_and_says_what_is_missing(client, people, platform):
    number = await _dispatched(platform, citizen={"name": "李女士", "phone": CALLER})
    agent = await people("agent1")
    await agent.get("/console/intake")
    refused = await agent.post(f"/console/intake/follow-up/{number}", {
        "channel": "hotline", "kind": "complaint", "citizen.phone": CALLER, "citizen.name": "李女士",
        "subject": "又来电了", "content": "  "})
    assert refused.status_code == 400 and "请先在“来电内容”里记下来电人这次说的话" in refused.text
    assert 'value="又来电了"' in refused.text and 'value="李女士"' in refused.text  # nothing typed is lost
    assert (await platform.orders.get(number, DISPATCHER)).supervisions == []


async def test_a_closed_order_offers_no_follow_up(client, people, platform):
    number = await _order(platform, citizen={"name": "李女士", "phone": CALLER})
    await platform.orders.act(number, "merge", {"into": await _order(platform), "reason": "同一诉求"}, DISPATCHER)
    agent = await people("agent1")
    history = await agent.get(f"/console/caller-history?phone={CALLER}")
    assert number in history.text and f"follow-up/{number}" not in history.text


async def test_the_category_is_chosen_from_the_centres_tree_not_typed_freely(client, people, platform):
    agent = await people("agent1")
    page = await agent.get("/console/intake")
    assert '<option value="环境保护/环境污染"></option>' in page.text  # every level can be chosen
    call = {"channel": "hotline", "kind": "complaint", "subject": "路灯不亮", "content": "小区门口路灯不亮",
            "citizen.phone": "13912345678"}
    refused = await agent.post("/console/intake", {**call, "category": "路灯"})
    assert refused.status_code == 400 and "请从分类列表中选择" in refused.text and 'value="路灯"' in refused.text
    made = await agent.post("/console/intake", {**call, "category": "城乡建设"})
    assert made.status_code == 200 and "已完成：受理" in made.text


async def test_a_category_the_admin_disabled_is_no_longer_offered(client, people, platform):
    from core import categories
    from core.tables import Category

    row = await Category.select(Category.id).where(Category.name == "环境保护").first()
    await categories.change(row["id"], categories.CategoryChange(active=False))
    offered = await categories.paths()
    assert "环境保护" not in offered and not any(p.startswith("环境保护/") for p in offered)
    agent = await people("agent1")
    refused = await agent.post("/console/intake", {
        "channel": "hotline", "kind": "complaint", "subject": "噪音", "content": "夜间噪音",
        "citizen.phone": "13912345678", "category": "环境保护/环境污染"})
    assert refused.status_code == 400 and "请从分类列表中选择" in refused.text


async def test_typing_keeps_the_session_alive(client, people, frozen_clock):
    frozen_clock.freeze("2026-12-07T10:00:00+08:00")
    agent = await people("agent1")
    for minute in (20, 40, 60):  # a long call: the page pings while the agent types, 20 minutes apart
        frozen_clock.freeze(f"2026-12-07T{10 + minute // 60}:{minute % 60:02d}:00+08:00")
        assert (await agent.get("/console/keepalive")).status_code == 204
    frozen_clock.freeze("2026-12-07T11:25:00+08:00")  # 25 minutes after the last keystroke: still signed in
    assert (await agent.get("/console/intake", follow_redirects=False)).status_code == 200
    nobody = await Staff(client).get("/console/keepalive", follow_redirects=False)
    assert nobody.status_code in (303, 401)


async def test_part_of_a_category_name_files_the_call_under_the_one_branch_it_names(client, people, platform):
    agent = await people("agent1")
    await agent.get("/console/intake")
    call = {"channel": "hotline", "kind": "complaint", "subject": "夜间噪音", "content": "工地夜间施工噪音",
            "citizen.phone": "13912345678"}
    made = await agent.post("/console/intake", {**call, "category": "噪音"})
    assert made.status_code == 200 and "已完成：受理" in made.text
    number = made.text.split('id="order-number">')[1].split("<")[0]
    assert (await platform.orders.get(number, Actor(name="d", role="dispatcher"))).category == "环境保护/环境污染/噪音污染"
    several = await agent.post("/console/intake", {**call, "category": "污染"})
    assert several.status_code == 400 and "对应多个分类，请选择其一" in several.text and "噪音污染" in several.text


async def test_a_question_answered_on_the_call_is_recorded_and_resolved_in_one_press(client, people, platform):
    agent = await people("agent1")
    await agent.get("/console/intake")
    call = {"channel": "hotline", "kind": "consult", "subject": "居住证办理需要哪些材料",
            "content": "郑先生咨询居住证办理需要准备哪些材料", "citizen.phone": "13912340001", "resolve": "1"}
    missing = await agent.post("/console/intake", {**call, "resolve_reply": "  "})
    assert missing.status_code == 400 and "请写明当场答复市民的内容" in missing.text
    assert 'value="居住证办理需要哪些材料"' in missing.text  # what was typed stays
    assert (await platform.orders.caller_history(DISPATCHER, "13912340001"))["total"] == 0  # nothing recorded
    done = await agent.post("/console/intake", {**call, "resolve_reply": "携带身份证、租房合同到街道政务服务中心办理"})
    assert done.status_code == 200 and "已完成：受理并即时办结" in done.text
    [number] = [o["number"] for o in (await platform.orders.caller_history(DISPATCHER, "13912340001"))["items"]]
    order, events = await platform.orders.detail(number, DISPATCHER)
    assert order.status == "completed" and [e.action for e in events] == ["intake", "resolve_at_intake"]
    assert "租房合同" in events[-1].payload["reply"]


async def test_resolving_on_the_call_is_its_own_button_and_a_plain_intake_ignores_the_answer_box(client, people,
                                                                                                  platform):
    agent = await people("agent1")
    page = await agent.get("/console/intake")
    assert 'id="intake-resolve"' in page.text and 'name="resolve_reply"' in page.text
    made = await agent.post("/console/intake", {"channel": "hotline", "kind": "complaint", "subject": "路灯不亮",
                                                "content": "小区门口路灯不亮", "citizen.phone": "13912340002",
                                                "resolve_reply": "先记下"})
    assert made.status_code == 200 and "已完成：受理" in made.text and "即时办结" not in made.text.split("办理记录")[-1]
    [item] = (await platform.orders.caller_history(DISPATCHER, "13912340002"))["items"]
    assert item["status"] == "received"


async def test_the_knowledge_panel_beside_the_intake_form_offers_an_answer_that_is_cited_when_resolved(
        client, people, platform, tokens):
    from tests.test_knowledge import ARTICLE, _review, _submit

    article = await _submit(client, tokens["eco_handler"])
    agent = await people("agent1")
    await agent.get("/console/intake")
    unpublished = await agent.get("/console/intake/knowledge?subject=夜间施工噪音")
    assert unpublished.status_code == 200 and "没有找到相关的已发布知识" in unpublished.text  # not yet reviewed
    await _review(client, tokens["supervisor1"], article["id"], "approve")
    panel = await agent.get("/console/intake/knowledge?subject=夜间施工噪音")
    assert ARTICLE["question"] in panel.text and f'data-article="{article["id"]}"' in panel.text
    assert "生态环境分局" in panel.text  # the writing department by name
    done = await agent.post("/console/intake", {
        "channel": "hotline", "kind": "consult", "subject": "夜间施工噪音怎么投诉", "content": "王先生咨询夜间施工噪音投诉渠道",
        "citizen.phone": "13912340003", "resolve": "1", "resolve_reply": ARTICLE["answer"], "article": str(article["id"])})
    assert done.status_code == 200 and "已完成：受理并即时办结" in done.text
    cited = (await client.get(f"/api/knowledge/{article['id']}", headers=tokens["agent1"])).json()
    assert cited["usage_count"] == 1  # counted with the resolution
