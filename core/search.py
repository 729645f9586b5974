"""Full-text search over orders and knowledge articles, one interface on both backends.

A document is its text's Chinese characters and character pairs and its Latin and digit runs (see
``tokens``), a space-joined token column: SQLite keeps it in an FTS5 table (``unicode61`` over the
tokens), PostgreSQL in a ``tsvector`` built with ``to_tsvector('simple', …)`` under a GIN index. A
query is cut into words with jieba, and each term is found by its words or by its character pairs.
A document is (re)written in the same transaction as the change that alters it, so the index never
lags an order or an article.

What a token may reveal is decided here, not by the caller:

* phone numbers, a protected reporter's name and a channel's confidential fields are indexed only as
  keyed hashes, and only a centre user's query carries the matching hash. A department can neither
  find an order by the full phone it sees masked (it could otherwise guess the hidden digits) nor
  reach a tip-off reporter at all; a database dump shows no identity.
* a department's own token is part of each order's document, so a handler's query is answered by
  the index itself (``… AND <its department>``): isolation holds in results and counts alike.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
from collections.abc import Iterable

import jieba

from core.errors import FieldError, InvalidInput

jieba.setLogLevel(logging.WARNING)

MAX_QUERY_CHARS = 100
MAX_TERMS = 8
_TOKEN = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")
_PHONE_NOISE = re.compile(r"[\s\-()（）+]")
_PHONE_LIKE = re.compile(r"\+?\d[\d\s\-()（）]{5,}\d")  # a phone typed with spaces or dashes
_MASKED_PHONE = re.compile(r"^(1[3-9]\d)\*{4}(\d{4})$")  # as core.visibility.mask_phone shows a mobile
_PHONE = re.compile(r"^(?:86)?(1[3-9]\d{9}|0\d{9,11}|[2-9]\d{6,7})$")


_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+|[0-9a-z]+")


def tokens(text: str) -> list[str]:
    """A document's tokens: every Chinese character and every pair of adjacent ones, and whole Latin
    and digit runs, lower-cased and deduplicated (character n-grams, as CJK search engines index).

    Whatever a person types is found inside a text however a segmenter would have cut it (路灯 in
    路灯不亮, which jieba cuts 路 / 灯不亮), and indexing needs no dictionary: an intake never waits
    for one, and it costs a few microseconds instead of jieba's half a millisecond."""
    seen: dict[str, None] = {}
    for run in _RUN.findall((text or "").lower()):
        if run.isascii():
            seen.setdefault(run, None)
            continue
        seen.update(dict.fromkeys(run))
        seen.update(dict.fromkeys(_pairs(run)))
    return list(seen)


def bigrams(text: str) -> list[str]:
    """Adjacent Chinese character pairs: a query term's pairs all occur in a text that holds it."""
    seen: dict[str, None] = {}
    for run in _CJK.findall(text.lower()):
        seen.update(dict.fromkeys(_pairs(run)))
    return list(seen)


def _pairs(run: str):
    return (run[i:i + 2] for i in range(len(run) - 1))


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,}")
UNSEGMENTED = "zunsegmented"  # marks a document an earlier version indexed provisionally


def load_dictionary() -> None:
    """Load the segmenting dictionary (queries split a term into words with it) on a daemon thread,
    so the first search after a start does not pay for it and shutting down never waits for it."""
    import threading

    if not jieba.dt.initialized:
        threading.Thread(target=jieba.initialize, daemon=True).start()


def dictionary_loaded() -> bool:
    return bool(jieba.dt.initialized)


def query_tokens(text: str) -> list[str]:
    """Precise-mode segmentation of one query term into words."""
    found: dict[str, None] = {}
    for piece in jieba.cut(text.lower()):
        for token in _TOKEN.findall(piece):
            found.setdefault(token, None)
    return list(found)


def _as_indexed(word: str) -> list[str]:
    """A word as the index holds it: a Chinese word of three or more characters by its pairs."""
    return bigrams(word) if len(word) > 2 and not word.isascii() else [word]


def normalise_phone(text: str) -> str | None:
    """Digits of a phone number as it was typed (spaces, dashes, +86), or None if it is not one."""
    match = _PHONE.match(_PHONE_NOISE.sub("", text or ""))
    return match.group(1) if match else None


class Sealed:
    """Keyed hashes standing for values that must not be searchable in the clear."""

    def __init__(self, secret: str):
        self._key = hashlib.sha256(b"huying-search\0" + secret.encode()).digest()

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\0{value.strip().lower()}".encode(), hashlib.sha256).hexdigest()
        return "s" + digest[:20]

    def phone(self, value: str) -> str | None:
        digits = normalise_phone(value)
        return self.token("phone", digits) if digits else None

    def masked_phone(self, value: str) -> str | None:
        """A mobile number as the screens show it masked (139****5678: the first three and last four
        digits), so the centre finds a caller by what it copied from a page; a department never."""
        digits = normalise_phone(value)
        if digits and len(digits) == 11:
            return self.token("masked-phone", digits[:3] + digits[-4:])
        match = _MASKED_PHONE.match(value.strip())
        return self.token("masked-phone", match.group(1) + match.group(2)) if match else None


