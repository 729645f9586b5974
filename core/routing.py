"""The routing engine: ordered rules suggest the department for a new order, with the reason.

Rules come from plugins (the ``routing_rules`` hook, re-synced into the database at start-up) and
from the centre itself (origin ``admin``). Rules are tried by ``position``; on a tie a channel's own
rule goes before a rule for every channel. The dispatcher sees the suggestion and decides.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from core.tables import RoutingRule


class RuleSpec(msgspec.Struct, frozen=True, kw_only=True):
    """One rule. Empty criteria match anything; ``keywords`` match if any appears in the text."""

    department: str
    keywords: tuple[str, ...] = ()
    category: str = ""
    area: str = ""
    kind: str = ""
    details: dict[str, str] = {}  # channel fields that must hold these values (e.g. problem=financing)
    # number fields that must lie within (low, high), both inclusive; None leaves that side open:
    # ``ranges={"amount": (10000, None)}`` is 10 000 or more
    ranges: dict[str, tuple[float | None, float | None]] = {}
    includes: dict[str, str] = {}  # multi-choice fields whose picked choices must include this one
    reason: str = ""
    position: int = 100
    for_every_channel: bool = False  # a general rule, applying to every channel's orders
    channel: str | None = None  # set when stored: the owning channel, or None for every channel
    id: int = 0

    def matches(self, *, text: str, category: str, area: str, kind: str,
                details: dict | None = None) -> str | None:
        """The part of the order that matched, or None."""
        details = details or {}
        if self.details and any(str(details.get(k)) != v for k, v in self.details.items()):
            return None
        if self.ranges and not all(_within(details.get(k), low, high) for k, (low, high) in self.ranges.items()):
            return None
        if self.includes and not all(_picked(details.get(k), v) for k, v in self.includes.items()):
            return None
        if self.category and not category.startswith(self.category):
            return None
        if self.area and self.area != area:
            return None
        if self.kind and self.kind != kind:
            return None
        if self.keywords:
            hit = next((k for k in self.keywords if k in text), None)
            return hit
        return (self.category or self.area or self.kind or ",".join(self.details.values())
                or ",".join(self.includes.values()) or ",".join(self.ranges) or "*")

    def predicates(self) -> dict[str, Any]:
        """The number ranges and multi-choice memberships as stored (``routing_rules.predicates``)."""
        return {k: v for k, v in (("ranges", {n: list(b) for n, b in self.ranges.items()}),
                                  ("includes", dict(self.includes))) if v}

    def field_problems(self, fields: dict[str, Any]) -> list[str]:
        """What in the rule's field conditions does not fit the channel's fields (``FieldInfo`` by
        name), in words for the channel's author; empty when the rule can match."""
        problems = []
        stray = sorted({*self.details, *self.ranges, *self.includes} - set(fields))
        if stray:
            problems.append(f"条件里的字段不是本渠道的字段：{', '.join(stray)}")
        for name, bounds in self.ranges.items():
            if name in fields and fields[name].type not in ("integer", "number"):
                problems.append(f"数值范围 ranges 只能用于数字字段，{name} 不是")
            elif len(bounds) != 2 or bounds == (None, None):
                problems.append(f"数值范围 ranges[{name!r}] 须是 (下限, 上限)，至少给出一个")
        for name, choice in self.includes.items():
            info = fields.get(name)
            if info is not None and info.type != "multi_choice":
                problems.append(f"包含条件 includes 只能用于多选字段，{name} 不是")
            elif info is not None and choice not in (info.choices or {}):
                problems.append(f"多选字段 {name} 没有选项 {choice}")
        return problems


def _within(value: Any, low: float | None, high: float | None) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _picked(value: Any, choice: str) -> bool:
    return isinstance(value, (list, tuple)) and choice in value


class Suggestion(msgspec.Struct, frozen=True):
    department: str
    reason: str


def in_order(rules: list[RuleSpec], channel: str) -> list[RuleSpec]:
    """The rules that may fire for a channel's order, in the order they are tried."""
    return sorted((r for r in rules if r.channel in (channel, None)), key=lambda r: (r.position, r.channel is None, r.id))


def first_match(ordered: list[RuleSpec], *, subject: str, content: str, category: str, area: str, kind: str,
                details: dict | None = None) -> tuple[RuleSpec, str] | None:
    """The rule that fires for an order and the part of the order it matched (what the admin's
    "try a text" box shows); ``ordered`` is ``in_order`` of the rules for the order's channel."""
    text = f"{subject}\n{content}"
    for rule in ordered:
        hit = rule.matches(text=text, category=category, area=area, kind=kind, details=details)
        if hit is not None:
            return rule, hit
    return None


def suggest(ordered: list[RuleSpec], *, subject: str, content: str, category: str, area: str, kind: str,
            details: dict | None = None) -> Suggestion | None:
    found = first_match(ordered, subject=subject, content=content, category=category, area=area, kind=kind,
                        details=details)
    if found is None:
        return None
    rule, hit = found
    return Suggestion(rule.department, rule.reason or hit)


class RuleCache:
    """The active rules, re-read at most every ``ttl`` seconds: every intake consults them, and the
    centre changes them rarely (a change shows within ``ttl`` on every API process)."""

    def __init__(self, ttl: float = 10.0):
        self.ttl = ttl
        self._rules: list[RuleSpec] | None = None
        self._loaded_at = 0.0

    def forget(self) -> None:
        self._rules = None

    async def get(self) -> list[RuleSpec]:
        now = time.monotonic()
        if self._rules is None or now - self._loaded_at > self.ttl:
            self._rules, self._loaded_at = await load_rules(), now
        return self._rules


def spec_of(r: dict) -> RuleSpec:
    """A stored rule (a ``routing_rules`` row read with ``load_json=True``) as the engine tries it."""
    return RuleSpec(department=r["department"], keywords=tuple(r["keywords"] or ()),
                    category=r["category"], area=r["area"], kind=r["kind"], details=r["details"] or {},
                    ranges={k: tuple(v) for k, v in ((r.get("predicates") or {}).get("ranges") or {}).items()},
                    includes=(r.get("predicates") or {}).get("includes") or {},
                    reason=r["reason"],
                    position=r["position"], channel=r["channel"], id=r["id"])


async def load_rules() -> list[RuleSpec]:
    rows = await RoutingRule.select().where(RoutingRule.active == True).output(load_json=True)  # noqa: E712
    return [spec_of(r) for r in rows]


async def sync_plugin_rules(channels, departments: list[dict] | None = None) -> int:
    """Replace every plugin-contributed rule with what the plugins declare now; admin rules stay. A rule
    naming its department by name or alias (城管局), or by the code of a department since merged into
    another, is stored with the code of the department that takes the orders now."""
    from core.department_names import match

    rows = []
    for channel in channels:
        for rules in channels.hooks(channel.code).routing_rules(channel=channel):
            for rule in rules or ():
                owner = None if rule.for_every_channel else channel.code
                rows.append(RoutingRule(origin=f"plugin:{channel.code}", channel=owner,
                                        position=rule.position, keywords=list(rule.keywords),
                                        category=rule.category, area=rule.area, kind=rule.kind,
                                        details=dict(rule.details),
                                        predicates=rule.predicates(),
                                        department=match(rule.department, departments or [], partial=False).code
                                        or rule.department, reason=rule.reason))
    await RoutingRule.delete().where(RoutingRule.origin.like("plugin:%"))
    if rows:
        await RoutingRule.insert(*rows)
    return len(rows)
