"""A tip-off reporter's identity and a channel's confidential fields: sealed at rest, never shown
outside the centre, hidden inside it until a centre user reveals them on the record."""

from __future__ import annotations

from typing import Annotated

import msgspec

from core.channels import Channel, field
from core.hookspecs import hookimpl
from core.tables import Order, OrderEvent
from tests.helpers import intake_body, login


class TipFields(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    site: Annotated[str, field("企业或场所")]
    id_number: Annotated[str, field("身份证号", "用于发放奖励，严格保密")] = ""


class TipLine:
    @hookimpl
    def register_channel(self):
        return Channel(code="tips", name="有奖举报", description="测试", fields=TipFields,
                       protect_reporter=True, confidential=("id_number",))


async def _setup(with_plugins):
    client = await with_plugins(TipLine())
    headers = {u: await login(client, u) for u in ("agent1", "dispatcher1", "eco_handler", "supervisor1")}
    body = intake_body(kind="report", citizen={"name": "举报人张三", "phone": "13800001111"},
                       details={"site": "某化工厂", "id_number": "430104199001011234"})
    order = (await client.post("/api/channels/tips/orders", json=body, headers=headers["agent1"])).json()
    await client.post(f"/api/orders/{order['number']}/actions/dispatch", json={"department": "eco_env"},
                      headers=headers["dispatcher1"])
    return client, headers, order["number"]


async def test_the_database_holds_no_readable_identity(with_plugins):
    client, headers, number = await _setup(with_plugins)
    row = await Order.select().where(Order.number == number).output(load_json=True).first()
    stored = msgspec.json.encode(row).decode()
    for secret in ("举报人张三", "13800001111", "430104199001011234"):
        assert secret not in stored
    assert row["details"]["site"] == "某化工厂"


async def test_a_department_never_sees_the_reporter(with_plugins):
    client, headers, number = await _setup(with_plugins)
    detail = (await client.get(f"/api/orders/{number}", headers=headers["eco_handler"])).json()
    listed = (await client.get("/api/orders", headers=headers["eco_handler"])).json()["items"][0]
    for view in (detail, listed):
        assert view["citizen"] == {"name": "（保密）", "phone": ""}
        assert "id_number" not in view["details"] and view["details"]["site"] == "某化工厂"
    everything = msgspec.json.encode([detail, listed]).decode()
    assert "1111" not in everything and "张三" not in everything and "1234" not in everything
    refused = await client.post(f"/api/orders/{number}/actions/reveal_contact", json={}, headers=headers["eco_handler"])
    assert refused.status_code == 403


async def test_the_centre_sees_it_only_by_an_audited_reveal(with_plugins):
    client, headers, number = await _setup(with_plugins)
    plain = (await client.get(f"/api/orders/{number}", headers=headers["supervisor1"])).json()
    assert plain["citizen"] == {"name": "（保密）", "phone": "138****1111"}
    assert plain["details"]["id_number"] == "（保密）"
    revealed = await client.post(f"/api/orders/{number}/actions/reveal_contact", json={"reason": "发放奖励核实身份"},
                                 headers=headers["supervisor1"])
    assert revealed.json()["citizen"] == {"name": "举报人张三", "phone": "13800001111"}
    assert revealed.json()["details"]["id_number"] == "430104199001011234"
    events = await OrderEvent.select().output(load_json=True)
    assert "举报人张三" not in msgspec.json.encode(events).decode()
    assert [e["actor"] for e in events if e["action"] == "reveal_contact"] == ["supervisor1"]
