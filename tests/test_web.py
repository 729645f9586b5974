"""The public web pages, through HTTP: every channel's form, its error paths, tracking, rating, published
replies, attachments, CSRF, rate limits and headers. Each test states what a citizen would notice."""

from __future__ import annotations

import datetime as dt
import html
import re
import sys
from html.parser import HTMLParser
from typing import Annotated, Literal

import msgspec
import pytest
from litestar.testing import AsyncTestClient

from api.app import create_app
from api.conformance import form_value
from api.web.forms import all_fields, sections
from core.channels import Channel, describe_fields, field
from core.hookspecs import hookimpl
from core.model import Actor
from core.platform import Platform
from core.plugins import get_plugin_manager
from core.tables import Attachment, Order, OrderEvent
from tests import helpers, sample_plugin
from tests.helpers import bundled_channels, clean, seed_staff

PNG = helpers.png()
PDF = helpers.PDF
MP4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41" + b"\x00" * 64
STAFF = {"dispatcher": Actor(name="dispatcher1", role="dispatcher"),
         "agent": Actor(name="agent1", role="agent"),
         "handler": Actor(name="eco_handler", role="handler", department="eco_env")}


# -- reading pages -------------------------------------------------------------------------------------

class Page(HTMLParser):
    """Just enough of the DOM for assertions: every start tag with its attributes, and text by id."""

    VOID = {"input", "br", "meta", "link", "img", "hr"}

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.source = text
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.texts: dict[str, str] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag not in self.VOID:
            self._open.append((tag, attrs.get("id")))
            if attrs.get("id"):
                self.texts[attrs["id"]] = ""

    def handle_endtag(self, tag):
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data):
        for _, element_id in self._open:
            if element_id:
                self.texts[element_id] += data

    def find(self, tag: str | None = None, **attrs) -> list[dict[str, str]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.rstrip("_").replace("_", "-")) == v for k, v in attrs.items())]

    def one(self, tag: str | None = None, **attrs) -> dict[str, str]:
        found = self.find(tag, **attrs)
        assert len(found) == 1, (tag, attrs, found)
        return found[0]

    def text(self, element_id: str) -> str:
        return " ".join(self.texts.get(element_id, "").split())

    def hidden(self, name: str) -> str:
        return self.one("input", name=name)["value"]


async def open_form(client, code: str) -> Page:
    response = await client.get(f"/forms/{code}")
    assert response.status_code == 200, response.text
    return Page(response.text)


def valid_form(channel: Channel, **overrides) -> dict:
    """The channel's required fields filled as a citizen would, with the sample each field's
    description gives (``core.channels.sample_value``, the one ``huying check-channel`` and the demo
    use: a channel whose own checks refuse it fails ``check-channel`` too, which says why), and the
    common ones with a realistic request."""
    # the form's one address input: the channel's own place field when it declares one
    values = {"kind": channel.kinds[0],
              f"details.{channel.location_field}" if channel.location_field else "address": "梅溪湖街道某小区东门"}
    for info in describe_fields(channel.fields):
        if info.required and (value := form_value(info, info.sample)) is not None:
            values[f"details.{info.name}"] = value
    values.update({"subject": "小区门口路灯坏了一个月", "content": "梅溪湖街道某小区东门的路灯坏了一个多月，晚上很黑，老人走路不安全。",
                   "citizen.name": "李女士", "citizen.phone": "13912345678"})
    values.update(overrides)
    return {k: v for k, v in values.items() if v is not False}


async def post_form(client, code: str, data: dict, *, files=None, page: Page | None = None, token: bool = True):
    page = page or await open_form(client, code)
    body = {"_submission": page.hidden("_submission"), **data}
    if token:
        body["_csrf_token"] = page.hidden("_csrf_token")
    body = {k: ("on" if v is True else v) for k, v in body.items()}
    if files:
        return await client.post(f"/forms/{code}", data=body, files=files)
    return await client.post(f"/forms/{code}", data=body)


def receipt(response) -> tuple[str, str]:
    page = Page(response.text)
    return page.text("order-number"), page.text("query-code")


async def complete(platform, number: str) -> None:
    """Take an order through the centre and the department to 办结, as staff would."""
    await platform.orders.act(number, "dispatch", {"department": "eco_env"}, STAFF["dispatcher"])
    await platform.orders.act(number, "accept", {}, STAFF["handler"])
    await platform.orders.act(number, "reply", {"reply": "内部答复：已联系路灯所，张三负责", "public_reply":
                                                 "经核实，路灯已于本周修复，感谢您的反映。"}, STAFF["handler"])
    await platform.orders.act(number, "approve", {}, STAFF["dispatcher"])


