"""Quality inspection (质检): an admin's checklist (items with points, 百分制) and sampling rule; samples
drawn from each agent's orders (a share of them, and every order rated badly or returned as
misrouted); an inspector (督办员 or 管理员) scores a sample item by item; the agent sees the score and
comments and may appeal once; an inspector rules on the appeal; a monthly report per team and agent."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Annotated, Any

import msgspec

from core import clock
from core.calendar import SHANGHAI
from core.db import write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.lifecycle import GOOD_SATISFACTION
from core.model import Actor
from core.people import audit, teams
from core.people.figures import FIRST_YEAR, LAST_YEAR
from core.tables import Order, OrderEvent, QaItem, QaRule, QaSample, Team, User

INSPECTORS = frozenset({"supervisor", "admin"})
DRAW_DAYS_LIMIT = 92
LIST_LIMIT = 200
REASONS = {"share": "按比例抽检", "bad_rating": "回访不满意或未解决", "returned": "退单（派错单位）"}
STATUSES = {"pending": "待评分", "scored": "已评分", "appealed": "申诉中", "final": "已定分"}
Text = Annotated[str, msgspec.Meta(max_length=2000)]


class Item(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]{0,31}$")]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    points: Annotated[int, msgspec.Meta(ge=1, le=100)]
    guidance: Annotated[str, msgspec.Meta(max_length=255)] = ""


DEFAULT_ITEMS = (
    Item(code="service_language", name="服务用语规范", points=20, guidance="开头语、结束语、礼貌用语，不推诿、不争执"),
    Item(code="record_complete", name="诉求记录完整准确", points=25, guidance="时间、地点、人物、事由、诉求完整，与来电一致"),
    Item(code="category_address", name="分类与地址正确", points=20, guidance="诉求类型、问题分类、所在区域与地址准确"),
    Item(code="dispatch_right", name="派单正确", points=20, guidance="承办单位正确，无因错派导致的退单"),
    Item(code="reply_manner", name="答复规范", points=15, guidance="即时办结或回访的答复口径准确、完整"),
)


class Checklist(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    items: Annotated[list[Item], msgspec.Meta(min_length=1, max_length=20)]


class Rule(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    share: Annotated[float, msgspec.Meta(ge=0.0, le=1.0, description="每位话务员工单的抽检比例")] = 0.05
    bad_ratings: bool = True
    returns: bool = True


class Draw(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    start: dt.date
    end: dt.date


class Score(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    deductions: dict[Annotated[str, msgspec.Meta(max_length=32)], Annotated[int, msgspec.Meta(ge=0, le=100)]]
    comment: Text = ""


class Appeal(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class Ruling(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The appeal upheld (with the corrected deductions) or rejected (the score stands)."""

    upheld: bool
    ruling: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    deductions: dict[Annotated[str, msgspec.Meta(max_length=32)], Annotated[int, msgspec.Meta(ge=0, le=100)]] | None = None


def _inspector(actor: Actor) -> None:
    if actor.role not in INSPECTORS:
        raise Forbidden("只有督办员或管理员可以质检")


async def checklist() -> tuple[Item, ...]:
    rows = await QaItem.select().where(QaItem.active == True).order_by(QaItem.sort)  # noqa: E712
    if not rows:
        return DEFAULT_ITEMS
    return tuple(Item(code=r["code"], name=r["name"], points=r["points"], guidance=r["guidance"]) for r in rows)


async def set_checklist(change: Checklist, actor: Actor) -> list[dict[str, Any]]:
    """Replace the checklist; its points add up to 100 (a sample's score is 100 less its deductions)."""
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改质检评分表")
    codes = [i.code for i in change.items]
    if len(set(codes)) != len(codes):
        raise InvalidInput([FieldError("items", "评分项代码不能重复")])
    if sum(i.points for i in change.items) != 100:
        raise InvalidInput([FieldError("items", f"各项分值合计须为 100（现为 {sum(i.points for i in change.items)}）")])
    async with write_transaction(QaItem._meta.db):
        await QaItem.delete(force=True)
        await QaItem.insert(*[QaItem(code=i.code, name=i.name, points=i.points, guidance=i.guidance, sort=n, active=True)
                              for n, i in enumerate(change.items)])
        await audit.record("qa", "qa_items", actor, items=[f"{i.name} {i.points}" for i in change.items])
    return [msgspec.to_builtins(i) for i in await checklist()]


