"""The knowledge base (知识库): answers departments write and the centre reviews.

An article belongs to a department. The department submits a version (question, answer, channel,
category, tags, validity, attachments); the centre approves it, which publishes it, or sends it back
with a reason. Agents only ever see the published version, and only while it is valid; an order
resolved at intake may cite it, which counts its use. Before a published answer lapses its department
is reminded through the outbox. Every change writes an event in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

import msgspec

from core import clock
from core.calendar import SHANGHAI
from core.db import read_transaction, write_transaction
from core.errors import Conflict, FieldError, Forbidden, InvalidInput, NotFound
from core.model import Actor
from core.notices import staff_notice
from core.outbox import Outbox
from core.search import KNOWLEDGE_INDEX, department_token, parse_query, tokens
from core.tables import Department, KnowledgeArticle, KnowledgeCitation, KnowledgeEvent, KnowledgeVersion

REVIEWERS = frozenset({"supervisor", "admin"})
AUTHORS = frozenset({"handler", "supervisor", "admin"})
READERS = frozenset({"agent", "dispatcher", "supervisor", "admin", "handler"})
REMIND_DAYS = 14
STATES = {"pending": "待审核", "approved": "已发布", "returned": "已退回", "superseded": "已被新版本取代"}

Text = Annotated[str, msgspec.Meta(min_length=1, max_length=20000)]


class ArticleIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A version as a department writes it (a new article, or a revision of one)."""

    question: Annotated[str, msgspec.Meta(min_length=2, max_length=500)]
    answer: Text
    department: Annotated[str, msgspec.Meta(max_length=64)] | None = None  # the centre writes for one
    channel: Annotated[str, msgspec.Meta(max_length=64)] = ""
    category: Annotated[str, msgspec.Meta(max_length=128)] = ""
    tags: Annotated[list[Annotated[str, msgspec.Meta(min_length=1, max_length=32)]], msgspec.Meta(max_length=20)] = []
    public: bool = False
    valid_from: dt.date | None = None
    valid_until: dt.date | None = None
    attachments: Annotated[list[Annotated[str, msgspec.Meta(max_length=128)]], msgspec.Meta(max_length=20)] = []
    note: Annotated[str, msgspec.Meta(max_length=500)] = ""


