"""Finding a department by what a person typed (its code, name, an alias, a part or an abbreviation of
one): the dispatch picker, action payloads, routing rules and citizens' texts all read names this way.
A module of its own, below both the department admin and the routing rules that use it."""

from __future__ import annotations

import functools
from typing import Any

import msgspec

from core.errors import FieldError, InvalidInput
from core.tables import Department


class Match(msgspec.Struct, frozen=True):
    """What a typed name resolves to: ``code``, or None with the departments it could be (ambiguous)
    or none at all (not found); ``by`` is the name or alias that matched."""

    code: str | None
    by: str = ""
    candidates: tuple[str, ...] = ()


def _fold(text: str) -> str:
    return "".join(text.split()).casefold()


def _terms(row: dict[str, Any]) -> list[str]:
    return [row["name"], *(row.get("aliases") or [])]


def match(text: str, rows: list[dict[str, Any]], *, partial: bool = True) -> Match:
    """The department ``text`` names, among ``rows`` (code, name, aliases, active, merged_into): its
    code; else its name or an alias, exactly (spaces and letter case aside); else the one active
    department whose name or alias holds the text (住建 in 住建局), or abbreviates it (城管 for
    城市管理和综合执法局: the characters in order, from the first; or its pinyin initials, csgl or cgj);
    not these when ``partial`` is false. A merged department's code leads to
    the one it was merged into."""
    typed = _fold(text or "")
    if not typed:
        return Match(None)
    by_code = {r["code"]: r for r in rows}
    found = by_code.get(text.strip())
    seen = 0
    while found is not None and found.get("merged_into") and seen < 16:
        found, seen = by_code.get(found["merged_into"], found), seen + 1
    if found is not None:
        return Match(found["code"], found["code"])
    live = [r for r in rows if r.get("active", True)]
    for pool in (live, rows):
        exact = [(r, t) for r in pool for t in _terms(r) if _fold(t) == typed]
        if len({r["code"] for r, _ in exact}) == 1:
            return Match(exact[0][0]["code"], exact[0][1])
        if exact:
            return Match(None, candidates=tuple(dict.fromkeys(r["name"] for r, _ in exact)))
    if len(typed) < 2 or not partial:
        return Match(None)
    held = {r["code"]: (r, t) for r in live for t in reversed(_terms(r)) if typed in _fold(t)}
    if not held:  # an abbreviation: its characters in order (城管 for 城市管理…, 人社 for 人力资源和社会保障局)
        held = {r["code"]: (r, t) for r in live for t in reversed(_terms(r)) if _abbreviates(typed, _fold(t))}
    if not held and typed.isascii() and typed.isalpha():  # pinyin initials: csgl or cgj for 城市管理和综合执法局
        held = {r["code"]: (r, t) for r in live for t in reversed(_terms(r)) if _abbreviates(typed, _initials(t))}
    if len(held) == 1:
        row, term = next(iter(held.values()))
        return Match(row["code"], term)
    return Match(None, candidates=tuple(r["name"] for r, _ in held.values())[:10])


@functools.lru_cache(maxsize=4096)
def _initials(name: str) -> str:
    """The pinyin initials of a name (城市管理局 → csglj), as dispatchers type them on a keyboard."""
    from pypinyin import Style, lazy_pinyin

    return "".join(p[:1] for p in lazy_pinyin(name, style=Style.FIRST_LETTER) if p).casefold()


def _abbreviates(short: str, name: str) -> bool:
    rest = iter(name)
    return short[0] == name[:1] and all(ch in rest for ch in short)


def named_in_text(text: str, rows: list[dict[str, Any]]) -> Match:
    """The active department a citizen's text names by its name or an alias (the longest name found
    wins: 城市管理局 before 城管), for a suggestion when no routing rule fires."""
    terms = sorted(((t, r["code"]) for r in rows if r.get("active", True) and not r.get("merged_into")
                    for t in _terms(r) if len(t) >= 2), key=lambda item: -len(item[0]))
    for term, code in terms:
        if term in text:
            return Match(code, term)
    return Match(None)


def ambiguous(typed: str, found: Match) -> str:
    return f"「{typed}」可能是：{'、'.join(found.candidates)}，请写出单位全称或从列表中选择"


async def directory() -> list[dict[str, Any]]:
    """Every department with its names, for ``match`` (the caller caches it: ``ReferenceData``)."""
    return await Department.select(Department.code, Department.name, Department.aliases, Department.active,
                                   Department.merged_into).output(load_json=True)


async def named_in_payload(fields, payload: dict[str, Any], rows: list[dict[str, Any]],
                           active: frozenset[str]) -> dict[str, Any]:
    """An action's payload with each department it names by its name or alias (a dispatcher typing 城管)
    turned into the code; a name that could be several departments is refused with them listed."""
    out = dict(payload)
    for f in fields:
        value = out.get(f.name)
        if f.widget == "department" and isinstance(value, str) and value and value not in active:
            found = match(value, rows)
            if found.code:
                out[f.name] = found.code
            elif found.candidates:
                raise InvalidInput([FieldError(f.name, ambiguous(value, found))])
        elif f.widget == "departments" and isinstance(value, list):
            named = []
            for item in value:
                found = match(item, rows) if isinstance(item, str) and item not in active else None
                if found is not None and found.candidates and not found.code:
                    raise InvalidInput([FieldError(f.name, ambiguous(item, found))])
                named.append(found.code if found is not None and found.code else item)
            out[f.name] = named
    return out