async def track(client, number: str, code: str):
    page = Page((await client.get("/track")).text)
    return await client.post("/track", data={"_csrf_token": page.hidden("_csrf_token"), "number": number,
                                             "query_code": code})


def public_channels(platform) -> list[Channel]:
    """The bundled channels citizens file with (a channel installed from elsewhere is checked by
    ``huying check-channel`` in tests/test_conformance.py, which says what it got wrong)."""
    return [c for c in bundled_channels(platform) if c.public]


# -- a platform with test channels ---------------------------------------------------------------------

class Everything(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    level: Annotated[Literal["low", "mid", "high"], field("紧急程度", "影响大小", choices={
        "low": "一般", "mid": "较急", "high": "很急"})]
    district: Annotated[Literal["a", "b", "c", "d", "e"], field("片区", choices={
        "a": "东片", "b": "西片", "c": "南片", "d": "北片", "e": "中片"})] = "a"
    aspects: Annotated[list[Literal["noise", "smell", "dust"]], field("涉及方面", choices={
        "noise": "噪音", "smell": "异味", "dust": "粉尘"})] = []
    repeat: Annotated[bool, field("以前反映过")] = False
    people: Annotated[int, field("涉及人数", ge=1, le=1000)] = 1
    amount: Annotated[float, field("涉及金额（元）", ge=0)] = 0.0
    happened_on: Annotated[dt.date, field("发生日期", "大概哪一天")]
    story: Annotated[str, field("补充经过", widget="textarea", max_length=500)] = ""


class EverythingPlugin:
    @hookimpl
    def register_channel(self):
        return Channel(code="everything", name="全类型测试专线", description="每种字段各一个。", fields=Everything,
                       kinds=("complaint", "help"))


class HiddenPlugin:
    @hookimpl
    def register_channel(self):
        return Channel(code="internal_only", name="内部专线", description="不对市民开放。", public=False)


@pytest.fixture
async def web_with(migrated):
    """A client on a platform with extra plugins registered (fresh database, staff seeded)."""
    opened = []

    async def make(*plugins):
        platform = Platform(migrated, pm=get_plugin_manager(extra=plugins))
        await platform.start()
        await clean(platform)
        await platform.start()
        await seed_staff()
        client = AsyncTestClient(create_app(platform, pool=False, run_jobs=False))
        await client.__aenter__()
        client.platform = platform
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.__aexit__(None, None, None)


# -- the pages -----------------------------------------------------------------------------------------

async def test_the_home_page_leads_to_the_forms(client):
    response = await client.get("/", follow_redirects=False)
    assert response.status_code in (301, 302, 303, 307) and response.headers["location"] == "/forms"


async def test_forms_page_lists_every_public_channel_with_what_it_is_for(web_with):
    client = await web_with(HiddenPlugin())
    page = Page((await client.get("/forms")).text)
    for channel in client.platform.channels:
        links = page.find("a", href=f"/forms/{channel.code}")
        if channel.public:
            assert links and html.escape(channel.wording.card or channel.description) in page.source, channel.code
        else:
            assert not links and channel.name not in page.source


async def test_a_private_or_unknown_channel_has_no_form(web_with):
    client = await web_with(HiddenPlugin())
    for path in ("/forms/internal_only", "/forms/no_such_channel"):
        response = await client.get(path)
        assert response.status_code == 404 and "没有这个反映渠道" in response.text
        assert response.headers["content-type"].startswith("text/html")


async def test_every_channel_form_shows_each_field_with_its_label_help_and_required_mark(client):
    for channel in public_channels(client.platform):
        page = await open_form(client, channel.code)
        for f in all_fields(sections(channel)):
            label = page.one("label", for_=f.id) if f.control not in ("radios", "checkboxes") else None
            if label is not None:
                assert page.one(id=f.id)["name"] == f.name
            else:
                assert page.one("fieldset", id=f.id) and page.find("input", name=f.name)
            assert html.escape(f.label) in page.source
            if f.help:
                assert page.text(f"{f.id}-help") == " ".join(f.help.split())
                assert f"{f.id}-help" in page.one(id=f.id).get("aria-describedby", "")
        assert page.source.count("（必填）") >= 1 + sum(f.required for f in all_fields(sections(channel)))
        assert page.one("form")["method"] == "post" and page.one("form")["enctype"] == "multipart/form-data"
        assert page.hidden("_csrf_token")


async def test_each_field_type_gets_the_control_a_citizen_expects(web_with):
    client = await web_with(EverythingPlugin())
    page = await open_form(client, "everything")
    assert page.one("select", name="details.district")  # five choices: a list
    assert len(page.find("input", type="radio", name="details.level")) == 3  # few choices: radio buttons
    assert len(page.find("input", type="checkbox", name="details.aspects")) == 3
    assert page.one("input", type="checkbox", name="details.repeat")
    assert page.one("input", name="details.people")["inputmode"] == "numeric"
    assert page.one("input", name="details.amount")["inputmode"] == "decimal"
    assert page.one("input", name="details.happened_on")["type"] == "date"
    assert page.one("textarea", name="details.story")["maxlength"] == "500"
    assert page.one("textarea", name="content")
    assert page.one("input", name="citizen.phone")["type"] == "tel"
    assert len(page.find("input", type="radio", name="kind")) == 2  # only the kinds this channel takes
    # a default choice is already selected
    assert 'value="a" selected' in page.source


async def test_an_empty_form_shows_every_mistake_beside_its_field(client):
    for channel in public_channels(client.platform):
        response = await post_form(client, channel.code, {})
        assert response.status_code == 400
        page = Page(response.text)
        required = [f for f in all_fields(sections(channel)) if f.required]
        for f in required:
            message = page.text(f"{f.id}-error")
            assert message.startswith("错误："), (channel.code, f.name)
            control = page.one(id=f.id)
            assert f"{f.id}-error" in control["aria-describedby"]
            assert page.find("a", href=f"#{f.id}")  # the summary links to the field
        assert "请留下联系电话" in page.text("f-citizen-phone-error")
        assert page.one(id="error-summary")["role"] == "alert"
        assert await Order.count() == 0


async def test_invalid_input_keeps_everything_typed(web_with):
    client = await web_with(EverythingPlugin())
    typed = {"kind": "help", "subject": "路灯<坏了>", "content": "第一行\n第二行 & 第三行", "citizen.name": "王先生",
             "citizen.phone": "12345", "address": "某路 1 号", "area": "梅溪湖街道", "details.level": "mid",
             "details.district": "c", "details.aspects": ["noise", "dust"], "details.repeat": True,
             "details.people": "0", "details.amount": "12.5", "details.happened_on": "2025-03-01",
             "details.story": "三天前开始"}
    response = await post_form(client, "everything", typed)
    assert response.status_code == 400
    page = Page(response.text)
    assert page.one("input", name="subject")["value"] == "路灯<坏了>"
    assert "&lt;坏了&gt;" in page.source
    assert page.text("f-content") == "第一行 第二行 & 第三行"
    assert page.one("input", name="citizen.phone")["value"] == "12345"
    assert page.one("input", name="details.level", value="mid").get("checked") is not None
    assert 'value="c" selected' in page.source
    assert {a["value"] for a in page.find("input", name="details.aspects") if "checked" in a} == {"noise", "dust"}
    assert "checked" in page.one("input", name="details.repeat")
    assert page.one("input", name="details.people")["value"] == "0"
    assert page.one("input", name="details.happened_on")["value"] == "2025-03-01"
    assert page.text("f-details-story") == "三天前开始"
    # both mistakes at once, in plain Chinese
    assert "电话格式不正确" in page.text("f-citizen-phone-error")
    assert "不能小于 1" in page.text("f-details-people-error")
    assert page.hidden("_submission")  # the same form: a corrected resubmission is still one order
    assert await Order.count() == 0


async def test_a_channel_rule_shows_beside_its_field(client):
    form = valid_form(client.platform.channels.get("mayor_mailbox"), kind="suggestion",
                      **{"details.reply_method": "email", "details.email": ""})
    response = await post_form(client, "mayor_mailbox", form)
    assert response.status_code == 400
    assert "电子邮箱" in Page(response.text).text("f-details-email-error")


async def test_a_kind_the_channel_does_not_take_is_refused_in_words(web_with):
    client = await web_with(sample_plugin)
    form = valid_form(client.platform.channels.get("parking"), kind="praise", **{"details.plate": "湘A12345"})
    response = await post_form(client, "parking", form)
    assert response.status_code == 400
    assert "受理的诉求类型为" in Page(response.text).text("f-kind-error")


async def test_a_valid_form_becomes_an_order_the_staff_see(client, tokens):
    for channel in public_channels(client.platform):
        response = await post_form(client, channel.code, valid_form(channel))
        assert response.status_code == 200, Page(response.text).text("error-summary")
        number, code = receipt(response)
        assert re.fullmatch(r"XJ\d{14}", number) and re.fullmatch(r"[A-Z2-9]{8}", code)
        assert "13912345678" not in response.text and "李女士" not in response.text
        assert response.headers["cache-control"] == "no-store"
        staff = await client.get(f"/api/orders/{number}", headers=tokens["agent1"])
        assert staff.status_code == 200
        order = staff.json()
        assert order["channel"] == channel.code and order["source"] == "web_form"
        assert order["subject"] == "小区门口路灯坏了一个月"
        assert order["query_code"] == code and order["status"] == "received"
        assert order["events"][0]["role"] == "citizen"


async def test_sending_the_same_form_twice_gives_one_order(client):
    channel = client.platform.channels.get("hotline")
    page = await open_form(client, "hotline")
    first = await post_form(client, "hotline", valid_form(channel), page=page)
    again = await post_form(client, "hotline", valid_form(channel), page=page)
    assert receipt(first) == receipt(again) and await Order.count() == 1
    changed = await post_form(client, "hotline", valid_form(channel, subject="另一件事"), page=page)
    assert changed.status_code == 409 and "已经提交过" in changed.text
    assert Page(changed.text).hidden("_submission") != page.hidden("_submission")
    assert Page(changed.text).one("input", name="subject")["value"] == "另一件事"


async def test_anonymous_citizens_need_not_leave_a_phone(client, tokens):
    channel = client.platform.channels.get("hotline")
    form = valid_form(channel, anonymous=True, **{"citizen.phone": "", "citizen.name": ""})
    response = await post_form(client, "hotline", form)
    number, _ = receipt(response)
    order = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert order["anonymous"] is True


async def test_a_form_posted_without_its_csrf_token_is_refused(client):
    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(channel), token=False)
    assert response.status_code == 403 and "页面已过期" in response.text
    forged = await post_form(client, "hotline", valid_form(channel) | {"_csrf_token": "0" * 128}, token=False)
    assert forged.status_code == 403
    page = Page((await client.get("/track")).text)
    assert (await client.post("/track", data={"number": "XJ1", "query_code": "AAAA"})).status_code == 403
    assert (await client.post("/track/rate", data={"number": "XJ1", "query_code": "AAAA"})).status_code == 403
    assert page.hidden("_csrf_token")
    assert await Order.count() == 0


