"""The platform's one notion of "now": deadlines, sweeps, reports, warnings and every stamp read it here.

In production it is the system clock. ``HUYING_CLOCK`` (an instant with a zone, such as
``2031-03-15T10:00:00+08:00``) starts the clock at that instant and lets it run on from there, so a
whole process (the test suite, a demo) lives at another date without anything else knowing. A test
sets an exact instant with ``freeze``, a running clock from an instant with ``start_at``, moves it
with ``advance``, and ``reset`` returns to the process's clock. Durations measured inside one process (timeouts, rate-limit windows, token lifetimes)
use ``time.monotonic``/``time.time`` instead: they are about elapsed seconds, not the calendar.
"""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")  # the centre's zone: every local day and every shown instant
# its offset in seconds, for day arithmetic in SQL (no daylight saving since 1991, so one number)
SHANGHAI_OFFSET_SECONDS = int(SHANGHAI.utcoffset(dt.datetime(2000, 1, 1)).total_seconds())
UTC = dt.timezone.utc
ENVIRONMENT_VARIABLE = "HUYING_CLOCK"


def parse_instant(text: str) -> dt.datetime:
    """An ISO 8601 instant that names its zone (a bare date or a naive time is refused)."""
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must name its zone, e.g. 2031-03-15T10:00:00+08:00: {text!r}")
    return moment.astimezone(UTC)


def _offset_from_environment() -> dt.timedelta:
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return dt.timedelta(0)
    return parse_instant(text) - dt.datetime.now(UTC)


_base_offset = _offset_from_environment()
_offset = _base_offset
_frozen: dt.datetime | None = None


def now() -> dt.datetime:
    """The current instant, aware, in UTC."""
    if _frozen is not None:
        return _frozen
    return dt.datetime.now(UTC) + _offset


def local_now() -> dt.datetime:
    """The current instant in the centre's zone."""
    return now().astimezone(SHANGHAI)


def today() -> dt.date:
    """The centre's local date."""
    return local_now().date()


def freeze(moment: dt.datetime | str) -> dt.datetime:
    """Stop the clock at ``moment`` (aware, or ISO text with a zone) until ``advance``, ``resume`` or ``reset``."""
    global _frozen
    _frozen = parse_instant(moment) if isinstance(moment, str) else parse_instant(moment.isoformat())
    return _frozen


def start_at(moment: dt.datetime | str) -> dt.datetime:
    """Let the clock run on from ``moment`` (as ``HUYING_CLOCK`` does for a whole process)."""
    global _frozen, _offset
    start = parse_instant(moment) if isinstance(moment, str) else parse_instant(moment.isoformat())
    _frozen = None
    _offset = start - dt.datetime.now(UTC)
    return start


def advance(delta: dt.timedelta) -> dt.datetime:
    """Move the clock on by ``delta`` (frozen or running)."""
    global _frozen, _offset
    if _frozen is not None:
        _frozen += delta
        return _frozen
    _offset += delta
    return now()


def resume() -> None:
    """Let a frozen clock run on from where it stands."""
    global _frozen, _offset
    if _frozen is not None:
        _offset = _frozen - dt.datetime.now(UTC)
        _frozen = None


def reset() -> None:
    """Back to the process's own clock (the system clock, or where ``HUYING_CLOCK`` started it)."""
    global _frozen, _offset
    _frozen = None
    _offset = _base_offset
