"""Prometheus metrics through the official client.

Counters and histograms live in the process that observes them. With several API processes set
``PROMETHEUS_MULTIPROC_DIR`` (an empty directory shared by them, cleared at deploy): the client then
writes them to files there and ``/metrics`` adds every process's values up. The order, deadline and
outbox figures are read from the database at scrape time, so they are the same whichever process
answers.
"""

from __future__ import annotations

import datetime as dt
import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from core import clock

REQUESTS = Counter("huying_http_requests_total", "HTTP requests answered, by route and status",
                   ["method", "route", "status"])
LATENCY = Histogram("huying_http_request_duration_seconds", "Time to answer an HTTP request, by route",
                    ["method", "route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
JOB_RUNS = Counter("huying_job_runs_total", "Background job runs, by job and outcome", ["job", "outcome"])
OUTBOX_DELIVERIES = Counter("huying_outbox_deliveries_total", "Outbox delivery attempts, by outcome",
                            ["outcome"])


class DatabaseCollector:
    """Orders by status, overdue and at-risk counts, outbox backlog and failures, read at scrape
    time from figures the metrics endpoint gathered just before (collect() itself cannot await)."""

    def __init__(self):
        self.figures: dict[str, object] = {}

    def collect(self):
        figures = self.figures
        by_status = GaugeMetricFamily("huying_orders", "Orders by status", labels=["status"])
        for status, count in figures.get("orders_by_status", {}).items():
            by_status.add_metric([status], count)
        yield by_status
        deadlines = GaugeMetricFamily("huying_open_deadlines", "Open deadlines at risk (临期) or overdue (超期)",
                                      labels=["state"])
        for state in ("at_risk", "overdue"):
            deadlines.add_metric([state], figures.get(state, 0))
        yield deadlines
        yield GaugeMetricFamily("huying_outbox_backlog", "Outbox messages not yet delivered",
                                value=figures.get("outbox_backlog", 0))
        yield GaugeMetricFamily("huying_outbox_failing", "Undelivered outbox messages whose last attempt failed",
                                value=figures.get("outbox_failing", 0))


def render(collector: DatabaseCollector) -> tuple[bytes, str]:
    """The exposition text: this process's (or all processes') counters plus the database figures."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    database = CollectorRegistry()
    database.register(collector)
    return text + generate_latest(database), CONTENT_TYPE_LATEST


async def gather(collector: DatabaseCollector, sla, now: dt.datetime | None = None) -> None:
    """Read the figures the collector reports. Overdue and at-risk counts cover open orders' open
    deadlines (the same states the order views show)."""
    from core.calendar import deadline_state
    from core.lifecycle import TERMINAL
    from core.tables import Order, OutboxMessage

    now = now or clock.now()
    rows = await Order.raw("SELECT status, count(*) AS n FROM orders GROUP BY status")
    states = {"at_risk": 0, "overdue": 0}
    open_orders = await Order.select(Order.deadlines).where(Order.status.not_in(list(TERMINAL))).output(
        load_json=True)
    for row in open_orders:
        for deadline in (row["deadlines"] or {}).values():
            if deadline.get("done"):
                continue
            start, due = dt.datetime.fromisoformat(deadline["start"]), dt.datetime.fromisoformat(deadline["due"])
            state = deadline_state(start, due, now, sla.calendar)
            if state in states:
                states[state] += 1
    backlog = await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null())
    failing = await OutboxMessage.count().where(OutboxMessage.delivered_at.is_null()
                                                & (OutboxMessage.last_error != ""))
    collector.figures = {"orders_by_status": {r["status"]: r["n"] for r in rows}, **states,
                         "outbox_backlog": backlog, "outbox_failing": failing}
