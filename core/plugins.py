"""The plugin host: a plugin-manager factory and the registry of channels it yields.

Nothing is registered at import time. ``get_plugin_manager()`` builds a fresh manager from the core's
built-in plugins, every subpackage of ``plugins/`` and the ``huying.channels`` entry point group, then
``check_pending()`` so a misspelled hook implementation fails at start-up instead of never running.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pluggy

from core import hookspecs
from core.channels import JOINT_HANDLING, KINDS, Channel, SlaDefaults, describe_fields
from core.difficult import DIFFICULT_ACTIONS
from core.joint import joint_actions
from core.lifecycle import CORE_ACTIONS, Lifecycle

if TYPE_CHECKING:
    import datetime as dt

    from core.channels import Assessment, Panel
    from core.errors import FieldError
    from core.lifecycle import Action, ActionContext
    from core.model import Actor, EventRecord, OrderRecord
    from core.outbox import Outbox
    from core.routing import RuleSpec

ENTRY_POINT_GROUP = "huying.channels"
BUILTIN_PLUGINS = ("core.builtins.hotline", "core.builtins.city_sync", "core.builtins.sweeps",
                   "core.builtins.knowledge_jobs",
                   "core.builtins.notifications", "core.builtins.boards",
                   "core.builtins.reports", "core.builtins.inspections", "core.builtins.telephony")


def _package_plugins() -> list[Any]:
    import plugins

    return [importlib.import_module(f"plugins.{m.name}")
            for m in pkgutil.iter_modules(plugins.__path__) if m.ispkg]


def get_plugin_manager(extra: Iterable[Any] = (), *, entry_points: bool = True,
                       package_plugins: bool = True) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    for name in BUILTIN_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if package_plugins:
        for module in _package_plugins():
            pm.register(module, name=module.__name__)
    if entry_points:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


class DeclarationError(ValueError):
    """A plugin declared something the core cannot run with; start-up stops, naming the plugin."""

    def __init__(self, plugin: str, problem: str):
        super().__init__(f"插件 {plugin}：{problem}")
        self.plugin = plugin
        self.problem = problem


def plugin_label(impl) -> str:
    """How an error names a plugin: its registered name, or (for an object registered without one,
    which pluggy names by its id) its module or class."""
    if not impl.plugin_name.isdigit():
        return impl.plugin_name
    plugin = impl.plugin
    return getattr(plugin, "__name__", None) or f"{type(plugin).__module__}.{type(plugin).__qualname__}"


def check_hook_kinds(pm: pluggy.PluginManager) -> None:
    """Refuse an ``async def`` implementation of a synchronous hook: pluggy would hand the core an
    un-awaited coroutine, and the hook would silently do nothing."""
    for name in dir(pm.hook):
        caller = getattr(pm.hook, name)
        if name.startswith("_") or not hasattr(caller, "get_hookimpls") or name in hookspecs.ASYNC_HOOKS:
            continue
        for impl in caller.get_hookimpls():
            if inspect.iscoroutinefunction(impl.function) or inspect.isasyncgenfunction(impl.function):
                raise DeclarationError(plugin_label(impl), f"钩子 {name} 是同步钩子，不能用 async def 实现")


class Channels:
    """The channels the plugins declare, and hook callers scoped to one channel's plugin.

    Every declaration is checked here, when the platform is assembled, and a mistake stops start-up
    with the plugin named (``DeclarationError``) instead of failing on the first order that hits it.
    """

    def __init__(self, pm: pluggy.PluginManager):
        self.pm = pm
        check_hook_kinds(pm)
        self._owner: dict[str, object] = {}
        self._plugin_names: dict[str, str] = {}
        self._channels: dict[str, Channel] = {}
        for impl in pm.hook.register_channel.get_hookimpls():
            channel = impl.function()
            if not isinstance(channel, Channel):
                raise DeclarationError(plugin_label(impl), "register_channel 必须返回 Channel")
            if channel.code in self._channels:
                raise DeclarationError(plugin_label(impl), f"渠道 {channel.code} 已由插件 "
                                                           f"{self._plugin_names[channel.code]} 注册")
            self._owner[channel.code] = impl.plugin
            self._plugin_names[channel.code] = plugin_label(impl)
            self._channels[channel.code] = channel
        self._callers: dict[tuple[str, str], Any] = {}
        self._lifecycles: dict[str, Lifecycle] = {}
        for channel in self._channels.values():
            self._check(channel)
        defaults = [c.code for c in self._channels.values() if c.default]
        if len(defaults) > 1:
            raise DeclarationError(self._plugin_names[defaults[1]],
                                   f"默认渠道只能有一个（已有 {defaults[0]}，又声明了 {defaults[1]}）")

    def plugin_name(self, code: str) -> str:
        return self._plugin_names[code]

    def plugin(self, code: str) -> object:
        """The plugin (usually a module) that registered ``code``."""
        return self._owner[code]

    def _check(self, channel: Channel) -> None:
        """A channel's declaration against the core: kinds, time limits, fields, its lifecycle."""
        def refuse(problem: str):
            raise DeclarationError(self._plugin_names[channel.code], f"渠道 {channel.code}：{problem}")

        unknown = [k for k in channel.kinds if k not in KINDS]
        if unknown or not channel.kinds:
            refuse(f"诉求类型须取自 {', '.join(KINDS)}，不认识：{', '.join(unknown) or '（空）'}")
        by_kind = channel.sla.handle_days_by_kind
        if by_kind != SlaDefaults().handle_days_by_kind:  # the core's default table covers every kind
            outside = sorted(set(by_kind) - set(channel.kinds))
            if outside:
                refuse(f"办理时限里的诉求类型不在本渠道受理的类型中：{', '.join(outside)}")
            missing = sorted(set(channel.kinds) - set(by_kind))
            if missing:
                refuse(f"以下诉求类型没有办理时限：{', '.join(missing)}")
        fields = {f.name: f for f in describe_fields(channel.fields)}
        stray = [name for name in channel.confidential if name not in fields]
        if stray:
            refuse(f"保密字段不是本渠道的字段：{', '.join(stray)}")
        if channel.consent_field is not None and getattr(fields.get(channel.consent_field), "type", None) != "boolean":
            refuse(f"公开同意字段 {channel.consent_field} 须是本渠道的布尔字段")
        if channel.location_field is not None and getattr(fields.get(channel.location_field), "type", None) != "string":
            refuse(f"地点字段 {channel.location_field} 须是本渠道的单行文本字段")
        if channel.joint_handling not in JOINT_HANDLING:
            refuse(f"联合办理声明 joint_handling 须取自 {', '.join(JOINT_HANDLING)}，不认识：{channel.joint_handling!r}")

        from core.site_visits import CHANNEL_PURPOSES

        if channel.site_visit is not None and channel.site_visit not in CHANNEL_PURPOSES:
            refuse(f"实地核实事由须取自 {', '.join(CHANNEL_PURPOSES)}，不认识：{channel.site_visit}")
        for rules in self.hooks(channel.code).routing_rules(channel=channel):
            for rule in rules or ():
                problems = rule.field_problems(fields)
                if problems:
                    refuse(f"分派规则（{rule.reason or rule.department}）：{'；'.join(problems)}")
        try:
            self.lifecycle(channel.code)
        except (ValueError, TypeError) as exc:
            refuse(f"流程操作声明有误：{exc}")

    async def check_routing(self, departments: list[dict]) -> None:
        """Every department a plugin's routing rule names (by its code, its name or an alias) must exist
        (once departments are set up: a fresh database gets its departments after the first start)."""
        from core.department_names import match

        if not departments:
            return
        for channel in self:
            for rules in self.hooks(channel.code).routing_rules(channel=channel):
                for rule in rules or ():
                    if match(rule.department, departments, partial=False).code is None:
                        raise DeclarationError(self._plugin_names[channel.code],
                                               f"渠道 {channel.code} 的分派规则指向不存在的承办单位 {rule.department}")

    def templates(self, code: str) -> Path | None:
        """The folder of page templates the channel's plugin ships (``templates/`` beside its module)."""
        module_file = getattr(self._owner.get(code), "__file__", None)
        folder = Path(module_file).parent / "templates" if module_file else None
        return folder if folder is not None and folder.is_dir() else None

    def __iter__(self):
        return iter(self._channels.values())

    def __contains__(self, code: str) -> bool:
        return code in self._channels

    def get(self, code: str) -> Channel | None:
        return self._channels.get(code)

    @cached_property
    def default(self) -> Channel:
        """The general line (``Channel(default=True)``): where an order goes when nothing names one."""
        found = next((c for c in self._channels.values() if c.default), None)
        if found is None:
            raise LookupError("no channel is declared as the default (Channel(default=True))")
        return found

    def _caller(self, code: str, name: str):
        """The hook ``name`` as called for ``code``'s orders: other channels' plugins left out."""
        key = (code, name)
        if key not in self._callers:
            others = [p for c, p in self._owner.items() if c != code and p is not self._owner.get(code)]
            self._callers[key] = self.pm.subset_hook_caller(name, remove_plugins=others)
        return self._callers[key]

    def hooks(self, code: str) -> ChannelHooks:
        """The channel hooks as called for ``code``'s orders (``channels.hooks(code).validate_intake(...)``)."""
        return ChannelHooks(self, code)

    def lifecycle(self, code: str) -> Lifecycle:
        if code not in self._lifecycles:
            channel = self._channels[code]
            extra = [a for actions in self.hooks(code).workflow_actions(channel=channel) for a in actions or ()]
            self._lifecycles[code] = Lifecycle([*joint_actions(CORE_ACTIONS, channel.joint_handling),
                                                *DIFFICULT_ACTIONS, *extra])
        return self._lifecycles[code]