async def rule() -> Rule:
    row = await QaRule.select().first()
    return Rule(share=row["share"], bad_ratings=row["bad_ratings"], returns=row["returns"]) if row else Rule()


async def set_rule(change: Rule, actor: Actor) -> dict[str, Any]:
    if actor.role != "admin":
        raise Forbidden("只有管理员可以修改抽检规则")
    async with write_transaction(QaRule._meta.db):
        await QaRule.delete(force=True)
        await QaRule.insert(QaRule(share=change.share, bad_ratings=change.bad_ratings, returns=change.returns,
                                   updated_by=actor.name, updated_at=clock.now()))
        await audit.record("qa", "qa_rule", actor, **msgspec.to_builtins(change))
    return msgspec.to_builtins(change)


def _pick(numbers: list[str], share: float) -> set[str]:
    """A fixed share of one agent's orders, chosen by a hash of the number: the same draw twice picks
    the same orders, and nobody can tell in advance which ones."""
    count = math.ceil(len(numbers) * share)
    return set(sorted(numbers, key=lambda n: hashlib.sha256(n.encode()).hexdigest())[:count])


async def draw(request: Draw, actor: Actor) -> dict[str, Any]:
    """Draw samples from the orders agents recorded in ``start``..``end``; an order already sampled stays."""
    _inspector(actor)
    for name in ("start", "end"):
        if not FIRST_YEAR <= getattr(request, name).year <= LAST_YEAR:
            raise InvalidInput([FieldError(name, f"日期应在 {FIRST_YEAR} 年到 {LAST_YEAR} 年之间")])
    if request.end < request.start:
        raise InvalidInput([FieldError("end", "结束日期不能早于开始日期")])
    if (request.end - request.start).days >= DRAW_DAYS_LIMIT:
        raise InvalidInput([FieldError("end", f"一次抽检的区间不超过 {DRAW_DAYS_LIMIT} 天")])
    since = dt.datetime.combine(request.start, dt.time(), SHANGHAI)
    until = dt.datetime.combine(request.end + dt.timedelta(days=1), dt.time(), SHANGHAI)
    current = await rule()
    intakes = await OrderEvent.select(OrderEvent.order_id, OrderEvent.actor).where(
        (OrderEvent.action == "intake") & (OrderEvent.role == "agent") & (OrderEvent.created_at >= since)
        & (OrderEvent.created_at < until))
    agent_of = {r["order_id"]: r["actor"] for r in intakes}
    orders: dict[int, dict] = {}
    ids = list(agent_of)
    for i in range(0, len(ids), 500):
        for r in await Order.select(Order.id, Order.number, Order.received_at, Order.rating).where(
                Order.id.is_in(ids[i:i + 500])).output(load_json=True):
            orders[r["id"]] = r
    returned: set[int] = set()
    if current.returns:
        for i in range(0, len(ids), 500):
            returned |= {r["order_id"] for r in await OrderEvent.select(OrderEvent.order_id).where(
                OrderEvent.order_id.is_in(ids[i:i + 500]) & (OrderEvent.action == "uphold_return"))}
    by_agent: dict[str, list[str]] = {}
    for order_id, agent in agent_of.items():
        if order_id in orders:
            by_agent.setdefault(agent, []).append(orders[order_id]["number"])
    picked = set().union(*(_pick(numbers, current.share) for numbers in by_agent.values())) if by_agent else set()
    already = set()
    for i in range(0, len(ids), 500):
        already |= {r["order_id"] for r in await QaSample.select(QaSample.order_id).where(QaSample.order_id.is_in(ids[i:i + 500]))}
    new = []
    for order_id, order in orders.items():
        if order_id in already:
            continue
        reason = ("returned" if order_id in returned else
                  "bad_rating" if current.bad_ratings and _rated_badly(order["rating"]) else
                  "share" if order["number"] in picked else None)
        if reason:
            new.append(QaSample(order_id=order_id, order_number=order["number"], agent=agent_of[order_id], reason=reason,
                                received_at=order["received_at"], drawn_at=clock.now(), status="pending"))
    async with write_transaction(QaSample._meta.db):
        for i in range(0, len(new), 500):
            await QaSample.insert(*new[i:i + 500])
        await audit.record("qa", "qa_drawn", actor, start=request.start.isoformat(), end=request.end.isoformat(),
                           drawn=len(new))
    counts = {k: sum(1 for s in new if s.reason == k) for k in REASONS}
    return {"drawn": len(new), "by_reason": [{"reason": k, "label": v, "count": counts[k]} for k, v in REASONS.items()],
            "rule": msgspec.to_builtins(current)}


