"""The contract between the core and its plugins: one public module, and declarations checked when
the platform is assembled, with the plugin named in the error."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

from core.plugin_api import Action, Channel, Note, RuleSpec, SlaDefaults, field, hookimpl
from core.plugins import Channels, DeclarationError, get_plugin_manager

ROOT = Path(__file__).resolve().parent.parent


def _core_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found += [n for n in names if n == "core" or n.startswith("core.")]
    return found


def test_plugins_import_only_the_public_module_from_the_core():
    """A channel's code reaches the core only through ``core.plugin_api``, so the core's internals
    can move without breaking channels. (A channel's tests may read the core's tables to prove what
    is stored at rest.)"""
    offending = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        if "tests" in path.relative_to(ROOT / "plugins").parts:
            continue
        bad = [name for name in _core_imports(path) if name != "core.plugin_api"]
        if bad:
            offending[str(path.relative_to(ROOT))] = bad
    assert offending == {}


def test_the_check_itself_catches_an_internal_import(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("from core.tables import Order\nimport core.lifecycle\nfrom core.plugin_api import hookimpl\n")
    assert _core_imports(sneaky) == ["core.tables", "core.lifecycle", "core.plugin_api"]


SERVICE_NAMES = frozenset({"service", "services", "orders", "platform", "sla", "calendar"})


def _reaches_past(path: Path) -> list[str]:
    """Where plugin code reaches past ``PluginServices``: the app's state (the whole platform), the
    core's own parts of an action's context (``ctx.orders``, ``ctx.sla``), the platform itself, or a
    service taken untyped or as ``Any``."""
    source = path.read_text()
    found = ["app.state"] if "app.state" in source else []
    for node in ast.walk(ast.parse(source, str(path))):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "ctx" and node.attr in ("orders", "sla"):
                found.append(f"ctx.{node.attr}")
        if isinstance(node, ast.Attribute) and node.attr == "platform":
            found.append(".platform")
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            for arg in arguments:
                if arg.arg == "platform":
                    found.append(f"{node.name}(platform)")
                elif arg.arg in SERVICE_NAMES and (arg.annotation is None or "Any" in ast.unparse(arg.annotation)):
                    found.append(f"{node.name}({arg.arg}: {ast.unparse(arg.annotation) if arg.annotation else '?'})")
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and node.target.id in SERVICE_NAMES and "Any" in ast.unparse(node.annotation):
            found.append(f"{node.target.id}: Any")
    return found


def test_plugins_reach_orders_only_through_their_typed_services():
    """A plugin's routes, effects and jobs are handed ``PluginServices`` (``core.plugin_api``): none
    reads ``request.app.state``, the core's ``ctx.orders``/``ctx.sla`` or the platform, and none takes
    a service untyped or as ``Any``, so what a plugin may do is the Protocol, checked by a type checker."""
    offending = {}
    for path in sorted((ROOT / "plugins").rglob("*.py")):
        if "tests" in path.relative_to(ROOT / "plugins").parts:
            continue
        found = _reaches_past(path)
        if found:
            offending[str(path.relative_to(ROOT))] = found
    assert offending == {}


def test_the_check_itself_catches_a_plugin_reaching_past_its_services(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text(
        "from typing import Any\n"
        "async def route(request):\n    return request.app.state.platform.orders\n"
        "async def effect(ctx):\n    await ctx.orders.note('x')\n    return ctx.sla.calendar\n"
        "async def job(platform):\n    return platform\n"
        "async def helper(service: Any, orders):\n    return service\n"
        "services: Any = None\n")
    assert sorted(_reaches_past(sneaky)) == sorted([
        "app.state", ".platform", "ctx.orders", "ctx.sla", "job(platform)", "helper(service: Any)",
        "helper(orders: ?)", "services: Any"])
    fine = tmp_path / "fine.py"
    fine.write_text("from core.plugin_api import PluginServices\n"
                    "async def job(services: PluginServices):\n    return services.now()\n"
                    "async def effect(ctx):\n    return ctx.calendar, ctx.services\n")
    assert _reaches_past(fine) == []


class Letter(msgspec.Struct, kw_only=True):
    topic: Annotated[str, field("主题")] = ""
    consent: Annotated[bool, field("同意公开")] = False


def _plugin(name: str, channel: Channel, **hooks):
    """A plugin object carrying a channel and any other hook implementations."""
    namespace = {"register_channel": hookimpl(lambda: channel)}
    namespace.update({k: hookimpl(v) for k, v in hooks.items()})
    return type(name, (), {k: staticmethod(v) for k, v in namespace.items()})()


def _assemble(*plugins) -> Channels:
    return Channels(get_plugin_manager(extra=plugins, entry_points=False))


def _refused(*plugins) -> str:
    with pytest.raises(DeclarationError) as refused:
        _assemble(*plugins)
    return str(refused.value)


def _channel(**overrides) -> Channel:
    return Channel(**{"code": "letters", "name": "来信", "description": "测试渠道", "fields": Letter, **overrides})


def test_a_kind_the_core_does_not_know_stops_start_up_naming_the_plugin():
    message = _refused(_plugin("LettersPlugin", _channel(kinds=("complaint", "gossip"))))
    assert "gossip" in message and "letters" in message


def test_the_plugin_is_named_in_the_error():
    pm = get_plugin_manager(entry_points=False)
    pm.register(_plugin("P", _channel(kinds=("gossip",))), name="letters_plugin")
    with pytest.raises(DeclarationError) as refused:
        Channels(pm)
    assert refused.value.plugin == "letters_plugin" and str(refused.value).startswith("插件 letters_plugin：")


def test_time_limits_for_kinds_the_channel_does_not_take_stop_start_up():
    sla = SlaDefaults(handle_days_by_kind={"complaint": 5, "praise": 3})
    assert "praise" in _refused(_plugin("P", _channel(kinds=("complaint",), sla=sla)))


def test_a_kind_without_a_time_limit_stops_start_up():
    sla = SlaDefaults(handle_days_by_kind={"complaint": 5})
    assert "consult" in _refused(_plugin("P", _channel(kinds=("complaint", "consult"), sla=sla)))


def test_a_confidential_field_that_is_not_a_field_stops_start_up():
    assert "id_number" in _refused(_plugin("P", _channel(confidential=("id_number",))))


def test_a_consent_field_must_be_a_boolean_field_of_the_channel():
    assert "topic" in _refused(_plugin("P", _channel(consent_field="topic")))
    assert _assemble(_plugin("P", _channel(consent_field="consent"))).get("letters").consent_field == "consent"


def test_a_broken_workflow_action_stops_start_up_not_the_first_order():
    bad = Action(name="escalate", label="升级", sources=frozenset({"accepted", "limbo"}), target=None,
                 roles=frozenset({"handler"}), payload=Note)
    message = _refused(_plugin("P", _channel(), workflow_actions=lambda channel: [bad]))
    assert "escalate" in message and "limbo" in message


def test_an_action_no_role_may_take_stops_start_up():
    bad = Action(name="escalate", label="升级", sources=frozenset({"accepted"}), target=None,
                 roles=frozenset(), payload=Note)
    assert "escalate" in _refused(_plugin("P", _channel(), workflow_actions=lambda channel: [bad]))


def test_an_async_implementation_of_a_synchronous_hook_is_refused():
    async def routing_rules(channel):
        return []

    assert "routing_rules" in _refused(_plugin("P", _channel(), routing_rules=routing_rules))


def test_validate_action_may_be_async():
    async def validate_action(channel, action, ctx):
        return None

    assert "letters" in _assemble(_plugin("P", _channel(), validate_action=validate_action))


def test_a_second_default_channel_stops_start_up():
    assert "默认渠道" in _refused(_plugin("P", _channel(default=True)))


def test_the_default_channel_is_a_declaration():
    assert _assemble().default.code == "hotline" and _assemble().default.default is True


async def test_a_routing_rule_to_a_missing_department_stops_the_platform_starting(platform):
    """Checked against the departments table when the platform starts, instead of the rule being
    suggested to dispatchers; a fresh database (no departments yet) has nothing to check against."""
    from core.platform import Platform
    from tests import helpers

    rules = lambda channel: [RuleSpec(department="ministry_of_magic", reason="魔法部")]  # noqa: E731
    broken = Platform(platform.settings, pm=get_plugin_manager(extra=[_plugin("P", _channel(), routing_rules=rules)]))
    with pytest.raises(DeclarationError) as refused:
        await broken.start()
    assert "ministry_of_magic" in str(refused.value) and "letters" in str(refused.value)
    assert "tests.test_plugin_contract" in refused.value.plugin
    await helpers.clean(platform)
    await broken.start()
    await broken.stop()