async def test_the_json_api_needs_no_csrf_token(client, tokens):
    from tests.helpers import intake_body

    client.cookies.clear()
    response = await client.post("/api/channels/hotline/orders", json=intake_body(), headers=tokens["agent1"])
    assert response.status_code == 201
    # the API keeps its own headers: a policy for JSON and files, not the pages' one
    assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


async def test_pages_send_security_headers(client):
    for path in ("/forms", "/forms/hotline", "/track", "/forms/nope", "/static/huying.css"):
        response = await client.get(path)
        assert "default-src 'self'" in response.headers["content-security-policy"], path
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"


async def test_pages_load_nothing_from_outside_and_need_no_script(client):
    """The one script is the site's own, deferred, and only enhances: every input is in the HTML."""
    for path in ("/forms", "/forms/mayor_mailbox", "/track", "/forms/mayor_mailbox/replies"):
        text = (await client.get(path)).text
        assert re.findall(r"<script[^>]*>", text) == [
            f'<script src="/static/citizen.js?v={client.app.state.web.env.globals["css_version"]}" defer>']
        assert not re.search(r'(src|href)="(https?:)?//', text), path
    script = await client.get("/static/citizen.js")
    assert script.status_code == 200 and "http" not in script.text
    css = await client.get("/static/huying.css")
    assert css.status_code == 200 and "@import" not in css.text and "url(" not in css.text


