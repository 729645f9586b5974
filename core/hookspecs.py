"""Every hook Huying calls, in one module: the contract between the core and its plugins.

Hooks are grouped by phase. *Channel hooks* take the ``channel`` they are asked about and are only
called on the plugin that registered that channel (plus non-channel plugins, such as the core's
built-ins) and are called by attribute (``channels.hooks(code).validate_intake(...)``, see
``core.plugins.ChannelHooks``); *application hooks* are called on every plugin. Decision hooks are
synchronous: pluggy does not await, and a routing or validation answer must not wait on I/O. The
hooks in ``ASYNC_HOOKS`` may be ``async``, and the core awaits them.

Each hook is documented in ``docs/plugin_hooks.md`` and tested in ``tests/test_hooks.py``; a test
fails when one of them is missing.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from core.channels import Assessment, Channel, Panel
    from core.errors import FieldError
    from core.jobs import Job
    from core.lifecycle import Action, ActionContext
    from core.model import Actor, EventRecord, OrderRecord
    from core.outbox import Outbox
    from core.routing import RuleSpec

PROJECT = "huying"
ASYNC_HOOKS = frozenset({"validate_action", "on_transition", "report_section", "order_panels", "purge_order_rows"})  # the rest are synchronous (checked at start-up)
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# -- channel hooks -----------------------------------------------------------------------------------

@hookspec
def register_channel() -> Channel:
    """Declare the channel this plugin provides: its code, Chinese name, description, field Struct,
    the kinds of request it takes and its time limits. One channel per plugin; the plugin's other
    channel hooks are then called for that channel's orders only."""


@hookspec
def validate_intake(channel: Channel, intake: dict[str, Any], details: Any) -> list[FieldError] | None:
    """Check a new order beyond its field types (a cross-field rule, a check character).

    ``intake`` is the decoded common part of the request (``received_at`` filled in, as an ISO
    instant, when the source gave none), ``details`` the channel's field Struct.
    Return the bad fields (``FieldError(key="details.x", message=...)``) or nothing; any error
    refuses the intake with HTTP 400 and writes nothing."""


@hookspec
def assess_intake(channel: Channel, intake: dict[str, Any], details: Any) -> Assessment | None:
    """Judge a valid new order before it is stored: raise its priority to ``"urgent"`` (its handling
    deadline then runs in natural hours, ``SlaDefaults.urgent_natural_hours``) and set early-warning
    ``flags`` such as ``"mass_incident"`` (群体性). Return ``core.channels.Assessment`` or nothing;
    the strongest priority and the union of the flags win, with the reasons kept on the intake event."""


@hookspec
def routing_rules(channel: Channel) -> list[RuleSpec]:
    """Contribute ordered routing rules (keywords, category, area, kind and the channel's own fields —
    ``details`` values, number ``ranges``, multi-choice ``includes`` — → department, with a reason).

    They are stored in the database at start-up, beside the centre's own rules; the first rule that
    matches a new order sets its suggested department and the reason shown to the dispatcher."""


@hookspec
def workflow_actions(channel: Channel) -> list[Action]:
    """Add lifecycle actions for this channel's orders: extra steps or side records, declared like
    the core's (``core.lifecycle.Action``) and guarded, audited and locked the same way."""


@hookspec
def validate_action(channel: Channel, action: Action, ctx: ActionContext) -> None:
    """Veto an action on one of this channel's orders by raising ``core.lifecycle.Refusal`` with the
    reason (for example: no on-site visit recorded yet, so the reply cannot be approved).

    May be ``async`` (one of ``ASYNC_HOOKS``): it runs inside the action's transaction, so it can read
    the plugin's own tables; the core awaits it."""


@hookspec
def on_transition(channel: Channel, order: OrderRecord, event: EventRecord, outbox: Outbox) -> None:
    """React to an action that was just applied, inside its transaction.

    Anything that must leave the system goes through ``outbox.send(topic, payload)``: it is committed
    with the change and delivered later by a job with retries. Raising aborts the whole action.
    May be ``async``: the core awaits it, so a plugin can keep its own rows about the order (an index
    of intakes, say) in the same transaction."""


@hookspec
def report_section(channel: Channel, start: dt.date, end: dt.date, department: str | None) -> dict[str, Any] | None:
    """Add this channel's own figures to the periodic reports (rewards paid for tip-offs, on-site
    visits, wages recovered…) for the local days ``[start, end)``, limited to ``department`` when the
    report is. Return ``{"title": "…", "rows": [{"label": "…", "value": 12, "unit": "元"}]}`` or
    nothing. May be ``async def`` (the core awaits it) so it can read the plugin's own tables."""


@hookspec
def order_panels(channel: Channel, order: dict[str, Any], viewer: Actor) -> list[Panel] | None:
    """Show the channel's own records on an order's page in the staff console (on-site visits,
    verification, rewards): a list of ``core.channels.Panel`` (a title and labelled rows).

    ``order`` is the order as ``viewer`` may see it (phone masked, confidential fields hidden outside
    the centre); show nothing the viewer may not see. May be ``async`` to read the plugin's own tables.
    The channel's actions need no panel: its ``workflow_actions`` appear as buttons with forms
    generated from their payload Structs."""


# -- application hooks ---------------------------------------------------------------------------------

@hookspec
def http_route_handlers() -> list[Any]:
    """Contribute litestar route handlers or routers (they also appear in the OpenAPI document)."""


@hookspec
def piccolo_apps() -> list[str]:
    """Name piccolo app modules (``"plugins.x.piccolo_app"``) holding this plugin's own tables and
    migrations; ``huying migrate`` applies them after the core's."""


@hookspec
def outbox_deliverers() -> dict[str, Any]:
    """Map outbox topics to ``async def deliver(message: dict, settings) -> None`` callables.

    A deliverer raising an exception leaves the message for a retry with back-off. Its ``label``
    attribute (``deliver.label = "短信"``) names the topic wherever people see it (the outbox pages)."""


@hookspec
def register_jobs() -> list[Job]:
    """Contribute background jobs: ``core.jobs.Job(name, label, run, minutes, hours)`` where ``run``
    is a plain ``async def run(platform) -> dict`` and the schedule is cron-like in Beijing time.

    The same functions and schedules run in the serving process (embedded default) or in
    ``huying worker`` through arq (``HUYING_REDIS_URL``), and once by hand with ``huying run-job NAME``.
    A job may run twice or on two processes at once: make it idempotent."""


@hookspec
def purge_order_rows(order_ids: list[int], numbers: list[str]) -> None:
    """Delete this plugin's own rows about orders that are being destroyed under the centre's retention
    rules (保管期限, ``huying purge``): ``order_ids`` and ``numbers`` name the same orders, one batch
    (at most a few hundred) at a time.

    Called on every plugin, inside the batch's transaction, before the core deletes the orders: a
    failure rolls the whole batch back. May be ``async`` (the core awaits it). Delete only rows that
    belong to those orders; files the plugin keeps as the order's attachments are removed by the core."""
