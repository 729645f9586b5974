"""Each hook in core/hookspecs.py does what docs/plugin_hooks.md says; none is undocumented or untested."""

from __future__ import annotations

import inspect
import sys
import textwrap
from pathlib import Path

import pluggy
import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from core import clock
from api.app import create_app
from core import hookspecs
from core.channels import Channel
from core.hookspecs import hookimpl
from core.lifecycle import Action, Note, Refusal
from core.model import Actor
from core.outbox import deliver_due
from core.platform import Platform
from core.plugins import ENTRY_POINT_GROUP, Channels, DeclarationError, get_plugin_manager
from core.routing import RuleSpec
from core.tables import Order, OrderEvent, OutboxMessage
from tests.helpers import clean, intake_body, seed_staff

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(name for name, fn in vars(hookspecs).items()
               if inspect.isfunction(fn) and hasattr(fn, "huying_spec"))


def test_every_hook_is_documented_and_tested():
    docs = (ROOT / "docs" / "plugin_hooks.md").read_text()
    tests = {name for name in globals() if name.startswith("test_hook_")}
    assert HOOKS, "no hookspecs found"
    for name in HOOKS:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), f"hook {name} has no docstring"
        assert f"### `{name}(" in docs, f"hook {name} is not documented in docs/plugin_hooks.md"
        assert f"test_hook_{name}" in tests, f"hook {name} has no test_hook_{name}"


def test_a_misspelled_hook_implementation_fails_at_start_up():
    class Typo:
        @hookimpl
        def register_chanel(self):  # noqa: D401 - misspelled on purpose
            return None

    with pytest.raises(pluggy.PluginValidationError):
        get_plugin_manager(extra=[Typo()])


class Tracker:
    """A channel declared by a test, with a workflow step, a validator and an outbound message."""

    def __init__(self, fail_on_transition: bool = False):
        self.fail_on_transition = fail_on_transition
        self.seen: list[tuple[str, str]] = []

    @hookimpl
    def register_channel(self):
        return Channel(code="tracker", name="测试专线", description="测试用渠道")

    @hookimpl
    def workflow_actions(self, channel):
        return [Action(name="visit", label="上门核实", sources=frozenset({"accepted"}), target=None,
                       roles=frozenset({"handler"}), department_bound=True, payload=Note)]

    @hookimpl
    def validate_action(self, channel, action, ctx):
        if action.name == "approve" and not any(True for _ in ctx.order.details):
            raise Refusal("须先上门核实")

    @hookimpl
    def on_transition(self, channel, order, event, outbox):
        self.seen.append((channel.code, event.action))
        if self.fail_on_transition and event.action == "dispatch":
            raise RuntimeError("plugin failure")
        outbox.send("tracker.sms", {"number": order.number, "action": event.action})

    @hookimpl
    def routing_rules(self, channel):
        return [RuleSpec(department="housing", keywords=("电梯",), position=1, reason="电梯问题交住建")]


async def _login(client, username):
    from tests.helpers import PASSWORD

    r = await client.post("/api/auth/token", json={"username": username, "password": PASSWORD})
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_hook_register_channel(client):
    channels = (await client.get("/api/channels")).json()
    codes = [c["code"] for c in channels]
    assert "hotline" in codes and "mayor_mailbox" in codes
    mailbox = next(c for c in channels if c["code"] == "mayor_mailbox")
    topic = next(f for f in mailbox["fields"] if f["name"] == "topic")
    assert topic["label"] == "信件主题" and topic["required"] and topic["choices"]["livelihood"] == "民生保障"


def test_two_plugins_cannot_claim_one_channel():
    class Copy:
        @hookimpl
        def register_channel(self):
            return Channel(code="hotline", name="重复", description="")

    with pytest.raises(DeclarationError, match="hotline") as refused:
        Channels(get_plugin_manager(extra=[Copy()]))
    assert "Copy" in refused.value.plugin and "core.builtins.hotline" in str(refused.value)


async def test_hook_validate_intake(client, tokens):
    body = intake_body(kind="suggestion", details={"topic": "economy", "reply_method": "email", "email": "不是邮箱"})
    response = await client.post("/api/channels/mayor_mailbox/orders", json=body, headers=tokens["agent1"])
    assert response.status_code == 400
    assert response.json()["extra"] == [{"key": "details.email", "message": "选择电子邮件答复时，请填写有效的电子邮箱",
                                         "source": "body"}]
    assert await Order.count() == 0


