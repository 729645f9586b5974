"""SLA clocks: each order's deadlines, counted in working time on the Chinese official calendar.

A deadline is stored on the order as ``{"start", "due", "done"}`` (ISO instants) under its name, so
reports and warnings read it without recomputing; its state (正常 / 临期 / 超期) is derived when shown.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

# deadline_summary lives with the calendar (it needs nothing else); named here as before
from core import calendar_admin
from core.calendar import DEADLINE_STATE_LABELS, WorkCalendar, deadline_state, deadline_summary, local_iso
from core.channels import SlaDefaults
from core.sla_rules import SlaRules, snapshot_of

DEADLINE_LABELS: dict[str, str] = {
    "dispatch": "派单时限",
    "accept": "签收时限",
    "handle": "办理时限",
    "callback": "回访时限",
    "appeal": "申诉时限",
    "appeal_review": "申诉审核时限",
}


STEPS_BEFORE_HANDLING = ("dispatch", "accept")  # never due after the handling deadline


class SlaClock:
    OVERRIDES_TTL = 60.0  # how soon another process sees a day, a year or office hours the admin changed

    def __init__(self, calendar: WorkCalendar, channels):
        self.calendar = calendar
        self.channels = channels
        self._overrides_loaded_at: float | None = None
        self.rules = SlaRules(channels)  # the centre's time limits over the plugins' (core/sla_rules.py)

    async def load_overrides(self) -> None:
        """The centre's own working-day decisions (``calendar_days``, winning over everything), the
        imported official years and the office hours (``core.calendar_admin``)."""
        await calendar_admin.load(self.calendar)
        self._overrides_loaded_at = time.monotonic()

    async def refresh(self) -> None:
        if self._overrides_loaded_at is None or time.monotonic() - self._overrides_loaded_at > self.OVERRIDES_TTL:
            await self.load_overrides()
        await self.rules.refresh()

    def declared(self, channel_code: str, kind: str) -> dict[str, Any]:
        """The plugin's own limits: what an order without a snapshot (received before the centre could
        set its rules) counts by."""
        channel = self.channels.get(channel_code)
        return snapshot_of(channel.sla if channel else SlaDefaults(), kind)

    def limits_now(self, channel: str, kind: str) -> dict[str, Any]:
        """The limits in force for a new order (stored on it at intake as ``sla_limits``)."""
        return self.rules.snapshot(channel, kind)

    def limits_of(self, order: Any) -> dict[str, Any]:
        """The limits an order was received under; the plugin's for an order from before."""
        return getattr(order, "sla_limits", None) or self.declared(order.channel, order.kind)

    def due(self, name: str, start: dt.datetime, *, channel: str, kind: str, priority: str,
            limits: dict[str, Any] | None = None) -> dt.datetime:
        """When deadline ``name`` started at ``start`` falls due, by ``limits`` (an order's snapshot;
        without one, the plugin's declaration)."""
        sla = limits or self.declared(channel, kind)
        if name == "dispatch":
            return self.calendar.add_working_hours(start, sla["dispatch_hours"])
        if name == "accept":
            return self.calendar.add_working_days(start, int(sla["accept_days"]))
        if name == "handle":
            if priority == "urgent":
                return start + dt.timedelta(hours=sla["urgent_natural_hours"])
            return self.calendar.add_working_days(start, int(sla["handle_days"]))
        if name == "callback":
            return self.calendar.add_working_days(start, int(sla["callback_days"]))
        if name == "appeal":
            return self.calendar.add_working_days(start, int(sla["appeal_days"]))
        if name == "appeal_review":  # limits recorded before this limit existed count by the channel's own
            days = sla.get("appeal_review_days") or self.declared(channel, kind)["appeal_review_days"]
            return self.calendar.add_working_days(start, int(days))
        raise KeyError(name)

    def deadline(self, name: str, start: dt.datetime, order: Any) -> dict[str, Any]:
        due = self.due(name, start, channel=order.channel, kind=order.kind, priority=order.priority,
                       limits=self.limits_of(order))
        handle = (order.deadlines or {}).get("handle")
        if name in STEPS_BEFORE_HANDLING and handle and not handle.get("done"):
            due = min(due, dt.datetime.fromisoformat(handle["due"]))
        return {"start": start.isoformat(), "due": due.isoformat(), "done": None}

    def at_intake(self, *, channel: str, kind: str, priority: str, received_at: dt.datetime,
                  limits: dict[str, Any] | None = None) -> dict[str, Any]:
        """Deadlines that start when the request is received: dispatching it and handling it. The
        dispatch is never due after the handling (an urgent order's 24 natural hours can end before
        two working hours have passed, at a weekend say)."""
        handle = self.due("handle", received_at, channel=channel, kind=kind, priority=priority, limits=limits)
        dispatch = min(self.due("dispatch", received_at, channel=channel, kind=kind, priority=priority,
                                limits=limits), handle)
        return {name: {"start": received_at.isoformat(), "due": due.isoformat(), "done": None}
                for name, due in (("dispatch", dispatch), ("handle", handle))}

    def summary(self, deadlines: dict[str, Any]) -> dict[str, dt.datetime | None]:
        """The order columns that mirror ``deadlines`` (see ``deadline_summary``)."""
        due_at, at_risk_at = deadline_summary(deadlines, self.calendar)
        return {"due_at": due_at, "at_risk_at": at_risk_at}

    def present(self, deadlines: dict[str, Any], now: dt.datetime) -> list[dict[str, Any]]:
        """Each deadline with its state and working time used, for people to read."""
        shown = []
        for name, d in deadlines.items():
            start, due = dt.datetime.fromisoformat(d["start"]), dt.datetime.fromisoformat(d["due"])
            end = dt.datetime.fromisoformat(d["done"]) if d.get("done") else now
            state = deadline_state(start, due, end, self.calendar)
            if d.get("done") and state == "at_risk":
                state = "normal"  # finished in time; the risk has passed
            shown.append({
                "name": name, "label": DEADLINE_LABELS.get(name, name),
                "start": local_iso(d["start"]), "due": local_iso(d["due"]), "done": local_iso(d.get("done")),
                "extended": bool(d.get("extended")),
                "state": state, "state_label": DEADLINE_STATE_LABELS[state],
                "used_working_seconds": round(self.calendar.working_seconds_between(start, end)),
            })
        return shown
