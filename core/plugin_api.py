"""The one module a channel plugin imports from the core.

Everything a plugin author needs — the hook marker, the channel declaration, field labels, time
limits, routing rules, lifecycle actions and refusals, the role sets, reads of orders, their
attachments and their on-site verifications, the system actor a channel's own job acts as,
notices to staff, and ``PluginServices``, what its effects, routes and jobs are handed to act on
orders (never the platform) — is here, so the core's internals can move without breaking channels. A test fails
when a plugin imports anything else from ``core``. See ``docs/writing-a-channel.md``.
"""

from __future__ import annotations

from core.attachments import AttachmentRecord
from core.clock import SHANGHAI, now
from core.channels import JOINT_HANDLING, KINDS, Assessment, Channel, CitizenWording, Panel, SlaDefaults, field
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.hookspecs import hookimpl
from core.jobs import Job
from core.outbox import idempotency_key
from core.lifecycle import (
    CENTRE,
    CENTRE_DISPATCH,
    CENTRE_OVERSIGHT,
    GOOD_SATISFACTION,
    HANDLER,
    STAFF,
    STATUSES,
    Action,
    ActionContext,
    Note,
    Refusal,
)
from core.model import SYSTEM, Actor, Citizen, EventRecord, OrderRecord
from core.notices import staff_notice
from core.orders import IntakeRequest
from core.attachments import attachments_of
from core.queries import order_ids, read_order
from core.reports.channel_api import sum_details
from core.routing import RuleSpec
from core.services import PluginServices, WorkingCalendar
from core.site_visits import Visit as SiteVisit, site_visits_of

__all__ = [
    "SHANGHAI", "JOINT_HANDLING", "KINDS", "Assessment", "Channel", "CitizenWording", "Panel", "SlaDefaults", "field", "FieldError", "NotFound",
    "hookimpl", "Job", "CENTRE", "CENTRE_DISPATCH", "CENTRE_OVERSIGHT", "GOOD_SATISFACTION", "HANDLER",
    "STAFF", "STATUSES", "Action", "ActionContext", "Note", "Refusal", "Actor", "OrderRecord", "RuleSpec",
    "Citizen", "Conflict", "Forbidden", "IntakeRequest", "InvalidInput", "idempotency_key", "sum_details",
    "EventRecord", "AttachmentRecord", "read_order", "attachments_of", "order_ids", "now",
    "SYSTEM", "staff_notice", "SiteVisit", "site_visits_of", "PluginServices", "WorkingCalendar",
]
