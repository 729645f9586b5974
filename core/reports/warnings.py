"""Early warning (预警研判): overdue and at-risk orders, surges, mass incidents and repeat callers.

Each warning says why it fired (the count, the baseline or threshold it beat, the window), links its
orders and is kept once per key, so scanning again never repeats it; a new warning is sent to the
supervisors as a staff notice (``core.notices``) in the transaction that records it. Thresholds are data, editable by
an admin.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import msgspec

from core import clock
from core.calendar import SHANGHAI
from core.db import write_transaction
from core.reports.dialect import current_engine
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.visibility import mask_phone
from core.notices import staff_notice
from core.outbox import Outbox
from core.reports import facts
from core.reports.board import deadline_states
from core.reports.tables import EarlyWarning, ReportFact, WarningSettings
from core.users import display_names
from core.tables import Department, Order

KINDS: dict[str, str] = {"overdue": "超期", "at_risk": "临期", "surge": "激增", "mass_incident": "群体性事件",
                         "repeat_caller": "重复来电"}
LISTED_ORDERS = 200  # order numbers kept on one warning


class Thresholds(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """预警阈值 (each with its meaning; an admin may change any of them)."""

    surge_ratio: Annotated[float, msgspec.Meta(ge=1.1, le=20, title="激增倍数：高于自身基线的倍数")] = 2.0
    surge_min_day: Annotated[int, msgspec.Meta(ge=1, le=100000, title="按日激增的最少件数")] = 10
    surge_min_hour: Annotated[int, msgspec.Meta(ge=1, le=100000, title="按小时激增的最少件数")] = 5
    baseline_days: Annotated[int, msgspec.Meta(ge=7, le=90, title="基线天数：与此前多少天的平均值比较")] = 28
    mass_min_orders: Annotated[int, msgspec.Meta(ge=2, le=1000, title="群体性事件：同一地点最少件数")] = 5
    mass_window_hours: Annotated[int, msgspec.Meta(ge=1, le=168, title="群体性事件：时间窗口（小时）")] = 24
    repeat_min_calls: Annotated[int, msgspec.Meta(ge=2, le=100, title="重复来电：同一号码同一事项最少来电次数")] = 3
    repeat_window_days: Annotated[int, msgspec.Meta(ge=1, le=90, title="重复来电：时间窗口（天）")] = 30


async def thresholds() -> Thresholds:
    row = await WarningSettings.select(WarningSettings.value).where(WarningSettings.name == "thresholds").output(
        load_json=True).first()
    return msgspec.convert(row["value"], Thresholds) if row else Thresholds()


async def set_thresholds(data: dict[str, Any], actor: Actor) -> Thresholds:
    from core.orders import convert

    merged = {**msgspec.to_builtins(await thresholds()), **data}
    value = convert(merged, Thresholds)
    now = clock.now()
    async with write_transaction(current_engine()):
        await WarningSettings.delete().where(WarningSettings.name == "thresholds")
        await WarningSettings.insert(WarningSettings(name="thresholds", value=msgspec.to_builtins(value),
                                                     updated_by=actor.name, updated_at=now))
    return value


class Finding(msgspec.Struct, kw_only=True):
    key: str
    kind: str
    title: str
    explanation: str
    facts: dict[str, Any] = {}
    orders: list[str] = []
    department: str | None = None
    level: str = "warning"


async def _numbers(ids: list[int]) -> list[str]:
    ids = ids[:LISTED_ORDERS]
    if not ids:
        return []
    rows = await Order.select(Order.number).where(Order.id.is_in(ids)).order_by(Order.id)
    return [r["number"] for r in rows]


async def _deadlines(platform, now: dt.datetime, known: set[str]) -> list[Finding]:
    states = await deadline_states(platform.calendar, now)
    names = {r["code"]: r["name"] for r in await Department.select(Department.code, Department.name)}
    day = now.astimezone(SHANGHAI).date().isoformat()
    found = []
    for department, state in states.items():
        name = names.get(department, "中心（未派单）") if department else "中心（未派单）"
        for kind, ids in (("overdue", state["overdue"]), ("at_risk", state["at_risk"])):
            key = f"{kind}:{department}:{day}"
            if not ids or key in known:
                continue
            why = ("已超过办理时限仍未办结" if kind == "overdue" else "已用去办理时限的 80% 以上工作时间（临期）")
            found.append(Finding(
                key=key, kind=kind, level="critical" if kind == "overdue" else "warning",
                title=f"{name}有 {len(ids)} 件工单{KINDS[kind]}",
                explanation=f"截至 {now.astimezone(SHANGHAI):%m月%d日 %H:%M}，{name}有 {len(ids)} 件在办工单{why}。",
                facts={"count": len(ids), "date": day}, orders=await _numbers(ids), department=department or None))
    return found


async def _surges(t: Thresholds, now: dt.datetime, known: set[str]) -> list[Finding]:
    """A category or area well above its own baseline, over the last hour and the last 24 hours.

    One surge is one warning: its key is the category or area and the local day, whichever window saw
    it first, so a surge that goes on is not warned again each hour, nor once per window; and calls that
    surge in one category and one street at once are one surge, not two (a surge at least half of whose
    orders another surge of the day already lists is that surge)."""
    stamp = int(now.timestamp())
    local = now.astimezone(SHANGHAI)
    day_key = local.strftime("%Y%m%d")
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    warned = [set(r["orders"] or []) for r in await EarlyWarning.select(EarlyWarning.orders).where(
        (EarlyWarning.kind == "surge") & (EarlyWarning.created_at >= day_start)).output(load_json=True)]
    found = []
    for window, seconds, minimum, label in (("hour", 3600, t.surge_min_hour, "近1小时"),
                                            ("day", 86400, t.surge_min_day, "近24小时")):
        since = stamp - seconds
        base_from = since - t.baseline_days * 86400
        for dimension, title in (("category", "问题分类"), ("area", "区域")):
            rows = await ReportFact.raw(
                f"SELECT {dimension} AS value, "
                f"SUM(CASE WHEN received >= {since} THEN 1 ELSE 0 END) AS now_count, "
                f"SUM(CASE WHEN received < {since} THEN 1 ELSE 0 END) AS base_count "
                f"FROM report_facts WHERE received >= {base_from} AND received < {stamp} AND {dimension} <> '' "
                f"GROUP BY {dimension}")
            for r in rows:
                count = r["now_count"] or 0
                key = f"surge:{dimension}:{r['value']}:{day_key}"
                if count < minimum or key in known or any(f.key == key for f in found):
                    continue
                if window == "hour":  # the same hour of day on the baseline days
                    baseline = await _same_hour_baseline(dimension, r["value"], since, t.baseline_days)
                else:
                    baseline = (r["base_count"] or 0) / t.baseline_days
                if count < t.surge_ratio * max(baseline, 0.5):
                    continue
                ids = [x["order_id"] for x in await ReportFact.raw(
                    f"SELECT order_id FROM report_facts WHERE {dimension} = {{}} AND received >= {since} "
                    f"AND received < {stamp} ORDER BY order_id LIMIT {LISTED_ORDERS}", r["value"])]
                numbers = await _numbers(ids)
                if _already_warned(numbers, warned + [set(f.orders) for f in found]):
                    continue
                found.append(Finding(
                    key=key, kind="surge",
                    title=f"{title}「{r['value']}」{label}受理量激增",
                    explanation=(f"{label}「{r['value']}」受理 {count} 件，基线为前 {t.baseline_days} 天"
                                 f"{'同一时段' if window == 'hour' else '日均'} {baseline:.1f} 件，"
                                 f"达到基线的 {count / max(baseline, 0.5):.1f} 倍（阈值：{t.surge_ratio} 倍且不少于 {minimum} 件）。"),
                    facts={"dimension": dimension, "value": r["value"], "window": window, "count": count,
                           "baseline": round(baseline, 2), "ratio": t.surge_ratio, "minimum": minimum},
                    orders=numbers))
    return found


def _already_warned(numbers: list[str], warned: list[set[str]]) -> bool:
    """Whether at least half of a surge's orders are those of one surge already warned."""
    listed = set(numbers)
    return bool(listed) and any(2 * len(listed & other) >= len(listed) for other in warned)


