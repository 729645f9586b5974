"""A citizen after filing, in real headless Chromium on a phone and a desktop: the due date, the key
an anonymous filer must keep, Back without resubmitting, an extension, an unhappy rating and a
rework as they read on /track, and the channels' own forms. Screenshots go beside the others
(``test-artifacts/screenshots/<backend>/citizen-*``)."""

from __future__ import annotations

import pytest

from api.web.forms import all_fields, sections
from core.model import Actor
from tests.test_browser import Citizen, _backend, driver, screenshots, server  # noqa: F401 (fixtures)
from tests.test_web import valid_form

pytestmark = pytest.mark.browser

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HANDLER = Actor(name="eco_handler", role="handler", department="eco_env")


def _file(me: Citizen, channel, **overrides) -> tuple[str, str]:
    fields = {f.name: f for f in all_fields(sections(channel))}
    me.open(f"/forms/{channel.code}")
    for name, value in valid_form(channel, **overrides).items():
        me.fill(fields[name], value)
    me.press()
    assert me.text("h1") == "提交成功"
    return me.text("#order-number"), me.text("#query-code")


async def test_after_filing_the_date_is_shown_back_does_not_resubmit_and_tracking_opens_prefilled(
        driver, server, platform, screenshots):  # noqa: F811
    me = Citizen(driver, server, screenshots / _backend(platform))
    number, code = _file(me, platform.channels.get("hotline"))
    assert "预计答复时间" in me.text("#expected-reply") and "工作日指周一至周五" in me.text("#expected-reply")
    me.shoot("citizen-1-done")
    driver.back()  # the form again, never Chrome's "Confirm Form Resubmission"
    assert driver.current_url.endswith("/forms/hotline") and me.text("h1") == "综合热线"
    driver.forward()
    assert me.text("#order-number") == number
    me.press("#track-this")
    assert me.text("#order-number") == number and me.text("#order-status") == "已受理"
    assert "预计答复时间" in me.text("#expected-reply")
    me.shoot("citizen-2-track")
    me.open("/track")
    assert me.find('[name="number"]').get_attribute("value") == number


async def test_an_anonymous_filer_is_told_to_keep_the_number_and_code(driver, server, platform, screenshots):  # noqa: F811
    me = Citizen(driver, server, screenshots / _backend(platform))
    _file(me, platform.channels.get("hotline"), anonymous=True, **{"citizen.name": "", "citizen.phone": ""})
    assert "唯一凭证" in me.text("#anonymous-warning")
    assert me.find("#copy-receipt").is_displayed() and me.find("#download-receipt").is_displayed()
    me.shoot("citizen-3-anonymous-done")


async def test_an_extension_an_unhappy_rating_and_a_rework_read_sensibly(driver, server, platform, screenshots):  # noqa: F811
    me = Citizen(driver, server, screenshots / _backend(platform))
    number, code = _file(me, platform.channels.get("hotline"))
    orders = platform.orders
    await orders.act(number, "dispatch", {"department": "eco_env"}, DISPATCHER)
    await orders.act(number, "accept", {}, HANDLER)
    await orders.act(number, "request_extension", {"days": 5, "reason": "需现场勘查"}, HANDLER)
    await orders.act(number, "approve_extension", {"reason": "同意"}, DISPATCHER)
    me.press("#track-this")
    assert "已批准延期" in me.text("#expected-reply")
    me.shoot("citizen-4-extended")
    await orders.act(number, "reply", {"reply": "已联系施工方", "public_reply": "已责令施工方夜间停工。"}, HANDLER)
    await orders.act(number, "approve", {}, DISPATCHER)
    driver.refresh()
    me.tick("satisfaction", "unsatisfied")
    me.tick("resolved", "no")
    me.press(".rate button[type=submit]")
    assert me.text("#order-status") == "已办结，正在复核您的评价" and "重新办理" in me.text("main")
    me.shoot("citizen-5-unhappy")
    await orders.act(number, "rework", {"reason": "仍有夜间施工"}, DISPATCHER)
    me.open("/track")
    me.press("form button[type=submit]")  # the prefilled number and code
    assert me.text("#order-status") == "重新办理中"
    assert "已责令施工方夜间停工" in me.text("#history") and "不满意" in me.text("#history")
    assert "重新办理" in me.text("#timeline")
    me.shoot("citizen-6-rework")


async def test_channel_forms_offer_what_applies_when_it_applies(driver, server, platform, screenshots):  # noqa: F811
    me = Citizen(driver, server, screenshots / _backend(platform))
    me.open("/forms/safety_reporting")
    assert "119" in me.text("#channel-notice")
    assert not me.find("#f-details-id-number").is_displayed()
    me.shoot("citizen-7-safety")
    me.tick("details.reward_requested")
    assert me.find("#f-details-id-number").is_displayed() and me.find("#f-details-payment-account").is_displayed()
    me.shoot("citizen-8-safety-reward")
    me.open("/forms/mayor_mailbox")
    assert not me.find("#f-details-email").is_displayed()
    me.tick("details.reply_method", "email")
    assert me.find("#f-details-email").is_displayed() and not me.find("#f-details-postal-address").is_displayed()
    assert me.find("#f-details-email").get_attribute("type") == "email"
    me.shoot("citizen-9-mailbox-email")
    me.open("/forms/migrant_workers")
    me.shoot("citizen-10-wages")
    me.open("/forms/enterprise_help")
    assert not me.all('input[name="anonymous"]')
    me.shoot("citizen-11-enterprise")
    me.open("/forms")
    me.shoot("citizen-12-forms")
