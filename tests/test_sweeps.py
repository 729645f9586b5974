"""Scheduled jobs on orders: the SLA sweep escalates by rule, callbacks are scheduled, rated orders are
archived after the appeal window, the integrity check reports what it finds; SMS to citizens with
their query code, never to anonymous or opted-out citizens, and rate-limited per number."""

from __future__ import annotations

import datetime as dt

import msgspec

from core import clock
from core.builtins.sweeps import archive_sweep, integrity_check, next_working_day, schedule_callbacks, sla_sweep
from core.calendar import SHANGHAI
from core.outbox import deliver_due
from core.tables import OrderEvent, OutboxMessage, SmsOptOut, TextMessage
from tests.helpers import free_port, intake_body


async def _new(client, tokens, **overrides) -> dict:
    response = await client.post("/api/channels/hotline/orders", json=intake_body(**overrides), headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()


async def deliver_outbox(platform) -> None:
    """Deliver as the job would, at a time past every message the moved clock wrote."""
    await deliver_due(platform.deliverers, platform.settings,
                      now=clock.now() + dt.timedelta(days=30))


def _at(client, moment: dt.datetime) -> None:
    client.platform.orders.clock = lambda: moment


async def _events(client, tokens, number) -> list[dict]:
    return (await client.get(f"/api/orders/{number}", headers=tokens["admin1"])).json()["events"]


async def test_the_sla_sweep_urges_at_risk_and_supervises_overdue_orders_once(client, tokens):
    order = await _new(client, tokens, kind="consult")
    number = order["number"]
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                      headers=tokens["dispatcher1"])
    await client.post(f"/api/orders/{number}/actions/accept", headers=tokens["eco_handler"])
    handle = next(d for d in order["deadlines"] if d["name"] == "handle")
    start, due = dt.datetime.fromisoformat(handle["start"]), dt.datetime.fromisoformat(handle["due"])
    _at(client, due - dt.timedelta(minutes=30))  # well past 80 % of three working days
    assert (await sla_sweep(client.platform))["urge"] == 1
    assert (await sla_sweep(client.platform))["urge"] == 0  # marked once
    _at(client, due + dt.timedelta(hours=1))
    result = await sla_sweep(client.platform)
    assert result["supervise"] == 1 and result["overdue"] == 1
    view = (await client.get(f"/api/orders/{number}", headers=tokens["eco_handler"])).json()
    assert [(s["kind"], s["issued_by"], s["department"]) for s in view["supervisions"]] == [
        ("urge", "system", "eco_env"), ("supervise", "system", "eco_env")]
    marks = [(e["action"], e["payload"]["state"], e["role"]) for e in view["events"] if e["action"] == "sla_mark"]
    assert marks == [("sla_mark", "at_risk", "system"), ("sla_mark", "overdue", "system")]
    assert "系统自动督办：办理时限超期" in view["events"][-1]["reason"]
    assert all(a["name"] != "sla_mark" for a in view["actions"])  # nobody but the system may mark
    await deliver_outbox(client.platform)
    supervisor = (await client.get("/api/notifications", headers=tokens["supervisor1"])).json()["items"]
    department = (await client.get("/api/notifications", headers=tokens["eco_handler"])).json()["items"]
    other = (await client.get("/api/notifications", headers=tokens["housing_handler"])).json()["items"]
    assert len(supervisor) == 1 and "督办" in supervisor[0]["text"] and number in supervisor[0]["text"]
    assert len(department) == 2 and other == []


