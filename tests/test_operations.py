"""Running the platform: probes, metrics, request ids and logs, the fault log and the access audit."""

from __future__ import annotations

import datetime as dt
import logging
import os

import msgspec
import pytest

from core import clock
from tests.helpers import png
from prometheus_client.parser import text_string_to_metric_families

from tests import helpers

PNG = png()  # a real image: uploads are decoded


def _metrics(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def _scrape(client):
    """GET /metrics as the centre's scraper does, with the metrics token."""
    client.platform.settings = msgspec.structs.replace(client.platform.settings, metrics_token="scraper-token")
    return await client.get("/metrics", headers={"Authorization": "Bearer scraper-token"})


async def _order(client, tokens, **overrides) -> str:
    response = await client.post("/api/channels/hotline/orders", json=helpers.intake_body(**overrides),
                                 headers=tokens["agent1"])
    assert response.status_code == 201, response.text
    return response.json()["number"]


async def test_health_and_ready_answer_when_the_database_is_migrated(client):
    """/health says the process is alive; /ready checks the database and its migrations."""
    health = await client.get("/health")
    assert health.status_code == 200 and health.json() == {"status": "ok"}
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert checks["database"]["ok"] and "outbox" not in checks


async def test_an_outbox_backlog_leaves_ready_alone_and_is_reported_by_the_check(client, tokens):
    """A backlog is the jobs' business: /ready stays 200 (the process still takes requests, so the
    balancer keeps sending them), /metrics shows the gauge and ``huying check`` names the backlog."""
    from core.healthcheck import monthly_check
    from core.tables import OutboxMessage

    from core import clock

    client.platform.settings = msgspec.structs.replace(client.platform.settings, check_max_outbox_backlog=1)
    await OutboxMessage.insert(*[OutboxMessage(topic="city_platform.status", payload={}, created_at=clock.now())
                                 for _ in range(2)])
    ready = await client.get("/ready")
    assert ready.status_code == 200, ready.text
    assert "huying_outbox_backlog 2.0" in (await _scrape(client)).text
    outbox = next(f for f in await monthly_check(client.platform) if f["name"] == "发件箱")
    assert outbox["ok"] is False and "待发送消息超过 1 条" in outbox["detail"]


async def test_a_burst_of_intakes_queues_no_text_message_without_a_gateway(client, tokens):
    """Without an SMS gateway the receipt's record is its delivery, made with the intake: nothing waits
    in the outbox (a burst of intakes once queued thousands of receipts behind a slow copying job)."""
    from core.tables import OutboxMessage, TextMessage

    # a burst comes through the interfaces (a phone call's receipt waits a moment: test_callbacks.py)
    numbers = [await _order(client, tokens, source="api", citizen={"name": "李女士", "phone": f"1380013{i:04d}"})
               for i in range(5)]
    assert await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()) == 0
    texts = await TextMessage.select(TextMessage.order_number, TextMessage.status, TextMessage.template).where(
        TextMessage.kind == "sms")
    assert sorted(t["order_number"] for t in texts) == sorted(numbers)
    assert {(t["status"], t["template"]) for t in texts} == {("recorded", "receipt")}
    assert (await client.get("/ready")).status_code == 200


async def test_ready_checks_redis_when_it_is_configured(client):
    """With Redis configured, /ready pings it: reachable passes, a closed port fails."""
    redis_url = os.environ.get("HUYING_TEST_REDIS_URL")
    platform = client.platform
    if redis_url:
        platform.settings = msgspec.structs.replace(platform.settings, redis_url=redis_url)
        platform.__dict__.pop("_readiness", None)
        assert (await client.get("/ready")).json()["checks"]["redis"]["ok"] is True
    platform.settings = msgspec.structs.replace(platform.settings,
                                                redis_url=f"redis://127.0.0.1:{helpers.free_port()}/0")
    platform.__dict__.pop("_readiness", None)
    down = await client.get("/ready")
    assert down.status_code == 503 and down.json()["checks"]["redis"]["ok"] is False


async def test_metrics_count_requests_by_route_orders_by_status_and_overdue(client, tokens):
    """Prometheus text from the client library: requests by route template and status with latency
    histograms, orders by status, overdue and at-risk deadlines, outbox backlog."""
    await _order(client, tokens)
    old = clock.now() - dt.timedelta(days=30)
    await _order(client, tokens, received_at=old.isoformat(), subject="一个月前的来电")
    number = await _order(client, tokens)
    await client.get(f"/api/orders/{number}", headers=tokens["agent1"])
    await client.get("/api/orders/XJ-none", headers=tokens["agent1"])
    response = await _scrape(client)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _metrics(response.text)
    route = (("method", "GET"), ("route", "/api/orders/{number}"))
    assert samples[("huying_http_requests_total", (*route, ("status", "200")))] >= 1
    assert samples[("huying_http_requests_total", (*route, ("status", "404")))] >= 1
    assert samples[("huying_http_request_duration_seconds_count", route)] >= 2
    assert samples[("huying_orders", (("status", "received"),))] == 3
    assert samples[("huying_open_deadlines", (("state", "overdue"),))] == 2  # dispatch and handle, a month late
    from core.tables import OutboxMessage

    pending = await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null())
    assert samples[("huying_outbox_backlog", ())] == pending  # notifications of the new orders wait


