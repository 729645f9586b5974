"""Security and reliability, round 3: one test per finding, each failing before its fix.

Cross-channel reads through de-duplication, forged city numbers, bodies that dodge the input guard by
their content type, raced city follow-ups, header floods, and the OpenAPI document against the server.
"""

from __future__ import annotations

import asyncio
import json

import msgspec
import pytest

from core.auth import create_api_key
from core.city import CITY
from core.model import Actor
from core.orders import IntakeRequest
from core.tables import Order, OrderEvent
from tests.helpers import intake_body
from core import clock
from tests.test_city_sync import SECRET, push
from tests.test_city_sync import city_order as _city_order


def city_order(number: str = "SZ2026112800017") -> dict:
    """The city's push, received an hour before the platform's now (whatever day that is)."""
    import datetime as dt

    now = clock.now()
    return _city_order(number, received_at=(now - dt.timedelta(hours=1)).isoformat(),
                       time_limit=(now + dt.timedelta(days=7)).isoformat())


ENVIRONMENT = {"problem": "cooking_fumes", "location": "梅溪湖街道某路88号一楼", "timing": "daytime",
               "source": "老王烧烤店"}


def _two_channels(platform) -> tuple[str, str]:
    return "hotline", "environment"


def _body(platform, code: str, **overrides) -> dict:
    return intake_body(**({"details": ENVIRONMENT} if code == "environment" else {}), **overrides)


# -- 2. another channel's order through the external-id de-duplication ------------------------------------

async def test_an_external_id_of_another_channel_reads_nothing(client, tokens):
    platform = client.platform
    ours, theirs = _two_channels(platform)
    first = await client.post(f"/api/channels/{theirs}/orders", headers=tokens["agent1"],
                              json=_body(platform, theirs, source="api", external_id="EXT-1", subject="别的渠道的工单"))
    assert first.status_code == 201, first.text
    key = {"X-API-Key": await create_api_key("only-ours", [ours])}
    probe = await client.post(f"/api/channels/{ours}/orders", headers=key,
                              json=_body(platform, ours, source="api", external_id="EXT-1"))
    assert probe.status_code == 409, probe.text
    assert probe.json()["extra"][0]["key"] == "external_id"
    assert "别的渠道" not in probe.text and first.json()["number"] not in probe.text
    # the owner's own repeat still answers with its order
    again = await client.post(f"/api/channels/{theirs}/orders", headers=tokens["agent1"],
                              json=_body(platform, theirs, source="api", external_id="EXT-1", subject="别的渠道的工单"))
    assert again.status_code == 200 and again.json()["number"] == first.json()["number"]


async def test_an_idempotency_key_answers_only_in_its_own_channel(client, tokens):
    platform = client.platform
    ours, theirs = _two_channels(platform)
    headers = {**tokens["agent1"], "Idempotency-Key": "same-key"}
    first = await client.post(f"/api/channels/{theirs}/orders", headers=headers, json=_body(platform, theirs))
    assert first.status_code == 201
    other = await client.post(f"/api/channels/{ours}/orders", headers=headers, json=_body(platform, ours))
    assert other.status_code == 409 and first.json()["number"] not in other.text


# -- 3. forged city numbers ----------------------------------------------------------------------------

@pytest.fixture
def city_client(client):
    client.platform.settings = msgspec.structs.replace(client.platform.settings, city_secret=SECRET)
    return client


async def test_an_api_key_cannot_claim_a_city_number(city_client, tokens):
    key = {"X-API-Key": await create_api_key("any", ["hotline"])}
    forged = await city_client.post("/api/channels/hotline/orders", headers=key,
                                    json=intake_body(source="city_transfer", external_id="SZ2026112800017",
                                                     subject="伪造"))
    assert forged.status_code == 403 and forged.json()["extra"][0]["key"] == "source"
    without_number = await city_client.post("/api/channels/hotline/orders", headers=key,
                                            json=intake_body(source="city_transfer"))
    assert without_number.status_code == 403
    real = await push(city_client, city_order())
    assert real.status_code == 201 and real.json()["subject"] == "夜间施工噪音扰民"
    assert await Order.count() == 1


async def test_staff_record_a_city_transfer_by_hand_without_the_citys_number(city_client, tokens):
    by_hand = await city_client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                                     json=intake_body(source="city_transfer"))
    assert by_hand.status_code == 201
    claimed = await city_client.post("/api/channels/hotline/orders", headers=tokens["agent1"],
                                      json=intake_body(source="city_transfer", external_id="SZ-1"))
    assert claimed.status_code == 403 and claimed.json()["extra"][0]["key"] == "source"
    assert (await push(city_client, city_order("SZ-1"))).status_code == 201


