"""Report periods on the centre's calendar: 日报、周报、月报、季报、年报, with 环比 and 同比 periods.

A period is a half-open range of local days ``[start, end)`` in Asia/Shanghai; a start date inside a
period is moved back to that period's first day (a week starts on Monday). A period still running
(``running``) counts its days through today and takes its state (超期未办结) as of now; it is
compared with the same number of days of the previous period and of the year before (``previous``,
``year_before`` of a partial period are cut to as many days).
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
    end: dt.date  # exclusive: the whole period's
    upto: dt.date | None = None  # exclusive end of the days counted, when fewer than the whole period
    as_of: int | None = None  # epoch seconds: the period is running, its state is taken at this instant

    @property
    def name(self) -> str:
        """The period itself: 2025年10月, 2025年第4季度, 2025年09月29日—10月05日."""
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
    def partial(self) -> bool:
        """Not the whole period: it is still running, or a comparison cut to as many days as one."""
        return self.as_of is not None or (self.upto is not None and self.upto < self.end)

    @property
    def through(self) -> dt.date | None:
        """The last day counted (None: a period not yet begun counts no day)."""
        last = (self.upto or self.end) - dt.timedelta(days=1)
        return last if last >= self.start else None

    @property
    def days(self) -> int:
        return ((self.upto or self.end) - self.start).days

    @property
    def label(self) -> str:
        """The name, and for a partial period how far it goes: 2025年12月（截至 12月7日）."""
        if not self.partial:
            return self.name
        if self.through is None:
            return f"{self.name}（尚未开始）"
        return f"{self.name}（截至 {self.through.month}月{self.through.day}日）"

    @property
    def start_epoch(self) -> int:
        return epoch(self.start)

    @property
    def end_epoch(self) -> int:
        return epoch(self.upto or self.end)

    def cut(self, days: int) -> Period:
        """The same period counting only its first ``days`` days (all of them if it has fewer)."""
        upto = self.start + dt.timedelta(days=max(days, 0))
        return Period(self.kind, self.start, self.end, upto if upto < self.end else None)

    def previous(self) -> Period:
        """环比: the period just before (its first as many days, when this one is partial)."""
        before = period(self.kind, self.start - dt.timedelta(days=1))
        return before.cut(self.days) if self.partial else before

    def year_before(self) -> Period:
        """同比: the same period a year earlier (for a week: the week 52 weeks earlier), cut to as
        many days when this one is partial."""
        if self.kind == "weekly":
            before = period("weekly", self.start - dt.timedelta(weeks=52))
        else:
            before = period(self.kind, _minus_year(self.start))
        return before.cut(self.days) if self.partial else before

    def as_dict(self) -> dict:
        through = self.through
        return {"kind": self.kind, "kind_label": KINDS[self.kind], "label": self.label, "name": self.name,
                "start": self.start.isoformat(), "end": (self.end - dt.timedelta(days=1)).isoformat(),
                "partial": self.partial, "running": self.as_of is not None,
                "through": through.isoformat() if through else None, "days": self.days,
                "as_of": local_iso(self.as_of)}


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


def running(kind: str, day: dt.date, now: dt.datetime | None = None) -> Period:
    """The period of ``kind`` holding ``day``, as it stands at ``now`` (the clock's): a finished one
    whole; one still running through today, its state as of now; one not yet begun, no day at all."""
    whole = period(kind, day)
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    if today >= whole.end:
        return whole
    upto = min(max(today + dt.timedelta(days=1), whole.start), whole.end)
    return Period(kind, whole.start, whole.end, upto, int(now.timestamp()))


def local_iso(instant: int | dt.datetime | None) -> str | None:
    """An instant as the reports show it: ISO 8601 in the centre's zone (+08:00), to the second."""
    if instant is None:
        return None
    if isinstance(instant, int):
        instant = dt.datetime.fromtimestamp(instant, dt.timezone.utc)
    return instant.astimezone(SHANGHAI).replace(microsecond=0).isoformat()


def epoch(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), SHANGHAI).timestamp())


def today() -> dt.date:
    return clock.today()
