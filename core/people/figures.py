"""Per-agent figures (个人绩效) over a period, and the same summed for a team.

Each figure is a cohort figure over the orders the agent recorded in the period (受理量, 即时办结率,
派单准确率), the callbacks they made in it, and the 质检 samples of their orders received in it. Talk
time comes from the intake's recorded call length (``call_seconds``, the call log's figure once
telephony is connected); handling time is from the call's start (the order's ``received_at``) to the
recorded intake, and wrap-up is handling minus talk where both are known."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from core.calendar import SHANGHAI
from core.errors import FieldError, Forbidden, InvalidInput, NotFound
from core.callbacks import OUTCOMES
from core.lifecycle import GOOD_SATISFACTION, SATISFACTION
from core.model import Actor
from core.people import teams
from core.tables import Order, OrderEvent, QaSample, Team, User

MAX_DAYS = 366
FIRST_YEAR, LAST_YEAR = 2000, 2100  # the dates a period may name (an instant before year 1 cannot be stored)
ROWS_LIMIT = 50_000  # intake events read per person and period
CHUNK = 500
HANDLING_CAP = 3600.0  # a longer gap between the call and its record is a late entry, not handling time


def period(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """``start``..``end`` inclusive (defaults: this month so far); at most a year."""
    problems = []
    def day(value: str | None, name: str, default: dt.date) -> dt.date:
        if not value:
            return default
        try:
            parsed = dt.date.fromisoformat(value)
        except ValueError:
            problems.append(FieldError(name, "日期格式应为 YYYY-MM-DD", "query"))
            return default
        if not FIRST_YEAR <= parsed.year <= LAST_YEAR:
            problems.append(FieldError(name, f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间", "query"))
            return default
        return parsed
    first = day(start, "start", today.replace(day=1))
    last = day(end, "end", today)
    if not problems and last < first:
        problems.append(FieldError("end", "结束日期不能早于开始日期", "query"))
    elif not problems and (last - first).days >= MAX_DAYS:
        problems.append(FieldError("end", f"统计区间不超过 {MAX_DAYS} 天", "query"))
    if problems:
        raise InvalidInput(problems, "查询参数有误")
    return first, last


def _bounds(first: dt.date, last: dt.date) -> tuple[dt.datetime, dt.datetime]:
    return (dt.datetime.combine(first, dt.time(), SHANGHAI),
            dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), SHANGHAI))


async def may_see(actor: Actor, username: str) -> bool:
    """An agent sees their own figures; supervisors, admins and team leaders see everyone's."""
    if actor.kind != "user":
        return False
    return actor.name == username or actor.role in ("supervisor", "admin") or bool(await teams.leader_of(actor.name))


