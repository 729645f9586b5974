"""疑似重复: whether two orders tell the same matter, judged by their words.

Two orders are suspected duplicates when they are in the same place (the same 街道, or the same
address), were received within ``WINDOW`` of each other, and their texts say the same thing. Who
called is no evidence either way: one caller rings about two different matters, and fifty callers
report one flooded crossing (``core.listing`` reads the candidates; ``find`` compares them).

A text is compared by its Chinese character pairs (the pairs ``core.search`` indexes), taken from
the subject and the first ``TEXT_CHARS`` characters of the content, where a hotline record states its
matter. Left out before comparing:

* the pairs of the order's own 街道 and address: within one place every order names it, and a
  flooded crossing and a broken traffic light at that crossing are two matters;
* ``BOILERPLATE``: the phrases agents write on every order (市民来电反映, 希望尽快处理, 小区 …).

``similar`` then asks for ``MIN_SHARED`` pairs in common, at least ``THRESHOLD`` of the shorter
text's pairs (the overlap coefficient, not Jaccard: a short repeat, 节庆路口积水严重，车过不去, shares 7
of its 10 pairs with a long first account of the flood, which has 38; Jaccard would give 0.17).

Why 0.5 and 4: over the 365 real citizen messages in the reference data (66,430 pairs, many of one
category), pairs about different matters overlap by at most 0.36 (99.9 % below
0.17). Above that there are two pairs only: 0.43, one writer's second letter about the same illegal
building four months later, and 1.0, one message filed twice. Records of one incident taken by
different agents, who write the place and the problem in much the same words, share well over half.
A threshold of 0.5 leaves a margin above everything seen between different matters; four pairs
keep a two-word note (积水) from matching every text that contains it. Paraphrases sharing fewer
words (井盖缺失 / 井盖丢了) are not found: the dispatcher still has the caller's history and the
category, and the flag is kept for what is nearly certain, so that a dispatcher can trust it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import operator
import re

WINDOW = dt.timedelta(days=7)  # received within this of each other (either way)
TEXT_CHARS = 100  # characters of content compared, after the subject
THRESHOLD = 0.5  # shared pairs ÷ the shorter text's pairs
MIN_SHARED = 4
NEAREST = 80  # a row is compared with at most this many orders of its place, those received closest to it
BOILERPLATE = ("市民来电反映", "来电人反映", "来电反映", "市民反映", "希望尽快处理", "请尽快处理", "请求尽快解决",
               "希望相关部门", "请相关部门", "尽快解决", "要求处理", "谢谢", "小区", "街道", "社区")

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]{2,}")


def pairs(text: str) -> set[str]:
    """The adjacent Chinese character pairs of a text: ``core.search.bigrams`` as a set, made in one
    pass (a list page compares a few hundred texts)."""
    return {run[i:i + 2] for run in _CJK.findall(text or "") for i in range(len(run) - 1)}


_IGNORED = frozenset(p for phrase in BOILERPLATE for p in pairs(phrase))


@functools.lru_cache(maxsize=2048)
def signature(subject: str, content: str, area: str, address: str) -> frozenset[str]:
    """What an order's text is compared by: the pairs of its subject and the head of its content,
    without its own place's and the boilerplate's. Kept for the texts last compared (an order's
    text does not change, and a list is viewed again and again)."""
    own_place = pairs(area) | pairs(address)
    return frozenset(pairs(f"{subject} {content[:TEXT_CHARS]}") - own_place - _IGNORED)


def similar(a: frozenset[str], b: frozenset[str]) -> bool:
    """Whether two signatures say the same matter (see the module's note for the numbers)."""
    shared = len(a & b)
    return shared >= MIN_SHARED and shared >= THRESHOLD * min(len(a), len(b))


def same_place(a: dict, b: dict) -> bool:
    """The same 街道, or the same address (either named, and equal once trimmed)."""
    area = (a.get("area") or "").strip()
    address = (a.get("address") or "").strip()
    return bool(area and area == (b.get("area") or "").strip()) or bool(
        address and address == (b.get("address") or "").strip())


def find(rows: list[dict], candidates: list[dict]) -> dict[str, list[dict]]:
    """Each row's suspected duplicates among the candidates (both as the lists read them: ``number``,
    ``area``, ``address``, ``subject``, ``head`` (the content's first ``TEXT_CHARS`` characters),
    ``received_at``), by number, nearest in time first.

    Bounded for a list page: a row is compared with the ``NEAREST`` orders of its 街道 received
    closest to it (and as many of its address), and the words are compared as bit masks over the
    rows' own pairs (a pair no row holds is shared with no row), so each comparison is one AND of
    two integers and a bit count, with exactly ``similar``'s answer."""
    signatures = {r["number"]: _signature(r) for r in (*rows, *candidates)}
    bit: dict[str, int] = {}
    for r in rows:
        for pair in signatures[r["number"]]:
            bit.setdefault(pair, 1 << len(bit))
    places: dict[tuple[str, str], list[tuple]] = {}
    for r in sorted(candidates, key=lambda r: r["received_at"]):
        pairs = signatures[r["number"]]
        compared = (r["received_at"], r["number"], functools.reduce(operator.or_, (bit[p] for p in pairs if p in bit), 0),
                    THRESHOLD * len(pairs), r)
        if r["area"]:
            places.setdefault(("area", r["area"]), []).append(compared)
        if (r["address"] or "").strip():
            places.setdefault(("address", r["address"].strip()), []).append(compared)
    times = {place: [c[0] for c in listed] for place, listed in places.items()}
    found: dict[str, list[dict]] = {}
    for me in rows:
        number, at, pairs = me["number"], me["received_at"], signatures[me["number"]]
        mask = functools.reduce(operator.or_, (bit[p] for p in pairs), 0)
        half = THRESHOLD * len(pairs)
        near = []
        for place in (("area", me["area"]), ("address", (me["address"] or "").strip())):
            if place[1] and place in places:
                middle = bisect.bisect_left(times[place], at)
                near += places[place][max(0, middle - NEAREST // 2):middle + NEAREST // 2]
        alike = {}
        for c in near:
            if c[1] != number and abs(c[0] - at) <= WINDOW:
                shared = (mask & c[2]).bit_count()
                if shared >= MIN_SHARED and shared >= (half if half < c[3] else c[3]):
                    alike[c[1]] = c
        found[number] = [c[4] for c in sorted(alike.values(), key=lambda c: (abs(c[0] - at), c[1]))]
    return found

def _signature(row: dict) -> frozenset[str]:
    return signature(row["subject"] or "", row["head"] or "", row["area"] or "", row["address"] or "")
