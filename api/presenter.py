"""How an order looks in an API answer: labels beside codes, deadlines with their state, the citizen
as this caller may see them (``core.visibility``) and the actions offered now.

The core hands out records (``OrderRecord``, ``EventRecord``); only the API layer turns them into
the public JSON shape, so the shape can grow without touching the service.
"""

from __future__ import annotations

from typing import Any

import msgspec

from core.calendar import local_iso
from core.channels import KINDS, SOURCES
from core.joint import present_parts
from core.lifecycle import status_label
from core.listing import LIST_FLAGS
from core.model import Actor, EventRecord, OrderRecord
from core.visibility import identity


def present(platform, order: OrderRecord, actor: Actor, events: list[EventRecord] | None = None, *,
            reveal: bool = False) -> dict[str, Any]:
    """The order as this actor may see it: the phone masked unless revealed (an audited action),
    staff-only fields left out for integrations and departments."""
    channel = platform.channels.get(order.channel)
    citizen, details = identity(order, channel, actor, platform.orders.sealer, reveal=reveal)
    lifecycle = platform.channels.lifecycle(order.channel)
    view = {
        "number": order.number, "channel": order.channel, "channel_name": channel.name if channel else "",
        "kind": order.kind, "kind_label": KINDS.get(order.kind, order.kind),
        "source": order.source, "source_label": SOURCES.get(order.source, order.source),
        "subject": order.subject, "content": order.content,
        "citizen": citizen, "anonymous": order.anonymous,
        "address": order.address, "area": order.area, "category": order.category,
        "details": details, "status": order.status, "status_label": status_label(order),
        "department": order.department, "suggested_department": order.suggested_department,
        "suggestion_reason": order.suggestion_reason, "priority": order.priority,
        "received_at": local_iso(order.received_at),
        "deadlines": platform.sla.present(order.deadlines, platform.orders.clock()),
        "rating": _local_instants(order.rating), "external_id": order.external_id, "version": order.version,
        "rework_count": order.rework_count, "merged_into": order.merged_into,
        "suspended_at": local_iso(order.suspended_at),
        "status_before_suspend": order.status_before_suspend,
        "extensions": _local_instants(order.extensions), "supervisions": _local_instants(order.supervisions),
        "assisting": present_parts(order.assisting, platform.sla.calendar, platform.orders.clock()),
        "flags": order.flags, "flag_labels": [LIST_FLAGS.get(f, f) for f in order.flags],
        "created_at": local_iso(order.created_at), "updated_at": local_iso(order.updated_at),
        "actions": [{"name": a.name, "label": a.label}
                    for a in lifecycle.offered(order, actor, platform.orders.clock(), channel)],
    }
    if actor.in_centre:
        view["query_code"] = order.query_code
    if events is not None:
        view["events"] = [{**msgspec.to_builtins(e), "created_at": local_iso(e.created_at)} for e in events]
    return view


def _local_instants(value: Any) -> Any:
    """Records kept as JSON (rating, extensions, supervisions) with their instants in the centre's zone."""
    if isinstance(value, list):
        return [_local_instants(v) for v in value]
    if isinstance(value, dict):
        return {k: local_iso(v) if (k.endswith("_at") or k == "due") and isinstance(v, str) and v else
                _local_instants(v) for k, v in value.items()}
    return value


def present_result(platform, result, actor: Actor) -> dict[str, Any]:
    """The answer to a lifecycle action (``core.actions.ActionResult``)."""
    return present(platform, result.order, actor, result.events, reveal=result.reveal)