async def test_hook_assess_intake(with_plugins):
    from core.channels import Assessment

    class Crowd(Tracker):
        @hookimpl
        def assess_intake(self, channel, intake, details):
            if "三十多人" in intake["content"]:
                return Assessment(priority="urgent", flags=("mass_incident",), reasons=("涉及人数多",))
            return None

    client = await with_plugins(Crowd())
    headers = await _login(client, "agent1")
    crowd = (await client.post("/api/channels/tracker/orders", headers=headers,
                               json=intake_body(content="工地三十多人被拖欠工资"))).json()
    calm = (await client.post("/api/channels/tracker/orders", headers=headers, json=intake_body())).json()
    hotline = (await client.post("/api/channels/hotline/orders", headers=headers,
                                 json=intake_body(content="工地三十多人被拖欠工资"))).json()
    assert crowd["priority"] == "urgent" and crowd["flags"] == ["mass_incident"]
    handle = next(d for d in crowd["deadlines"] if d["name"] == "handle")
    import datetime as dt

    assert dt.datetime.fromisoformat(handle["due"]) - dt.datetime.fromisoformat(handle["start"]) == dt.timedelta(hours=24)
    detail = (await client.get(f"/api/orders/{crowd['number']}", headers=headers)).json()
    assert detail["events"][0]["reason"] == "涉及人数多"
    assert calm["priority"] == "normal" and calm["flags"] == []
    assert hotline["priority"] == "normal"  # another channel's rules do not apply


async def test_hook_routing_rules(client, tokens):
    body = intake_body(kind="suggestion", subject="关于片区规划的建议", content="建议调整学校周边用地规划。",
                       details={"topic": "urban_construction"})
    order = (await client.post("/api/channels/mayor_mailbox/orders", json=body, headers=tokens["agent1"])).json()
    assert order["suggested_department"] == "natural_resources"
    assert "规划" in order["suggestion_reason"]
    plain = intake_body(kind="suggestion", subject="建议", content="希望多开展便民活动。", details={"topic": "other"})
    order = (await client.post("/api/channels/mayor_mailbox/orders", json=plain, headers=tokens["agent1"])).json()
    assert order["suggested_department"] == "general_office"


async def test_a_channels_rules_do_not_route_other_channels(with_plugins):
    client = await with_plugins(Tracker())
    headers = await _login(client, "agent1")
    own = await client.post("/api/channels/tracker/orders", headers=headers,
                            json=intake_body(subject="电梯故障", content="电梯坏了三天"))
    other = await client.post("/api/channels/hotline/orders", headers=headers,
                              json=intake_body(subject="电梯故障", content="电梯坏了三天"))
    assert own.json()["suggested_department"] == "housing"
    assert other.json()["suggested_department"] != "housing" or other.json()["suggestion_reason"] != "电梯问题交住建"


async def _to_accepted(client, number):
    dispatcher, handler = await _login(client, "dispatcher1"), await _login(client, "housing_handler")
    await client.post(f"/api/orders/{number}/actions/dispatch", json={"department": "housing"}, headers=dispatcher)
    await client.post(f"/api/orders/{number}/actions/accept", headers=handler)
    return dispatcher, handler


async def test_hook_workflow_actions(with_plugins):
    client = await with_plugins(Tracker())
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    _, handler = await _to_accepted(client, number)
    visited = await client.post(f"/api/orders/{number}/actions/visit", json={"note": "已到现场"}, headers=handler)
    assert visited.status_code == 200 and visited.json()["status"] == "accepted"
    assert visited.json()["events"][-1]["action"] == "visit"
    hotline = (await client.post("/api/channels/hotline/orders", json=intake_body(), headers=headers)).json()["number"]
    await _to_accepted(client, hotline)
    refused = await client.post(f"/api/orders/{hotline}/actions/visit", json={}, headers=handler)
    assert refused.status_code == 404


