"""The contract between the core and its plugins: one public module, and declarations checked when
the platform is assembled, with the plugin named in the error."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Annotated, Literal

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


def _borrowed_hooks(module) -> list[str]:
    """Hook implementations a plugin module only re-exports from another module: a clean-up that
    drops an "unused" import would silently remove them."""
    return [name for name, value in vars(module).items()
            if hasattr(value, "huying_impl") and getattr(value, "__module__", module.__name__) != module.__name__]


def test_every_hook_of_a_bundled_plugin_is_written_in_the_module_that_registers_it():
    """Each bundled plugin and built-in declares its hooks where it is registered, so removing an
    import never silently takes a report section (or any hook) away."""
    import importlib
    import pkgutil

    import plugins
    from core.plugins import BUILTIN_PLUGINS

    modules = [importlib.import_module(n) for n in BUILTIN_PLUGINS]
    modules += [importlib.import_module(f"plugins.{m.name}") for m in pkgutil.iter_modules(plugins.__path__) if m.ispkg]
    assert {m.__name__: _borrowed_hooks(m) for m in modules if _borrowed_hooks(m)} == {}


def test_the_check_itself_catches_a_hook_imported_from_elsewhere(tmp_path, monkeypatch):
    (tmp_path / "lender.py").write_text("from core.plugin_api import hookimpl\n\n@hookimpl\ndef piccolo_apps():\n"
                                        "    return []\n")
    (tmp_path / "borrower.py").write_text("from lender import piccolo_apps  # noqa: F401\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    assert _borrowed_hooks(importlib.import_module("borrower")) == ["piccolo_apps"]


def test_channel_hooks_are_called_by_attribute_with_the_specifications_parameters():
    """``channels.hooks(code).validate_intake(...)``: one typed method per channel hook, with the
    specification's parameters, so a renamed hook or parameter fails here and not at run time."""
    import inspect

    from core import hookspecs
    from core.plugins import ChannelHooks

    specs = {name: fn for name, fn in vars(hookspecs).items() if hasattr(fn, "huying_spec")
             and "channel" in inspect.signature(fn).parameters}
    methods = {name: fn for name, fn in vars(ChannelHooks).items() if not name.startswith("_") and callable(fn)}
    assert set(methods) == set(specs)
    for name, fn in methods.items():
        assert list(inspect.signature(fn).parameters)[1:] == list(inspect.signature(specs[name]).parameters), name
        assert inspect.iscoroutinefunction(fn) == (name in hookspecs.ASYNC_HOOKS), name


async def test_a_channels_hooks_leave_other_channels_plugins_out():
    """The hooks object of one channel asks its own plugin and the core's built-ins, never another
    channel's plugin."""
    first = _plugin("first", Channel(code="first", name="甲", description="甲"),
                    routing_rules=lambda channel: [RuleSpec(department="a")])
    second = _plugin("second", Channel(code="second", name="乙", description="乙"),
                     routing_rules=lambda channel: [RuleSpec(department="b")])
    channels = Channels(get_plugin_manager([first, second], entry_points=False, package_plugins=False))
    rules = [r.department for found in channels.hooks("first").routing_rules(channel=channels.get("first"))
             for r in found or ()]
    assert "a" in rules and "b" not in rules


def test_rule_predicates_match_a_number_range_and_a_picked_choice():
    """``ranges`` holds inclusive bounds (None open), ``includes`` one choice of a multi-choice;
    neither matches an order without the field, nor a text standing in for a number."""
    large = RuleSpec(department="market", ranges={"amount": (10000, None)})
    small = RuleSpec(department="market", ranges={"amount": (None, 500)})
    refund = RuleSpec(department="market", includes={"remedies": "refund"})

    def hit(rule, details):
        return rule.matches(text="", category="", area="", kind="complaint", details=details) is not None

    assert hit(large, {"amount": 10000}) and hit(large, {"amount": 2.5e6}) and not hit(large, {"amount": 9999.5})
    assert hit(small, {"amount": 500}) and not hit(small, {"amount": 501})
    assert not hit(large, {}) and not hit(large, {"amount": "20000"}) and not hit(large, {"amount": True})
    assert hit(refund, {"remedies": ["replace", "refund"]}) and not hit(refund, {"remedies": ["replace"]})
    assert not hit(refund, {"remedies": "refund"}) and not hit(refund, {})


class Claim(msgspec.Struct, kw_only=True):
    amount: Annotated[float, field("金额")] = 0
    remedies: Annotated[list[Literal["refund", "replace"]], field("处理方式", choices={"refund": "退款", "replace": "换货"})] = []
    shop: Annotated[str, field("商家")] = ""


@pytest.mark.parametrize(("rule", "said"), [
    (RuleSpec(department="market", ranges={"shop": (1, None)}), "只能用于数字字段"),
    (RuleSpec(department="market", includes={"shop": "x"}), "只能用于多选字段"),
    (RuleSpec(department="market", includes={"remedies": "compensate"}), "没有选项 compensate"),
    (RuleSpec(department="market", ranges={"amount": (None, None)}), "至少给出一个"),
    (RuleSpec(department="market", details={"colour": "red"}), "不是本渠道的字段：colour"),
])
def test_a_rule_condition_that_cannot_fit_the_channels_fields_stops_start_up(rule, said):
    message = _refused(_plugin("ClaimsPlugin", _channel(fields=Claim), routing_rules=lambda channel: [rule]))
    assert said in message and "ClaimsPlugin" in message


async def test_rule_predicates_survive_being_stored(platform):
    """A plugin's rules are written to the database at start-up and read back with their predicates."""
    from core.routing import load_rules, sync_plugin_rules

    plugin = _plugin("ClaimsPlugin", _channel(fields=Claim), routing_rules=lambda channel: [
        RuleSpec(department="market", ranges={"amount": (100, None)}, includes={"remedies": "refund"})])
    await sync_plugin_rules(_assemble(plugin))
    stored = [r for r in await load_rules() if r.channel == "letters"]
    assert [(r.ranges, r.includes) for r in stored] == [({"amount": (100, None)}, {"remedies": "refund"})]