async def test_no_personal_data_goes_into_a_url(client):
    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(channel))
    number, code = receipt(response)
    tracked = await track(client, number, code)
    for text in (response.text, tracked.text):
        for url in re.findall(r'(?:href|action)="([^"]*)"', text):
            assert number not in url and code not in url and "1391234" not in url
        assert all(f["method"] == "post" for f in Page(text).find("form"))


async def test_submitting_too_often_is_slowed_down_with_a_clear_message(client):
    client.app.state.web.limiter.limits["submit"] = (2, 60)
    channel = client.platform.channels.get("hotline")
    for _ in range(2):
        assert (await post_form(client, "hotline", valid_form(channel))).status_code == 200
    limited = await post_form(client, "hotline", valid_form(channel, subject="第三次"))
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
    page = Page(limited.text)
    assert "太频繁" in page.text("rate-limited")
    assert not page.find("div", id="error-summary")  # nothing is marked wrong: only a wait is asked
    assert page.one("input", name="subject")["value"] == "第三次"  # nothing typed is lost
    assert await Order.count() == 2


async def test_mistakes_do_not_use_up_a_citizens_submissions(client):
    """A citizen who corrects a form several times can still submit it: only recorded submissions
    count against the limit."""
    client.app.state.web.limiter.limits["submit"] = (1, 600)
    channel = client.platform.channels.get("hotline")
    for _ in range(3):
        refused = await post_form(client, "hotline", valid_form(channel, **{"citizen.phone": "123"}))
        assert refused.status_code == 400
    assert (await post_form(client, "hotline", valid_form(channel))).status_code == 200
    assert await Order.count() == 1