async def test_hook_validate_action(with_plugins):
    client = await with_plugins(Tracker())
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    dispatcher, handler = await _to_accepted(client, number)
    await client.post(f"/api/orders/{number}/actions/reply", json={"reply": "已处理"}, headers=handler)
    refused = await client.post(f"/api/orders/{number}/actions/approve", headers=dispatcher)
    assert refused.status_code == 409 and refused.json()["detail"] == "须先上门核实"
    assert (await client.get(f"/api/orders/{number}", headers=dispatcher)).json()["status"] == "replied"


async def test_an_async_validate_action_may_read_the_database(with_plugins):
    class OneAtATime(Tracker):
        """Refuses a dispatch while the department already has an order accepted (reads the table)."""

        @hookimpl
        async def validate_action(self, channel, action, ctx):
            if action.name == "dispatch" and await Order.exists().where(
                    (Order.department == ctx.payload.department) & (Order.status == "accepted")):
                raise Refusal("该单位有未办结的测试工单")

    client = await with_plugins(OneAtATime())
    headers = await _login(client, "agent1")
    first = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    await _to_accepted(client, first)
    second = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    refused = await client.post(f"/api/orders/{second}/actions/dispatch", json={"department": "housing"},
                                headers=await _login(client, "dispatcher1"))
    assert refused.status_code == 409 and refused.json()["detail"] == "该单位有未办结的测试工单"


async def test_hook_on_transition(with_plugins):
    tracker = Tracker()
    client = await with_plugins(tracker)
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    hotline = (await client.post("/api/channels/hotline/orders", json=intake_body(), headers=headers)).json()["number"]
    await _to_accepted(client, number)
    assert tracker.seen == [("tracker", "intake"), ("tracker", "dispatch"), ("tracker", "accept")]
    messages = await (OutboxMessage.select().where(OutboxMessage.topic == "tracker.sms")
                      .order_by(OutboxMessage.id).output(load_json=True))  # a table has no order of its own
    assert [m["payload"]["action"] for m in messages] == ["intake", "dispatch", "accept"]
    assert all(m["order_number"] == number for m in messages) and hotline != number


async def test_an_async_reaction_writes_in_the_actions_transaction(with_plugins):
    """An ``async`` on_transition is awaited inside the transaction: what it writes commits with the
    action, and its failure takes the action back with it."""

    class Indexing(Tracker):
        @hookimpl
        async def on_transition(self, channel, order, event, outbox):
            if event.action == "dispatch" and order.department == "eco_env":
                raise RuntimeError("index unavailable")
            await OrderEvent.insert(OrderEvent(order_id=order.id, action=f"indexed_{event.action}", actor="tracker",
                                               role="system", reason="", payload={}, created_at=event.created_at))

    client = await with_plugins(Indexing())
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    dispatcher = Actor(name="dispatcher1", role="dispatcher")
    with pytest.raises(RuntimeError):
        await client.platform.orders.act(number, "dispatch", {"department": "eco_env"}, dispatcher)
    await client.platform.orders.act(number, "dispatch", {"department": "housing"}, dispatcher)
    actions = [e["action"] for e in (await client.get(f"/api/orders/{number}", headers=headers)).json()["events"]]
    assert actions == ["intake", "indexed_intake", "dispatch", "indexed_dispatch"]


async def test_a_failing_reaction_rolls_the_action_back(with_plugins):
    client = await with_plugins(Tracker(fail_on_transition=True))
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    with pytest.raises(RuntimeError):
        await client.platform.orders.act(number, "dispatch", {"department": "housing"},
                                         Actor(name="dispatcher1", role="dispatcher"))
    order = await Order.select().where(Order.number == number).first()
    assert order["status"] == "received" and order["version"] == 1
    assert await OrderEvent.count().where(OrderEvent.action == "dispatch") == 0
    assert await OutboxMessage.count().where(OutboxMessage.topic == "tracker.sms") == 1  # the intake's only


