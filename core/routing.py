"""The routing engine: ordered rules suggest the department for a new order, with the reason.

Rules come from plugins (the ``routing_rules`` hook, re-synced into the database at start-up) and
from the centre itself (origin ``admin``). Rules are tried by ``position``; on a tie a channel's own
rule goes before a rule for every channel. The dispatcher sees the suggestion and decides.
"""

from __future__ import annotations

import time

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
    reason: str = ""
    position: int = 100
    for_every_channel: bool = False  # a general rule, applying to every channel's orders
    channel: str | None = None  # set when stored: the owning channel, or None for every channel
    id: int = 0

    def matches(self, *, text: str, category: str, area: str, kind: str,
                details: dict | None = None) -> str | None:
        """The part of the order that matched, or None."""
        if self.details and any(str((details or {}).get(k)) != v for k, v in self.details.items()):
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
        return self.category or self.area or self.kind or ",".join(self.details.values()) or "*"


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


async def load_rules() -> list[RuleSpec]:
    rows = await RoutingRule.select().where(RoutingRule.active == True).output(load_json=True)  # noqa: E712
    return [RuleSpec(department=r["department"], keywords=tuple(r["keywords"] or ()),
                     category=r["category"], area=r["area"], kind=r["kind"], details=r["details"] or {},
                     reason=r["reason"],
                     position=r["position"], channel=r["channel"], id=r["id"]) for r in rows]


async def sync_plugin_rules(channels) -> int:
    """Replace every plugin-contributed rule with what the plugins declare now; admin rules stay."""
    rows = []
    for channel in channels:
        for rules in channels.hooks(channel.code).routing_rules(channel=channel):
            for rule in rules or ():
                owner = None if rule.for_every_channel else channel.code
                rows.append(RoutingRule(origin=f"plugin:{channel.code}", channel=owner,
                                        position=rule.position, keywords=list(rule.keywords),
                                        category=rule.category, area=rule.area, kind=rule.kind,
                                        details=dict(rule.details),
                                        department=rule.department, reason=rule.reason))
    await RoutingRule.delete().where(RoutingRule.origin.like("plugin:%"))
    if rows:
        await RoutingRule.insert(*rows)
    return len(rows)