async def test_tracking_too_often_is_slowed_down(client):
    client.app.state.web.limiter.limits["track"] = (2, 60)
    for _ in range(2):
        assert (await track(client, "XJ20250101000001", "AAAAAAAA")).status_code == 404
    limited = await track(client, "XJ20250101000001", "AAAAAAAA")
    assert limited.status_code == 429 and "查询太频繁" in limited.text


# -- tracking and rating -------------------------------------------------------------------------------

async def _submitted(client, code="hotline", **overrides) -> tuple[str, str]:
    channel = client.platform.channels.get(code)
    response = await post_form(client, code, valid_form(channel, **overrides))
    assert response.status_code == 200, Page(response.text).text("error-summary")
    return receipt(response)


async def test_tracking_shows_the_status_and_the_public_steps(client):
    number, code = await _submitted(client)
    response = await track(client, number, code.lower())  # the code is not case-sensitive
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    page = Page(response.text)
    assert page.text("order-number") == number and page.text("order-status") == "已受理"
    assert "已受理" in page.text("timeline")
    assert "13912345678" not in page.source and "李女士" not in page.source


async def test_a_wrong_code_and_an_unknown_number_get_the_same_answer(client):
    number, code = await _submitted(client)
    wrong = await track(client, number, "ABCDEFGH" if code != "ABCDEFGH" else "HGFEDCBA")
    unknown = await track(client, "XJ20000101000001", code)
    assert wrong.status_code == unknown.status_code == 404
    assert Page(wrong.text).text("track-error") == Page(unknown.text).text("track-error") != ""
    assert Page(wrong.text).one("input", name="number")["value"] == number  # what was typed stays
    empty = await track(client, "", "")
    assert empty.status_code == 400 and "请填写工单编号和查询码" in empty.text


async def test_the_published_reply_and_a_timeline_without_staff_names(client):
    number, code = await _submitted(client)
    await complete(client.platform, number)
    page = Page((await track(client, number, code)).text)
    assert page.text("reply") == "经核实，路灯已于本周修复，感谢您的反映。"
    assert "张三" not in page.source and "eco_handler" not in page.source and "dispatcher1" not in page.source
    assert "生态环境分局" in page.text("timeline") and page.text("order-status") == "已办结，请您评价"


async def test_a_reply_still_under_review_is_not_shown(client):
    number, code = await _submitted(client)
    await client.platform.orders.act(number, "dispatch", {"department": "eco_env"}, STAFF["dispatcher"])
    await client.platform.orders.act(number, "accept", {}, STAFF["handler"])
    await client.platform.orders.act(number, "reply", {"reply": "草稿答复"}, STAFF["handler"])
    page = Page((await track(client, number, code)).text)
    assert "草稿答复" not in page.source and page.text("order-status") == "已答复，正在审核"
    assert not page.find("form", action="/track/rate")


async def test_a_completed_order_can_be_rated_online_once(client, tokens):
    number, code = await _submitted(client)
    await complete(client.platform, number)
    page = Page((await track(client, number, code)).text)
    assert page.one("form", action="/track/rate")
    assert len(page.find("input", name="satisfaction")) == 3 and len(page.find("input", name="resolved")) == 2
    rated = await client.post("/track/rate", data={
        "_csrf_token": page.hidden("_csrf_token"), "number": page.hidden("number"),
        "query_code": page.hidden("query_code"), "satisfaction": "satisfied", "resolved": "yes", "note": "很快"})
    assert rated.status_code == 200
    after = Page(rated.text)
    assert "感谢您的评价" in after.text("notice") and after.text("rating") == "满意，已解决"
    assert not after.find("form", action="/track/rate")
    order = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()
    assert order["status"] == "archived" and order["rating"]["satisfaction"] == "satisfied"
    assert order["events"][-1]["action"] == "callback" and order["events"][-1]["payload"]["note"] == "很快"
    assert order["events"][-1]["role"] == "citizen"  # the citizen who proved the query code, not an agent
    again = await client.post("/track/rate", data={
        "_csrf_token": page.hidden("_csrf_token"), "number": number, "query_code": code,
        "satisfaction": "unsatisfied", "resolved": "no"})
    assert again.status_code == 409 and "未能提交评价" in again.text