async def test_hook_order_panels(with_plugins):
    """A channel's own box shows on its orders' console page (an async hook may read its tables),
    and never on another channel's orders; its workflow action appears as a generated form."""
    from core.channels import Panel
    from tests.test_console import Staff

    class Visits(Tracker):
        @hookimpl
        async def order_panels(self, channel, order, viewer):
            count = await Order.count().where(Order.channel == "tracker")
            return [Panel(title="上门核实记录", rows=(("核实次数", "0"), ("本渠道工单", str(count)),
                                                       ("查看人", viewer.name)), text=f"{order['number']} 尚未上门")]

    client = await with_plugins(Visits())
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)).json()["number"]
    other = (await client.post("/api/channels/hotline/orders", json=intake_body(), headers=headers)).json()["number"]
    await _to_accepted(client, number)
    handler = Staff(client)
    await handler.login("housing_handler")
    page = (await handler.get(f"/console/orders/{number}")).text
    assert "上门核实记录" in page and "本渠道工单</dt><dd>1" in page and f"{number} 尚未上门" in page
    assert "housing_handler" in page and "确认上门核实" in page
    dispatcher = Staff(client)
    await dispatcher.login("dispatcher1")
    assert "上门核实记录" not in (await dispatcher.get(f"/console/orders/{other}")).text


async def test_hook_http_route_handlers(with_plugins):
    @get("/api/tracker/ping", tags=["测试专线"])
    async def ping() -> dict[str, str]:
        return {"pong": "ok"}

    class Routes:
        @hookimpl
        def http_route_handlers(self):
            return [ping]

    client = await with_plugins(Routes())
    assert (await client.get("/api/tracker/ping")).json() == {"pong": "ok"}
    assert "/api/tracker/ping" in (await client.get("/schema/openapi.json")).json()["paths"]


def test_hook_piccolo_apps():
    from piccolo.conf.apps import AppRegistry

    from core.migrations import app_modules
    from tests import sample_plugin

    modules = app_modules(get_plugin_manager(extra=[sample_plugin]))
    assert modules[0] == "core.piccolo_app" and "tests.sample_plugin.piccolo_app" in modules
    registry = AppRegistry(apps=modules)
    assert registry.get_app_config("parking").table_classes[0]._meta.tablename == "parking_tow_records"


async def test_hook_outbox_deliverers(with_plugins):
    delivered = []

    async def deliver(message, settings):
        if message["payload"]["action"] == "intake" and not delivered:
            delivered.append("refused")
            raise ConnectionError("remote down")
        delivered.append(message["payload"]["action"])

    class Sms:
        @hookimpl
        def outbox_deliverers(self):
            return {"tracker.sms": deliver}

    client = await with_plugins(Tracker(), Sms())
    headers = await _login(client, "agent1")
    await client.post("/api/channels/tracker/orders", json=intake_body(), headers=headers)
    first = await deliver_due(client.platform.deliverers, client.platform.settings)
    # without an SMS gateway the core's receipt is recorded with the intake, not queued; the plugin's waits
    assert first == {"delivered": 0, "failed": 1}
    pending = await OutboxMessage.select().where(OutboxMessage.topic == "tracker.sms").first()
    assert "remote down" in pending["last_error"] and pending["delivered_at"] is None
    import datetime as dt

    later = clock.now() + dt.timedelta(minutes=5)
    again = await deliver_due(client.platform.deliverers, client.platform.settings, now=later)
    # the core's phone receipt, held a few minutes for an answer on the spot, goes out too by now
    assert again["failed"] == 0 and delivered == ["refused", "intake"]


def test_a_channel_installed_as_a_package_is_found_through_its_entry_point(tmp_path, monkeypatch):
    dist = tmp_path / "huying_parking-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: huying-parking\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent(f"""
        [{ENTRY_POINT_GROUP}]
        parking = tests.sample_plugin
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    channels = Channels(get_plugin_manager())
    assert channels.get("parking").name == "停车专线"
    assert "parking" not in Channels(get_plugin_manager(entry_points=False))
    assert "tests.sample_plugin" in sys.modules