def department_token(code: str) -> str:
    """The token marking a department's documents (letters and digits only, so no tokenizer splits it)."""
    return "d" + hashlib.sha1(code.encode()).hexdigest()[:16]


class Query:
    """A parsed search: each term must match, either by its words or (for the centre) by its hash."""

    def __init__(self, groups: list[list[list[str]]]):
        self.groups = groups  # AND of groups; a group is an OR of alternatives; an alternative an AND of tokens

    def __bool__(self) -> bool:
        return bool(self.groups)

    def fts5(self) -> str:
        return " AND ".join("(" + " OR ".join("(" + " AND ".join(f'"{t}"' for t in alt) + ")" for alt in group)
                            + ")" for group in self.groups)

    def tsquery(self) -> str:
        return " & ".join("(" + " | ".join("(" + " & ".join(f"'{t}'" for t in alt) + ")" for alt in group)
                          + ")" for group in self.groups)


def parse_query(q: str, *, sealed: Sealed, in_centre: bool, department: str | None = None,
                key: str = "q") -> Query:
    """Turn what a user typed into a Query; too long or too many terms is refused (bounded work)."""
    q = (q or "").strip()
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidInput([FieldError(key, f"搜索词不能超过 {MAX_QUERY_CHARS} 个字", "query")])
    groups: list[list[list[str]]] = []
    q = _PHONE_LIKE.sub(lambda m: normalise_phone(m.group(0)) or m.group(0), q)
    for term in q.split():
        alternatives = []
        words = list(dict.fromkeys(t for word in query_tokens(term) for t in _as_indexed(word)))
        if words:
            alternatives.append(words)
        pairs = bigrams(term)
        if pairs and pairs != words:
            alternatives.append(pairs)
        if in_centre:
            phone = sealed.phone(term)
            if phone:
                alternatives.append([phone])
            masked = _MASKED_PHONE.match(term) and sealed.masked_phone(term)
            if masked:
                alternatives.append([masked])
            alternatives.append([sealed.token("text", term)])
        if words or (in_centre and (normalise_phone(term) or _MASKED_PHONE.match(term))):
            groups.append(alternatives)
    if len(groups) > MAX_TERMS:
        raise InvalidInput([FieldError(key, f"搜索词最多 {MAX_TERMS} 个", "query")])
    if groups and department is not None:
        groups.append([[department_token(department)]])
    return Query(groups)