async def test_a_rating_with_missing_answers_says_what_is_missing(client):
    number, code = await _submitted(client)
    await complete(client.platform, number)
    page = Page((await track(client, number, code)).text)
    response = await client.post("/track/rate", data={
        "_csrf_token": page.hidden("_csrf_token"), "number": number, "query_code": code, "resolved": "no",
        "note": "还是不亮"})
    assert response.status_code == 400
    after = Page(response.text)
    assert "是否满意" in after.text("f-satisfaction-error")
    assert after.one("input", name="resolved", value="no").get("checked") is not None
    assert after.text("f-note") == "还是不亮"


async def test_rating_needs_the_query_code_and_a_completed_order(client):
    number, code = await _submitted(client)
    page = Page((await client.get("/track")).text)
    body = {"_csrf_token": page.hidden("_csrf_token"), "number": number, "satisfaction": "satisfied",
            "resolved": "yes"}
    assert (await client.post("/track/rate", data=body | {"query_code": "WRONGCOD"})).status_code == 404
    early = await client.post("/track/rate", data=body | {"query_code": code})
    assert early.status_code == 409 and "未能提交评价" in early.text
    assert (await Order.select(Order.rating).where(Order.number == number).first())["rating"] is None


# -- attachments ---------------------------------------------------------------------------------------

async def test_photos_and_pdfs_reach_the_staff_with_the_order(client, tokens):
    channel = client.platform.channels.get("hotline")
    files = [("attachments", ("门口.png", PNG, "image/png")), ("attachments", ("说明.pdf", PDF, "application/pdf"))]
    response = await post_form(client, "hotline", valid_form(channel), files=files)
    assert response.status_code == 200, Page(response.text).text("error-summary")
    assert "已收到附件 2 个" in response.text
    number, _ = receipt(response)
    listed = (await client.get(f"/api/orders/{number}/attachments", headers=tokens["agent1"])).json()
    assert [(a["filename"], a["content_type"], a["size"]) for a in listed] == [
        ("门口.png", "image/png", len(PNG)), ("说明.pdf", "application/pdf", len(PDF))]
    download = await client.get(f"/api/orders/{number}/attachments/{listed[0]['key']}", headers=tokens["agent1"])
    assert download.status_code == 200 and download.content == PNG


async def test_files_sent_with_a_form_are_on_the_orders_record(client, tokens):
    """Each file a citizen sends appears in the order's history (an ``attach`` event by the web form),
    exactly like a file staff upload."""
    channel = client.platform.channels.get("hotline")
    files = [("attachments", ("门口.png", PNG, "image/png")), ("attachments", ("说明.pdf", PDF, "application/pdf"))]
    number, _ = receipt(await post_form(client, "hotline", valid_form(channel), files=files))
    events = (await client.get(f"/api/orders/{number}", headers=tokens["agent1"])).json()["events"]
    attached = [e for e in events if e["action"] == "attach"]
    assert [(e["role"], e["payload"]["filename"]) for e in attached] == [("citizen", "门口.png"), ("citizen", "说明.pdf")]


@pytest.mark.parametrize("upload, message", [
    (("病毒.jpg", b"MZ\x90\x00 not a picture", "image/jpeg"), "不是图片（JPG、PNG）、PDF"),
    (("太大.png", PNG + b"\x00" * (5 * 1024 * 1024), "image/png"), "PNG 图片不能超过 5 MB"),
    (("空.pdf", b"", "application/pdf"), "空文件"),
])
async def test_a_refused_file_is_explained_and_nothing_typed_is_lost(client, upload, message):
    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(channel), files=[("attachments", upload)])
    assert response.status_code == 400
    page = Page(response.text)
    assert message in page.text("f-attachments-error") and upload[0] in page.text("f-attachments-error")
    assert page.one("input", name="subject")["value"] == "小区门口路灯坏了一个月"
    assert page.one("input", name="citizen.phone")["value"] == "13912345678"
    assert await Order.count() == 0


async def test_files_already_accepted_are_kept_when_the_form_is_shown_again(client):
    channel = client.platform.channels.get("hotline")
    files = [("attachments", (f"照片{i}.png", PNG, "image/png")) for i in range(4)]
    response = await post_form(client, "hotline", valid_form(channel, subject=""), files=files)
    page = Page(response.text)
    assert "最多上传 3 个附件" in page.text("f-attachments-error") and "照片3.png" in page.text("f-attachments-error")
    kept = [a["value"] for a in page.find("input", name="kept_attachment")]
    assert len(kept) == 3
    # the citizen fixes the subject and unticks one photo; a forged token is ignored
    fixed = await client.post("/forms/hotline", data={
        "_csrf_token": page.hidden("_csrf_token"), "_submission": page.hidden("_submission"),
        **valid_form(channel), "kept_attachment": kept[:2] + [kept[2][:-4] + "abcd", "forged"]})
    assert fixed.status_code == 200, Page(fixed.text).text("error-summary")
    assert "已收到附件 2 个" in fixed.text
    assert await Attachment.count() == 2


