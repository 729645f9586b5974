"""What a citizen reads after filing: when the answer is due, what happens next, their own words
for each status, a key that anonymous filers can keep, and each channel's own wording."""

from __future__ import annotations

import datetime as dt
import re

from api.web.tracking import local_time
from core.model import Actor
from core.tables import Order
from tests.test_web import STAFF, Page, complete, open_form, post_form, receipt, track, valid_form

SUPERVISOR = Actor(name="supervisor1", role="supervisor")


async def _filed(client, code="hotline", **overrides) -> tuple[str, str]:
    channel = client.platform.channels.get(code)
    response = await post_form(client, code, valid_form(channel, **overrides))
    assert response.status_code == 200, Page(response.text).text("error-summary")
    return receipt(response)


async def _handle_due(number: str) -> str:
    order = await Order.select(Order.deadlines).where(Order.number == number).output(load_json=True).first()
    return local_time(dt.datetime.fromisoformat(order["deadlines"]["handle"]["due"]))


async def _rate(client, number: str, code: str, satisfaction: str, resolved: str):
    page = Page((await track(client, number, code)).text)
    return await client.post("/track/rate", data={
        "_csrf_token": page.hidden("_csrf_token"), "number": number, "query_code": code,
        "satisfaction": satisfaction, "resolved": resolved, "note": ""})


async def test_the_confirmation_and_the_tracking_page_say_by_when_the_answer_comes(client):
    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(channel, kind="complaint"))
    number, code = receipt(response)
    due = await _handle_due(number)
    for page in (Page(response.text), Page((await track(client, number, code)).text)):
        expected = page.text("expected-reply")
        assert f"{due} 前" in expected and "13 个工作日" in expected
        assert "工作日指周一至周五，不含法定节假日" in expected


async def test_an_approved_extension_moves_the_date_the_citizen_sees(client):
    number, code = await _filed(client)
    await client.platform.orders.act(number, "dispatch", {"department": "eco_env"}, STAFF["dispatcher"])
    await client.platform.orders.act(number, "accept", {}, STAFF["handler"])
    before = await _handle_due(number)
    await client.platform.orders.act(number, "request_extension", {"days": 5, "reason": "需要协调多个部门现场勘查"},
                                     STAFF["handler"])
    await client.platform.orders.act(number, "approve_extension", {"reason": "同意"}, STAFF["dispatcher"])
    after = await _handle_due(number)
    page = Page((await track(client, number, code)).text)
    assert after != before and f"{after} 前" in page.text("expected-reply")
    assert "已批准延期" in page.text("expected-reply")
    assert "承办单位申请延期办理，已获批准" in page.text("timeline")
    assert "需要协调" not in page.source  # the department's reason stays inside


async def test_after_an_unhappy_rating_the_page_says_what_happens_next_and_asks_no_more(client):
    number, code = await _filed(client)
    await complete(client.platform, number)
    rated = Page((await _rate(client, number, code, "unsatisfied", "no")).text)
    assert rated.text("order-status") == "已办结，正在复核您的评价"
    assert "重新办理" in rated.source and "3 个工作日" in rated.source
    assert not rated.find("form", action="/track/rate")
    assert rated.text("rating") == "不满意，未解决"


async def test_a_rework_keeps_the_earlier_reply_and_rating_and_says_why_in_one_line(client):
    number, code = await _filed(client)
    await complete(client.platform, number)
    await _rate(client, number, code, "unsatisfied", "no")
    await client.platform.orders.act(number, "rework", {"reason": "市民反映路灯仍未修好"}, STAFF["dispatcher"])
    page = Page((await track(client, number, code)).text)
    assert page.text("order-status") == "重新办理中"
    history = page.text("history")
    assert "经核实，路灯已于本周修复" in history and "不满意，未解决" in history
    assert "因您对答复不满意或问题未解决，热线中心已要求承办单位重新办理" in page.text("timeline")
    assert "重新办理" in page.text("expected-reply") and f"{await _handle_due(number)} 前" in page.text("expected-reply")
    assert "市民反映路灯仍未修好" not in page.source


