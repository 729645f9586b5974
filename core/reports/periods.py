"""Report periods on the centre's calendar: 日报、周报、月报、季报、年报, with 环比 and 同比 periods.

A period is a half-open range of local days ``[start, end)`` in Asia/Shanghai; a start date inside a
period is moved back to that period's first day (a week starts on Monday).
"""

from __future__ import annotations

import datetime as dt

import msgspec

from core import clock
from core.calendar import SHANGHAI

KINDS: dict[str, str] = {"daily": "日报", "weekly": "周报", "monthly": "月报", "quarterly": "季报", "annual": "年报"}


class Period(msgspec.Struct, frozen=True):
    kind: str
    start: dt.date
    end: dt.date  # exclusive

    @property
    def label(self) -> str:
        last = self.end - dt.timedelta(days=1)
        if self.kind == "daily":
            return f"{self.start:%Y年%m月%d日}"
        if self.kind == "monthly":
            return f"{self.start:%Y年%m月}"
        if self.kind == "quarterly":
            return f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        if self.kind == "annual":
            return f"{self.start.year}年"
        return f"{self.start:%Y年%m月%d日}—{last:%m月%d日}"

    @property
    def start_epoch(self) -> int:
        return epoch(self.start)

    @property
    def end_epoch(self) -> int:
        return epoch(self.end)

    def previous(self) -> Period:
        """环比: the period just before."""
        return period(self.kind, self.start - dt.timedelta(days=1))

    def year_before(self) -> Period:
        """同比: the same period a year earlier (for a week: the week 52 weeks earlier)."""
        if self.kind == "weekly":
            return period("weekly", self.start - dt.timedelta(weeks=52))
        return period(self.kind, _minus_year(self.start))

    def as_dict(self) -> dict:
        return {"kind": self.kind, "kind_label": KINDS[self.kind], "label": self.label,
                "start": self.start.isoformat(), "end": (self.end - dt.timedelta(days=1)).isoformat()}


def _minus_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def period(kind: str, day: dt.date) -> Period:
    if kind == "daily":
        return Period(kind, day, day + dt.timedelta(days=1))
    if kind == "weekly":
        start = day - dt.timedelta(days=day.weekday())
        return Period(kind, start, start + dt.timedelta(days=7))
    if kind == "monthly":
        start = day.replace(day=1)
        return Period(kind, start, _add_months(start, 1))
    if kind == "quarterly":
        start = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
        return Period(kind, start, _add_months(start, 3))
    if kind == "annual":
        return Period(kind, dt.date(day.year, 1, 1), dt.date(day.year + 1, 1, 1))
    raise ValueError(kind)


def epoch(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), SHANGHAI).timestamp())


def today() -> dt.date:
    return clock.today()