def _files_under(folder) -> list:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _own_store(client, tmp_path):
    """The platform's store, pointed at a folder of this test's own (the shared var folder holds
    other tests' files)."""
    store = client.platform.attachments
    store.root, store.staging = tmp_path / "attachments", tmp_path / "attachments-staging"
    return store


async def test_refused_forms_leave_no_files_behind(client, tmp_path):
    """Posting a form that fails validation again and again, each time with three PDFs, once left every
    file on disk for good with no record (12 posts: 36 files). Now the store holds nothing until an
    order lists a file, and a client's staged files are only the ones its form shows again."""
    channel = client.platform.channels.get("hotline")
    store = _own_store(client, tmp_path)
    pdfs = [("attachments", (f"材料{i}.pdf", PDF, "application/pdf")) for i in range(3)]
    for _ in range(12):
        response = await post_form(client, "hotline", valid_form(channel, subject=""), files=pdfs)
        assert response.status_code == 400
    assert _files_under(store.root) == []
    staged = _files_under(store.staging)
    assert len(staged) == 3  # the last form's three files, offered again with it
    kept = [a["value"] for a in Page(response.text).find("input", name="kept_attachment")]
    assert len(kept) == 3
    # the citizen corrects the form: the kept files move into the store with the order, none are left staged
    page = Page(response.text)
    fixed = await client.post("/forms/hotline", data={
        "_csrf_token": page.hidden("_csrf_token"), "_submission": page.hidden("_submission"),
        **valid_form(channel), "kept_attachment": kept})
    assert fixed.status_code == 200, Page(fixed.text).text("error-summary")
    recorded = {r["key"] for r in await Attachment.select(Attachment.key)}
    assert len(recorded) == 3 and {p.name for p in _files_under(store.root)} == recorded
    assert _files_under(store.staging) == []


async def test_the_sweep_removes_staged_and_orphan_files_left_over_an_hour(client, tokens, tmp_path):
    """What a refused or abandoned form, or a failed transaction, left behind goes after an hour; a
    recorded file stays, and a staged one whose order was recorded is moved into place."""
    import os
    import time

    from core.builtins.sweeps import attachment_sweep

    channel = client.platform.channels.get("hotline")
    store = _own_store(client, tmp_path)
    number, _ = receipt(await post_form(client, "hotline", valid_form(channel),
                                        files=[("attachments", ("门口.png", PNG, "image/png"))]))
    await post_form(client, "hotline", valid_form(channel, subject=""),
                    files=[("attachments", ("草稿.pdf", PDF, "application/pdf"))])
    orphan = store.save(PDF, "application/pdf")  # bytes written by a transaction that then failed
    fresh_orphan = store.save(PDF, "application/pdf")
    # a staged file whose order was committed just before the process stopped
    staged = store.stage(PNG, "image/png", "0123456789ab")
    from core.attachments import NewAttachment
    from core.model import Actor
    from core.db import write_transaction

    service = client.platform.orders
    async with write_transaction(service.engine):
        order = await service.queries.load(number, Actor(name="agent1", role="agent"))
        await service.attachment_desk.record(order, NewAttachment(
            key=store.final_key(staged), filename="补充.png", content_type="image/png", size=len(PNG)),
            Actor(name="web", role="citizen", kind="citizen"), service.clock())
    hour_ago = time.time() - 3700
    for path in _files_under(store.root) + _files_under(store.staging):
        if path.name != fresh_orphan:
            os.utime(path, (hour_ago, hour_ago))
    result = await attachment_sweep(client.platform)
    assert result == {"placed": 1, "staged_removed": 1, "orphans_removed": 1}
    assert _files_under(store.staging) == []
    remaining = {p.name for p in _files_under(store.root)}
    recorded = {r["key"] for r in await Attachment.select(Attachment.key)}
    assert remaining == recorded | {fresh_orphan} and orphan not in remaining
    listed = (await client.get(f"/api/orders/{number}/attachments", headers=tokens["agent1"])).json()
    assert sorted(a["filename"] for a in listed) == ["补充.png", "门口.png"]