# -- 4. bodies past the guard by their content type --------------------------------------------------------

@pytest.mark.parametrize("content_type", ["text/plain", "application/octet-stream", None])
async def test_every_body_is_guarded_whatever_its_type(client, tokens, content_type):
    headers = {**tokens["agent1"]}
    if content_type:
        headers["Content-Type"] = content_type
    deep = b"[" * 100000 + b"]" * 100000
    response = await client.post("/api/channels/hotline/orders", content=deep, headers=headers)
    assert response.status_code == 400 and response.json()["extra"][0]["key"] == "body"
    nul = json.dumps(intake_body(subject="含\x00空字符")).encode()
    response = await client.post("/api/channels/hotline/orders", content=nul, headers=headers)
    assert response.status_code == 400 and "空字符" in response.json()["detail"], response.text
    raw_nul = json.dumps(intake_body(subject="含空字符"), ensure_ascii=False).encode().replace("含".encode(), b"\x00")
    response = await client.post("/api/channels/hotline/orders", content=raw_nul, headers=headers)
    assert response.status_code == 400 and "空字符" in response.json()["detail"], response.text
    assert await Order.count() == 0


# -- 8. concurrent copies resolved by a unique key -------------------------------------------------------

async def test_concurrent_copies_of_a_city_follow_up_record_one_event(city_client):
    assert (await push(city_client, city_order())).status_code == 201
    from core.city import CityFollowUp, follow_up

    platform = city_client.platform
    for round_ in range(5):
        copy = CityFollowUp(city_number="SZ2026112800017", follow_up_id=f"F-{round_}", kind="urge", text="请加快办理")
        results = await asyncio.gather(*[follow_up(platform, copy) for _ in range(8)])
        assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert await OrderEvent.count().where(OrderEvent.action == "city_urge") == 5


async def test_concurrent_copies_with_one_idempotency_key_make_one_order(platform):
    agent = Actor(name="agent1", role="agent")
    request = msgspec.convert(intake_body(), IntakeRequest)
    results = await asyncio.gather(*[platform.orders.intake("hotline", request, agent, idempotency_key="k-1")
                                     for _ in range(8)])
    assert len({order.number for _, order in results}) == 1 and await Order.count() == 1


async def test_concurrent_copies_of_a_city_order_make_one_order(platform):
    request = msgspec.convert(intake_body(external_id="SZ-RACE", source="city_transfer"), IntakeRequest)
    results = await asyncio.gather(*[platform.orders.intake("hotline", request, CITY) for _ in range(8)])
    assert sorted(status for status, _ in results) == [200] * 7 + [201]
    assert await Order.count() == 1


# -- 15. header size -------------------------------------------------------------------------------------

def _flood(url: str, header_bytes: int) -> tuple[bytes, int, float]:
    """Send a request whose one header is ``header_bytes`` long; returns the answer's first bytes, how
    much of the header went out before the server stopped reading, and the seconds it took."""
    import socket
    import time
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    started = time.monotonic()
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Flood: ")
        try:
            while sent < header_bytes:
                chunk = b"a" * min(65536, header_bytes - sent)
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError:  # the server answered and closed while we were still sending
            pass
        try:
            answer = sock.recv(4096)
        except OSError:
            answer = b""
    return answer, sent, time.monotonic() - started


def test_the_server_stops_reading_an_oversized_header(platform):
    from api.app import create_app
    from api.cli import server_options
    from tests.helpers import serve_in_thread

    with serve_in_thread(create_app(platform, pool=False, run_jobs=False), **server_options()) as url:
        answer, sent, seconds = _flood(url, 64 << 20)
        assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431")), answer[:200]
        assert sent < 64 << 20 and seconds < 10
        ordinary, _, _ = _flood(url, 1024)
        assert ordinary.startswith(b"HTTP/1.1 200"), ordinary[:200]


async def test_the_guard_refuses_too_many_header_bytes(client):
    headers = {f"x-h{i}": "a" * 1000 for i in range(40)}
    response = await client.get("/health", headers=headers)
    assert response.status_code == 431 and response.json()["extra"][0]["key"] == "headers"
    assert (await client.get("/health", headers={"x-one": "a" * 1000})).status_code == 200