async def test_the_sweep_adds_nothing_on_top_of_a_supervisors_recent_supervision(client, tokens):
    """A supervisor pressed the department and got an answer; the deadline passes minutes later: the
    sweep marks it 超期 but adds no 催办/督办 of its own (the handler's queue would go from 1 to 3)."""
    order = await _new(client, tokens, kind="consult")
    number = order["number"]
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                      headers=tokens["dispatcher1"])
    await client.post(f"/api/orders/{number}/actions/accept", headers=tokens["eco_handler"])
    due = dt.datetime.fromisoformat(next(d for d in order["deadlines"] if d["name"] == "handle")["due"])
    _at(client, due - dt.timedelta(minutes=20))
    supervised = await client.post(f"/api/orders/{number}/actions/supervise",
                                   json={"kind": "supervise", "note": "请今日内答复"}, headers=tokens["supervisor1"])
    assert supervised.status_code == 200, supervised.text
    answered = await client.post(f"/api/orders/{number}/actions/answer_supervision",
                                 json={"supervision": 1, "answer": "已安排人员现场处置"}, headers=tokens["eco_handler"])
    assert answered.status_code == 200, answered.text
    _at(client, due + dt.timedelta(minutes=2))
    result = await sla_sweep(client.platform)
    assert result["overdue"] == 1 and result["urge"] == result["supervise"] == 0
    view = (await client.get(f"/api/orders/{number}", headers=tokens["eco_handler"])).json()
    assert [(s["kind"], s["issued_by"]) for s in view["supervisions"]] == [("supervise", "supervisor1")]


async def test_one_sweep_never_adds_an_urge_and_a_supervision_together(client, tokens):
    """Dispatched but never accepted, then both the accept and the handling deadline are past: the rules
    call for 催办 (accept) and 督办 (handle); the department gets the 督办 alone."""
    order = await _new(client, tokens, kind="consult")
    number = order["number"]
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "eco_env"},
                      headers=tokens["dispatcher1"])
    due = dt.datetime.fromisoformat(next(d for d in order["deadlines"] if d["name"] == "handle")["due"])
    _at(client, due + dt.timedelta(hours=1))
    result = await sla_sweep(client.platform)
    assert result["overdue"] == 2 and result["supervise"] == 1 and result["urge"] == 0
    view = (await client.get(f"/api/orders/{number}", headers=tokens["eco_handler"])).json()
    assert [s["kind"] for s in view["supervisions"]] == ["supervise"]
    assert (await sla_sweep(client.platform)) == {"at_risk": 0, "overdue": 0, "urge": 0, "supervise": 0}


async def test_escalation_rules_come_from_the_settings(client, tokens):
    number = (await _new(client, tokens))["number"]
    order = (await client.get(f"/api/orders/{number}", headers=tokens["admin1"])).json()
    due = dt.datetime.fromisoformat(next(d for d in order["deadlines"] if d["name"] == "dispatch")["due"])
    client.platform.settings = msgspec.structs.replace(client.platform.settings, sla_rules="overdue:dispatch:supervise")
    _at(client, due + dt.timedelta(minutes=5))
    assert (await sla_sweep(client.platform))["supervise"] == 1
    view = (await client.get(f"/api/orders/{number}", headers=tokens["admin1"])).json()
    assert view["supervisions"][0]["kind"] == "supervise" and "派单时限超期" in view["supervisions"][0]["note"]


async def test_a_callback_is_scheduled_for_the_working_day_after_completion(client, tokens):
    from core.callbacks import CallbackPolicy

    client.platform.orders.callbacks = CallbackPolicy(resolved_at_intake="all")  # every one waits for a callback
    order = await _new(client, tokens, kind="consult")
    number = order["number"]
    done = await client.post(f"/api/orders/{number}/actions/resolve_at_intake", json={"reply": "已电话解答"},
                             headers=tokens["agent1"])
    completed_at = dt.datetime.fromisoformat(done.json()["updated_at"])
    day = next_working_day(client.platform.calendar, completed_at)
    _at(client, dt.datetime.combine(day, dt.time(0, 30), SHANGHAI) - dt.timedelta(hours=1))
    assert await schedule_callbacks(client.platform) == {"scheduled": 0}  # not that day yet
    _at(client, dt.datetime.combine(day, dt.time(8, 0), SHANGHAI))
    assert await schedule_callbacks(client.platform) == {"scheduled": 1}
    assert await schedule_callbacks(client.platform) == {"scheduled": 0}
    events = await _events(client, tokens, number)
    assert events[-1]["action"] == "schedule_callback" and events[-1]["payload"]["day"] == day.isoformat()
    await deliver_outbox(client.platform)
    texts = await TextMessage.select().where(TextMessage.kind == "sms").order_by(TextMessage.id)
    assert [(t["template"], t["status"]) for t in texts] == [  # answered on the call: one message, not two
        ("resolved", "recorded"), ("callback_invite", "recorded")]
    assert order["query_code"] in texts[0]["text"] and number in texts[0]["text"]
    assert texts[0]["text"].startswith("【呼应12345】") and all(t["recipient"] == "13912345678" for t in texts)