def _rated_badly(rating: dict | None) -> bool:
    """A valid rating that is not 满意/基本满意 with the matter resolved (as ``lifecycle.rated_badly``)."""
    return bool(rating) and rating.get("valid", True) and not (
        rating.get("satisfaction") in GOOD_SATISFACTION and rating.get("resolved"))


async def _sample(sample_id: int) -> dict:
    row = await QaSample.select().where(QaSample.id == sample_id).output(load_json=True).first()
    if row is None:
        raise NotFound("质检样本不存在")
    return row


def _present(row: dict, items: tuple[Item, ...]) -> dict[str, Any]:
    names = {i.code: i for i in items}
    def when(v):
        return v.isoformat() if v else None
    return {"id": row["id"], "order": row["order_number"], "agent": row["agent"], "reason": row["reason"],
            "reason_label": REASONS.get(row["reason"], row["reason"]), "status": row["status"],
            "status_label": STATUSES.get(row["status"], row["status"]), "score": row["score"],
            "deductions": [{"item": code, "name": names[code].name if code in names else code, "points": pts}
                           for code, pts in (row["deductions"] or {}).items() if pts],
            "comment": row["comment"], "inspector": row["inspector"], "scored_at": when(row["scored_at"]),
            "appeal": row["appeal"], "appealed_at": when(row["appealed_at"]), "may_appeal": row["status"] == "scored",
            "ruling": row["ruling"], "ruled_by": row["ruled_by"], "ruled_at": when(row["ruled_at"]),
            "received_at": row["received_at"].isoformat()}


def _score(deductions: dict[str, int], items: tuple[Item, ...], key: str = "deductions") -> tuple[float, dict[str, int]]:
    points = {i.code: i.points for i in items}
    problems = [FieldError(f"{key}.{code}", "评分表中没有这一项") for code in deductions if code not in points]
    problems += [FieldError(f"{key}.{code}", f"扣分不能超过该项分值 {points[code]}")
                 for code, value in deductions.items() if code in points and value > points[code]]
    if problems:
        raise InvalidInput(problems)
    total = sum(points.values())
    kept = {code: value for code, value in deductions.items() if value}
    return round((total - sum(kept.values())) * 100 / total, 1), kept


async def score(sample_id: int, request: Score, actor: Actor) -> dict[str, Any]:
    _inspector(actor)
    row = await _sample(sample_id)
    if row["status"] not in ("pending", "scored"):
        raise Conflict(f"样本{STATUSES[row['status']]}，不能再评分")
    if row["agent"] == actor.name:
        raise Forbidden("不能为自己受理的工单评分")
    items = await checklist()
    value, kept = _score(request.deductions, items)
    async with write_transaction(QaSample._meta.db):
        await QaSample.update({QaSample.score: value, QaSample.deductions: kept, QaSample.comment: request.comment.strip(),
                               QaSample.inspector: actor.name, QaSample.scored_at: clock.now(),
                               QaSample.status: "scored"}).where(QaSample.id == sample_id)
        await audit.record(f"qa:{sample_id}", "qa_scored", actor, reason=request.comment.strip(), score=value,
                           deductions=kept, order=row["order_number"])
    return _present(await _sample(sample_id), items)


async def appeal(sample_id: int, request: Appeal, actor: Actor) -> dict[str, Any]:
    row = await _sample(sample_id)
    if row["agent"] != actor.name:
        raise Forbidden("只有被质检的话务员本人可以申诉")
    if row["status"] != "scored" or row["appealed_at"] is not None:
        raise Conflict("每个质检结果只能申诉一次，且须在评分之后")
    async with write_transaction(QaSample._meta.db):
        await QaSample.update({QaSample.appeal: request.reason.strip(), QaSample.appealed_at: clock.now(),
                               QaSample.status: "appealed"}).where(QaSample.id == sample_id)
        await audit.record(f"qa:{sample_id}", "qa_appealed", actor, reason=request.reason.strip())
    return _present(await _sample(sample_id), await checklist())


