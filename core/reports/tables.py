"""The reports' own tables: per-order facts derived from the audit trail, stored report snapshots,
early warnings and their thresholds.

``report_facts`` holds one narrow row per order with every instant a KPI needs as epoch seconds, so
the KPI SQL compares integers on both backends. It is derived (``core.reports.facts``): it can be
rebuilt from ``orders`` and ``order_events`` at any time and never holds anything they do not.
"""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, Integer, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class ReportFact(Table, tablename="report_facts"):
    """One order as the KPIs see it (instants are epoch seconds; ``closed`` is when the order last left
    handling (approved, answered at intake, merged or withdrawn), FAR_FUTURE while it is in handling,
    a rework included)."""

    order_id = BigInt(unique=True)
    channel = Varchar(length=64)
    kind = Varchar(length=32)
    source = Varchar(length=32)
    category = Varchar(length=128, default="")
    department = Varchar(length=64, default="")
    area = Varchar(length=64, default="")
    status = Varchar(length=32)
    received = BigInt(index=True)
    resolved_at_intake = Integer(default=0)
    first_dispatch = BigInt(null=True, default=None, index=True)
    dispatches = Integer(default=0)
    redispatches = Integer(default=0)
    returns = Integer(default=0)
    returns_upheld = Integer(default=0)
    extensions = Integer(default=0)
    reworks = Integer(default=0)
    accept_due = BigInt(null=True, default=None)
    accept_done = BigInt(null=True, default=None)
    handle_due = BigInt(null=True, default=None)
    handle_done = BigInt(null=True, default=None)
    completed = BigInt(null=True, default=None, index=True)
    closed = BigInt()
    late_from = BigInt(null=True, default=None)  # handle_due, for an order not answered by then
    rated = BigInt(null=True, default=None, index=True)
    satisfaction = Varchar(length=32, default="")
    rating_resolved = Integer(default=0)
    rating_valid = Integer(default=0)
    repeat_call = Integer(default=0)
    last_event_id = BigInt(default=0)


class ReportDaily(Table, tablename="report_daily"):
    """Day-by-day sums of the additive KPI counts per value of one dimension (``dim`` "all" for the
    whole centre), each count on the local day of its own moment; derived from ``report_facts`` for
    the days that changed, so an unfiltered report over a year sums a few hundred rows per value."""

    day = Integer()  # local day number: (epoch seconds + 8 h) // 86400
    dim = Varchar(length=16)
    value = Varchar(length=128)
    intake = Integer(default=0)
    resolved_at_intake = Integer(default=0)
    repeat_calls = Integer(default=0)
    dispatched = Integer(default=0)
    dispatches = Integer(default=0)
    accepted_on_time = Integer(default=0)
    returns = Integer(default=0)
    returns_upheld = Integer(default=0)
    redispatches = Integer(default=0)
    extensions = Integer(default=0)
    returned = Integer(default=0)
    misrouted = Integer(default=0)
    extended = Integer(default=0)
    completed = Integer(default=0)
    completed_on_time = Integer(default=0)
    reworks = Integer(default=0)
    reworked = Integer(default=0)
    called_back = Integer(default=0)
    callbacks = Integer(default=0)
    valid_ratings = Integer(default=0)
    satisfied = Integer(default=0)
    resolved = Integer(default=0)


class ReportState(Table, tablename="report_state"):
    """Bookkeeping of derived data: the last audit event folded into ``report_facts``."""

    key = Varchar(length=64, unique=True)
    value = BigInt(default=0)


class ReportSnapshot(Table, tablename="report_snapshots"):
    """A generated report kept as it was: a correction is a new version, never an update."""

    kind = Varchar(length=16)
    start = Varchar(length=10)
    scope = Varchar(length=255, default="")  # the filters, canonical JSON; "" for the whole centre
    version = Integer()
    digest = Varchar(length=64)
    body = JSON(default={})
    created_by = Varchar(length=128, default="system")
    created_at = Timestamptz(default=TimestamptzNow())


class EarlyWarning(Table, tablename="warnings"):
    """预警: one finding, kept once per key (kind + subject + window) so a rescan never repeats it."""

    key = Varchar(length=255, unique=True)
    kind = Varchar(length=32, index=True)
    level = Varchar(length=16, default="warning")
    title = Varchar(length=255)
    explanation = Text(default="")
    facts = JSON(default={})
    orders = JSON(default=[])
    department = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    acknowledged_by = Varchar(length=128, null=True, default=None)
    acknowledged_at = Timestamptz(null=True, default=None)
    acknowledge_note = Text(default="")


class WarningSettings(Table, tablename="warning_settings"):
    """The thresholds of early warning, one row per setting, editable by an admin."""

    name = Varchar(length=64, unique=True)
    value = JSON(default={})
    updated_by = Varchar(length=128, default="")
    updated_at = Timestamptz(default=TimestamptzNow())


REPORT_TABLES = (ReportFact, ReportDaily, ReportState, ReportSnapshot, EarlyWarning, WarningSettings)