async def test_hook_register_jobs(with_plugins):
    from core.jobs import Job, collect_jobs, run_job
    from core.tables import JobRun

    runs = []

    async def remind(platform):
        runs.append(platform)
        return {"reminded": 2}

    class Reminders:
        @hookimpl
        def register_jobs(self):
            return [Job(name="tow_reminders", label="拖车提醒", run=remind, minutes=frozenset({0, 30}))]

    client = await with_plugins(Reminders())
    admin = await _login(client, "admin1")
    listed = {j["name"]: j for j in (await client.get("/api/jobs", headers=admin)).json()}
    assert {"sla_sweep", "city_reconcile", "integrity_check", "tow_reminders"} <= set(listed)
    assert listed["tow_reminders"]["schedule"] == "0,30 * * * *" and listed["tow_reminders"]["last_run"] is None
    assert await run_job(client.platform, client.platform.jobs["tow_reminders"], mode="manual") == {"reminded": 2}
    assert runs == [client.platform.services]  # a plugin's job is handed its services, not the platform
    last = (await client.get("/api/jobs", headers=admin)).json()
    run = next(j for j in last if j["name"] == "tow_reminders")["last_run"]
    assert run["ok"] and run["result"] == {"reminded": 2} and run["mode"] == "manual"
    assert await JobRun.count() == 1
    handler = await _login(client, "eco_handler")
    assert (await client.get("/api/jobs", headers=handler)).status_code == 403
    with pytest.raises(ValueError, match="tow_reminders"):
        collect_jobs(get_plugin_manager(extra=[Reminders(), Reminders()]))


async def test_hook_report_section(with_plugins):
    """A channel's own figures appear in the periodic report as its section, limited to the report's
    department, and only for that channel's orders; an async implementation is awaited."""
    seen = []

    class Sections(Tracker):
        @hookimpl
        async def report_section(self, channel, start, end, department):
            seen.append((channel.code, start, end, department))
            return {"title": "核实走访", "rows": [{"label": "上门核实", "value": 3, "unit": "次"}]}

    client = await with_plugins(Sections())
    headers = await _login(client, "supervisor1")
    report = (await client.get("/api/reports/monthly", params={"start": "2026-03-15"}, headers=headers)).json()
    section = next(s for s in report["sections"] if s["channel"] == "tracker")
    assert section["channel_name"] == "测试专线" and section["rows"] == [{"label": "上门核实", "value": 3, "unit": "次"}]
    import datetime as dt

    assert seen == [("tracker", dt.date(2026, 3, 1), dt.date(2026, 4, 1), None)]
    handler = await _login(client, "housing_handler")
    await client.get("/api/reports/monthly", params={"start": "2026-03-15"}, headers=handler)
    assert seen[-1][3] == "housing"


async def test_hook_purge_order_rows(with_plugins, frozen_clock):
    """A plugin is handed each batch of orders the retention rules destroy, inside the batch's
    transaction: it deletes its own rows, and a failure keeps the whole batch (nothing destroyed)."""
    import datetime as dt

    from core.callbacks import CallbackPolicy
    from core.clock import SHANGHAI
    from core.retention import RuleInput
    from core.tables import PurgedOrder

    seen = []

    class Keeper(Tracker):
        fail = False

        @hookimpl
        async def purge_order_rows(self, order_ids, numbers):
            seen.append((list(order_ids), list(numbers)))
            if self.fail:
                raise RuntimeError("plugin failure")

    keeper = Keeper()
    client = await with_plugins(keeper)
    platform = client.platform
    platform.orders.callbacks = CallbackPolicy(resolved_at_intake="none")
    agent, admin = Actor(name="agent1", role="agent"), Actor(name="admin1", role="admin")
    frozen_clock.freeze(dt.datetime(2026, 3, 16, 9, 0, tzinfo=SHANGHAI))
    headers = await _login(client, "agent1")
    number = (await client.post("/api/channels/tracker/orders", headers=headers,
                                json=intake_body(kind="consult"))).json()["number"]
    await platform.orders.act(number, "resolve_at_intake", {"reply": "已电话解答"}, agent)
    await platform.retention.set_rule(RuleInput(channel="tracker", years=1, basis="测试规定"), admin)
    frozen_clock.freeze(dt.datetime(2028, 3, 16, 9, 0, tzinfo=SHANGHAI))
    await client.post("/api/channels/tracker/orders", headers=headers, json=intake_body())  # today's call
    await OutboxMessage.update({OutboxMessage.delivered_at: clock.now()}, force=True)
    order_id = (await Order.select(Order.id).where(Order.number == number).first())["id"]
    keeper.fail = True
    with pytest.raises(RuntimeError):
        await platform.retention.purge(admin)
    assert await Order.count().where(Order.number == number) == 1 and await PurgedOrder.count() == 0
    keeper.fail = False
    assert (await platform.retention.purge(admin))["destroyed"] == 1
    assert seen[-1] == ([order_id], [number]) and await Order.count().where(Order.number == number) == 0
