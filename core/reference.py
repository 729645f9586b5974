"""Reference data every intake and action consults: the departments, the routing rules and the streets, cached."""

from __future__ import annotations

import time

from core.areas import listed as listed_areas
from core.routing import RuleCache, RuleSpec, in_order
from core.tables import Department


MAX_CHANNELS_KEPT = 64
AREAS_TTL = 30.0  # seconds: another process's change to the street list is followed within this


class ReferenceData:
    def __init__(self):
        self._departments: frozenset[str] | None = None
        self._active: frozenset[str] | None = None
        self._directory: list[dict] | None = None
        self._rules = RuleCache()
        self._routes: tuple[list[RuleSpec], frozenset[str], dict[str, list[RuleSpec]]] | None = None
        self._areas: tuple[float, list[dict]] | None = None

    async def areas(self) -> list[dict]:
        """The streets and towns in use (``core.areas``): what every intake resolves its 街道 against."""
        now = time.monotonic()
        if self._areas is None or now - self._areas[0] > AREAS_TTL:
            self._areas = (now, await listed_areas())
        return self._areas[1]

    async def departments(self) -> frozenset[str]:
        if self._departments is None:
            self._departments = frozenset(r["code"] for r in await Department.select(Department.code))
        return self._departments

    async def active_departments(self) -> frozenset[str]:
        """The departments that take new orders (a disabled one keeps its history, gets nothing new)."""
        if self._active is None:
            self._active = frozenset(r["code"] for r in await Department.select(Department.code).where(
                Department.active == True))  # noqa: E712  (a column comparison, not a truth test)
        return self._active

    async def directory(self) -> list[dict]:
        """Every department's code, name, aliases, state and where it was merged (``department_names.match``)."""
        if self._directory is None:
            from core.department_names import directory

            self._directory = await directory()
        return self._directory

    async def rules(self) -> list[RuleSpec]:
        return await self._rules.get()

    async def routing(self, channel: str) -> list[RuleSpec]:
        """The rules an intake of ``channel`` tries, in order, naming departments that take new orders
        only: worked out once per load of the rules, not on every call."""
        rules, departments = await self.rules(), await self.active_departments()
        if self._routes is None or self._routes[0] is not rules or self._routes[1] is not departments:
            self._routes = (rules, departments, {})
        routes = self._routes[2]
        found = routes.get(channel)
        if found is None:
            found = in_order([r for r in rules if r.department in departments], channel)
            if len(routes) < MAX_CHANNELS_KEPT:  # a caller may name any channel: the memory stays bounded
                routes[channel] = found
        return found

    def forget(self) -> None:
        """Departments and routing rules are cached; call after changing them."""
        self._departments = None
        self._active = None
        self._directory = None
        self._areas = None
        self._rules.forget()
