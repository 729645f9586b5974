"""Which orders a list shows: one typed filter (``OrderFilter``) and one builder of its SQL
(``clauses``), used by the console's lists and queues (``core.listing``) and by ``GET /api/orders``
(``core.queries``), so the same criteria always select the same orders.

The soonest open deadline and the instant it turns 临期 are columns (``due_at``, ``at_risk_at``),
so the deadline criteria are plain indexed comparisons. 时限状态 means the state of the open
deadlines: 正常 (an open deadline, none 临期 yet), 临期 (one has used 80 % of its working time), 超期
(one is past due); an order with no open deadline, and a closed one (archived, merged: it waits on
nothing), is in none of them, as its list row shows no deadline chip. 办理超期 is what the KPI
超期未办结量 counts at this instant.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

import msgspec
from piccolo.columns.combination import WhereRaw

from core import clock
from core.calendar import DEADLINE_STATE_LABELS
from core.channels import FLAGS, KINDS, SOURCES, field
from core.difficult import FLAGS as DIFFICULT_FLAGS
from core.errors import FieldError, InvalidInput, field_errors
from core.lifecycle import OPEN_STATUSES, STATUSES, TERMINAL
from core.model import Actor
from core.reports import facts, kpis
from core.reports.dialect import dialect
from core.reports.periods import epoch
from core.reports.tables import EarlyWarning
from core.search import OrderSearch
from core.tables import Order
from core.visibility import assisted_by, scope

REPEAT_CALLER_DAYS = 30  # DESIGN.md: 重复来电 is the same caller within 30 days
REPEAT_CALLER_ORDERS = 3
PRIORITIES: dict[str, str] = {"normal": "一般", "urgent": "紧急"}
REPEAT_CALLERS_LISTED = 1_000  # named in the query up to this many; beyond, a sub-select
QUERY_MAX = 100
FIRST_DAY, LAST_DAY = dt.date(2000, 1, 1), dt.date(2100, 12, 31)  # the dates a list filter takes
KPI_FILTERS: dict[str, str] = {name: kpis.BY_NAME[name].label for name in kpis.LISTABLE}
KPI_DIMENSIONS = ("channel", "department", "area")  # matched on the facts too when a KPI filter is set
# a KPI list using no other criterion is paged on report_facts alone (see OrderLists._kpi_page)
FACTS_CRITERIA = frozenset({"kpi", "kpi_from", "kpi_to", *KPI_DIMENSIONS})
# the department or street filter's value for "none": 未派单/中心办结, 未填写 (a department code
# starts with a letter, so "-" is never one), so the KPI page's rows without a value open a list too
NONE = "-"

LIST_FLAGS: dict[str, str] = {**FLAGS, "repeat_caller": "重复来电", "imported": "历史导入",
                              "import_review": "导入待核", **DIFFICULT_FLAGS}  # the last two: core/history_import.py
# 超期 is any open deadline past due (派单、签收、办理、回访、申诉); 办理超期 the orders the KPI 超期未办结量
# counts right now: in handling, the handling deadline past with no reply (core.reports.kpis.OPEN_OVERDUE)
DEADLINE_FILTERS: dict[str, str] = {**DEADLINE_STATE_LABELS, "handle_overdue": "办理超期（超期未办结）"}
IN_HANDLING = ("received", "dispatched", "returned", "accepted", "replied")

Short = Annotated[str, msgspec.Meta(max_length=64)]


class OrderFilter(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Which orders a list shows, the console's and the API's alike; every criterion is optional and
    they all apply together (``clauses`` turns them into SQL)."""

    status: Annotated[Short, field("状态", choices=STATUSES)] = ""
    statuses: tuple[str, ...] = ()  # a queue spanning several statuses
    channel: Annotated[Short, field("渠道")] = ""
    kind: Annotated[Short, field("诉求类型", choices=KINDS)] = ""
    department: Annotated[Short, field("承办单位", "“-”：未派单或中心办结")] = ""
    area: Annotated[Short, field("街道（乡镇）", "“-”：未填写街道")] = ""
    source: Annotated[Short, field("来源", choices=SOURCES)] = ""
    priority: Annotated[Literal["", "normal", "urgent"], field("紧急程度", choices=PRIORITIES)] = ""
    # 正常: an open deadline not yet 临期; an order with no open deadline (closed, or waiting on
    # nothing) is in none of 正常/临期/超期, as its list row shows no deadline chip
    deadline: Annotated[Literal["", "normal", "at_risk", "overdue", "handle_overdue"],
                        field("时限状态", choices=DEADLINE_FILTERS)] = ""
    flag: Annotated[Literal["", "mass_incident", "repeat_caller", "imported", "import_review", "difficult",
                            "difficult_requested"],
                    field("预警标记", choices=LIST_FLAGS)] = ""
    q: Annotated[str, field("搜索", "工单编号、电话、姓名或内容中的文字", max_length=QUERY_MAX)] = ""
    received_from: Annotated[dt.date | None, field("受理日期从")] = None
    received_to: Annotated[dt.date | None, field("受理日期到")] = None
    # the same span as instants (the API's received_from/received_to, any zone): [after, before)
    received_after: dt.datetime | None = None
    received_before: dt.datetime | None = None
    # the orders one KPI count counts (core.reports.kpis) over the local days [kpi_from, kpi_to]:
    # 派单工单数 by first dispatch, 办结量 by completion, 回访量 by callback, 受理量 by intake;
    # 超期未办结量 as of the end of kpi_to (kpi_from is not used)
    kpi: Annotated[Literal[("", *KPI_FILTERS)], field("统计口径", choices=KPI_FILTERS)] = ""  # type: ignore[valid-type]
    kpi_from: Annotated[dt.date | None, field("统计日期从")] = None
    kpi_to: Annotated[dt.date | None, field("统计日期到")] = None
    unrated: bool = False  # completed and not yet called back
    rated_badly: bool = False  # rated 不满意 or 未解决
    open_supervision: bool = False  # a 督办 not yet answered
    pending_extension: bool = False  # an extension waiting for the centre
    rework: bool = False  # sent back at least once
    open_only: bool = False
    lead_only: bool = False  # a handler: the orders its department leads (主办), not those it assists
    open_part: bool = False  # an assisting part still open (待签收/协办中): a handler's own, or any for the centre
    # the orders one early warning lists (core.reports.warnings), for 查看工单 and bulk 督办 from it
    warning: Annotated[int, field("预警"), msgspec.Meta(ge=0, le=2_147_483_647)] = 0


