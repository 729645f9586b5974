"""Signed, expiring links to an order's tracking page, sent in its text messages so that nobody
retypes a 16-character number and an 8-character query code on a phone.

A link names the order and the last day it works, signed with the platform's secret key: it opens
what the number and the query code open (the order's public view and its rating), nothing more,
and it stops working after that day. It carries no query code and no personal data.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re

DEFAULT_DAYS = 90  # long enough to rate an order after a rework; a receipt kept for years opens nothing
_TOKEN = re.compile(r"^([A-Z0-9]{4,32})\.(\d{8})\.([A-Za-z0-9_-]{16})$")


def _signature(secret: str, number: str, last_day: str) -> str:
    key = hashlib.sha256(b"huying-tracking-link:" + secret.encode()).digest()
    digest = hmac.new(key, f"{number}.{last_day}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()[:16]


def make_token(number: str, last_day: dt.date, secret: str) -> str:
    day = last_day.strftime("%Y%m%d")
    return f"{number}.{day}.{_signature(secret, number, day)}"


def link(public_url: str, number: str, today: dt.date, secret: str, days: int = DEFAULT_DAYS) -> str:
    """The absolute link a text message carries, working through ``today + days``."""
    return f"{public_url.rstrip('/')}/t/{make_token(number, today + dt.timedelta(days=days), secret)}"


def read_token(token: str, secret: str, today: dt.date) -> tuple[str | None, bool]:
    """``(number, expired)``: the order's number when the signature holds (``expired`` when its last
    day has passed), ``(None, False)`` for anything else, compared in constant time."""
    match = _TOKEN.match(token or "")
    if not match:
        return None, False
    number, day, signature = match.groups()
    if not hmac.compare_digest(signature, _signature(secret, number, day)):
        return None, False
    try:
        last_day = dt.date(int(day[:4]), int(day[4:6]), int(day[6:]))
    except ValueError:
        return None, False
    return number, today > last_day