async def _raw(username: str, since: dt.datetime, until: dt.datetime) -> dict[str, Any]:
    intakes = await (OrderEvent.select(OrderEvent.order_id, OrderEvent.created_at, OrderEvent.payload)
                     .where((OrderEvent.action == "intake") & (OrderEvent.actor == username)
                            & (OrderEvent.created_at >= since) & (OrderEvent.created_at < until))
                     .limit(ROWS_LIMIT).output(load_json=True))
    ids = [r["order_id"] for r in intakes]
    later: dict[str, set[int]] = {"resolve_at_intake": set(), "dispatch": set(), "uphold_return": set(), "redispatch": set()}
    received: dict[int, dt.datetime] = {}
    for i in range(0, len(ids), CHUNK):
        chunk = ids[i:i + CHUNK]
        for r in await OrderEvent.select(OrderEvent.order_id, OrderEvent.action).where(
                OrderEvent.order_id.is_in(chunk) & OrderEvent.action.is_in(list(later))):
            later[r["action"]].add(r["order_id"])
        for r in await Order.select(Order.id, Order.received_at).where(Order.id.is_in(chunk)):
            received[r["id"]] = r["received_at"]
    talk, handling, wrap = [], [], []
    phone = 0
    for r in intakes:
        payload = r["payload"] or {}
        if payload.get("source") != "phone":
            continue
        phone += 1
        seconds = payload.get("call_seconds")
        if isinstance(seconds, (int, float)) and seconds >= 0:
            talk.append(float(seconds))
        start = received.get(r["order_id"])
        if start is not None:
            span = (r["created_at"] - start).total_seconds()
            if 0 < span <= HANDLING_CAP:
                handling.append(span)
                if isinstance(seconds, (int, float)) and span >= seconds:
                    wrap.append(span - seconds)
    callbacks = await (OrderEvent.select(OrderEvent.action, OrderEvent.payload)
                       .where(OrderEvent.action.is_in(["callback", "callback_attempt"]) & (OrderEvent.actor == username)
                              & (OrderEvent.created_at >= since) & (OrderEvent.created_at < until))
                       .limit(ROWS_LIMIT).output(load_json=True))
    ratings, attempts = Counter(), Counter()
    resolved = 0
    for r in callbacks:
        payload = r["payload"] or {}
        if r["action"] == "callback":
            ratings[payload.get("satisfaction", "")] += 1
            resolved += bool(payload.get("resolved"))
        else:
            attempts[payload.get("outcome", "")] += 1
    samples = await QaSample.select(QaSample.score).where(
        (QaSample.agent == username) & (QaSample.received_at >= since) & (QaSample.received_at < until)
        & QaSample.score.is_not_null())
    dispatched = later["dispatch"] | later["redispatch"]
    misrouted = (later["uphold_return"] | later["redispatch"]) & dispatched
    return {"recorded": len(ids), "phone": phone, "resolved": len(later["resolve_at_intake"]),
            "dispatched": len(dispatched), "misrouted": len(misrouted), "talk": talk, "handling": handling,
            "wrap": wrap, "ratings": ratings, "rated_resolved": resolved, "attempts": attempts,
            "scores": [r["score"] for r in samples], "truncated": len(ids) >= ROWS_LIMIT}


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _present(raw: dict[str, Any]) -> dict[str, Any]:
    rated = sum(raw["ratings"].values())
    good = sum(n for k, n in raw["ratings"].items() if k in GOOD_SATISFACTION)
    return {
        "calls_answered": raw["phone"],
        "calls_source": "电话受理记录（话务系统接入前）",
        "orders_recorded": raw["recorded"],
        "resolved_at_intake": raw["resolved"],
        "resolved_at_intake_rate": _rate(raw["resolved"], raw["recorded"]),
        "dispatched": raw["dispatched"],
        "misrouted": raw["misrouted"],
        "dispatch_accuracy": _rate(raw["dispatched"] - raw["misrouted"], raw["dispatched"]),
        "talk_seconds_avg": _mean(raw["talk"]),
        "handling_seconds_avg": _mean(raw["handling"]),
        "wrap_up_seconds_avg": _mean(raw["wrap"]),
        "callbacks": {"rated": rated, "satisfied_rate": _rate(good, rated),
                      "resolved_rate": _rate(raw["rated_resolved"], rated),
                      "by_satisfaction": [{"satisfaction": k, "label": SATISFACTION[k], "count": raw["ratings"].get(k, 0)}
                                          for k in SATISFACTION],
                      "not_reached": [{"outcome": k, "label": OUTCOMES[k], "count": raw["attempts"].get(k, 0)}
                                      for k in OUTCOMES]},
        "quality": {"inspected": len(raw["scores"]), "score_avg": _mean(raw["scores"])},
        "truncated": raw["truncated"],
    }


DEFINITIONS = {
    "calls_answered": "接听量：本人受理的来源为电话的工单数（话务系统接入后取通话记录）",
    "orders_recorded": "受理量：本人在期间内受理登记的工单数",
    "resolved_at_intake_rate": "即时办结率：本人受理的工单中即时办结的比例",
    "dispatch_accuracy": "派单准确率：本人受理并已派单的工单中，未被同意退单也未被改派的比例",
    "talk_seconds_avg": "平均通话时长：受理记录中登记的通话秒数的平均值",
    "handling_seconds_avg": "平均处理时长：来电时间到受理登记完成的平均秒数（不超过 1 小时的记录）",
    "wrap_up_seconds_avg": "平均话后处理时长：处理时长减去通话时长",
    "callbacks": "回访：本人在期间内完成的回访的满意度与解决情况，及未回访成功的次数",
    "quality": "质检：本人受理、期间内收到的工单中已评分样本的平均得分（百分制）",
}


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"recorded": 0, "phone": 0, "resolved": 0, "dispatched": 0, "misrouted": 0, "talk": [],
                             "handling": [], "wrap": [], "ratings": Counter(), "rated_resolved": 0,
                             "attempts": Counter(), "scores": [], "truncated": False}
    for raw in parts:
        for key, value in raw.items():
            if key == "truncated":
                total[key] = total[key] or value
            else:
                total[key] = total[key] + value
    return total


async def of_agent(username: str, first: dt.date, last: dt.date, actor: Actor) -> dict[str, Any]:
    user = await User.select(User.username, User.display_name, User.role).where(User.username == username).first()
    if not await may_see(actor, username):
        raise Forbidden("只能查看本人的绩效（督办员、管理员和班组长可查看所有人）")
    if user is None:
        raise NotFound(f"用户 {username} 不存在")
    since, until = _bounds(first, last)
    figures = _present(await _raw(username, since, until))
    team = (await teams.team_of([username])).get(username)
    team_row = await Team.select(Team.name).where(Team.id == team).first() if team else None
    return {"username": username, "name": user["display_name"] or username, "team": team_row["name"] if team_row else None,
            "start": first.isoformat(), "end": last.isoformat(), "figures": figures, "definitions": DEFINITIONS}


