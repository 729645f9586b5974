"""The knowledge base: departments submit and revise, the centre reviews, agents search and cite."""

from __future__ import annotations

import datetime as dt

from core import clock
from core.jobs import deliver_outbox
from core.tables import OutboxMessage
from tests.helpers import intake_body

ARTICLE = {"question": "夜间施工噪音扰民怎么投诉？",
           "answer": "夜间（22时至次日6时）施工须取得夜间施工许可；未取得许可的，由生态环境分局查处，可拨打12345反映。",
           "category": "环境保护/环境污染/噪音污染", "tags": ["噪音", "夜间施工"], "public": True}


async def _submit(client, headers, **overrides) -> dict:
    response = await client.post("/api/knowledge", json={**ARTICLE, **overrides}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _review(client, headers, article_id: int, decision: str, reason: str = "") -> dict:
    response = await client.post(f"/api/knowledge/{article_id}/review",
                                 json={"decision": decision, "reason": reason}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _search(client, headers, q: str) -> list[int]:
    response = await client.get("/api/knowledge", params={"q": q}, headers=headers)
    assert response.status_code == 200, response.text
    return [a["id"] for a in response.json()["items"]]


async def test_submit_review_publish_and_search(client, tokens):
    """A department's article is invisible to agents until the centre approves it; then it is found."""
    article = await _submit(client, tokens["eco_handler"])
    assert article["department"] == "eco_env" and article["pending_version"] == 1
    assert article["published"] is None
    assert await _search(client, tokens["agent1"], "夜间 噪音") == []
    response = await client.post(f"/api/knowledge/{article['id']}/review", json={"decision": "approve"},
                                 headers=tokens["eco_handler"])
    assert response.status_code == 403
    published = await _review(client, tokens["supervisor1"], article["id"], "approve")
    assert published["published_version"] == 1 and published["in_force"]
    assert await _search(client, tokens["agent1"], "夜间 噪音") == [article["id"]]
    assert [e["action"] for e in published["events"]] == ["submit", "approve"]


async def test_send_back_needs_a_reason_and_keeps_the_published_version(client, tokens):
    """A revision sent back leaves the approved answer in use; its reason is on record."""
    article = await _submit(client, tokens["eco_handler"])
    await _review(client, tokens["supervisor1"], article["id"], "approve")
    response = await client.post(f"/api/knowledge/{article['id']}/revisions",
                                 json={**ARTICLE, "answer": "请直接找工地。", "note": "简化答复"},
                                 headers=tokens["eco_handler"])
    assert response.status_code == 201, response.text
    response = await client.post(f"/api/knowledge/{article['id']}/review", json={"decision": "return"},
                                 headers=tokens["supervisor1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "reason"
    returned = await _review(client, tokens["supervisor1"], article["id"], "return", "答复不完整，缺少查处部门")
    assert returned["published_version"] == 1 and returned["pending_version"] is None
    assert returned["published"]["answer"] == ARTICLE["answer"]
    assert [v["status"] for v in returned["versions"]] == ["approved", "returned"]
    assert returned["versions"][1]["review_reason"] == "答复不完整，缺少查处部门"
    assert [e["action"] for e in returned["events"]] == ["submit", "approve", "revise", "return"]


async def test_a_revision_replaces_the_answer_once_approved(client, tokens):
    """After approval the new version is what agents find; the old one stays in the history."""
    article = await _submit(client, tokens["eco_handler"])
    await _review(client, tokens["supervisor1"], article["id"], "approve")
    response = await client.post(f"/api/knowledge/{article['id']}/revisions",
                                 json={**ARTICLE, "question": "工地深夜打桩扰民怎么办？", "tags": ["打桩"]},
                                 headers=tokens["eco_handler"])
    assert response.status_code == 201
    again = await client.post(f"/api/knowledge/{article['id']}/revisions", json=ARTICLE,
                              headers=tokens["eco_handler"])
    assert again.status_code == 409
    done = await _review(client, tokens["admin1"], article["id"], "approve")
    assert done["published_version"] == 2
    assert [v["status"] for v in done["versions"]] == ["superseded", "approved"]
    assert await _search(client, tokens["agent1"], "打桩") == [article["id"]]


async def test_departments_write_only_their_own(client, tokens):
    """A handler cannot write for another department or revise its articles; bad input names the field."""
    response = await client.post("/api/knowledge", json={**ARTICLE, "department": "housing"},
                                 headers=tokens["eco_handler"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "department"
    article = await _submit(client, tokens["eco_handler"])
    response = await client.post(f"/api/knowledge/{article['id']}/revisions", json=ARTICLE,
                                 headers=tokens["housing_handler"])
    assert response.status_code == 404
    response = await client.post("/api/knowledge", json={**ARTICLE, "valid_from": "2026-12-01",
                                                         "valid_until": "2026-11-01"}, headers=tokens["eco_handler"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "valid_until"
    response = await client.post("/api/knowledge", json={**ARTICLE, "answer": ""}, headers=tokens["eco_handler"])
    assert response.status_code == 400
    response = await client.post("/api/knowledge", json=ARTICLE, headers=tokens["agent1"])
    assert response.status_code == 403
    listed = (await client.get("/api/knowledge", headers=tokens["housing_handler"])).json()
    assert listed["items"] == [] and listed["total"] == 0


async def test_lapsed_articles_are_not_offered(client, tokens):
    """An answer past its validity is not found by agents, nor one not yet valid."""
    today = clock.today()
    old = await _submit(client, tokens["eco_handler"], valid_until=(today - dt.timedelta(days=2)).isoformat())
    later = await _submit(client, tokens["eco_handler"], valid_from=(today + dt.timedelta(days=5)).isoformat())
    for article in (old, later):
        await _review(client, tokens["supervisor1"], article["id"], "approve")
    assert await _search(client, tokens["agent1"], "噪音") == []


async def test_resolving_at_intake_cites_and_counts(client, tokens):
    """An agent resolves a call with an article: the citation is recorded and the article ranks higher."""
    first = await _submit(client, tokens["eco_handler"])
    second = await _submit(client, tokens["eco_handler"], question="噪音检测去哪里申请？")
    for article in (first, second):
        await _review(client, tokens["supervisor1"], article["id"], "approve")
    order = (await client.post("/api/channels/hotline/orders", json=intake_body(kind="consult"),
                               headers=tokens["agent1"])).json()
    response = await client.post(f"/api/orders/{order['number']}/actions/resolve_at_intake",
                                 json={"reply": "已告知投诉方式", "article": second["id"]}, headers=tokens["agent1"])
    assert response.status_code == 200, response.text
    assert (await client.get(f"/api/knowledge/{second['id']}", headers=tokens["agent1"])).json()["usage_count"] == 1
    assert await _search(client, tokens["agent1"], "噪音") == [second["id"], first["id"]]


async def test_citing_an_unpublished_article_is_refused(client, tokens):
    """Only a published article can be cited; the order stays open when the citation is refused."""
    draft = await _submit(client, tokens["eco_handler"])
    order = (await client.post("/api/channels/hotline/orders", json=intake_body(kind="consult"),
                               headers=tokens["agent1"])).json()
    response = await client.post(f"/api/orders/{order['number']}/actions/resolve_at_intake",
                                 json={"reply": "已告知", "article": draft["id"]}, headers=tokens["agent1"])
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "article"
    assert (await client.get(f"/api/orders/{order['number']}", headers=tokens["agent1"])).json()["status"] == "received"


async def test_expiring_articles_remind_their_department_once(client, tokens):
    """An answer lapsing within two weeks writes one reminder to the outbox, not one per run."""
    soon = (clock.today() + dt.timedelta(days=3)).isoformat()
    article = await _submit(client, tokens["eco_handler"], valid_until=soon)
    await _review(client, tokens["supervisor1"], article["id"], "approve")
    knowledge = client.platform.knowledge
    assert await knowledge.remind_expiring() == 1
    assert await knowledge.remind_expiring() == 0
    messages = await OutboxMessage.select().where(OutboxMessage.topic == "notify.staff").output(load_json=True)
    assert [(m["payload"]["to"], m["payload"]["template"]) for m in messages] == [
        ("department:eco_env", "knowledge_expiring")]
    assert messages[0]["payload"]["valid_until"] == soon
    await deliver_outbox(client.platform)  # read by the department in the platform, nothing left waiting
    notices = (await client.get("/api/notifications", headers=tokens["eco_handler"])).json()["items"]
    assert len(notices) == 1 and notices[0]["text"].startswith("知识「") and f"将于 {soon} 失效" in notices[0]["text"]
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()) == 0
    events = (await client.get(f"/api/knowledge/{article['id']}", headers=tokens["eco_handler"])).json()["events"]
    assert events[-1]["action"] == "remind_expiry"


async def test_public_faq_shows_only_public_published_answers(client, tokens):
    """The FAQ page and its API show public, published answers to anyone, without signing in."""
    public = await _submit(client, tokens["eco_handler"])
    private = await _submit(client, tokens["eco_handler"], question="内部噪音处置流程", public=False)
    await _submit(client, tokens["eco_handler"], question="尚未审核的噪音问题")
    for article in (public, private):
        await _review(client, tokens["supervisor1"], article["id"], "approve")
    body = (await client.get("/api/public/faq", params={"q": "噪音"})).json()
    assert [i["id"] for i in body["items"]] == [public["id"]] and body["total"] == 1
    page = await client.get("/faq")
    assert page.status_code == 200 and ARTICLE["question"] in page.text and "内部噪音" not in page.text