class Review(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    decision: Literal["approve", "return"]
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


def _today() -> dt.date:
    return clock.today()


def _version_out(v: dict) -> dict:
    return {"number": v["number"], "question": v["question"], "answer": v["answer"], "channel": v["channel"],
            "category": v["category"], "tags": v["tags"], "public": v["public"],
            "valid_from": v["valid_from"].isoformat() if v["valid_from"] else None,
            "valid_until": v["valid_until"].isoformat() if v["valid_until"] else None,
            "attachments": v["attachments"], "note": v["note"], "status": v["status"],
            "status_label": STATES.get(v["status"], v["status"]), "submitted_by": v["submitted_by"],
            "submitted_at": v["submitted_at"].isoformat(), "reviewed_by": v["reviewed_by"],
            "reviewed_at": v["reviewed_at"].isoformat() if v["reviewed_at"] else None,
            "review_reason": v["review_reason"]}


def in_force(version: dict, today: dt.date) -> bool:
    return ((version["valid_from"] is None or version["valid_from"] <= today)
            and (version["valid_until"] is None or today <= version["valid_until"]))


async def cite(article_id: int, order_number: str, actor: Actor, now: dt.datetime) -> None:
    """Record that an order was answered with this article's published version, and count it."""
    article = await KnowledgeArticle.select().where(KnowledgeArticle.id == article_id).first()
    if article is None or article["published_version"] is None:
        raise InvalidInput([FieldError("article", "引用的知识不存在或未发布")])
    version = await KnowledgeVersion.select().where(
        (KnowledgeVersion.article_id == article_id)
        & (KnowledgeVersion.number == article["published_version"])).first()
    if not in_force(version, now.astimezone(SHANGHAI).date()):
        raise InvalidInput([FieldError("article", "引用的知识不在有效期内")])
    await KnowledgeCitation.insert(KnowledgeCitation(article_id=article_id,
                                                     version_number=article["published_version"],
                                                     order_number=order_number, actor=actor.name,
                                                     created_at=now))
    await KnowledgeArticle.update({KnowledgeArticle.usage_count: KnowledgeArticle.usage_count + 1}).where(
        KnowledgeArticle.id == article_id)


def _date_arg(engine, day: dt.date):
    """A date as a raw query argument: ISO text on SQLite (how dates are stored there), a date on PostgreSQL."""
    from piccolo.engine.sqlite import SQLiteEngine

    return day.isoformat() if isinstance(engine, SQLiteEngine) else day


def _in_force_clause(engine, today: dt.date, public: bool = False):
    """Published, in force today (and public): the only articles agents and the FAQ page read."""
    from piccolo.columns.combination import WhereRaw

    return WhereRaw(
        "EXISTS (SELECT 1 FROM knowledge_versions v WHERE v.article_id = knowledge_articles.id "
        "AND v.number = knowledge_articles.published_version "
        "AND (v.valid_from IS NULL OR v.valid_from <= {}) AND (v.valid_until IS NULL OR v.valid_until >= {})"
        + (" AND v.public" if public else "") + ")", _date_arg(engine, today), _date_arg(engine, today))


class KnowledgeBase:
    def __init__(self, engine, sealed, channels):
        self.engine = engine
        self.sealed = sealed
        self.channels = channels
        self.outbox_written = lambda: None

    # -- writing ------------------------------------------------------------------------------------

    async def _check(self, data: ArticleIn, actor: Actor, department: str | None) -> str:
        if actor.role not in AUTHORS:
            raise Forbidden("只有承办单位和中心管理人员可以编写知识")
        errors = []
        if actor.role == "handler":
            department = actor.department
            if data.department not in (None, actor.department):
                errors.append(FieldError("department", "只能为本单位编写知识"))
        else:
            department = department or data.department
            if not department:
                errors.append(FieldError("department", "请选择负责该知识的单位"))
            elif not await Department.exists().where(Department.code == department):
                errors.append(FieldError("department", f"单位 {department} 不存在"))
        if data.channel and data.channel not in self.channels:
            errors.append(FieldError("channel", f"渠道 {data.channel} 不存在"))
        if data.valid_from and data.valid_until and data.valid_until < data.valid_from:
            errors.append(FieldError("valid_until", "失效日期不能早于生效日期"))
        if errors:
            raise InvalidInput(errors)
        return department

    async def _event(self, article_id: int, action: str, actor: Actor, number: int | None, reason: str,
                     now: dt.datetime) -> None:
        await KnowledgeEvent.insert(KnowledgeEvent(article_id=article_id, action=action, actor=actor.name,
                                                   role=actor.role, department=actor.department,
                                                   version_number=number, reason=reason, created_at=now))

    async def _add_version(self, article_id: int, number: int, data: ArticleIn, actor: Actor,
                           now: dt.datetime) -> None:
        fields = msgspec.structs.asdict(data)
        fields.pop("department")
        await KnowledgeVersion.insert(KnowledgeVersion(article_id=article_id, number=number, status="pending",
                                                       submitted_by=actor.name, submitted_at=now, **fields))

    async def submit(self, data: ArticleIn, actor: Actor) -> dict:
        """A new article, its first version waiting for the centre's review."""
        department = await self._check(data, actor, None)
        now = clock.now()
        async with write_transaction(self.engine):
            rows = await KnowledgeArticle.insert(KnowledgeArticle(
                department=department, pending_version=1, latest_version=1, created_by=actor.name,
                created_at=now, updated_at=now)).returning(KnowledgeArticle.id)
            article_id = rows[0]["id"]
            await self._add_version(article_id, 1, data, actor, now)
            await self._event(article_id, "submit", actor, 1, data.note, now)
        return await self.get(article_id, actor)

    async def revise(self, article_id: int, data: ArticleIn, actor: Actor) -> dict:
        """A new version of an article; the published one stays in use until the centre approves it."""
        now = clock.now()
        async with write_transaction(self.engine):
            article = await self._load(article_id, actor)
            await self._check(data, actor, article["department"])
            if article["pending_version"] is not None:
                raise Conflict(f"第 {article['pending_version']} 版仍在审核中，审核后才能再修改")
            number = article["latest_version"] + 1
            changed = await KnowledgeArticle.update({
                KnowledgeArticle.pending_version: number, KnowledgeArticle.latest_version: number,
                KnowledgeArticle.updated_at: now, KnowledgeArticle.version: article["version"] + 1,
            }).where((KnowledgeArticle.id == article_id) & (KnowledgeArticle.version == article["version"])).returning(
                KnowledgeArticle.id)
            if not changed:
                raise Conflict("该知识已被他人修改，请刷新后重试")
            await self._add_version(article_id, number, data, actor, now)
            await self._event(article_id, "revise", actor, number, data.note, now)
        return await self.get(article_id, actor)

    async def review(self, article_id: int, review: Review, actor: Actor) -> dict:
        """The centre approves the pending version (publishing it) or sends it back with a reason."""
        if actor.role not in REVIEWERS:
            raise Forbidden("只有中心督办员或管理员可以审核知识")
        if review.decision == "return" and not review.reason.strip():
            raise InvalidInput([FieldError("reason", "退回时请写明原因")])
        now = clock.now()
        async with write_transaction(self.engine):
            article = await self._load(article_id, actor)
            number = article["pending_version"]
            if number is None:
                raise Conflict("该知识没有待审核的版本")
            changes = {KnowledgeArticle.pending_version: None, KnowledgeArticle.updated_at: now,
                       KnowledgeArticle.version: article["version"] + 1}
            if review.decision == "approve":
                changes[KnowledgeArticle.published_version] = number
                changes[KnowledgeArticle.reminded_until] = None
            changed = await KnowledgeArticle.update(changes).where(
                (KnowledgeArticle.id == article_id) & (KnowledgeArticle.version == article["version"])).returning(
                KnowledgeArticle.id)
            if not changed:
                raise Conflict("该知识已被他人审核，请刷新后重试")
            this = (KnowledgeVersion.article_id == article_id) & (KnowledgeVersion.number == number)
            if review.decision == "approve":
                await KnowledgeVersion.update({KnowledgeVersion.status: "superseded"}).where(
                    (KnowledgeVersion.article_id == article_id) & (KnowledgeVersion.status == "approved"))
            await KnowledgeVersion.update({
                KnowledgeVersion.status: "approved" if review.decision == "approve" else "returned",
                KnowledgeVersion.reviewed_by: actor.name, KnowledgeVersion.reviewed_at: now,
                KnowledgeVersion.review_reason: review.reason.strip()}).where(this)
            await self._event(article_id, review.decision, actor, number, review.reason.strip(), now)
            if review.decision == "approve":
                version = await KnowledgeVersion.select().where(this).output(load_json=True).first()
                await KNOWLEDGE_INDEX.put(self.engine, article_id, self._words(article["department"], version))
        return await self.get(article_id, actor)

    def _words(self, department: str, version: dict) -> list[str]:
        text = "\n".join([version["question"], version["answer"], version["category"], " ".join(version["tags"])])
        return tokens(text) + [department_token(department)]

    # -- expiry reminders ---------------------------------------------------------------------------

    async def remind_expiring(self, today: dt.date | None = None) -> int:
        """Write one outbox reminder per published article lapsing within ``REMIND_DAYS``, once per
        expiry date; returns how many were written."""
        today = today or _today()
        horizon = today + dt.timedelta(days=REMIND_DAYS)
        now = clock.now()
        sent = 0
        from core.model import SYSTEM

        async with write_transaction(self.engine):
            rows = await KnowledgeArticle.raw(
                "SELECT a.id, a.department, a.version, v.number, v.question, v.valid_until "
                "FROM knowledge_articles a JOIN knowledge_versions v "
                "ON v.article_id = a.id AND v.number = a.published_version "
                "WHERE v.valid_until IS NOT NULL AND v.valid_until >= {} AND v.valid_until <= {} "
                "AND (a.reminded_until IS NULL OR a.reminded_until <> v.valid_until)",
                _date_arg(self.engine, today), _date_arg(self.engine, horizon))
            for row in rows:
                until = row["valid_until"]
                until = until if isinstance(until, dt.date) else dt.date.fromisoformat(str(until))
                outbox = Outbox()
                staff_notice(outbox, f"department:{row['department']}", "knowledge_expiring", article=row["id"],
                             department=row["department"], question=row["question"], valid_until=until.isoformat())
                await outbox.write(now)
                await KnowledgeArticle.update({KnowledgeArticle.reminded_until: until}).where(
                    KnowledgeArticle.id == row["id"])
                await self._event(row["id"], "remind_expiry", SYSTEM, row["number"],
                                  f"将于 {until.isoformat()} 失效", now)
                sent += 1
        if sent:
            self.outbox_written()
        return sent

    # -- reading ------------------------------------------------------------------------------------

    async def _load(self, article_id: int, actor: Actor) -> dict:
        article = await KnowledgeArticle.select().where(KnowledgeArticle.id == article_id).first()
        if article is None or (actor.role == "handler" and article["department"] != actor.department
                               and article["published_version"] is None):
            raise NotFound(f"知识 {article_id} 不存在")
        return article

    def _may_see_drafts(self, article: dict, actor: Actor) -> bool:
        return actor.role != "handler" or article["department"] == actor.department

    async def get(self, article_id: int, actor: Actor) -> dict:
        """The article: its published version for everyone who may read; the history of versions and
        events for its department and the centre."""
        if actor.role not in READERS:
            raise Forbidden("无权查看知识库")
        async with read_transaction(self.engine):
            article = await self._load(article_id, actor)
            versions = await KnowledgeVersion.select().where(KnowledgeVersion.article_id == article_id).order_by(
                KnowledgeVersion.number).output(load_json=True)
            events = await KnowledgeEvent.select().where(KnowledgeEvent.article_id == article_id).order_by(
                KnowledgeEvent.id)
        return self._out(article, versions, events if self._may_see_drafts(article, actor) else None, actor)

    def _out(self, article: dict, versions: list[dict], events: list[dict] | None, actor: Actor) -> dict:
        by_number = {v["number"]: v for v in versions}
        published = by_number.get(article["published_version"])
        out = {"id": article["id"], "department": article["department"],
               "published_version": article["published_version"], "pending_version": article["pending_version"],
               "usage_count": article["usage_count"],
               "in_force": bool(published) and in_force(published, _today()),
               "published": _version_out(published) if published else None,
               "updated_at": article["updated_at"].isoformat()}
        if events is not None:
            out["versions"] = [_version_out(v) for v in versions]
            out["events"] = [{"action": e["action"], "actor": e["actor"], "role": e["role"],
                              "version": e["version_number"], "reason": e["reason"],
                              "created_at": e["created_at"].isoformat()} for e in events]
        return out

    async def list(self, actor: Actor, *, q: str | None = None, department: str | None = None,
                   state: str | None = None, public_only: bool = False, page: int = 1,
                   page_size: int = 20) -> dict:
        """Articles: with ``q``, the published ones in force that match (what agents search during a
        call, most used first); without, the articles a department or the centre manages."""
        if not public_only and actor.role not in READERS:
            raise Forbidden("无权查看知识库")
        from piccolo.columns.combination import WhereRaw

        query = KnowledgeArticle.select()
        count = KnowledgeArticle.count()
        where = []
        searching = bool(q and q.strip()) or public_only
        if q and q.strip():
            parsed = parse_query(q, sealed=self.sealed, in_centre=False)
            if not parsed:
                return {"items": [], "total": 0, "page": page, "page_size": page_size}
            sub, arg = KNOWLEDGE_INDEX.ids_matching(self.engine, parsed)
            where.append(WhereRaw(f"knowledge_articles.id IN ({sub})", arg))
        today = _today()
        if searching:
            where.append(_in_force_clause(self.engine, today, public=public_only))
        elif actor.role == "handler":
            where.append(KnowledgeArticle.department == actor.department)
        if department:
            where.append(KnowledgeArticle.department == department)
        if state == "pending":
            where.append(KnowledgeArticle.pending_version.is_not_null())
        elif state == "published":
            where.append(KnowledgeArticle.published_version.is_not_null())
        for clause in where:
            query = query.where(clause)
            count = count.where(clause)
        async with read_transaction(self.engine):
            total = await count
            rows = await query.order_by(*( [KnowledgeArticle.usage_count] if searching else []),
                                        KnowledgeArticle.id, ascending=False).limit(page_size).offset(
                (page - 1) * page_size)
            ids = [r["id"] for r in rows]
            versions = await KnowledgeVersion.select().where(
                KnowledgeVersion.article_id.is_in(ids)).output(load_json=True) if ids else []
        grouped: dict[int, list[dict]] = {}
        for v in versions:
            grouped.setdefault(v["article_id"], []).append(v)
        items = []
        for row in rows:
            out = self._out(row, sorted(grouped.get(row["id"], []), key=lambda v: v["number"]), None, actor)
            latest = max(grouped.get(row["id"], []), key=lambda v: v["number"], default=None)
            if latest is not None and self._may_see_drafts(row, actor) and not public_only:
                out["latest"] = _version_out(latest)
            items.append(out)
        return {"items": items, "total": total, "page": page, "page_size": page_size}
