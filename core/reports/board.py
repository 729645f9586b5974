"""The real-time board (实时数据化报表): today's intake by hour and channel, open orders by status,
and at-risk and overdue orders by department."""

from __future__ import annotations

import datetime as dt


from core import clock
from core.calendar import AT_RISK_PERCENT, SHANGHAI
from core.clock import SHANGHAI_OFFSET_SECONDS as LOCAL_OFFSET
from core.lifecycle import STATUSES, TERMINAL
from core.people import rota as published_rota
from core.reports import facts
from core.reports.dialect import FAR_FUTURE
from core.reports.periods import epoch
from core.reports.tables import ReportFact
from core.tables import Department, Order

RISK_HORIZON = 15 * 86400  # a handling deadline further away than this cannot be 临期 yet


async def deadline_states(calendar, now: dt.datetime, department: str | None = None) -> dict[str, dict]:
    """Open orders whose handling deadline is overdue or at risk, per department.

    Overdue is a comparison in SQL; at risk (80 % of the working-time allowance used) needs the
    working calendar, so it is judged exactly in Python, but only for the orders due soon."""
    stamp = int(now.timestamp())
    where = f"closed = {FAR_FUTURE} AND status NOT IN ('merged', 'archived', 'suspended') AND handle_due IS NOT NULL"
    args = []
    if department:
        where += " AND department = {}"
        args.append(department)
    rows = await ReportFact.raw(
        f"SELECT order_id, department, handle_due, handle_done FROM report_facts WHERE {where} "
        f"AND handle_due < {stamp + RISK_HORIZON}", *args)
    states: dict[str, dict] = {}
    soon = [r for r in rows if r["handle_due"] >= stamp and r["handle_done"] is None]  # replied: not 临期
    for r in rows:
        if r["handle_due"] < stamp:
            entry = states.setdefault(r["department"], {"overdue": [], "at_risk": []})
            entry["overdue"].append(r["order_id"])
    if soon:
        # each open handling deadline's start and working-time allowance, read and worked out once per
        # (order, due) and kept with the calendar: a view then judges each by one calendar sum
        kept = calendar.derived.get("handle_allowance", {})
        due_of = {r["order_id"]: r["handle_due"] for r in soon}
        known = {key: kept[key] for key in due_of.items() if key in kept}  # only deadlines still due soon
        calendar.derived["handle_allowance"] = known
        missing = [order_id for order_id, due in due_of.items() if (order_id, due) not in known]
        for chunk in range(0, len(missing), 500):
            part = missing[chunk:chunk + 500]
            for o in await Order.select(Order.id, Order.deadlines).where(Order.id.is_in(part)).output(load_json=True):
                handle = o["deadlines"].get("handle")
                entry = None
                if handle and not handle.get("done"):
                    start, due = dt.datetime.fromisoformat(handle["start"]), dt.datetime.fromisoformat(handle["due"])
                    entry = (start, calendar.working_seconds_between(start, due))
                known[(o["id"], due_of[o["id"]])] = entry
        for r in soon:
            entry = known.get((r["order_id"], r["handle_due"]))
            if entry is None:
                continue
            start, allowance = entry
            used = calendar.working_seconds_between(start, now)
            if used * 100 >= allowance * AT_RISK_PERCENT:  # deadline_state's rule, its allowance kept
                states.setdefault(r["department"], {"overdue": [], "at_risk": []})["at_risk"].append(r["order_id"])
    return states


async def snapshot(platform, *, department: str | None = None, now: dt.datetime | None = None) -> dict:
    await facts.refresh()
    now = now or clock.now()
    day = now.astimezone(SHANGHAI).date()
    start = epoch(day)
    where, args = f"received >= {start} AND received < {start + 86400}", []
    if department:
        where += " AND department = {}"
        args.append(department)
    rows = await ReportFact.raw(
        f"SELECT (received + {LOCAL_OFFSET}) % 86400 / 3600 AS hour, channel, COUNT(*) AS n FROM report_facts "
        f"WHERE {where} GROUP BY (received + {LOCAL_OFFSET}) % 86400 / 3600, channel", *args)
    names = {c.code: c.name for c in platform.channels}
    by_channel: dict[str, list[int]] = {}
    for r in rows:
        by_channel.setdefault(r["channel"], [0] * 24)[int(r["hour"])] += r["n"]
    # the open statuses named (an index seek each), not "NOT IN" the closed ones (a walk over every order)
    shown = [s for s in STATUSES if s not in TERMINAL]
    status_where = f"status IN ({', '.join(repr(s) for s in shown)})" + (" AND department = {}" if department else "")
    open_rows = await Order.raw(f"SELECT status, COUNT(*) AS n FROM orders WHERE {status_where} GROUP BY status",
                                *([department] if department else []))
    states = await deadline_states(platform.calendar, now, department)
    departments = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    return {
        "as_of": now.astimezone(SHANGHAI).isoformat(),
        "today": day.isoformat(),
        "intake_today": sum(sum(v) for v in by_channel.values()),
        "intake_by_hour": [{"hour": h, "total": sum(v[h] for v in by_channel.values()),
                            "channels": {c: v[h] for c, v in by_channel.items() if v[h]}} for h in range(24)],
        "channels": [{"code": c, "name": names.get(c, c), "today": sum(v)} for c, v in
                     sorted(by_channel.items(), key=lambda kv: -sum(kv[1]))],
        "open_by_status": [{"status": s, "label": STATUSES[s], "count": next((r["n"] for r in open_rows if r["status"] == s), 0)}
                           for s in STATUSES if s not in TERMINAL],
        "deadlines_by_department": sorted(
            ({"department": d, "name": departments.get(d, "（未派单）") if d else "（未派单）",
              "overdue": len(v["overdue"]), "at_risk": len(v["at_risk"])} for d, v in states.items()),
            key=lambda r: (-r["overdue"], -r["at_risk"], r["department"])),
        "rota": None if department else await published_rota.this_hour(now),  # 排班: on shift against needed
        "phone": await _phone(platform, now),
        "refresh_seconds": 30,
    }


async def _phone(platform, now: dt.datetime) -> dict:
    """Lines in use against the plan of this hour (4 at a working day's peak, 2 off-peak)."""
    from core.reports.forecast import SEED_PLAN, peak_hours
    from core.telephony import lines_now

    local = now.astimezone(SHANGHAI)
    peak = platform.calendar.is_workday(local.date()) and local.hour in peak_hours(platform.calendar)
    figures = await lines_now(now, plan=SEED_PLAN["peak" if peak else "off_peak"])
    return {**figures, "plan_label": "高峰" if peak else "非高峰"}