async def _same_hour_baseline(dimension: str, value: str, since: int, days: int) -> float:
    spans = " OR ".join(f"(received >= {since - d * 86400} AND received < {since - d * 86400 + 3600})"
                        for d in range(1, days + 1))
    rows = await ReportFact.raw(f"SELECT COUNT(*) AS n FROM report_facts WHERE {dimension} = {{}} AND ({spans})", value)
    return (rows[0]["n"] or 0) / days


async def _mass_incidents(t: Thresholds, now: dt.datetime) -> list[Finding]:
    """Many orders about one place within a short window, or orders a channel flagged as 群体性."""
    since = now - dt.timedelta(hours=t.mass_window_hours)
    rows = await Order.raw(
        "SELECT address, COUNT(*) AS n, MIN(id) AS first_id FROM orders WHERE received_at >= {} AND address <> '' "
        "AND status <> 'merged' GROUP BY address HAVING COUNT(*) >= {}", since, t.mass_min_orders)
    listed: dict[str, list[str]] = {}  # each place's first orders in the window, read at once (not per place)
    if rows:
        for order in await Order.raw(
                "SELECT number, address FROM (SELECT o.id, o.number, o.address, "
                "ROW_NUMBER() OVER (PARTITION BY o.address ORDER BY o.id) AS k FROM orders o "
                "JOIN (SELECT address FROM orders WHERE received_at >= {} AND address <> '' AND status <> 'merged' "
                "GROUP BY address HAVING COUNT(*) >= {}) g ON g.address = o.address WHERE o.received_at >= {}) w "
                f"WHERE k <= {LISTED_ORDERS} ORDER BY id", since, t.mass_min_orders, since):
            listed.setdefault(order["address"], []).append(order["number"])
    found = []
    for r in rows:
        found.append(Finding(
            key=f"mass:address:{r['address']}:{r['first_id']}", kind="mass_incident", level="critical",
            title=f"同一地点「{r['address']}」短时间内多人反映",
            explanation=(f"近 {t.mass_window_hours} 小时内关于「{r['address']}」的工单有 {r['n']} 件"
                         f"（阈值：{t.mass_min_orders} 件），可能是群体性事件。"),
            facts={"address": r["address"], "count": r["n"], "window_hours": t.mass_window_hours},
            orders=listed.get(r["address"], [])[:LISTED_ORDERS]))
    flagged = await Order.raw(  # flags is JSON: compared as text, the same on both backends
        "SELECT id, number, subject FROM orders WHERE received_at >= {} "
        "AND CAST(flags AS TEXT) LIKE '%\"mass_incident\"%'", since)
    for r in flagged:
        found.append(Finding(
            key=f"mass:flag:{r['number']}", kind="mass_incident", level="critical",
            title=f"工单 {r['number']} 被标记为群体性事件",
            explanation=f"受理时渠道规则判定「{r['subject']}」涉及人数众多，按群体性事件预警。",
            facts={"flag": "mass_incident"}, orders=[r["number"]], department=None))
    return found


