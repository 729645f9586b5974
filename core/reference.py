"""Reference data every intake and action consults: the departments and the routing rules, cached."""

from __future__ import annotations

from core.routing import RuleCache, RuleSpec
from core.tables import Department


class ReferenceData:
    def __init__(self):
        self._departments: frozenset[str] | None = None
        self._rules = RuleCache()

    async def departments(self) -> frozenset[str]:
        if self._departments is None:
            self._departments = frozenset(r["code"] for r in await Department.select(Department.code))
        return self._departments

    async def rules(self) -> list[RuleSpec]:
        return await self._rules.get()

    def forget(self) -> None:
        """Departments and routing rules are cached; call after changing them."""
        self._departments = None
        self._rules.forget()
