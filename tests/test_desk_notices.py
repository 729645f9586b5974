"""Staff notices as they happen: a returned order reaches the dispatchers, a 督办 the department handling
the order; each is counted in the console's header until the list is opened, and pushed to the open
browsers of its recipients over server-sent events (console session or bearer token)."""

from __future__ import annotations

import asyncio
import json

import httpx
import msgspec

from api.app import create_app
from core.intake import IntakeRequest
from core.jobs import deliver_outbox
from core.model import Actor
from tests.helpers import intake_body, serve_in_thread
from tests.test_console import people  # noqa: F401  (the signed-in staff fixture)

DISPATCHER = Actor(name="dispatcher1", role="dispatcher")
HOUSING = Actor(name="housing_handler", role="handler", department="housing")
SUPERVISOR = Actor(name="supervisor1", role="supervisor")


async def dispatched(platform, subject: str = "楼道灯坏了") -> str:
    _, order = await platform.orders.intake("hotline", msgspec.convert(intake_body(subject=subject), IntakeRequest),
                                            Actor(name="agent1", role="agent"))
    await platform.orders.act(order.number, "dispatch", {"department": "housing"}, DISPATCHER)
    return order.number


async def test_a_returned_order_and_a_supervision_are_counted_in_the_header_until_the_list_is_opened(client, people, platform):  # noqa: F811
    number = await dispatched(platform)
    await platform.orders.act(number, "supervise", {"note": "请加快办理", "kind": "supervise"}, SUPERVISOR)
    await platform.orders.act(number, "return", {"reason": "不属于本单位职责"}, HOUSING)
    await deliver_outbox(platform)
    dispatcher = await people("dispatcher1")
    home = await dispatcher.get("/console")
    assert '<span class="count" id="notice-count" aria-live="polite">1</span>' in home.text
    listed = await dispatcher.get("/console/notifications")
    assert f"工单{number}「楼道灯坏了」被住房和城乡建设局退回：不属于本单位职责" in listed.text
    assert f'href="/console/orders/{number}"' in listed.text and 'class="new"' in listed.text
    again = await dispatcher.get("/console")
    assert 'id="notice-count" aria-live="polite" hidden>0<' in again.text  # read: the count starts again
    handler = await people("housing_handler")
    mine = await handler.get("/console/notifications")
    assert "收到督办：请加快办理" in mine.text and "不属于本单位职责" not in mine.text


async def test_the_stream_needs_a_session_or_a_token(client):
    refused = await client.get("/api/notifications/stream")
    assert refused.status_code == 401 and refused.json()["detail"]


async def test_a_delivered_notice_is_pushed_to_the_stream_of_each_recipient(platform, tokens):
    number = await dispatched(platform, "路灯不亮")
    app = create_app(platform, pool=False, run_jobs=True)  # the outbox delivered as the server runs it
    with serve_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base, timeout=10) as http:
            async with http.stream("GET", "/api/notifications/stream", headers=tokens["housing_handler"]) as stream:
                assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
                lines = stream.aiter_lines()
                assert (await anext(lines)).startswith(":")  # connected
                answer = await http.post(f"/api/orders/{number}/actions/supervise", headers=tokens["supervisor1"],
                                         json={"note": "今天内答复", "kind": "urge"})
                assert answer.status_code == 200, answer.text
                event = data = None
                async with asyncio.timeout(5):
                    async for line in lines:
                        if line.startswith("event:"):
                            event = line.split(":", 1)[1].strip()
                        elif line.startswith("data:") and event == "notice":
                            data = json.loads(line.split(":", 1)[1])
                            break
    assert data["text"] == f"工单{number}「路灯不亮」收到催办：今天内答复"
    assert data["href"] == f"/console/orders/{number}"