async def test_anonymous_and_opted_out_citizens_get_no_text_and_numbers_are_rate_limited(client, tokens):
    await _new(client, tokens, anonymous=True, citizen={"name": "", "phone": "13700001111"})
    await SmsOptOut.insert(SmsOptOut(phone="13600002222"))
    await _new(client, tokens, citizen={"name": "赵", "phone": "13600002222"})
    client.platform.settings = msgspec.structs.replace(client.platform.settings, sms_limit="2/3600")
    for _ in range(3):
        await _new(client, tokens, citizen={"name": "钱", "phone": "13500003333"})
    await deliver_outbox(client.platform)
    rows = await TextMessage.select(TextMessage.recipient, TextMessage.status).order_by(TextMessage.id)
    assert [(r["recipient"], r["status"]) for r in rows] == [
        ("13600002222", "opted_out"), ("13500003333", "recorded"), ("13500003333", "recorded"),
        ("13500003333", "rate_limited")]
    opt = await client.post("/api/sms/opt-outs", json={"phone": "1350000"}, headers=tokens["agent1"])
    assert opt.status_code == 400 and opt.json()["extra"][0]["key"] == "phone"
    listed = (await client.get("/api/sms", headers=tokens["admin1"])).json()["items"]
    assert listed[0]["recipient"] == "135****3333"  # masked even for the centre's list


async def test_rated_orders_are_archived_once_the_appeal_window_has_passed(client, tokens):
    number = (await _new(client, tokens, kind="consult"))["number"]
    await client.post(f"/api/orders/{number}/actions/resolve_at_intake", json={"reply": "已解答"},
                      headers=tokens["agent1"])
    rated = await client.post(f"/api/orders/{number}/actions/callback",
                              json={"satisfaction": "unsatisfied", "resolved": False}, headers=tokens["agent1"])
    window = dt.datetime.fromisoformat(next(d for d in rated.json()["deadlines"] if d["name"] == "appeal")["due"])
    _at(client, window - dt.timedelta(minutes=1))
    assert await archive_sweep(client.platform) == {"archived": 0}
    _at(client, window + dt.timedelta(minutes=1))
    assert await archive_sweep(client.platform) == {"archived": 1}
    events = await _events(client, tokens, number)
    assert (events[-1]["action"], events[-1]["to_status"]) == ("auto_archive", "archived")


async def test_the_integrity_check_reports_what_it_finds(client, tokens):
    assert (await integrity_check(client.platform))["problems"] == 0
    # with a gateway the receipt SMS waits in the outbox (without one it is recorded with the intake)
    client.platform.settings = msgspec.structs.replace(client.platform.settings,
                                                       sms_gateway_url=f"http://127.0.0.1:{free_port()}/sms")
    number = (await _new(client, tokens))["number"]
    from core.tables import Order

    order_id = (await Order.select(Order.id).where(Order.number == number).first())["id"]
    await OrderEvent.delete().where(OrderEvent.order_id == order_id)
    await OutboxMessage.update({OutboxMessage.created_at: clock.now() - dt.timedelta(hours=2)}).where(
        OutboxMessage.order_number == number)
    report = await integrity_check(client.platform)
    assert report["orders_without_events"] == [number]
    assert [m["topic"] for m in report["outbox_stuck"]] == ["notify.sms"]
    assert report["problems"] == 2


async def test_an_sms_gateway_gets_each_text_once_and_a_gateway_outage_loses_none(client, tokens):
    from tests.city_server import CityServer

    gateway = CityServer()  # a loopback HTTP endpoint that records what it is sent
    await gateway.start()
    try:
        client.platform.settings = msgspec.structs.replace(client.platform.settings, sms_gateway_url=gateway.url,
                                                           sms_gateway_token="t0ken")
        order = await _new(client, tokens)
        gateway.fail = True
        await deliver_outbox(client.platform)
        assert await TextMessage.count() == 0  # nothing recorded as sent while the gateway refuses
        pending = await OutboxMessage.select().where(OutboxMessage.topic == "notify.sms").first()
        assert pending["delivered_at"] is None and "503" in pending["last_error"]
        gateway.fail = False
        for days in (60, 90):  # past the back-off; the second pass finds nothing left to send
            await deliver_due(client.platform.deliverers, client.platform.settings,
                              now=clock.now() + dt.timedelta(days=days))
    finally:
        await gateway.stop()
    [(payload, key)] = gateway.received
    assert payload["to"] == "13912345678" and order["query_code"] in payload["text"]
    assert key == payload["id"] == f"huying-outbox-{pending['id']}"
    [row] = await TextMessage.select()
    assert (row["status"], row["provider"], row["template"]) == ("sent", "http_gateway", "receipt")


