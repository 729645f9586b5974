"""The shapes the core passes around: who acts, and an order as plugins and the API see it."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

ROLES: dict[str, str] = {
    "agent": "话务员",
    "dispatcher": "派单员",
    "handler": "承办人",
    "supervisor": "督办员",
    "admin": "管理员",
    "auditor": "审计员",  # reads the access audit and the fault log; sees no orders
}
CENTRE_ROLES = frozenset({"agent", "dispatcher", "supervisor", "admin"})
# Everyone who can appear on an order's record, staff or not (the roles a user may hold are ROLES).
ACTOR_ROLES: dict[str, str] = {**ROLES, "citizen": "市民", "system": "系统", "integration": "接口", "city": "市级平台"}
# Actors that are not staff accounts, by the name they act under.
ACTOR_NAMES: dict[str, str] = {"system": "系统", "web": "市民（网页）", "web-callback": "市民（网上评价）",
                               "public": "市民"}


def actor_label(name: str, role: str, display_names: dict[str, str]) -> str:
    """Who did something, as a person reads it: 小周（话务员）, 系统, 接口「城管平台」.

    ``display_names`` maps staff usernames to their names (``core.users.display_names``)."""
    role_label = ACTOR_ROLES.get(role, role)
    if name in display_names:
        return f"{display_names[name]}（{role_label}）"
    if name.startswith("api:"):
        return f"接口「{name[4:]}」"
    shown = ACTOR_NAMES.get(name, name)
    return shown if shown.startswith(role_label) or role_label in shown else f"{shown}（{role_label}）"


class Actor(msgspec.Struct, frozen=True, kw_only=True):
    """Whoever makes a request: a staff user, an integration's API key, or the public web form."""

    name: str
    role: str  # one of ROLES, or "integration" / "citizen"
    department: str | None = None
    channels: tuple[str, ...] = ()  # an API key's scope; empty means every channel
    kind: str = "user"
    proven_order: str | None = None  # a citizen who proved this order's query code (online rating)
    trained: bool = True  # 已培训上岗: a staff account's flag (an untrained agent records no orders)

    @property
    def in_centre(self) -> bool:
        return self.role in CENTRE_ROLES

    def may_use_channel(self, code: str) -> bool:
        return self.kind != "api_key" or not self.channels or code in self.channels


SYSTEM = Actor(name="system", role="system", kind="system")


class Citizen(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The caller; the limits are those of the columns the values are stored in."""

    name: Annotated[str, msgspec.Meta(max_length=64)] = ""
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""


class OrderRecord(msgspec.Struct, kw_only=True):
    """An order as loaded from the database, handed to plugins and to the API layer."""

    id: int
    number: str
    query_code: str
    channel: str
    kind: str
    source: str
    subject: str
    content: str
    citizen_name: str
    citizen_phone: str
    citizen_sealed: str = ""
    anonymous: bool
    address: str
    area: str
    category: str
    details: dict[str, Any]
    status: str
    status_before_suspend: str | None
    department: str | None
    suggested_department: str | None
    suggestion_reason: str
    priority: str
    received_at: dt.datetime
    deadlines: dict[str, Any]
    rating: dict[str, Any] | None
    external_id: str | None
    rework_count: int = 0
    merged_into: str | None = None
    suspended_at: dt.datetime | None = None
    extensions: list[dict[str, Any]] = []
    supervisions: list[dict[str, Any]] = []
    flags: list[str] = []
    assisting: list[dict[str, Any]] = []  # 协办: the assisting departments' parts (core/joint.py)
    sla_limits: dict[str, Any] | None = None  # the time limits it was received under
    due_at: dt.datetime | None = None
    at_risk_at: dt.datetime | None = None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime
    legacy_number: str | None = None  # the outgoing system's number (imported history)


def as_record(row: dict) -> OrderRecord:
    """An ``orders`` row (read with ``output(load_json=True)``) as the record the rest of the code uses."""
    return msgspec.convert(row, OrderRecord, strict=False)


class EventRecord(msgspec.Struct, kw_only=True):
    """One audit event."""

    action: str
    actor: str
    role: str
    department: str | None
    from_status: str | None
    to_status: str | None
    reason: str
    payload: dict[str, Any]
    created_at: dt.datetime