async def test_an_image_of_too_many_pixels_is_refused_from_its_header(client, tokens):
    """A 49-megapixel PNG of 47 KB: refused before a pixel is decoded, naming the file (web form) or
    the field (staff API), in Chinese; 40 megapixels is the most either takes."""
    import time

    channel = client.platform.channels.get("hotline")
    bomb = helpers.big_png(7000, 7000)
    started = time.perf_counter()
    response = await post_form(client, "hotline", valid_form(channel),
                               files=[("attachments", ("航拍.png", bomb, "image/png"))])
    assert time.perf_counter() - started < 0.5  # decoding it would take seconds
    assert response.status_code == 400
    message = Page(response.text).text("f-attachments-error")
    assert "航拍.png" in message and "像素过大" in message and "4,000 万像素" in message
    assert await Order.count() == 0
    number, _ = receipt(await post_form(client, "hotline", valid_form(channel)))
    staff = await client.post(f"/api/orders/{number}/attachments", headers=tokens["agent1"],
                              files={"data": ("航拍.png", bomb, "image/png")})
    assert staff.status_code == 400, staff.text
    assert staff.json()["extra"][0]["key"] == "data" and "像素过大" in staff.json()["detail"]


async def test_a_body_too_large_for_any_form_gets_a_plain_message(client):
    channel = client.platform.channels.get("hotline")
    files = [("attachments", (f"大{i}.mp4", MP4 + b"\x00" * (16 * 1024 * 1024), "video/mp4")) for i in range(2)]
    response = await post_form(client, "hotline", valid_form(channel), files=files)
    assert response.status_code in (400, 413) and "附件太大" in response.text
    assert await Order.count() == 0


# -- published replies ---------------------------------------------------------------------------------

async def test_the_mailbox_publishes_only_consented_answered_letters_without_personal_data(client):
    channel = client.platform.channels.get("mayor_mailbox")
    published, _ = await _submitted(client, "mayor_mailbox", kind="suggestion", **{
        "details.publish_consent": True, "subject": "建议增加公交线路",
        "content": "我家住在新区，电话13987654321，希望增加一条到地铁站的公交。"})
    private, _ = await _submitted(client, "mayor_mailbox", kind="suggestion", **{
        "details.publish_consent": False, "subject": "不愿公开的来信"})
    pending, _ = await _submitted(client, "mayor_mailbox", kind="suggestion", **{
        "details.publish_consent": True, "subject": "还在办理的来信"})
    for number in (published, private):
        await complete(client.platform, number)
    await client.platform.orders.act(published, "callback", {"satisfaction": "satisfied", "resolved": True},
                                     STAFF["agent"])
    response = await client.get("/forms/mayor_mailbox/replies")
    assert response.status_code == 200
    text = response.text
    assert "建议增加公交线路" in text and "经核实，路灯已于本周修复" in text
    assert "不愿公开的来信" not in text and "还在办理的来信" not in text
    assert "13987654321" not in text and "139****4321" in text
    assert "李女士" not in text and "13912345678" not in text and "梅溪湖街道某小区东门" not in text
    assert "张三" not in text  # the internal reply stays internal
    assert published not in text
    forms = Page((await client.get("/forms")).text)
    assert forms.find("a", href="/forms/mayor_mailbox/replies")
    assert not forms.find("a", href="/forms/hotline/replies")
    assert (await client.get("/forms/hotline/replies")).status_code == 404


# -- a channel's own template --------------------------------------------------------------------------

async def test_a_channel_may_ship_its_own_form_template(web_with, tmp_path, monkeypatch):
    package = tmp_path / "own_form_channel"
    (package / "templates").mkdir(parents=True)
    (package / "__init__.py").write_text(
        "from core.channels import Channel\nfrom core.hookspecs import hookimpl\n\n"
        "@hookimpl\ndef register_channel():\n"
        "    return Channel(code='own_form', name='自带表单专线', description='有自己的页面。')\n")
    (package / "templates" / "form.html").write_text(
        '{% extends "form.html" %}{% block intro %}<p id="own-intro">本专线自己的说明</p>{% endblock %}')
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    module = importlib.import_module("own_form_channel")
    try:
        client = await web_with(module)
        page = await open_form(client, "own_form")
        assert page.text("own-intro") == "本专线自己的说明" and page.find("input", name="subject")
        assert "own-intro" not in (await client.get("/forms/hotline")).text
    finally:
        sys.modules.pop("own_form_channel", None)


async def test_events_of_a_web_order_name_no_staff_in_public_steps(client):
    number, code = await _submitted(client)
    await client.platform.orders.act(number, "comment", {"text": "内部备注：该市民多次来电"}, STAFF["agent"])
    page = Page((await track(client, number, code)).text)
    assert "内部备注" not in page.source
    assert await OrderEvent.count() == 2


async def test_an_unexpected_failure_is_explained_in_plain_words(client, monkeypatch):
    import api.web.routes

    async def broken(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(api.web.routes, "published_replies", broken)
    response = await client.get("/forms/mayor_mailbox/replies")
    assert response.status_code == 500 and "系统暂时无法处理" in response.text
    assert "database went away" not in response.text
    assert response.headers["content-type"] == "text/html; charset=utf-8"