async def _awaited(results: list[Any]) -> list[Any]:
    return [await r if inspect.isawaitable(r) else r for r in results]


class ChannelHooks:
    """The channel hooks (``core.hookspecs``) as called for one channel's orders, by attribute.

    Each returns the answers of the channel's own plugin and of the non-channel plugins (pluggy's
    list, last registered first). The hooks that may be ``async`` are awaited here, so their callers
    simply ``await`` them. A test keeps these methods and the specifications in step."""

    def __init__(self, channels: Channels, code: str):
        self._channels = channels
        self._code = code

    def _call(self, name: str, **kwargs: Any) -> list[Any]:
        return self._channels._caller(self._code, name)(**kwargs)

    def validate_intake(self, *, channel: Channel, intake: dict[str, Any], details: Any) -> list[list[FieldError] | None]:
        return self._call("validate_intake", channel=channel, intake=intake, details=details)

    def assess_intake(self, *, channel: Channel, intake: dict[str, Any], details: Any) -> list[Assessment | None]:
        return self._call("assess_intake", channel=channel, intake=intake, details=details)

    def routing_rules(self, *, channel: Channel) -> list[list[RuleSpec] | None]:
        return self._call("routing_rules", channel=channel)

    def workflow_actions(self, *, channel: Channel) -> list[list[Action] | None]:
        return self._call("workflow_actions", channel=channel)

    async def validate_action(self, *, channel: Channel, action: Action, ctx: ActionContext) -> None:
        await _awaited(self._call("validate_action", channel=channel, action=action, ctx=ctx))

    async def on_transition(self, *, channel: Channel, order: OrderRecord, event: EventRecord, outbox: Outbox) -> None:
        await _awaited(self._call("on_transition", channel=channel, order=order, event=event, outbox=outbox))

    async def report_section(self, *, channel: Channel, start: dt.date, end: dt.date,
                             department: str | None) -> list[dict[str, Any] | None]:
        return await _awaited(self._call("report_section", channel=channel, start=start, end=end,
                                         department=department))

    async def order_panels(self, *, channel: Channel, order: dict[str, Any], viewer: Actor) -> list[list[Panel] | None]:
        return await _awaited(self._call("order_panels", channel=channel, order=order, viewer=viewer))