NO_FILTER = OrderFilter()
# the switches of a queue (``?rework=1``): on with 1, true or on
SWITCHES = tuple(name for name, kind in zip(OrderFilter.__struct_fields__, msgspec.structs.fields(OrderFilter))
                 if kind.type is bool)


def read_params(source: Mapping[str, Any]) -> dict[str, Any]:
    """The filter's parameters as a query string carries them (a list's address, a saved view):
    ``statuses`` comma-separated, switches as 1, each value cut to 200 characters; what is not a
    criterion is left out. ``parse_filter`` then checks the values."""
    params: dict[str, Any] = {}
    for key in OrderFilter.__struct_fields__:
        value = source.get(key)
        if not isinstance(value, str) or value == "":
            continue
        if key == "statuses":
            params[key] = tuple(v for v in value.split(",") if v)
        elif key in SWITCHES:
            params[key] = value in ("1", "true", "on")
        else:
            params[key] = value[:200]
    return params


def query_pairs(params: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``read_params``'s result back as query-string pairs (its inverse)."""
    return [(k, ",".join(v) if isinstance(v, tuple) else ("1" if v is True else str(v)))
            for k, v in params.items() if v not in (False, (), "", None)]


def parse_filter(params: dict[str, Any]) -> OrderFilter:
    """A filter from query parameters; a bad value is named (400), never silently ignored."""
    data = {k: v for k, v in params.items() if k in OrderFilter.__struct_fields__ and v not in ("", None)}
    try:
        found = msgspec.convert(data, OrderFilter, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput([FieldError(e.key, e.message, "query") for e in field_errors(exc)], "筛选条件有误") from None
    errors = []
    if found.status and found.status not in STATUSES:
        errors.append(FieldError("status", "没有这个状态", "query"))
    if any(s not in STATUSES for s in found.statuses):
        errors.append(FieldError("statuses", "没有这个状态", "query"))
    if found.kind and found.kind not in KINDS:
        errors.append(FieldError("kind", "没有这个诉求类型", "query"))
    if found.received_from and found.received_to and found.received_from > found.received_to:
        errors.append(FieldError("received_to", "结束日期不能早于开始日期", "query"))
    errors += [FieldError(name, "日期须在 2000-01-01 至 2100-12-31 之间", "query")
               for name in ("received_from", "received_to") if not _in_range(getattr(found, name))]
    errors += kpi_errors(found.kpi, found.kpi_from, found.kpi_to)
    if errors:
        raise InvalidInput(errors, "筛选条件有误")
    return found


def _in_range(day: dt.date | None) -> bool:
    return day is None or FIRST_DAY <= day <= LAST_DAY


def kpi_errors(kpi: str, start: dt.date | None, end: dt.date | None) -> list[FieldError]:
    """What is wrong with a KPI filter (the list's and the API's), each naming its parameter."""
    errors = [FieldError(name, "日期须在 2000-01-01 至 2100-12-31 之间", "query")
              for name, day in (("kpi_from", start), ("kpi_to", end)) if not _in_range(day)]
    if not kpi:
        if start or end:
            errors.append(FieldError("kpi", "给出统计日期时须选择统计口径", "query"))
        return errors
    if end is None:
        errors.append(FieldError("kpi_to", "须给出统计截止日期", "query"))
    if kpi == "open_overdue":
        if start is not None:
            errors.append(FieldError("kpi_from", "期末超期未办结只按截止日期统计，不用开始日期", "query"))
    elif start is None:
        errors.append(FieldError("kpi_from", "须给出统计开始日期", "query"))
    elif end is not None and start > end:
        errors.append(FieldError("kpi_to", "结束日期不能早于开始日期", "query"))
    return errors


def kpi_span(start: dt.date | None, end: dt.date) -> tuple[int, int, int | None]:
    """[s, e) of the local days [start, end], and now when ``end`` is today or later: a period still
    running takes its 超期未办结 as of now, as the KPI tables do (``core.reports.periods.running``)."""
    e = epoch(end + dt.timedelta(days=1))
    now = int(clock.now().timestamp())
    return (epoch(start) if start else 0), e, (now if now < e else None)


def kpi_clause(kpi: str, start: dt.date | None, end: dt.date, dimensions: dict[str, str]) -> WhereRaw:
    """The orders the KPI count ``kpi`` counts over the local days [start, end] with these dimension
    values, read from ``report_facts`` by the same condition the KPI tables sum (``kpis.members``)."""
    s, e, as_of = kpi_span(start, end)
    return WhereRaw(f"orders.id IN ({kpis.members(kpi, s, e, dimensions, as_of)})", *dimensions.values())


def handle_overdue(now: dt.datetime) -> WhereRaw:
    """办理超期, read on the orders themselves: in handling (not completed, merged, withdrawn or
    suspended) with the handling deadline past and no reply: exactly the orders the KPI
    超期未办结量 counts at this instant. Every such order is 超期 on its chip too (its soonest open
    deadline is at latest the handling one), so ``due_at`` narrows the search through its index."""
    d = dialect()
    statuses = ", ".join(f"'{s}'" for s in IN_HANDLING)
    return WhereRaw(f"orders.status IN ({statuses}) AND orders.due_at < {{}} "
                    f"AND {d.json_text('orders.deadlines', 'handle', 'done')} IS NULL "
                    f"AND {d.json_epoch('orders.deadlines', 'handle', 'due')} < {int(now.timestamp())}", now)


def dimensions_of(f: OrderFilter) -> dict[str, str]:
    """The filter's KPI dimensions as report_facts holds them ("" for none: NONE)."""
    return {name: "" if getattr(f, name) == NONE else getattr(f, name)
            for name in KPI_DIMENSIONS if getattr(f, name)}


def kpi_label(kpi: str, start: dt.date | None, end: dt.date | None) -> str:
    """The KPI filter in words, as the list shows it: 「办结时间 2026-11-01 至 2026-11-30」."""
    if not kpi or end is None:
        return ""
    if kpi == "open_overdue":
        if kpi_span(None, end)[2] is not None:
            return f"期末超期未办结（截至此刻 {clock.local_now():%m-%d %H:%M}）"
        return f"期末超期未办结（截至 {end.isoformat()} 日终）"
    count = kpis.BY_NAME[kpi]
    span = f"{kpis.MOMENTS[count.moment]} {start.isoformat() if start else ''} 至 {end.isoformat()}"
    return f"{count.label}：{span}" if count.when else span


def _local_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, clock.SHANGHAI)


def _json_has(column: str, fragment: str) -> WhereRaw:
    """A JSON column's text contains ``fragment`` (stored compact by orjson on both backends)."""
    return WhereRaw(f"CAST({column} AS TEXT) LIKE {{}}", f"%{fragment}%")


def open_part(actor: Actor):
    """协办未办结: for a department's handler, the orders on which its own part is open (待签收 or
    协办中); for the centre, every order with an open part."""
    if actor.role == "handler":
        return assisted_by(actor.department, open_only=True)
    # the parts' own table, not the orders' JSON: a text scan of every order took seconds at 410,000
    return WhereRaw("orders.id IN (SELECT order_id FROM assisting_parts WHERE status IN ('pending', 'accepted'))")


async def warning_orders(warning_id: int) -> list[str]:
    """The order numbers an early warning lists (none for a warning that does not exist)."""
    row = await EarlyWarning.select(EarlyWarning.orders).where(EarlyWarning.id == warning_id).output(
        load_json=True).first()
    return [n for n in (row["orders"] if row else None) or [] if isinstance(n, str)]


async def refresh_facts() -> None:
    """Fold the latest events into ``report_facts`` before a KPI filter reads them, so a list shows
    what the KPI tables computed a moment ago (it costs what changed since the last refresh)."""
    if await facts.stale():
        await facts.refresh()


def clauses(f: OrderFilter, actor: Actor, now: dt.datetime, index: OrderSearch,
            repeat_callers: Sequence[str] = (), warning_orders: Sequence[str] = ()) -> list:
    """The filter as SQL conditions on ``orders``, starting with what ``actor`` may see
    (``core.visibility.scope``). ``index`` finds the words of ``q``; ``repeat_callers`` are the
    phones of 重复来电 (``OrderLists.repeat_callers``), needed only for that flag; ``warning_orders``
    the numbers the warning ``f.warning`` lists (``warning_orders``)."""
    where = scope(actor)  # the same rule as a single read (core.visibility)
    if f.warning:
        where.append(Order.number.is_in(list(warning_orders)) if warning_orders else WhereRaw("1 = 0"))
    for column, value in ((Order.status, f.status), (Order.channel, f.channel), (Order.kind, f.kind),
                          (Order.department, f.department), (Order.area, f.area), (Order.source, f.source),
                          (Order.priority, f.priority)):
        if value == NONE and column._meta.name in ("department", "area"):
            where.append(WhereRaw(f"COALESCE(orders.{column._meta.name}, '') = ''"))
        elif value:
            where.append(column == value)
    if f.statuses:
        where.append(Order.status.is_in(list(f.statuses)))
    if f.open_only:
        where.append(Order.status.is_in(sorted(OPEN_STATUSES)))
    if f.deadline == "handle_overdue":
        where.append(handle_overdue(now))
    elif f.deadline:  # a closed order (archived, merged) waits on nothing, whatever its deadlines say
        where.append(Order.status.not_in(sorted(TERMINAL)))
    if f.deadline == "overdue":
        where.append(Order.due_at < now)
    elif f.deadline == "at_risk":
        where.append((Order.at_risk_at <= now) & (Order.due_at >= now))
    elif f.deadline == "normal":  # at_risk_at is set exactly when an open deadline is (deadline_summary)
        where.append(Order.at_risk_at > now)
    if f.flag == "repeat_caller":
        if len(repeat_callers) > REPEAT_CALLERS_LISTED:  # too many to name: the window, read again
            where.append(WhereRaw(
                "citizen_phone IN (SELECT citizen_phone FROM orders WHERE received_at >= {} "
                "AND citizen_phone <> '' GROUP BY citizen_phone HAVING COUNT(*) >= {})",
                now - dt.timedelta(days=REPEAT_CALLER_DAYS), REPEAT_CALLER_ORDERS))
        else:
            where.append(Order.citizen_phone.is_in(list(repeat_callers)) if repeat_callers else WhereRaw("1 = 0"))
    elif f.flag:
        where.append(_json_has("flags", f'"{f.flag}"'))
    if f.received_from:
        where.append(Order.received_at >= _local_midnight(f.received_from))
    if f.received_to:
        where.append(Order.received_at < _local_midnight(f.received_to + dt.timedelta(days=1)))
    if f.received_after:
        where.append(Order.received_at >= f.received_after)
    if f.received_before:
        where.append(Order.received_at < f.received_before)
    if f.kpi and f.kpi_to:
        where.append(kpi_clause(f.kpi, f.kpi_from, f.kpi_to, dimensions_of(f)))
    if f.unrated:
        where.append((Order.status == "completed") & Order.rating.is_null())
    if f.rated_badly:
        where.append(_json_has("rating", '"satisfaction":"unsatisfied"') | _json_has("rating", '"resolved":false'))
    if f.open_supervision:
        where.append(_json_has("supervisions", '"answer":null'))
    if f.pending_extension:
        where.append(_json_has("extensions", '"status":"requested"'))
    if f.rework:
        where.append(Order.rework_count > 0)
    if f.lead_only and actor.role == "handler":
        where.append(Order.department == actor.department)
    if f.open_part:
        where.append(open_part(actor))
    q = f.q.strip()
    if q:  # the order number exactly, or the words of the text (for the centre also a phone or a name)
        where.append((Order.number == q.upper()) | index.where(q, actor))
    return where
