"""What a channel's report section may read about its own orders: sums of its numeric fields over a
period, aggregated in SQL on either backend (re-exported to plugins by ``core.plugin_api``)."""

from __future__ import annotations

import datetime as dt
import re

from core.reports.dialect import dialect
from core.reports.periods import epoch
from core.tables import Order

_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")


async def sum_details(channel: str, fields: list[str], start: dt.date, end: dt.date, *,
                      department: str | None = None, completed: bool = False) -> dict[str, float]:
    """``{"orders": n, field: sum, ...}`` over the channel's orders received in ``[start, end)`` (or,
    with ``completed=True``, completed in it: approved or resolved at intake)."""
    d = dialect()
    for name in fields:
        if not _NAME.match(name):
            raise ValueError(f"not a field name: {name!r}")
    sums = ", ".join(f"COALESCE(SUM(CAST({d.json_text('o.details', name)} AS REAL)), 0) AS {name}" for name in fields)
    s, e = epoch(start), epoch(end)
    moment = "f.completed" if completed else "f.received"
    where = f"f.channel = {{}} AND {moment} >= {s} AND {moment} < {e}"
    args: list = [channel]
    if department:
        where += " AND f.department = {}"
        args.append(department)
    # the facts narrow the orders down first (indexed by channel and moment); only then are the
    # orders' own fields read
    rows = await Order.raw(f"SELECT COUNT(*) AS orders{', ' + sums if sums else ''} FROM report_facts f "
                           f"JOIN orders o ON o.id = f.order_id WHERE {where}", *args)
    row = rows[0]
    return {"orders": int(row["orders"] or 0), **{name: float(row[name] or 0) for name in fields}}