# -- 16. the OpenAPI document against the server ---------------------------------------------------------

def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield path, method, operation


def _concrete(path: str, operation: dict) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            schema = parameter.get("schema", {})
            value = ("1" if schema.get("type") == "integer" else "2027-01-01" if schema.get("format") == "date"
                     else "nope")
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


async def _call(client, method: str, url: str, headers: dict, body=None):
    if method in ("post", "put", "patch"):
        return await client.request(method.upper(), url, json={} if body is None else body, headers=headers)
    return await client.request(method.upper(), url, headers=headers)


async def test_the_openapi_document_says_what_the_server_does(client, tokens):
    schema = (await client.get("/schema/openapi.json")).json()
    default = schema.get("security", [])
    problems = []
    for path, method, operation in _operations(schema):
        url = _concrete(path, operation)
        documented = set(operation.get("responses", {}))
        secured = any(requirement for requirement in operation.get("security", default))
        anonymous = await _call(client, method, url, {})
        if (anonymous.status_code == 401) != secured:
            problems.append(f"{method} {path}: anonymous {anonymous.status_code}, documented secured={secured}")
        if "text/event-stream" in operation.get("responses", {}).get("200", {}).get("content", {}):
            continue  # a signed-in stream never ends (tests/test_desk_notices.py reads one from a real server)
        for response, who in ((anonymous, "anonymous"), (await _call(client, method, url, tokens["admin1"]), "admin"),
                              (await _call(client, method, url, tokens["eco_handler"]), "handler")):
            if str(response.status_code) not in documented and response.status_code < 500:
                problems.append(f"{method} {path}: {who} got undocumented {response.status_code}")
            assert response.status_code < 500, (method, path, response.text)
        body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body and method in ("post", "put", "patch"):
            refs = [body.get("$ref", "")] + [s.get("$ref", "") for s in body.get("oneOf", body.get("anyOf", []))]
            found = [schema["components"]["schemas"][r.rsplit("/", 1)[-1]] for r in refs if r]
            resolved = found[0] if found else body
            extra = await _call(client, method, url, tokens["admin1"], {"zz_not_a_field": 1})
            refuses = extra.status_code == 400 and "zz_not_a_field" in extra.text
            if refuses and resolved.get("additionalProperties", True) is not False:
                problems.append(f"{method} {path}: refuses extra keys, documented as open")
    allowed = {}
    for path, method, _ in _operations(schema):
        allowed.setdefault(path, set()).add(method.upper())
    for path, methods in allowed.items():
        response = await client.options(_concrete(path, schema["paths"][path][next(iter(schema["paths"][path]))]))
        answered = {m.strip() for m in response.headers.get("allow", "").split(",")}
        if not methods <= answered:
            problems.append(f"OPTIONS {path}: Allow {sorted(answered)} lacks {sorted(methods - answered)}")
    assert not problems, "\n".join(problems)


async def test_an_empty_channel_list_is_refused_and_left_out_means_every_channel(client, tokens):
    empty = await client.post("/api/api-keys", json={"name": "none", "channels": []}, headers=tokens["admin1"])
    assert empty.status_code == 400 and empty.json()["extra"][0]["key"] == "channels"
    every = await client.post("/api/api-keys", json={"name": "every"}, headers=tokens["admin1"])
    assert every.status_code == 201 and every.json()["channels"] == []


@pytest.mark.parametrize("path", ["/api/outbox/2147483648", "/api/outbox/99999999999999",
                                  "/api/warnings/3000000000/acknowledge"])
async def test_ids_past_the_tables_range_get_the_same_400_on_both_backends(client, tokens, path):
    method = client.post if path.endswith("acknowledge") else client.get
    response = await method(path, headers=tokens["admin1"])
    assert response.status_code == 400, response.text
    assert response.json()["extra"][0]["key"] in ("message_id", "warning_id", "path")
    assert (await client.get("/api/outbox/2147483647", headers=tokens["admin1"])).status_code == 404


async def test_metrics_need_the_metrics_token(client):
    assert (await client.get("/metrics")).status_code == 401  # no token configured: nobody
    client.platform.settings = msgspec.structs.replace(client.platform.settings, metrics_token="scrape-me")
    assert (await client.get("/metrics")).status_code == 401
    assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 401
    scraped = await client.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert scraped.status_code == 200 and "huying_" in scraped.text