async def test_every_response_carries_a_request_id_and_errors_repeat_it(client, tokens):
    """The id comes back in X-Request-ID (the caller's own when it sends a sane one) and in every
    error body, and one log line per request carries it."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append
    logging.getLogger("huying.requests").addHandler(handler)
    try:
        ok = await client.get("/health")
        bad = await client.post("/api/channels/hotline/orders", json={"kind": "nope"}, headers=tokens["agent1"])
        unknown = await client.get("/no/such/page")
        given = await client.get("/health", headers={"X-Request-ID": "call-center-42"})
        hostile = await client.get("/health", headers={"X-Request-ID": "x" * 500})
        invented = await client.request("BREW", "/health")
    finally:
        logging.getLogger("huying.requests").removeHandler(handler)
    assert len(ok.headers["x-request-id"]) == 32
    assert bad.status_code == 400 and bad.json()["request_id"] == bad.headers["x-request-id"]
    assert unknown.status_code == 404 and unknown.json()["request_id"] == unknown.headers["x-request-id"]
    assert given.headers["x-request-id"] == "call-center-42"
    assert hostile.headers["x-request-id"] != "x" * 500
    ids = [r.fields["request_id"] for r in seen]
    assert ids == [r.headers["x-request-id"] for r in (ok, bad, unknown, given, hostile, invented)]
    assert len(set(ids)) == len(ids)  # each request its own id
    assert invented.status_code == 405 and seen[-1].fields["method"] == "BREW"
    metrics = (await _scrape(client)).text
    assert "BREW" not in metrics and 'method="OTHER"' in metrics  # a made-up verb does not grow the labels
    assert seen[1].fields["status"] == 400 and seen[1].fields["route"] == "/api/channels/{code}/orders"


def test_json_log_lines_are_one_object_per_request():
    """HUYING_LOG_FORMAT=json writes each request as one JSON object with its id, route and timing."""
    from api.operations import configure_request_log, log

    configure_request_log("json")
    try:
        record = log.makeRecord(log.name, logging.INFO, __file__, 1, "%s", ("x",), None,
                                extra={"fields": {"request_id": "abc", "status": 200, "duration_ms": 1.5}})
        line = msgspec.json.decode(log.handlers[0].format(record))
    finally:
        configure_request_log("text")
    assert line["request_id"] == "abc" and line["status"] == 200 and line["level"] == "info"


async def test_admins_record_incidents_and_auditors_read_them(client, tokens):
    """故障跟踪: an admin records what happened, its impact and the actions, then marks it resolved
    (any member of staff may report one: ``test_desk_maintenance.py``; an integration may not)."""
    from core.auth import create_api_key

    auditor = await _user(client, "auditor")
    body = {"occurred_at": "2026-11-20T09:30:00+08:00", "title": "数据库服务器磁盘写满",
            "impact": "09:30-10:10 无法受理新工单", "actions": "清理日志，扩容磁盘"}
    key = {"X-API-Key": await create_api_key("monitor", [])}
    assert (await client.post("/api/incidents", json=body, headers=key)).status_code == 403
    naive = await client.post("/api/incidents", json={**body, "occurred_at": "2026-11-20T09:30:00"},
                              headers=tokens["admin1"])
    assert naive.status_code == 400 and naive.json()["extra"][0]["key"] == "occurred_at"
    created = await client.post("/api/incidents", json=body, headers=tokens["admin1"])
    assert created.status_code == 201, created.text
    incident = created.json()
    assert incident["resolved"] is False and incident["source"] == "admin" and incident["recorded_by"] == "admin1"
    resolved = await client.post(f"/api/incidents/{incident['id']}", json={"resolved": True},
                                 headers=tokens["admin1"])
    assert resolved.json()["resolved"] is True and resolved.json()["resolved_at"]
    assert (await client.post("/api/incidents/999999", json={"resolved": True},
                              headers=tokens["admin1"])).status_code == 404
    listed = await client.get("/api/incidents", headers=auditor)
    assert [i["title"] for i in listed.json()] == ["数据库服务器磁盘写满"]
    assert (await client.get("/api/incidents", headers=tokens["dispatcher1"])).status_code == 403


async def test_the_platform_records_a_job_failing_repeatedly_and_closes_it_on_recovery(platform, monkeypatch):
    """Three failed runs in a row of the outbox job open one incident; the next good run resolves it."""
    import core.jobs
    from core import incidents
    from core.tables import Incident

    real = core.jobs.deliver_due

    async def unreachable_database(*args, **kwargs):
        raise ConnectionError("database is gone")

    monkeypatch.setattr(core.jobs, "deliver_due", unreachable_database)
    for _ in range(4):
        with pytest.raises(ConnectionError):
            await core.jobs.deliver_outbox(platform)
    rows = await Incident.select().where(Incident.source == "platform")
    assert len(rows) == 1 and "连续 3 次失败" in rows[0]["title"] and "database is gone" in rows[0]["impact"]
    monkeypatch.setattr(core.jobs, "deliver_due", real)
    await core.jobs.deliver_outbox(platform)
    assert (await incidents.listing(resolved=False)) == []


async def test_the_platform_records_the_city_unreachable_for_an_hour(platform):
    """A status push failing for over an hour opens an incident; once delivered it is resolved."""
    from core.builtins.city_sync import watch_city_platform
    from core.tables import Incident, OutboxMessage

    now = clock.now()
    await OutboxMessage.insert(OutboxMessage(topic="city_platform.status", payload={}, attempts=5,
                                             last_error="ConnectError: refused", created_at=now - dt.timedelta(minutes=30)))
    await watch_city_platform(now)
    assert await Incident.count() == 0  # half an hour is not yet an incident
    await watch_city_platform(now + dt.timedelta(minutes=31))
    await watch_city_platform(now + dt.timedelta(minutes=40))
    [row] = await Incident.select()
    assert row["key"] == "city_unreachable" and "ConnectError" in row["impact"] and not row["resolved"]
    await OutboxMessage.update({OutboxMessage.delivered_at: now}, force=True)
    await watch_city_platform(now + dt.timedelta(minutes=45))
    [row] = await Incident.select()
    assert row["resolved"] and row["actions"] == "状态回传已恢复送达"


async def _user(client, role: str) -> dict[str, str]:
    from core.users import add_user

    await add_user(f"{role}_x", role=role, password=helpers.PASSWORD)
    return await helpers.login(client, f"{role}_x")


async def test_the_access_audit_records_logins_views_and_exports_for_auditors(client, tokens):
    """Sign-ins (both outcomes), staff views of an order and every file taken away are recorded; an
    auditor reads them, and sees no orders."""
    auditor = await _user(client, "auditor")
    failed = await client.post("/api/auth/token", json={"username": "agent1", "password": "wrong-one"})
    assert failed.status_code == 401
    number = await _order(client, tokens)
    await client.get(f"/api/orders/{number}", headers=tokens["dispatcher1"])
    upload = await client.post(f"/api/orders/{number}/attachments", files={"data": ("p.png", PNG, "image/png")},
                               headers=tokens["agent1"])
    key = upload.json()["key"]
    download = await client.get(f"/api/orders/{number}/attachments/{key}", headers=tokens["supervisor1"])
    assert download.status_code == 200

    audit = (await client.get("/api/access-audit", params={"page_size": 200}, headers=auditor)).json()
    actions = [(e["action"], e["actor"]) for e in audit["items"]]
    assert ("login_failed", "agent1") in actions and ("login_succeeded", "agent1") in actions
    assert ("view_order", "dispatcher1") in actions
    view = next(e for e in audit["items"] if e["action"] == "view_order")
    assert view["target"] == number and view["role"] == "dispatcher" and view["action_label"] == "查看工单详情"
    export = next(e for e in audit["items"] if e["action"] == "export")
    assert export["actor"] == "supervisor1" and number in export["target"]
    only_failures = (await client.get("/api/access-audit", params={"action": "login_failed"}, headers=auditor)).json()
    assert only_failures["total"] == 1 and only_failures["items"][0]["actor"] == "agent1"
    assert (await client.get("/api/access-audit", headers=tokens["admin1"])).status_code == 200
    since = (clock.now() - dt.timedelta(hours=1)).isoformat()
    recent = await client.get("/api/access-audit", params={"since": since, "user": "dispatcher1"}, headers=auditor)
    assert [e["action"] for e in recent.json()["items"]] == ["view_order", "login_succeeded"]
    naive = await client.get("/api/access-audit", params={"since": "2026-11-01T00:00:00"}, headers=auditor)
    assert naive.status_code == 400 and naive.json()["extra"][0]["key"] == "since"
    assert (await client.get("/api/access-audit", headers=tokens["supervisor1"])).status_code == 403
    assert (await client.get("/api/orders", headers=auditor)).status_code == 403
    assert (await client.get(f"/api/orders/{number}", headers=auditor)).status_code == 404


def test_metrics_add_up_every_process_with_a_multiprocess_directory(tmp_path):
    """With PROMETHEUS_MULTIPROC_DIR set, the requests counted by several processes are all in /metrics."""
    import subprocess
    import sys

    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    count = ("from core.metrics import REQUESTS; "
             "REQUESTS.labels('GET', '/api/orders', '200').inc({n})")
    for n in (2, 3):  # two serving processes
        subprocess.run([sys.executable, "-c", count.format(n=n)], env=env, check=True, timeout=60)
    scrape = ("import sys; from core.metrics import DatabaseCollector, render; "
              "sys.stdout.write(render(DatabaseCollector())[0].decode())")
    text = subprocess.run([sys.executable, "-c", scrape], env=env, check=True, timeout=60,
                          capture_output=True, text=True).stdout
    samples = _metrics(text)
    assert samples[("huying_http_requests_total",
                    (("method", "GET"), ("route", "/api/orders"), ("status", "200")))] == 5