class TextIndex:
    """One searchable collection (orders, knowledge articles) keyed by the owning row's id."""

    def __init__(self, name: str):
        self.name = name

    @staticmethod
    def _sqlite(engine) -> bool:
        from piccolo.engine.sqlite import SQLiteEngine

        return isinstance(engine, SQLiteEngine)

    def create_statements(self, engine) -> list[str]:
        if self._sqlite(engine):
            return [f"CREATE VIRTUAL TABLE IF NOT EXISTS {self.name} USING fts5(tokens, detail=none)"]
        return [f"CREATE TABLE IF NOT EXISTS {self.name} (id BIGINT PRIMARY KEY, document TSVECTOR NOT NULL)",
                f"CREATE INDEX IF NOT EXISTS {self.name}_document ON {self.name} USING gin (document)"]

    async def create(self, engine) -> None:
        for sql in self.create_statements(engine):
            await engine.run_ddl(sql)

    async def put(self, engine, row_id: int, words: Iterable[str]) -> None:
        from piccolo.querystring import QueryString

        if self._sqlite(engine):
            await engine.run_querystring(QueryString(f"DELETE FROM {self.name} WHERE rowid = {{}}", row_id))
            await self.add(engine, row_id, words)
        else:
            await engine.run_querystring(QueryString(
                f"INSERT INTO {self.name} (id, document) VALUES ({{}}, to_tsvector('simple', {{}})) "
                f"ON CONFLICT (id) DO UPDATE SET document = EXCLUDED.document", row_id, " ".join(words)))

    async def add(self, engine, row_id: int, words: Iterable[str]) -> None:
        """The document of a row that has none yet (a new order): one insert."""
        from core.db import run

        if self._sqlite(engine):
            await run(engine, f"INSERT INTO {self.name} (rowid, tokens) VALUES ({{}}, {{}})", row_id, " ".join(words))
        else:
            await run(engine, f"INSERT INTO {self.name} (id, document) VALUES ({{}}, to_tsvector('simple', {{}}))",
                      row_id, " ".join(words))

    async def remove(self, engine, row_id: int) -> None:
        from piccolo.querystring import QueryString

        column = "rowid" if self._sqlite(engine) else "id"
        await engine.run_querystring(QueryString(f"DELETE FROM {self.name} WHERE {column} = {{}}", row_id))

    async def retag(self, engine, row_id: int, remove: str | None, add: str | None) -> None:
        """Swap one token of a document (an order moving to another department) without segmenting
        its text again."""
        from piccolo.querystring import QueryString

        if self._sqlite(engine):
            rows = await engine.run_querystring(QueryString(
                f"SELECT tokens FROM {self.name} WHERE rowid = {{}}", row_id))
            if rows:
                words = [w for w in rows[0]["tokens"].split() if w != remove]
                await self.put(engine, row_id, words + ([add] if add else []))
            return
        await engine.run_querystring(QueryString(
            f"UPDATE {self.name} SET document = ts_delete(document, {{}}::text) "
            f"|| to_tsvector('simple', {{}}) WHERE id = {{}}", remove or "", add or "", row_id))

    async def clear(self, engine) -> None:
        await engine.run_ddl(f"DELETE FROM {self.name}")

    def ids_matching(self, engine, query: Query) -> tuple[str, str]:
        """A sub-select of matching ids, and its one argument, for ``<id column> IN (…)``."""
        if self._sqlite(engine):
            return f"SELECT rowid FROM {self.name} WHERE {self.name} MATCH {{}}", query.fts5()
        return f"SELECT id FROM {self.name} WHERE document @@ to_tsquery('simple', {{}})", query.tsquery()

    async def newest(self, engine, query: Query, *, wanted: int, cap: int) -> tuple[list[int], int]:
        """PostgreSQL: the ids of the ``wanted`` newest matches (highest id first) and the number of
        matches counted up to ``cap + 1``, reading the index table alone, with bounded work.

        A GIN index yields matches in storage order (oldest first) and cannot stop early, so both a
        count and "newest first" would otherwise visit every match (tens of thousands for two common
        words over two million orders). Instead the count stops at ``cap + 1`` rows; when there are
        no more than ``cap`` matches those rows are all of them, and when there are more the newest
        are looked for in a window of recent ids, widened until it holds enough. Plans are pinned to
        bitmap scans: a backward walk of the primary key hoping to meet a rare match, or a scan of the
        whole table for a common one, each costs seconds."""
        from piccolo.querystring import QueryString

        async def ids(sql: str, *args) -> list[int]:
            return [r["id"] for r in await engine.run_querystring(QueryString(sql, *args))]

        matches = f"SELECT id FROM {self.name} WHERE document @@ to_tsquery('simple', {{}})"
        pinned = await engine.run_querystring(QueryString(  # MAX(id) is planned before the settings change
            f"SELECT {_PLAN_SETTINGS.format(value='off')}, (SELECT MAX(id) FROM {self.name}) AS top"))
        top = pinned[0]["top"] or 0
        first = await ids(f"{matches} LIMIT {int(cap) + 1}", query.tsquery())
        if len(first) <= cap:
            found = sorted(first, reverse=True)[:wanted]
        else:
            window = NEWEST_WINDOW
            while True:
                found = await ids(f"SELECT id FROM unnest(ARRAY({matches} AND id > {{}})) AS id "
                                  f"ORDER BY id DESC LIMIT {int(wanted)}", query.tsquery(), top - window)
                if len(found) >= wanted or window > top:
                    break
                window *= 4
        # the rest of the caller's transaction plans freely again
        await engine.run_querystring(QueryString(f"SELECT {_PLAN_SETTINGS.format(value='on')}"))
        return found, len(first)


_PLAN_SETTINGS = ("set_config('enable_seqscan', '{value}', true) AS seqscan, "
                  "set_config('enable_indexscan', '{value}', true) AS indexscan")  # for this transaction only
NEWEST_WINDOW = 65_536  # recent ids first searched for the newest matches (about two months of orders)


ORDER_INDEX = TextIndex("order_search")
KNOWLEDGE_INDEX = TextIndex("knowledge_search")