class ChannelSummary(msgspec.Struct, frozen=True):
    code: str
    name: str


class PluginInfo(msgspec.Struct, frozen=True, kw_only=True):
    """One registered plugin as ``huying plugins`` and ``GET /api/plugins`` show it (as Datasette's
    ``/-/plugins`` and pytest's ``--trace-config`` do): where it comes from and what it adds."""

    name: str  # the registered name: a module path, or an entry point's name
    version: str  # the distribution's version when installed as a package, else the project's
    distribution: str | None = None  # the installed package that provides it, if any
    builtin: bool = False  # one of the core's own built-in plugins
    channels: list[ChannelSummary] = []
    hooks: list[str] = []  # the hooks it implements
    routes: list[str] = []  # "GET /path" for each HTTP route it contributes
    jobs: list[str] = []  # the background jobs it contributes


def _project_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("huying")
    except metadata.PackageNotFoundError:
        return "未安装"


def _route_lines(handlers: Iterable[Any], prefix: str = "") -> list[str]:
    lines = []
    for handler in handlers:
        if hasattr(handler, "http_methods"):
            for path in sorted(getattr(handler, "paths", ()) or ()):
                lines.extend(f"{method} {prefix.rstrip('/')}{path}" for method in sorted(handler.http_methods))
        elif hasattr(handler, "route_handlers"):  # a Router: its own path before its handlers'
            lines.extend(_route_lines(handler.route_handlers, prefix + getattr(handler, "path", "")))
    return lines


def describe_plugins(pm: pluggy.PluginManager, channels: Channels | None = None) -> list[PluginInfo]:
    """Every plugin the manager holds, built-ins first, with its version, hooks, routes and jobs."""
    from importlib import metadata

    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    by_module = metadata.packages_distributions()
    project = _project_version()
    owned: dict[int, list[ChannelSummary]] = {}
    for channel in channels or ():
        owned.setdefault(id(channels.plugin(channel.code)), []).append(ChannelSummary(channel.code, channel.name))
    infos = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        impls = {caller: impl for caller in dir(pm.hook) if not caller.startswith("_")
                 for impl in getattr(getattr(pm.hook, caller), "get_hookimpls", lambda: [])() if impl.plugin is plugin}
        routes = [line for handlers in ([impls["http_route_handlers"].function()] if "http_route_handlers" in impls else [])
                  for line in _route_lines(handlers or ())]
        jobs = [job.name for job in (impls["register_jobs"].function() or ())] if "register_jobs" in impls else []
        dist = dists.get(id(plugin))
        module = getattr(plugin, "__name__", None) or type(plugin).__module__
        dist_name = dist.project_name if dist is not None else None
        if dist_name is None:
            found = by_module.get(module.split(".")[0]) or []
            dist_name = found[0] if found and found[0] != "huying" else None
        version = dist.version if dist is not None else (metadata.version(dist_name) if dist_name else project)
        infos.append(PluginInfo(
            name=name if not name.isdigit() else module, version=version, distribution=dist_name,
            builtin=name in BUILTIN_PLUGINS, channels=owned.get(id(plugin), []), hooks=sorted(impls),
            routes=sorted(routes), jobs=sorted(jobs)))
    return sorted(infos, key=lambda i: (not i.builtin, i.name))
