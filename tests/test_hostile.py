"""Hostile input and failure (one test per defect found when the platform was attacked), and the API
edge that every client meets: Chinese errors in one shape, filters that refuse what they do not know,
instants in the centre's zone, HEAD, security headers."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import threading

import msgspec
import pytest

from core import clock
import core.auth
from core.auth import SCRYPT_COST, create_api_key
from core.lifecycle import TEXT_LIMIT
from core.model import Actor
from core.orders import IntakeRequest
from core.tables import Attachment, IdempotencyKey, Order
from tests import helpers
from tests.helpers import intake_body
from plugins.safety_reporting.tests.test_safety_reporting import PHONE, report

INTAKE = "/api/channels/hotline/orders"
ISO_INSTANT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?([+-]\d\d:\d\d|Z)$")


async def _order(client, tokens, **overrides) -> dict:
    response = await client.post(INTAKE, json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def _act(client, headers, number, action, payload=None):
    return await client.post(f"/api/orders/{number}/actions/{action}", json=payload or {}, headers=headers)


def _shape(response, status: int) -> dict:
    assert response.status_code == status, response.text[:300]
    body = response.json()
    assert set(body) - {"request_id"} == {"status_code", "detail", "extra"} and body["status_code"] == status
    assert isinstance(body["extra"], list) and re.search(r"[\u4e00-\u9fff]", body["detail"]), body
    return body


# -- 1. one request could stall the process ----------------------------------------------------------

async def test_received_at_outside_the_plausible_window_is_refused(client, tokens):
    """Year 1, 1970 or last decade is a typo or an attack (deadlines count from it): 400 at once."""
    for when in ("0001-01-02T00:00:00Z", "1970-01-01T00:00:00Z", "2016-01-01T00:00:00+08:00"):
        body = _shape(await client.post(INTAKE, json=intake_body(received_at=when), headers=tokens["agent1"]), 400)
        assert [e["key"] for e in body["extra"]] == ["received_at"]
    recent = (clock.now() - dt.timedelta(days=3)).isoformat()
    assert (await client.post(INTAKE, json=intake_body(received_at=recent), headers=tokens["agent1"])).status_code == 201


async def test_the_received_at_window_is_configurable(platform):
    from core.settings import load_settings

    assert load_settings({"HUYING_RECEIVED_AT_MAX_AGE_DAYS": "30", "HUYING_SECRET_KEY": "k"}).received_at_max_age_days == 30
    platform.orders.received_at_max_age = dt.timedelta(days=30)
    agent = Actor(name="agent1", role="agent")
    old = clock.now() - dt.timedelta(days=40)
    with pytest.raises(Exception, match="请求内容有误"):
        await platform.orders.intake("hotline", msgspec.convert(intake_body(received_at=old.isoformat()), IntakeRequest), agent)
    fine = clock.now() - dt.timedelta(days=20)
    status, _ = await platform.orders.intake(
        "hotline", msgspec.convert(intake_body(received_at=fine.isoformat()), IntakeRequest), agent)
    assert status == 201


# -- 2. 500s instead of 400s on SQLite ---------------------------------------------------------------

@pytest.mark.parametrize("authorization", ["Bearer 1.2.\u00e9\u00e9", "Bearer \u00ff", "Bearer 99999999999.9999999999.abc"])
async def test_a_bearer_token_with_odd_bytes_is_a_plain_401(client, authorization):
    response = await client.get("/api/orders", headers={"Authorization": authorization.encode("latin-1")})
    _shape(response, 401)


async def test_a_forged_file_token_with_non_ascii_bytes_is_ignored(client):
    web = client.app.state.web if hasattr(client, "app") else None
    from api.web import Web

    web = Web(client.platform)
    assert web.unsign("abc.\u00e9\u00e9\u00e9") is None
    assert web.file_from_token("x.\u4e2d\u6587") is None


async def test_an_upload_without_a_file_part_is_a_400(client, tokens):
    number = (await _order(client, tokens))["number"]
    for kwargs in ({"files": {"other": ("a.png", helpers.png(), "image/png")}}, {"data": {"data": "text"}}):
        response = await client.post(f"/api/orders/{number}/attachments", headers=tokens["agent1"], **kwargs)
        body = _shape(response, 400)
        assert "data" in [e["key"] for e in body["extra"]] or "data" in body["detail"]


async def test_a_form_field_that_is_not_utf8_is_a_400_not_a_crash(client, tokens):
    """Multipart fields are decoded by the framework, after the guard: bad bytes there used to be a 500."""
    number = (await _order(client, tokens))["number"]
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\n").encode() + b"\x9e\xdc\xff" + \
        f"\r\n--{boundary}--\r\n".encode()
    response = await client.post(f"/api/orders/{number}/attachments", content=body,
                                 headers={**tokens["agent1"], "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert "UTF-8" in _shape(response, 400)["detail"]


# -- 3. 500s on PostgreSQL only (the same input refused on both) -------------------------------------

async def test_nul_in_a_web_form_is_refused_like_everywhere_else(client):
    from tests.test_web import post_form, valid_form

    channel = client.platform.channels.get("hotline")
    response = await post_form(client, "hotline", valid_form(channel, subject="路灯\x00坏了"),
                               files=[("attachments", ("a.png", helpers.png(), "image/png"))])
    assert response.status_code == 400
    assert await Order.count() == 0


async def test_nul_in_login_and_tracking_is_a_400(client):
    _shape(await client.post("/api/auth/token", json={"username": "admin1\x00", "password": "x"}), 400)
    response = await client.post("/track", data={"number": "XJ\x00", "query_code": "A"})
    _shape(response, 400)


async def test_an_api_key_with_the_longest_name_can_still_take_orders(client, tokens):
    """The key acts as "api:<name>" in the audit trail; its name is bounded so that always fits."""
    response = await client.post("/api/api-keys", json={"name": "k" * 120}, headers=tokens["admin1"])
    assert response.status_code == 201
    key = response.json()["key"]
    created = await client.post(INTAKE, json=intake_body(), headers={"X-API-Key": key})
    assert created.status_code == 201, created.text
    _shape(await client.post("/api/api-keys", json={"name": "k" * 121}, headers=tokens["admin1"]), 400)


# -- 4. concurrent copies of one request --------------------------------------------------------------

async def test_concurrent_copies_with_one_idempotency_key_all_get_the_answer(platform):
    """Ten copies at once: exactly one order, and every copy gets it (201 or the replay), none a 500."""
    agent = Actor(name="agent1", role="agent")
    request = msgspec.convert(intake_body(), IntakeRequest)
    results = await asyncio.gather(*[platform.orders.intake("hotline", request, agent, idempotency_key="retry-1")
                                     for _ in range(10)])
    assert {status for status, _ in results} <= {201}
    assert len({order.number for _, order in results}) == 1 and await Order.count() == 1


async def test_concurrent_copies_with_one_external_id_all_get_the_order(platform):
    from core.city import CITY

    request = msgspec.convert(intake_body(external_id="city-42", source="city_transfer"), IntakeRequest)
    results = await asyncio.gather(*[platform.orders.intake("hotline", request, CITY) for _ in range(10)])
    assert {status for status, _ in results} <= {200, 201}
    assert len({order.number for _, order in results}) == 1 and await Order.count() == 1


# -- 5. unbounded action text ---------------------------------------------------------------------------

async def test_action_texts_have_limits(client, tokens):
    number = (await _order(client, tokens))["number"]
    long = "长" * (TEXT_LIMIT + 1)
    body = _shape(await _act(client, tokens["dispatcher1"], number, "dispatch",
                             {"department": "eco_env", "note": long}), 400)
    assert [e["key"] for e in body["extra"]] == ["note"]
    assert (await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": "eco_env"})).status_code == 200
    assert (await _act(client, tokens["eco_handler"], number, "accept")).status_code == 200
    body = _shape(await _act(client, tokens["eco_handler"], number, "reply",
                             {"reply": "已处理", "public_reply": long}), 400)
    assert [e["key"] for e in body["extra"]] == ["public_reply"]


def test_every_text_and_list_an_action_takes_is_bounded(platform):
    """Walks every action of every channel: no payload field is an unbounded string or list."""
    def unbounded(t, path):
        if isinstance(t, msgspec.inspect.Metadata):
            inner = t.type
            if isinstance(inner, (msgspec.inspect.StrType, msgspec.inspect.ListType)) and (
                    getattr(inner, "max_length", None) is None):
                return [path]
            return unbounded(inner, path)
        if isinstance(t, msgspec.inspect.StrType):
            return [] if t.max_length is not None else [path]
        if isinstance(t, msgspec.inspect.ListType):
            own = [] if t.max_length is not None else [path]
            return own + unbounded(t.item_type, path + "[]")
        if isinstance(t, msgspec.inspect.UnionType):
            return [p for u in t.types for p in unbounded(u, path)]
        if isinstance(t, msgspec.inspect.StructType):
            return [p for f in t.fields for p in unbounded(f.type, f"{path}.{f.name}")]
        return []

    found = []
    for channel in platform.channels:
        for action in platform.channels.lifecycle(channel.code).actions.values():
            found += unbounded(msgspec.inspect.type_info(action.payload), f"{channel.code}:{action.name}")
    assert found == []


# -- 6. login -------------------------------------------------------------------------------------------

async def test_a_wrong_username_costs_the_same_hashing_as_a_wrong_password(client, monkeypatch):
    """No timing difference to enumerate users: both check a scrypt hash of the same cost, in a thread."""
    checked = []
    real = core.auth.verify_password

    def spy(password, stored):
        checked.append((stored.split("$")[1], threading.current_thread() is threading.main_thread()))
        return real(password, stored)

    monkeypatch.setattr(core.auth, "verify_password", spy)
    for username in ("admin1", "nobody-here"):
        _shape(await client.post("/api/auth/token", json={"username": username, "password": "wrong"}), 401)
    assert checked == [(str(SCRYPT_COST), False), (str(SCRYPT_COST), False)]


async def test_repeated_login_failures_are_throttled_per_account_with_a_clear_429(client):
    for _ in range(5):
        _shape(await client.post("/api/auth/token", json={"username": "agent1", "password": "wrong"}), 401)
    response = await client.post("/api/auth/token", json={"username": "agent1", "password": helpers.PASSWORD})
    body = _shape(response, 429)
    assert int(response.headers["retry-after"]) > 0 and "登录失败次数过多" in body["detail"]
    # another account is not locked by someone guessing this one
    assert (await client.post("/api/auth/token", json={"username": "admin1", "password": helpers.PASSWORD})).status_code == 200


async def test_repeated_login_failures_are_throttled_per_address(client):
    for i in range(20):
        await client.post("/api/auth/token", json={"username": f"guess{i}", "password": "wrong"})
    _shape(await client.post("/api/auth/token", json={"username": "admin1", "password": helpers.PASSWORD}), 429)


# -- 7. uploads -----------------------------------------------------------------------------------------

HTML = b"<html><script>alert(document.cookie)</script></html>"


@pytest.mark.parametrize("name, content", [
    ("png-then-html.png", helpers.png() + HTML),
    ("jpeg-then-html.jpg", helpers.jpeg() + HTML),
    ("png-header-only.png", b"\x89PNG\r\n\x1a\n" + HTML),
    ("jpeg-header-only.jpg", b"\xff\xd8\xff\xe0" + HTML),
    ("pdf-header-html.pdf", b"%PDF-1.4\n" + HTML),
])
async def test_files_that_only_begin_like_an_image_or_pdf_are_refused(client, tokens, name, content):
    number = (await _order(client, tokens))["number"]
    response = await client.post(f"/api/orders/{number}/attachments", headers=tokens["agent1"],
                                 files={"data": (name, content, "image/png")})
    _shape(response, 400)
    assert await Attachment.count() == 0


async def test_downloads_are_sniff_proof_with_a_clean_name(client, tokens):
    number = (await _order(client, tokens))["number"]
    response = await client.post(f"/api/orders/{number}/attachments", headers=tokens["agent1"],
                                 files={"data": ("../../etc/pass\r\nwd.jpg", helpers.jpeg(), "image/jpeg")})
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["filename"] == "passwd.jpg"
    download = await client.get(f"/api/orders/{number}/attachments/{stored['key']}", headers=tokens["agent1"])
    assert download.status_code == 200 and download.content == helpers.jpeg()
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["content-disposition"].startswith('attachment; filename="passwd.jpg"')
    assert "\r" not in download.headers["content-disposition"] and ".." not in download.headers["content-disposition"]


async def test_api_answers_carry_the_security_headers(client, tokens):
    response = await client.get("/api/orders", headers=tokens["agent1"])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "strict-transport-security" not in response.headers  # plain HTTP: HSTS would be ignored


# -- 8. secrets at rest -----------------------------------------------------------------------------------

async def test_the_idempotency_store_keeps_only_the_order_number(client, tokens):
    """A protected reporter's (masked) phone was stored with the replayable answer; now only the number."""
    headers = {**tokens["agent1"], "Idempotency-Key": "tip-1"}
    first = await client.post("/api/channels/safety_reporting/orders", json=report(), headers=headers)
    again = await client.post("/api/channels/safety_reporting/orders", json=report(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.json()["number"] == again.json()["number"]
    rows = await IdempotencyKey.select(IdempotencyKey.response).output(load_json=True)
    assert rows == [{"response": {"number": first.json()["number"]}}]
    assert PHONE[-4:] not in str(rows)


# -- 9. small ---------------------------------------------------------------------------------------------

async def test_an_unscoped_api_key_lists_the_orders_it_may_read(client, tokens):
    number = (await _order(client, tokens))["number"]
    key = {"X-API-Key": await create_api_key("all-channels", [])}
    assert (await client.get(f"/api/orders/{number}", headers=key)).status_code == 200
    listed = await client.get("/api/orders", headers=key)
    assert listed.status_code == 200 and [o["number"] for o in listed.json()["items"]] == [number]


async def test_over_https_cookies_are_secure_and_hsts_is_sent(platform):
    from litestar.testing import AsyncTestClient

    from api.app import create_app

    async with AsyncTestClient(create_app(platform, pool=False, run_jobs=False), base_url="https://testserver") as https:
        page = await https.get("/forms/hotline")
        assert page.status_code == 200
        assert "secure" in page.headers["set-cookie"].lower()
        assert page.headers["strict-transport-security"].startswith("max-age=")


async def test_https_can_be_declared_behind_a_proxy(migrated):
    from litestar.testing import AsyncTestClient

    from api.app import create_app
    from core.platform import Platform

    platform = Platform(msgspec.structs.replace(migrated, https=True))
    async with AsyncTestClient(create_app(platform, pool=False, run_jobs=False)) as plain:
        page = await plain.get("/forms/hotline")
        assert "secure" in page.headers["set-cookie"].lower() and "strict-transport-security" in page.headers


# -- 10. the OpenAPI document -------------------------------------------------------------------------------

async def test_the_openapi_document_describes_refusals_security_and_strict_bodies(client):
    doc = (await client.get("/schema/openapi.json")).json()
    assert set(doc["components"]["securitySchemes"]) == {"BearerToken", "ApiKey", "MetricsToken", "CitySignature"}
    assert doc["security"] == [{"BearerToken": []}, {"ApiKey": []}]
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            if not path.startswith("/api"):
                continue
            refusals = [code for code in operation["responses"] if code.startswith("4")]
            can_refuse = operation.get("parameters") or operation.get("requestBody") or operation.get("security") != [{}]
            assert not can_refuse or "400" in refusals or "401" in refusals, (method, path)
            for code in refusals:
                schema = operation["responses"][code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, code)
    for name in ("IntakeRequest", "Citizen", "TokenRequest", "ApiKeyRequest", "CalendarDayIn"):
        assert doc["components"]["schemas"][name]["additionalProperties"] is False, name


# -- the API edge (issue 8: 4, 8, 9, 10, 13) -----------------------------------------------------------------

async def test_refusals_are_logged_at_info_without_a_traceback(client, tokens, caplog):
    caplog.set_level(logging.INFO)
    await client.get("/api/orders/XJ404", headers=tokens["agent1"])
    await client.post(INTAKE, json={"kind": "gossip"}, headers=tokens["agent1"])
    await client.get("/nowhere")
    refusals = [r for r in caplog.records if r.name in ("huying.api", "litestar")]
    assert refusals and all(r.levelno == logging.INFO and r.exc_info is None for r in refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("method, path, kwargs, status, key", [
    ("POST", INTAKE, {"content": b'{"kind": ', "headers": {"Content-Type": "application/json"}}, 400, "body"),
    ("POST", INTAKE, {"json": {"kind": "complaint"}}, 400, "subject"),
    ("POST", INTAKE, {"json": intake_body(kind="gossip")}, 400, "kind"),
    ("GET", "/api/orders/XJ404", {}, 404, None),
    ("GET", "/api/nowhere", {}, 404, None),
    ("DELETE", "/api/orders", {}, 405, None),
    ("PUT", INTAKE, {"json": {}}, 405, None),
])
async def test_every_error_is_chinese_in_one_shape(client, tokens, method, path, kwargs, status, key):
    headers = {**tokens["agent1"], **kwargs.pop("headers", {})}
    body = _shape(await client.request(method, path, headers=headers, **kwargs), status)
    assert not re.search(r"Object missing|Invalid enum|Not Found|Method Not Allowed|malformed|truncated", str(body))
    if key:
        assert key in [e["key"] for e in body["extra"]], body


@pytest.mark.parametrize("query, key", [
    ("priorty=urgent", "priorty"), ("status=bogus", "status"), ("priority=asap", "priority"),
    ("deadline=late", "deadline"), ("source=fax", "source"), ("kind=gossip", "kind"),
    ("channel=nope", "channel"), ("flag=a%22b", "flag"), ("received_from=2026-11-01T00:00:00", "received_from"),
])
async def test_the_order_list_refuses_unknown_parameters_and_values(client, tokens, query, key):
    body = _shape(await client.get(f"/api/orders?{query}", headers=tokens["agent1"]), 400)
    assert key in [e["key"] for e in body["extra"]], body


async def test_the_order_list_filters_by_priority_flag_area_source_dates_and_deadline_state(client, tokens):
    now = clock.now()
    urgent = await _order(client, tokens, priority="urgent", area="观沙岭街道", source="netboard")
    plain = await _order(client, tokens, received_at=(now - dt.timedelta(days=60)).isoformat())
    flagged = (await client.post("/api/channels/safety_reporting/orders", json=report(details={"casualties": 3}),
                                 headers=tokens["agent1"])).json()
    staff = tokens["supervisor1"]

    async def numbers(query):
        response = await client.get(f"/api/orders?{query}", headers=staff)
        assert response.status_code == 200, response.text
        return {o["number"] for o in response.json()["items"]}

    assert await numbers("priority=urgent") >= {urgent["number"]} and plain["number"] not in await numbers("priority=urgent")
    assert await numbers("area=观沙岭街道") >= {urgent["number"]} and plain["number"] not in await numbers("area=观沙岭街道")
    assert await numbers("source=netboard") == {urgent["number"]}
    since = (now - dt.timedelta(days=1)).isoformat().replace("+00:00", "Z")
    assert plain["number"] not in await numbers(f"received_from={since}")
    assert await numbers(f"received_to={since}") == {plain["number"]}
    if flagged.get("flags"):
        assert await numbers(f"flag={flagged['flags'][0]}") == {flagged["number"]}
    # the 60-day-old order is past every deadline; a fresh one is not
    assert await numbers("deadline=overdue") == {plain["number"]} == await numbers("deadline=超期")
    assert plain["number"] not in await numbers("deadline=normal") | await numbers("deadline=临期")
    assert urgent["number"] in await numbers("deadline=normal") | await numbers("deadline=at_risk")


async def test_every_instant_the_api_returns_is_in_the_centres_zone(client, tokens):
    number = (await _order(client, tokens))["number"]
    await _act(client, tokens["dispatcher1"], number, "dispatch", {"department": "eco_env"})
    await client.post(f"/api/orders/{number}/attachments", headers=tokens["agent1"],
                      files={"data": ("a.png", helpers.png(), "image/png")})
    found = []

    def walk(value):
        if isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)
        elif isinstance(value, str) and ISO_INSTANT.match(value):
            found.append(value)

    for path in (f"/api/orders/{number}", "/api/orders", f"/api/orders/{number}/attachments"):
        walk((await client.get(path, headers=tokens["agent1"])).json())
    assert len(found) > 10 and all(v.endswith("+08:00") for v in found), [v for v in found if not v.endswith("+08:00")]


async def test_head_on_the_site_root_answers_like_get(client):
    response = await client.head("/")
    assert response.status_code in (200, 302) and response.content == b""
    assert (await client.head("/forms")).status_code == 200


@pytest.mark.parametrize("body, refused", [
    (b'{"a": "]]]\\"[[[", "b": [[[]]]}', False),             # brackets and escaped quotes inside text
    (b'{"a": "\\\\", "b": [1, [2]]}', False),                 # an escaped backslash before a quote
    (b"[" * 32 + b"]" * 32, False),
    (b"[" * 33 + b"]" * 33, True),
    (b"[" * 100_000, True),                                   # never closes
    (b"[]," * 6000, True),                                    # too many containers to be a request
])
def test_json_nesting_is_judged_outside_strings_without_walking_the_text(body, refused):
    from api.guard import nesting_problem

    assert (nesting_problem(body) is not None) is refused


async def test_large_images_in_web_forms_do_not_stall_other_requests():
    """Three 36-megapixel PNGs (under the limit, so decoded whole) in a web form once held the event
    loop for the better part of a second each; the form's check now runs in worker threads, so the
    loop keeps serving meanwhile (``bench/hostile.py`` measures it through a real server)."""
    import time

    from api.web.uploads import check

    image = helpers.big_png(6000, 6000)
    ticks: list[float] = []

    async def meanwhile():
        while not checked.done():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    checked = asyncio.ensure_future(asyncio.gather(*(check(f"照片{i}.png", image) for i in range(3))))
    await asyncio.gather(checked, meanwhile())
    assert checked.result() == [("image/png", None)] * 3
    # held, the loop stopped for seconds (three decodes in a row); a gap of a few hundred milliseconds is
    # the machine being busy with other work (CI runs two suites at once), not the loop being held
    assert len(ticks) > 10 and max(b - a for a, b in zip(ticks, ticks[1:])) < 0.5