async def test_staff_notices_reach_the_centres_gateway_once_and_are_read_in_the_platform(client, tokens):
    """With HUYING_NOTIFY_URL set, every staff notice (here a new early warning) is posted there with a
    stable Idempotency-Key, survives a gateway outage, and is still listed for the supervisors."""
    from core.db import write_transaction
    from core.notices import staff_notice
    from core.outbox import Outbox
    from tests.city_server import CityServer

    gateway = CityServer()
    await gateway.start()
    try:
        client.platform.settings = msgspec.structs.replace(client.platform.settings, notify_url=gateway.url)
        outbox = Outbox()
        staff_notice(outbox, "role:supervisor", "warning", warning=7, kind="surge", title="麓谷街道噪音投诉激增",
                     explanation="1 小时内 9 件，基线 2 件")
        async with write_transaction(client.platform.engine):
            await outbox.write(clock.now())
        gateway.fail = True
        await deliver_outbox(client.platform)
        assert await TextMessage.count() == 0  # not recorded as delivered while the gateway refuses
        gateway.fail = False
        for days in (60, 90):
            await deliver_due(client.platform.deliverers, client.platform.settings,
                              now=clock.now() + dt.timedelta(days=days))
    finally:
        await gateway.stop()
    [(payload, key)] = gateway.received
    assert payload["to"] == "role:supervisor" and payload["text"] == "预警：麓谷街道噪音投诉激增。1 小时内 9 件，基线 2 件"
    assert key.startswith("huying-outbox-")
    [notice] = (await client.get("/api/notifications", headers=tokens["supervisor1"])).json()["items"]
    assert (notice["template"], notice["provider"], notice["status"]) == ("warning", "gateway", "sent")


async def test_messages_waiting_under_the_old_warning_and_knowledge_topics_become_staff_notices(client, monkeypatch):
    """An upgrade leaves no message without a deliverer: pending ones are rewritten, delivered ones kept."""
    import importlib

    platform = client.platform

    from core.outbox import Outbox
    from core.tables import OutboxMessage

    migration = importlib.import_module("core.piccolo_migrations.core_0071_staff_notice_topic")
    monkeypatch.setattr(migration, "engine_finder", lambda: platform.engine)
    now = clock.now()
    outbox = Outbox()
    outbox.send("warning.notify", {"warning": 3, "kind": "surge", "title": "激增", "explanation": "9 件", "to": ["s1"]})
    outbox.send("knowledge.expiring", {"article": 5, "department": "eco_env", "question": "噪音怎么办",
                                       "valid_until": "2026-12-01", "message": "…"})
    outbox.send("warning.notify", {"warning": 4, "kind": "surge", "title": "旧", "explanation": "", "to": []})
    await outbox.write(now)
    delivered = (await OutboxMessage.select(OutboxMessage.id).order_by(OutboxMessage.id))[-1]["id"]
    await OutboxMessage.update({OutboxMessage.delivered_at: now}).where(OutboxMessage.id == delivered)
    manager = await migration.forwards()
    for step in manager.raw:
        await step()
    rows = await OutboxMessage.select().order_by(OutboxMessage.id).output(load_json=True)
    assert [r["topic"] for r in rows] == ["notify.staff", "notify.staff", "warning.notify"]
    assert rows[0]["payload"] == {"to": "role:supervisor", "template": "warning", "warning": 3, "kind": "surge",
                                  "title": "激增", "explanation": "9 件"}
    assert rows[1]["payload"]["to"] == "department:eco_env" and rows[1]["payload"]["template"] == "knowledge_expiring"
    assert set(platform.deliverers) >= {"notify.staff"}
