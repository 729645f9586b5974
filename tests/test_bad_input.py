"""The bad-input table: every hostile request gets the same clear 4xx on SQLite and PostgreSQL.

Each row is a request a careless client or an attacker sends (wrong types, huge, deep, NUL, invalid
UTF-8, far dates, unknown fields and parameters); each must be refused with a 4xx in the error shape
``{status_code, detail, extra}``, never a 500, and must write nothing.
"""

from __future__ import annotations

import json

import pytest

from core.tables import Order, OrderEvent
from tests.helpers import intake_body

INTAKE = "/api/channels/hotline/orders"


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _json(body) -> dict:
    return {"content": json.dumps(body, ensure_ascii=False).encode(), "headers": {"Content-Type": "application/json"}}


# (name, method, path, request kwargs, expected status)
BAD_REQUESTS = [
    ("wrong type", "POST", INTAKE, _json(intake_body(subject=123)), 400),
    ("null body", "POST", INTAKE, _json(None), 400),
    ("array body", "POST", INTAKE, _json([1, 2]), 400),
    ("malformed json", "POST", INTAKE, {"content": b'{"kind": ', "headers": {"Content-Type": "application/json"}}, 400),
    ("invalid utf-8", "POST", INTAKE, {"content": b'{"kind": "\xff\xfe"}', "headers": {"Content-Type": "application/json"}}, 400),
    ("deeply nested details", "POST", INTAKE,
     {"content": ('{"kind":"complaint","subject":"s","content":"c","anonymous":true,"details":{"a":'
                  + _deep(1000) + "}}").encode(), "headers": {"Content-Type": "application/json"}}, 400),
    ("deeply nested action", "POST", "/api/orders/{order}/actions/comment",
     {"content": _deep(1000).encode(), "headers": {"Content-Type": "application/json"}}, 400),
    ("NUL in subject", "POST", INTAKE, _json(intake_body(subject="噪音\x00扰民")), 400),
    ("NUL in content", "POST", INTAKE, _json(intake_body(content="噪音\x00")), 400),
    ("NUL in citizen name", "POST", INTAKE, _json(intake_body(citizen={"name": "李\x00", "phone": "13912345678"})), 400),
    ("NUL in details", "POST", INTAKE, _json(intake_body(details={"x": "\x00"})), 400),
    ("NUL in query", "GET", "/api/orders?q=%00", {}, 400),
    ("NUL in status", "GET", "/api/orders?status=%00", {}, 400),
    ("NUL in order number", "GET", "/api/orders/XJ%00", {}, 400),
    ("NUL in channel code", "POST", "/api/channels/hot%00line/orders", _json(intake_body()), 400),
    ("invalid utf-8 in query", "GET", "/api/orders?q=%ff%fe", {}, 400),
    ("too long citizen name", "POST", INTAKE, _json(intake_body(citizen={"name": "李" * 65, "phone": "13912345678"})), 400),
    ("huge citizen name", "POST", INTAKE, _json(intake_body(citizen={"name": "李" * 300_000, "phone": "13912345678"})), 413),
    ("too long phone", "POST", INTAKE, _json(intake_body(citizen={"name": "李", "phone": "1" * 40})), 400),
    ("unknown citizen key", "POST", INTAKE, _json(intake_body(citizen={"name": "李", "phone": "13912345678", "id_card": "x"})), 400),
    ("unknown top key", "POST", INTAKE, _json(intake_body(colour="red")), 400),
    ("year 1", "POST", INTAKE, _json(intake_body(received_at="0001-01-02T00:00:00Z")), 400),
    ("year 1 with offset", "POST", INTAKE, _json(intake_body(received_at="0001-01-01T00:00:00+08:00")), 400),
    ("year 9999", "POST", INTAKE, _json(intake_body(received_at="9999-12-31T23:59:59-08:00")), 400),
    ("1970", "POST", INTAKE, _json(intake_body(received_at="1970-01-01T00:00:00Z")), 400),
    ("naive time", "POST", INTAKE, _json(intake_body(received_at="2026-11-28T09:00:00")), 400),
    ("bad enum", "POST", INTAKE, _json(intake_body(kind="gossip")), 400),
    ("unknown list parameter", "GET", "/api/orders?priorty=urgent", {}, 400),
    ("bad status value", "GET", "/api/orders?status=bogus", {}, 400),
    ("bad priority value", "GET", "/api/orders?priority=asap", {}, 400),
    ("bad deadline state", "GET", "/api/orders?deadline=late", {}, 400),
    ("bad date", "GET", "/api/orders?received_from=yesterday", {}, 400),
    ("page zero", "GET", "/api/orders?page=0", {}, 400),
    ("huge page", "GET", "/api/orders?page=99999999999999999999", {}, 400),
    ("huge page size", "GET", "/api/orders?page_size=100000", {}, 400),
    ("long q", "GET", "/api/orders?q=" + "噪" * 300, {}, 400),
    ("upload without a file", "POST", "/api/orders/{order}/attachments",
     {"files": {"other": ("x.txt", b"hello", "text/plain")}}, 400),
    ("upload with an empty body", "POST", "/api/orders/{order}/attachments",
     {"content": b"", "headers": {"Content-Type": "multipart/form-data; boundary=x"}}, 400),
    ("unknown action payload key", "POST", "/api/orders/{order}/actions/comment", _json({"text": "好", "x": 1}), 400),
    ("unknown api key field", "POST", "/api/api-keys", _json({"name": "k", "channels": [], "x": 1}), 400),
    ("too long api key name", "POST", "/api/api-keys", _json({"name": "k" * 129, "channels": []}), 400),
    ("NUL in api key name", "POST", "/api/api-keys", _json({"name": "k\x00", "channels": []}), 400),
    ("calendar day bad date", "POST", "/api/calendar/days", _json({"day": "2026-02-30", "workday": True}), 400),
    ("calendar day year 1", "POST", "/api/calendar/days", _json({"day": "0001-01-01", "workday": True}), 400),
]


@pytest.mark.parametrize("name, method, path, kwargs, expected", BAD_REQUESTS, ids=[r[0] for r in BAD_REQUESTS])
async def test_bad_request_is_a_clear_4xx_and_writes_nothing(client, tokens, name, method, path, kwargs, expected):
    """Whatever the request carries, the answer is the documented 4xx, never a 500, and nothing is stored."""
    created = await client.post(INTAKE, json=intake_body(), headers=tokens["agent1"])
    number = created.json()["number"]
    headers = {**tokens["admin1"], **kwargs.get("headers", {})}
    kwargs = {k: v for k, v in kwargs.items() if k != "headers"}
    response = await client.request(method, path.format(order=number), headers=headers, **kwargs)
    assert response.status_code == expected, response.text[:500]
    payload = response.json()
    assert set(payload) - {"request_id"} == {"status_code", "detail", "extra"}, payload
    assert payload["status_code"] == expected and isinstance(payload["extra"], list)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in payload["detail"]), payload  # Chinese, not litestar's English
    assert await Order.count() == 1 and await OrderEvent.count() == 1