async def rule_appeal(sample_id: int, request: Ruling, actor: Actor) -> dict[str, Any]:
    _inspector(actor)
    row = await _sample(sample_id)
    if row["status"] != "appealed":
        raise Conflict("该样本没有待裁定的申诉")
    items = await checklist()
    changes: dict = {QaSample.ruling: request.ruling.strip(), QaSample.ruled_by: actor.name,
                     QaSample.ruled_at: clock.now(), QaSample.status: "final"}
    if request.upheld:
        if request.deductions is None:
            raise InvalidInput([FieldError("deductions", "申诉成立时须给出更正后的扣分")])
        value, kept = _score(request.deductions, items)
        changes |= {QaSample.score: value, QaSample.deductions: kept}
    async with write_transaction(QaSample._meta.db):
        await QaSample.update(changes).where(QaSample.id == sample_id)
        await audit.record(f"qa:{sample_id}", "qa_ruled", actor, reason=request.ruling.strip(), upheld=request.upheld,
                           before=row["score"])
    return _present(await _sample(sample_id), items)


async def samples(actor: Actor, *, agent: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Inspectors see every sample; anyone else (an agent) their own only."""
    query = QaSample.select().order_by(QaSample.id, ascending=False).limit(LIST_LIMIT).output(load_json=True)
    if actor.role not in INSPECTORS:
        agent = actor.name
    if agent:
        query = query.where(QaSample.agent == agent)
    if status:
        query = query.where(QaSample.status == status)
    items = await checklist()
    return [_present(r, items) for r in await query]


async def show(sample_id: int, actor: Actor) -> dict[str, Any]:
    row = await _sample(sample_id)
    if actor.role not in INSPECTORS and row["agent"] != actor.name:
        raise NotFound("质检样本不存在")
    return {**_present(row, await checklist()), "history": await audit.history(f"qa:{sample_id}", 20)}


async def monthly(month: str, actor: Actor) -> dict[str, Any]:
    """The month's 质检 (orders received in it): per team and per agent, the samples, the scored ones,
    the average score and the points lost on each item."""
    if actor.role not in INSPECTORS and not await teams.leader_of(actor.name):
        raise Forbidden("只有督办员、管理员或班组长可以查看质检报表")
    year, number = int(month[:4]), int(month[5:])
    first = dt.date(year, number, 1)
    following = dt.date(year + number // 12, number % 12 + 1, 1)
    since, until = (dt.datetime.combine(d, dt.time(), SHANGHAI) for d in (first, following))
    rows = await QaSample.select().where((QaSample.received_at >= since) & (QaSample.received_at < until)).output(
        load_json=True)
    items = await checklist()
    team_of = await teams.team_of(sorted({r["agent"] for r in rows}))
    team_names = {r["id"]: r["name"] for r in await Team.select(Team.id, Team.name)}
    names = {r["username"]: r["display_name"] or r["username"] for r in await User.select(User.username, User.display_name)}

    def summary(group: list[dict]) -> dict[str, Any]:
        scored = [r for r in group if r["score"] is not None]
        lost = {i.code: sum((r["deductions"] or {}).get(i.code, 0) for r in scored) for i in items}
        return {"samples": len(group), "scored": len(scored),
                "score_avg": round(sum(r["score"] for r in scored) / len(scored), 1) if scored else None,
                "appeals": sum(1 for r in group if r["appealed_at"] is not None),
                "points_lost": [{"item": i.code, "name": i.name, "points": lost[i.code]} for i in items]}

    agents: dict[str, list[dict]] = {}
    for r in rows:
        agents.setdefault(r["agent"], []).append(r)
    by_team: dict[int | None, list[dict]] = {}
    for agent, group in agents.items():
        by_team.setdefault(team_of.get(agent), []).extend(group)
    return {"month": month, "checklist": [msgspec.to_builtins(i) for i in items], "total": summary(rows),
            "teams": [{"team": team_names.get(t, "未分组") if t else "未分组", **summary(g)} for t, g in by_team.items()],
            "agents": [{"username": a, "name": names.get(a, a),
                        "team": team_names.get(team_of.get(a)) if team_of.get(a) else "未分组", **summary(g)}
                       for a, g in sorted(agents.items())]}