async def _repeat_callers(t: Thresholds, now: dt.datetime) -> list[Finding]:
    """Phones that called about one matter (channel and category) ``repeat_min_calls`` times within
    the window: one read of those calls, grouped here (a query per caller took a minute at two
    million orders, where thousands of callers repeat), each matter's first calls only (a number
    dialling thousands of times must not fill the memory)."""
    since = now - dt.timedelta(days=t.repeat_window_days)
    calls = await Order.raw(
        "SELECT id, number, citizen_phone, channel, category, n FROM (SELECT o.id, o.number, o.citizen_phone, "
        "o.channel, o.category, ROW_NUMBER() OVER (PARTITION BY o.citizen_phone, o.channel, o.category "
        "ORDER BY o.id) AS k, COUNT(*) OVER (PARTITION BY o.citizen_phone, o.channel, o.category) AS n "
        "FROM orders o JOIN (SELECT citizen_phone, channel, category FROM orders WHERE received_at >= {} "
        "AND citizen_phone <> '' GROUP BY citizen_phone, channel, category HAVING COUNT(*) >= {}) g "
        "ON g.citizen_phone = o.citizen_phone AND g.channel = o.channel AND g.category = o.category "
        f"WHERE o.received_at >= {{}}) w WHERE k <= {LISTED_ORDERS} ORDER BY id", since, t.repeat_min_calls, since)
    matters: dict[tuple[str, str, str], list[dict]] = {}
    for call in calls:
        matters.setdefault((call["citizen_phone"], call["channel"], call["category"]), []).append(call)
    found = []
    for (phone, channel, category), group in matters.items():
        matter = category or "同一事项"
        count = group[0]["n"]
        found.append(Finding(
            key=f"repeat:{phone}:{channel}:{category}:{group[0]['id']}", kind="repeat_caller",
            title=f"来电人 {mask_phone(phone)} 就「{matter}」反复来电",
            explanation=(f"同一号码 {t.repeat_window_days} 天内就「{matter}」来电 {count} 次"
                         f"（阈值：{t.repeat_min_calls} 次），诉求可能未得到解决。"),
            facts={"phone": mask_phone(phone), "category": category, "count": count,
                   "window_days": t.repeat_window_days},
            orders=[c["number"] for c in group[:LISTED_ORDERS]]))
    return found