async def of_team(team_id: int, first: dt.date, last: dt.date, actor: Actor) -> dict[str, Any]:
    if actor.role not in ("supervisor", "admin") and team_id not in await teams.leader_of(actor.name):
        raise Forbidden("只有督办员、管理员或本班组长可以查看班组绩效")
    team = next((t for t in await teams.listing() if t["id"] == team_id), None)
    if team is None:
        raise NotFound("班组不存在")
    since, until = _bounds(first, last)
    members = []
    raws = []
    for member in team["members"]:
        raw = await _raw(member["username"], since, until)
        raws.append(raw)
        members.append({"username": member["username"], "name": member["name"], "figures": _present(raw)})
    return {"team": {"id": team["id"], "name": team["name"], "leader": team["leader"]},
            "start": first.isoformat(), "end": last.isoformat(), "figures": _present(_merge(raws)),
            "members": members, "definitions": DEFINITIONS}


# -- the periodic reports' 话务人员绩效 section ----------------------------------------------------------

NO_TEAM = "（未分组）"
NO_NAME = "（未登记姓名）"
# The columns of the section, in the order the HTML table and the workbook sheet both show them:
# (label, how the value is read from one person's or team's figures, "count" | "rate" | "seconds" | "score").
REPORT_COLUMNS: tuple[tuple[str, Any, str], ...] = (
    ("接听量", lambda f: f["calls_answered"], "count"),
    ("平均通话时长（秒）", lambda f: f["talk_seconds_avg"], "seconds"),
    ("平均话后处理时长（秒）", lambda f: f["wrap_up_seconds_avg"], "seconds"),
    ("受理量", lambda f: f["orders_recorded"], "count"),
    ("即时办结率", lambda f: f["resolved_at_intake_rate"], "rate"),
    ("已派单", lambda f: f["dispatched"], "count"),
    ("派错退回或改派", lambda f: f["misrouted"], "count"),
    ("派单准确率", lambda f: f["dispatch_accuracy"], "rate"),
    ("回访评价数", lambda f: f["callbacks"]["rated"], "count"),
    ("回访满意率", lambda f: f["callbacks"]["satisfied_rate"], "rate"),
    ("回访解决率", lambda f: f["callbacks"]["resolved_rate"], "rate"),
    ("回访未成功次数", lambda f: sum(n["count"] for n in f["callbacks"]["not_reached"]), "count"),
    ("质检样本（已评分）", lambda f: f["quality"]["inspected"], "count"),
    ("质检平均分", lambda f: f["quality"]["score_avg"], "score"),
)


def report_row(kind: str, team: str, name: str, shown: dict[str, Any]) -> dict[str, Any]:
    return {"kind": kind, "team": team, "name": name, "values": [read(shown) for _, read, _ in REPORT_COLUMNS]}


async def report_section(first: dt.date, last: dt.date) -> dict[str, Any]:
    """Per team (the members' sum) and per agent, the figures of ``of_agent`` over a report's period,
    as rows with the people's display names: every agent account, in a team or not, and anyone else
    who recorded orders or made callbacks in the period."""
    since, until = _bounds(first, last)
    users = {r["username"]: r for r in await User.select(User.username, User.display_name, User.role, User.active)}
    listed = await teams.listing()
    placed = {m["username"] for t in listed for m in t["members"]}
    active = {r["actor"] for r in await OrderEvent.select(OrderEvent.actor).where(
        OrderEvent.action.is_in(["intake", "callback", "callback_attempt"])
        & (OrderEvent.created_at >= since) & (OrderEvent.created_at < until)).distinct()}
    loose = sorted(n for n in users if n not in placed and (
        (users[n]["role"] == "agent" and users[n]["active"]) or (n in active and users[n]["role"] in ("agent", "supervisor"))))
    groups = [(t["name"], [m["username"] for m in t["members"]]) for t in listed]
    if loose:
        groups.append((NO_TEAM, loose))
    rows = []
    for team_name, members in groups:
        raws = [(n, await _raw(n, since, until)) for n in members]
        rows.append(report_row("team", team_name, f"{team_name}合计", _present(_merge([r for _, r in raws]))))
        for username, raw in raws:
            rows.append(report_row("agent", team_name, (users.get(username) or {}).get("display_name") or NO_NAME,
                                   _present(raw)))
    return {"start": first.isoformat(), "end": last.isoformat(),
            "columns": [{"label": label, "kind": kind} for label, _, kind in REPORT_COLUMNS], "rows": rows,
            "definition": "按话务员本人受理、回访的工单统计，与个人绩效页同一口径；班组行为其成员的合计。",
            "definitions": list(DEFINITIONS.values())}
