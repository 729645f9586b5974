"""Who may see which orders, and how much of the citizen they see.

A handler sees only its own department's orders and those it assists (协办), an API key only its
channels', the centre all of them: ``visible`` answers for one order and ``scope`` gives the same rule as query clauses, so every
list, count, search and export applies it. ``identity`` decides how much of the citizen an actor sees:
phones masked outside an audited reveal, a protected reporter and confidential fields hidden from
everyone outside the centre.
"""

from __future__ import annotations

from typing import Any

import msgspec
from piccolo.columns.combination import WhereRaw

from core.confidential import HIDDEN, Sealer
from core.errors import Forbidden
from core.model import CENTRE_ROLES, Actor, OrderRecord
from core.tables import Order


def visible(order: OrderRecord | dict, actor: Actor) -> bool:
    """A handler sees its own department's orders and those on which it has an assisting part (协办,
    open or settled); an API key its own channels'; a citizen only
    the order whose query code they gave; the system's own jobs and the city platform's follow-ups
    every order."""
    if actor.kind == "system":
        return True
    department = order["department"] if isinstance(order, dict) else order.department
    channel = order["channel"] if isinstance(order, dict) else order.channel
    if actor.role == "citizen":
        number = order["number"] if isinstance(order, dict) else order.number
        return actor.proven_order is not None and number == actor.proven_order
    if actor.role == "handler":
        parts = (order.get("assisting") if isinstance(order, dict) else order.assisting) or []
        return department == actor.department or any(p["department"] == actor.department for p in parts)
    if actor.kind == "api_key":
        return actor.may_use_channel(channel)
    return actor.role in CENTRE_ROLES


def scope(actor: Actor) -> list[Any]:
    """``visible`` as where-clauses on ``orders``; refuses an actor who may list no orders."""
    if actor.role == "handler":
        return [(Order.department == actor.department) | assisted_by(actor.department)]
    if actor.role == "citizen" and actor.proven_order:
        return [Order.number == actor.proven_order]
    if actor.kind == "api_key":
        return [Order.channel.is_in(list(actor.channels))] if actor.channels else []
    if actor.role not in CENTRE_ROLES:
        raise Forbidden("无权查看工单")
    return []


def assisted_by(department: str | None, *, open_only: bool = False) -> WhereRaw:
    """The orders on which ``department`` has an assisting part (协办; only open ones: 待签收, 协办中)."""
    status = " AND status IN ('pending', 'accepted')" if open_only else ""
    return WhereRaw(f"orders.id IN (SELECT order_id FROM assisting_parts WHERE department = {{}}{status})",
                    department or "")


def mask_phone(phone: str) -> str:
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) > 7 else phone[:3] + "****"
    return "*" * len(phone)


def identity(order: OrderRecord, channel, actor: Actor, sealer: Sealer | None, *,
             reveal: bool = False) -> tuple[dict, dict]:
    """The citizen and the details as this actor may see them. Outside the centre a protected
    reporter and confidential fields are left out entirely; inside it they stay hidden or masked
    until revealed (``reveal``: the answer to an audited action)."""
    protected = bool(channel and channel.protect_reporter)
    confidential = set(channel.confidential) if channel else set()
    name, phone = order.citizen_name, order.citizen_phone
    if protected and order.citizen_sealed and sealer:
        name, phone = msgspec.json.decode(sealer.open(order.citizen_sealed))
    if reveal and (actor.in_centre or not protected):
        citizen = {"name": name, "phone": phone}
    elif protected and not actor.in_centre:
        citizen = {"name": HIDDEN, "phone": ""}
    else:
        citizen = {"name": HIDDEN if protected else name, "phone": mask_phone(phone)}
    details = {}
    for key, value in order.details.items():
        if key not in confidential:
            details[key] = value
        elif actor.in_centre:
            opened = sealer.open(value) if sealer else value
            details[key] = opened if reveal else (HIDDEN if value else value)
    return citizen, details