async def test_an_anonymous_filer_is_told_the_receipt_is_their_only_key_and_can_download_it(client):
    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(
        channel, anonymous=True, **{"citizen.name": "", "citizen.phone": ""}))
    page = Page(response.text)
    number, code = receipt(response)
    assert "唯一凭证" in page.text("anonymous-warning")
    form = page.one("form", action="/track/receipt")
    assert form["method"] == "post"
    token = page.find("input", name="_csrf_token")[0]["value"]
    download = await client.post("/track/receipt", data={"_csrf_token": token,
                                                         "number": number, "query_code": code})
    assert download.status_code == 200 and download.headers["content-disposition"].startswith("attachment")
    assert number in download.text and code in download.text and "预计答复" in download.text


async def test_submitting_redirects_so_back_or_reload_never_posts_the_form_again(client):
    channel = client.platform.channels.get("hotline")
    page = await open_form(client, "hotline")
    body = {"_submission": page.hidden("_submission"), "_csrf_token": page.hidden("_csrf_token"),
            **valid_form(channel)}
    posted = await client.post("/forms/hotline", data=body, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"] == "/forms/hotline/done"
    assert "httponly" in posted.headers["set-cookie"].lower()
    again = await client.get("/forms/hotline/done")  # what Back or reload does now
    number, code = receipt(again)
    assert number and code and await Order.count() == 1
    assert code not in posted.headers["location"]


async def test_the_track_button_opens_this_orders_progress_and_the_track_page_is_prefilled(client):
    response = await post_form(client, "hotline", valid_form(client.platform.channels.get("hotline")))
    number, code = receipt(response)
    button = Page(response.text).one("form", action="/track")
    assert button["method"] == "post"  # the code travels in the body, never in a URL
    prefilled = Page((await client.get("/track")).text)
    assert prefilled.one("input", name="number")["value"] == number
    assert prefilled.one("input", name="query_code")["value"] == code


async def test_without_a_receipt_the_confirmation_page_leads_to_tracking(client):
    response = await client.get("/forms/hotline/done", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"] == "/track"


async def test_every_form_carries_its_channels_own_example_and_prompts(client):
    for channel in client.platform.channels:
        if not channel.public:
            continue
        page = await open_form(client, channel.code)
        assert channel.wording.subject_example in page.text("f-subject-help"), channel.code
        assert channel.wording.content_help in page.text("f-content-help"), channel.code
    safety = await open_form(client, "safety_reporting")
    wages = await open_form(client, "migrant_workers")
    assert safety.text("f-subject-help") != wages.text("f-subject-help")
    assert "噪音" not in wages.text("f-subject-help")


async def test_the_hotline_card_is_written_for_citizens(client):
    page = Page((await client.get("/forms")).text)
    assert "市级转派" not in page.source and "自有来电" not in page.source


async def test_safety_form_puts_the_emergency_notice_first_and_identity_fields_after_contact(client):
    page = await open_form(client, "safety_reporting")
    source = page.source
    assert "119" in page.text("channel-notice") and "110" in page.text("channel-notice")
    assert source.index('id="channel-notice"') < source.index("<form")
    anonymous, phone = source.index('name="anonymous"'), source.index('name="citizen.phone"')
    id_number, account = source.index('name="details.id_number"'), source.index('name="details.payment_account"')
    assert anonymous < phone < id_number < account  # anonymity asked before any contact field
    for name in ("details.id_number", "details.payment_account"):
        field = next(t for t in page.find("div") if t.get("data-field") == name)
        assert field["data-shown-when"] == "details.reward_requested" and field["data-shown-value"] == "true"
    assert "承办单位看不到您的身份" in source
    explainer = page.text("explainer")
    assert "15%" in explainer and "3,000 元" in explainer and "30 万元" in explainer and "匿名举报不能申请奖励" in explainer


async def test_safety_tracking_shows_the_reward_stage_to_the_reporter(client, tokens):
    body = {"kind": "report", "subject": "化工厂储罐区违规动火作业", "source": "phone",
            "content": "观沙岭街道某化工厂储罐区白天有人电焊，没有办动火审批。",
            "citizen": {"name": "赵先生", "phone": "13700001111"}, "address": "观沙岭街道工业园3号",
            "details": {"hazard_type": "hazardous_chemicals", "enterprise": "长沙某化工有限公司",
                        "reward_requested": True, "id_number": "11010519491231002X"}}
    created = await client.post("/api/channels/safety_reporting/orders", json=body, headers=tokens["agent1"])
    number, code = created.json()["number"], created.json()["query_code"]

    async def act(user, action, payload=None):
        response = await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {},
                                     headers=tokens[user])
        assert response.status_code == 200, response.text

    await act("dispatcher1", "dispatch", {"department": "emergency"})
    await act("emergency_handler", "accept")
    await act("emergency_handler", "verify", {"result": "true", "findings": "查实无证动火，已立案处罚。",
                                              "fine_yuan": 50000})
    await act("dispatcher1", "calculate_reward")
    page = Page((await track(client, number, code)).text)
    assert "举报奖励已核算，正在审批" in page.text("timeline")
    assert "11010519491231002X" not in page.source


async def test_enterprise_help_asks_for_one_contact_person_and_offers_no_anonymity(client):
    page = await open_form(client, "enterprise_help")
    labels = [t for t in re.findall(r"<label[^>]*>([^<（]+)", page.source)]
    assert labels.count("联系人") == 1 and "姓名或称呼" not in labels
    assert not page.find("input", name="anonymous")
    channel = client.platform.channels.get("enterprise_help")
    refused = await post_form(client, "enterprise_help", valid_form(channel, **{"citizen.name": ""}))
    assert refused.status_code == 400 and "联系人" in Page(refused.text).text("f-citizen-name-error")


async def test_enterprise_help_refuses_an_anonymous_request_over_the_api_too(client, tokens):
    body = {"kind": "help", "subject": "扩产资金紧张", "content": "企业扩产急需贷款。", "anonymous": True,
            "details": {"enterprise_name": "长沙某精密制造有限公司", "credit_code": "91350100M000100Y43",
                        "industry": "manufacturing", "problem": "financing"}}
    refused = await client.post("/api/channels/enterprise_help/orders", json=body, headers=tokens["agent1"])
    assert refused.status_code == 400 and refused.json()["extra"][0]["key"] == "anonymous"


async def test_the_wage_form_asks_only_what_inspectors_need_to_start(client):
    page = await open_form(client, "migrant_workers")
    required = {t["name"] for t in page.find("input") + page.find("textarea") + page.find("select")
                if "required" in t} | {t["name"] for t in page.find("input") if t.get("type") == "radio"}
    assert required <= {"kind", "subject", "content", "citizen.phone", "details.employer", "details.still_on_site"}


async def test_mailbox_email_and_postal_address_follow_the_reply_method(client):
    page = await open_form(client, "mayor_mailbox")
    email = page.one("input", name="details.email")
    assert email["type"] == "email"
    fields = {t.get("data-field"): t for t in page.find("div") if t.get("data-field")}
    assert fields["details.email"]["data-shown-when"] == "details.reply_method"
    assert fields["details.email"]["data-shown-value"] == "email"
    assert fields["details.postal_address"]["data-shown-value"] == "letter"


async def test_the_citizens_own_rating_words_are_shown_back_but_never_an_agents_call_note(client):
    from tests.test_web import complete

    number, code = await _filed(client)
    await complete(client.platform, number)
    page = Page((await track(client, number, code)).text)
    rated = Page((await client.post("/track/rate", data={
        "_csrf_token": page.hidden("_csrf_token"), "number": number, "query_code": code,
        "satisfaction": "satisfied", "resolved": "yes", "note": "路灯修好了，谢谢！"})).text)
    assert rated.text("rating-note") == "路灯修好了，谢谢！"

    other, other_code = await _filed(client)
    await complete(client.platform, other)
    await client.platform.orders.act(other, "callback", {"satisfaction": "satisfied", "resolved": True,
                                                         "note": "市民语气急躁，建议加强沟通"}, STAFF["agent"])
    shown = Page((await track(client, other, other_code)).text)
    assert "满意" in shown.text("rating") and "语气急躁" not in shown.source
