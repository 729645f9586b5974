"""A text message carries a signed link to the order's tracking page: the citizen taps it instead of
retyping the number and the query code; a changed or expired link opens nothing and says why."""

from __future__ import annotations

import datetime as dt
import logging
import re

import msgspec
import pytest

from core import clock
from core.tables import TextMessage
from tests.test_web import Page, complete, post_form, receipt, valid_form

LINK = re.compile(r"https://12345\.example\.gov\.cn(/t/[A-Za-z0-9._-]+)")


@pytest.fixture
def linked(client):
    client.platform.settings = msgspec.structs.replace(client.platform.settings,
                                                       public_url="https://12345.example.gov.cn")
    return client


async def _file(client) -> tuple[str, str]:
    response = await post_form(client, "hotline", valid_form(client.platform.channels.get("hotline")))
    assert response.status_code == 200
    return receipt(response)


async def _texts(number: str) -> list[str]:
    return [r["text"] for r in await TextMessage.select(TextMessage.text).where(
        TextMessage.order_number == number).order_by(TextMessage.id)]


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_the_receipt_text_links_to_the_orders_progress_and_the_link_rates_it(linked):
    number, code = await _file(linked)
    (text,) = await _texts(number)
    assert "查看进度：https://12345.example.gov.cn/t/" in text and code in text  # the code stays for those who type
    path = LINK.search(text).group(1)
    assert code not in path  # the link is not the query code
    page = await linked.get(path)
    assert page.status_code == 200 and number in page.text and "no-store" in page.headers["cache-control"]
    assert page.headers["referrer-policy"] == "no-referrer"

    await complete(linked.platform, number)
    completed = (await _texts(number))[-1]
    assert "查看答复：" in completed
    view = Page((await linked.get(LINK.search(completed).group(1))).text)
    rated = await linked.post("/track/rate", data={
        "_csrf_token": view.hidden("_csrf_token"), "number": number, "query_code": view.hidden("query_code"),
        "satisfaction": "satisfied", "resolved": "yes", "note": ""})
    assert rated.status_code == 200 and "感谢您的评价" in rated.text


@pytest.mark.clock("2026-12-07T10:00:00+08:00")
async def test_a_changed_or_expired_link_opens_nothing_and_says_what_to_do(linked):
    number, _ = await _file(linked)
    path = LINK.search((await _texts(number))[0]).group(1)
    changed = path[:-1] + ("A" if path[-1] != "A" else "B")
    for bad in (changed, path.replace(number, number[:-1] + "9"), "/t/" + "X" * 5000, "/t/XJ1..", "/t/%E4%B8%AD"):
        refused = await linked.get(bad)
        assert refused.status_code == 404 and "链接不完整或不正确" in refused.text, bad
    clock.advance(dt.timedelta(days=90))
    assert (await linked.get(path)).status_code == 200  # the 90th day still works
    clock.advance(dt.timedelta(days=1))
    expired = await linked.get(path)
    assert expired.status_code == 410 and "链接已过期" in expired.text and number in expired.text


async def test_without_a_public_address_the_text_carries_no_link(client):
    number, code = await _file(client)
    (text,) = await _texts(number)
    assert "/t/" not in text and code in text


async def test_the_request_log_never_keeps_a_links_token(linked, caplog):
    number, _ = await _file(linked)
    path = LINK.search((await _texts(number))[0]).group(1)
    with caplog.at_level(logging.INFO):
        assert (await linked.get(path)).status_code == 200
    logged = " ".join(r.getMessage() + str(getattr(r, "fields", "")) for r in caplog.records
                      if r.name.startswith("huying"))  # the platform's own log, not the test client's
    assert "/t/…" in logged and path not in logged