def order_words(order, channel, sealed: Sealed, open_sealed=lambda value: value) -> list[str]:
    """Everything an order is found by. Phones, a protected reporter and confidential fields go in
    only as keyed hashes (``open_sealed`` opens what is sealed at rest); the departments' tokens mark
    whose order it is (the lead's and its assisting departments')."""
    confidential = set(channel.confidential) if channel else set()
    plain = [order.number, order.subject, order.content, order.address, order.area, order.category,
             order.citizen_name, getattr(order, "legacy_number", None)]
    hidden: list[str] = []
    for name, value in (order.details or {}).items():
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            continue
        if name in confidential:
            hidden.append(sealed.token("text", str(open_sealed(value))))
        else:
            plain.append(str(value))
    name, phone = order.citizen_name, order.citizen_phone
    if order.citizen_sealed:  # a protected reporter: neither name nor phone is in the clear
        import msgspec

        name, phone = msgspec.json.decode(open_sealed(order.citizen_sealed))
        hidden.append(sealed.token("text", name))
    if phone and (token := sealed.phone(phone)):
        hidden.append(token)
        if masked := sealed.masked_phone(phone):
            hidden.append(masked)
    words = tokens("\n".join(p for p in plain if p))
    for department in sorted(_departments_of(order)):  # the lead's, and each assisting one's (协办)
        words.append(department_token(department))
    return words + hidden


def _departments_of(order) -> set[str]:
    """The departments that may find the order: its lead and every department with a part of it."""
    found = {p["department"] for p in getattr(order, "assisting", None) or ()}
    return found | ({order.department} if order.department else set())


class OrderSearch:
    """The order index as the order service uses it: words for a document, upkeep, and the filter."""

    def __init__(self, channels, engine, sealed: Sealed, open_sealed=lambda value: value):
        self.channels = channels
        self.engine = engine
        self.repairing: asyncio.Task | None = None
        self.sealed = sealed
        self.open_sealed = open_sealed

    def words(self, order) -> list[str]:
        return order_words(order, self.channels.get(order.channel), self.sealed, self.open_sealed)

    def start_repair(self) -> None:
        loop = asyncio.get_running_loop()
        if self.repairing is None or self.repairing.done() or self.repairing.get_loop() is not loop:
            self.repairing = loop.create_task(self.repair())

    async def settled(self) -> None:
        """Wait until no document is provisional (searches see complete documents only)."""
        while self.repairing is not None and not self.repairing.done():
            await asyncio.sleep(0.05)

    async def repair(self) -> int:
        """Index again every document an earlier version indexed provisionally (while its dictionary
        loaded); run at every start until none is left."""
        from piccolo.columns.combination import WhereRaw

        from core.db import write_transaction
        from core.model import as_record
        from core.tables import Order

        sub, arg = ORDER_INDEX.ids_matching(self.engine, Query([[[UNSEGMENTED]]]))
        repaired = 0
        while True:  # again until none is left: an intake may commit what it prepared just before
            ids = [r["id"] for r in await Order.select(Order.id).where(WhereRaw(f"orders.id IN ({sub})", arg))]
            if not ids:
                return repaired
            for order_id in ids:
                async with write_transaction(self.engine):  # read and rewrite together: no stale department
                    row = await Order.select().where(Order.id == order_id).output(load_json=True).first()
                    if row is not None:
                        await self.put(order_id, self.words(as_record(row)))
                repaired += 1

    async def put(self, order_id: int, words: list[str]) -> None:
        await ORDER_INDEX.put(self.engine, order_id, words)

    async def add(self, order_id: int, words: list[str]) -> None:
        await ORDER_INDEX.add(self.engine, order_id, words)

    async def changed(self, before, after) -> None:
        """Keep the document in step with an action's change, inside the action's transaction."""
        if any(getattr(before, f) != getattr(after, f) for f in _TEXT_FIELDS) or (
                (before.assisting or after.assisting) and _departments_of(before) != _departments_of(after)):
            await self.put(after.id, self.words(after))
        elif before.department != after.department:
            await ORDER_INDEX.retag(self.engine, after.id,
                                    department_token(before.department) if before.department else None,
                                    department_token(after.department) if after.department else None)

    def query(self, q: str, actor) -> Query:
        """``q`` as this actor may search: the centre also by sealed phone and name, a department's
        handler within its own department's documents."""
        return parse_query(q, sealed=self.sealed, in_centre=actor.in_centre,
                           department=actor.department if actor.role == "handler" else None)

    def where(self, q: str, actor):
        """The WHERE clause restricting orders to those matching ``q`` as this actor may search."""
        from piccolo.columns.combination import WhereRaw

        query = self.query(q, actor)
        if not query:
            return WhereRaw("1 = 0")
        sub, arg = ORDER_INDEX.ids_matching(self.engine, query)
        if ORDER_INDEX._sqlite(self.engine):
            return WhereRaw(f"orders.id IN ({sub})", arg)
        # PostgreSQL would otherwise walk the whole primary key backwards for ``ORDER BY id DESC LIMIT``
        # hoping to meet a rare match; an array makes it look the matches up first.
        return WhereRaw(f"orders.id = ANY(ARRAY({sub}))", arg)


_TEXT_FIELDS = ("subject", "content", "address", "area", "category", "citizen_name", "citizen_phone",
                "citizen_sealed", "details", "number", "legacy_number")