async def scan(platform, now: dt.datetime | None = None) -> list[dict]:
    """Look for warnings; store the new ones and notify supervisors through the outbox."""
    await facts.refresh()
    now = now or clock.now()
    t = await thresholds()
    recent = now - dt.timedelta(days=2)  # keys of deadline and surge warnings carry their day
    known = {r["key"] for r in await EarlyWarning.select(EarlyWarning.key).where(EarlyWarning.created_at >= recent)}
    findings = [*await _deadlines(platform, now, known), *await _surges(t, now, known),
                *await _mass_incidents(t, now), *await _repeat_callers(t, now)]
    if not findings:
        return []
    created = []
    async with write_transaction(current_engine()):
        keys = [f.key for f in findings]
        seen = set()
        for chunk in range(0, len(keys), 500):
            seen |= {r["key"] for r in await EarlyWarning.select(EarlyWarning.key).where(
                EarlyWarning.key.is_in(keys[chunk:chunk + 500]))}
        outbox = Outbox()
        for f in findings:
            if f.key in seen:
                continue
            seen.add(f.key)
            row = await EarlyWarning.insert(EarlyWarning(
                key=f.key, kind=f.kind, level=f.level, title=f.title, explanation=f.explanation, facts=f.facts,
                orders=f.orders, department=f.department, created_at=now)).returning(EarlyWarning.id)
            staff_notice(outbox, "role:supervisor", "warning", warning=row[0]["id"], kind=f.kind, title=f.title,
                         explanation=f.explanation)
            created.append({"id": row[0]["id"], "key": f.key})
        await outbox.write(now)
    if created:
        platform.orders.outbox_written()
    return created


def _present(row: dict) -> dict:
    out = {k: row[k] for k in ("id", "kind", "level", "title", "explanation", "facts", "orders", "department",
                               "acknowledged_by", "acknowledge_note")}
    out["kind_label"] = KINDS.get(row["kind"], row["kind"])
    out["created_at"] = row["created_at"].astimezone(SHANGHAI).isoformat()
    out["acknowledged_at"] = row["acknowledged_at"].astimezone(SHANGHAI).isoformat() if row["acknowledged_at"] else None
    return out


async def listing(*, kind: str | None = None, acknowledged: bool | None = None, department: str | None = None,
                  limit: int = 200) -> dict:
    query = EarlyWarning.select().output(load_json=True)
    if kind:
        query = query.where(EarlyWarning.kind == kind)
    if acknowledged is not None:
        query = query.where(EarlyWarning.acknowledged_at.is_not_null() if acknowledged
                            else EarlyWarning.acknowledged_at.is_null())
    if department:
        query = query.where(EarlyWarning.department == department)
    rows = await query.order_by(EarlyWarning.id, ascending=False).limit(limit)
    return {"items": [_present(r) for r in rows], "thresholds": msgspec.to_builtins(await thresholds()),
            "kinds": KINDS}


ACKNOWLEDGING_ROLES = frozenset({"supervisor", "admin"})


async def acknowledge(warning_id: int, actor: Actor, note: str) -> dict:
    """A supervisor (or admin) takes the warning on, saying what was done: the note is the record a
    director reads later, so an empty one is refused; agents and dispatchers see warnings only."""
    if actor.role not in ACKNOWLEDGING_ROLES:
        raise Forbidden("只有督办员或管理员可以确认预警")
    note = note.strip()
    if not note:
        raise InvalidInput([FieldError("note", "请写明处置意见（已采取或将采取的措施）")], "确认预警须填写处置意见")
    now = clock.now()
    async with write_transaction(current_engine()):
        row = await EarlyWarning.select().where(EarlyWarning.id == warning_id).output(load_json=True).first()
        if row is None:
            raise NotFound(f"预警 {warning_id} 不存在")
        if row["acknowledged_at"] is not None:
            who = row["acknowledged_by"]
            raise Conflict(f"该预警已由 {(await display_names()).get(who, who)} 确认")
        await EarlyWarning.update({EarlyWarning.acknowledged_by: actor.name, EarlyWarning.acknowledged_at: now,
                                   EarlyWarning.acknowledge_note: note}).where(EarlyWarning.id == warning_id)
        row.update(acknowledged_by=actor.name, acknowledged_at=now, acknowledge_note=note)
    return _present(row)
