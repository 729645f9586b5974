"""One sign-in policy for the API (``POST /api/auth/token``) and the console (``/console/login``).

Failures are counted per account and per client address. Past ``count`` failures within the window
each further attempt must wait, and the wait doubles with every failure after that (``delay``, then
2×, 4×, … capped at the window): answered 429 with ``Retry-After`` before any password is checked.
A wait, not a lockout a stranger can impose: an address the account signed in from successfully
before (remembered per account) is counted on its own, so the owner at their usual desk is not held
up by someone guessing the account from elsewhere, nor by other people's failures behind the same
NAT; guessing from that address is throttled just the same.

Every attempt is written to the access audit with the username tried, the address and the outcome
(登录成功 / 登录失败 / 登录受限). An unknown user, a wrong password and a deactivated account get the
same answer in the same time (``core.auth.check_credentials``).

Counts live in Redis when ``HUYING_REDIS_URL`` is set (shared by every process, beside the web
forms' limits), in this process's memory otherwise; if Redis cannot be reached the process counts on
its own (and logs a warning) rather than letting guesses through uncounted.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import math
import time
import uuid
from collections.abc import Callable

from core import access_audit, clock
from core.auth import check_credentials
from core.errors import TooManyRequests, Unauthorized
from core.tables import SignInAddress

log = logging.getLogger(__name__)

KNOWN_ADDRESSES_KEPT = 10  # per account, the most recent
KNOWN_ADDRESS_DAYS = 90  # an address not signed in from for this long is a stranger's again
MAX_COUNTED = 64  # failures kept per bucket: enough for the longest wait


class MemoryFailures:
    """Failure times per bucket in this process's memory (a sliding window)."""

    MAX_BUCKETS = 50_000

    def __init__(self, now: Callable[[], float] = time.monotonic):
        self.now = now
        self._failures: dict[str, collections.deque[float]] = {}

    def _recent(self, bucket: str, window: int) -> collections.deque[float]:
        failures = self._failures.get(bucket)
        if failures is None:
            return collections.deque()
        now = self.now()
        while failures and failures[0] <= now - window:
            failures.popleft()
        return failures

    async def recent(self, bucket: str, window: int) -> tuple[int, float]:
        """(failures within the window, seconds since the last one)."""
        failures = self._recent(bucket, window)
        return len(failures), (self.now() - failures[-1]) if failures else math.inf

    async def add(self, bucket: str, window: int) -> None:
        if len(self._failures) > self.MAX_BUCKETS:
            self._failures.clear()
        self._recent(bucket, window)
        self._failures.setdefault(bucket, collections.deque(maxlen=MAX_COUNTED)).append(self.now())

    async def clear(self, bucket: str) -> None:
        self._failures.pop(bucket, None)

    async def reset(self) -> None:
        self._failures.clear()


_RECENT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
local n = redis.call('ZCARD', KEYS[1])
if n == 0 then return {0, '-1'} end
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
return {n, tostring(now - tonumber(last[2]))}
"""

_ADD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
redis.call('ZADD', KEYS[1], now, ARGV[2])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -1 - tonumber(ARGV[3]))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[1])))
return 0
"""


class RedisFailures:
    """The same counts in Redis, on Redis's clock, under the web forms' key prefix: every API process
    sees every failure. Unreachable, it falls back to counting in this process."""

    PREFIX = "huying:ratelimit:login"

    def __init__(self, url: str):
        import redis.asyncio

        self._redis = redis.asyncio.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._recent_script = self._redis.register_script(_RECENT)
        self._add_script = self._redis.register_script(_ADD)
        self.fallback = MemoryFailures()

    def _key(self, bucket: str) -> str:
        return f"{self.PREFIX}:{bucket}"

    async def recent(self, bucket: str, window: int) -> tuple[int, float]:
        try:
            count, since = await self._recent_script(keys=[self._key(bucket)], args=[window])
        except Exception:
            log.warning("sign-in throttle store unreachable; counting in this process", exc_info=True)
            return await self.fallback.recent(bucket, window)
        since = float(since)
        return int(count), since if since >= 0 else math.inf

    async def add(self, bucket: str, window: int) -> None:
        try:
            await self._add_script(keys=[self._key(bucket)], args=[window, uuid.uuid4().hex, MAX_COUNTED])
        except Exception:
            log.warning("sign-in throttle store unreachable; counting in this process", exc_info=True)
            await self.fallback.add(bucket, window)

    async def clear(self, bucket: str) -> None:
        try:
            await self._redis.delete(self._key(bucket))
        except Exception:
            log.warning("sign-in throttle store unreachable", exc_info=True)
        await self.fallback.clear(bucket)

    async def reset(self) -> None:
        async for key in self._redis.scan_iter(match=f"{self.PREFIX}:*"):
            await self._redis.delete(key)
        await self.fallback.reset()


class SignInPolicy:
    """Throttle, check, audit, remember: ``sign_in`` is the one way a password becomes a user.

    Limits are ``(failures, seconds)``: after that many failures within the window, the next attempt
    waits ``delay`` seconds from the last failure, then twice as long after each further failure, at
    most the window."""

    def __init__(self, store, *, per_account: tuple[int, int], per_address: tuple[int, int], delay: int = 30):
        self.store = store
        self.limits = {"account": per_account, "address": per_address, "known": per_account}
        self.delay = max(1, delay)

    @classmethod
    def from_settings(cls, settings) -> SignInPolicy:
        store = RedisFailures(settings.redis_url) if settings.redis_url else MemoryFailures()
        return cls(store, per_account=settings.login_limit_account, per_address=settings.login_limit_address,
                   delay=settings.login_delay_seconds)

    def _buckets(self, username: str, address: str, known: bool) -> list[tuple[str, str]]:
        if known:  # the owner's usual address: only failures of this account from here count
            return [("known", f"known:{username}|{address}")]
        return [("account", f"account:{username}"), ("address", f"address:{address}")]

    async def wait(self, username: str, address: str, known: bool) -> tuple[int, str]:
        """Seconds until an attempt is let through (0: now), and which limit holds it."""
        longest, which = 0, ""
        for kind, bucket in self._buckets(username, address, known):
            count, window = self.limits[kind]
            failures, since = await self.store.recent(bucket, window)
            if failures < count:
                continue
            pause = min(window, self.delay * 2 ** min(failures - count, 30))
            remaining = math.ceil(pause - since)
            if remaining > longest:
                longest, which = remaining, kind
        return longest, which

    async def sign_in(self, username: str, password: str, *, address: str, via: str) -> dict:
        """The user for these credentials; ``Unauthorized`` (the same for every kind of wrong), or
        ``TooManyRequests`` while a wait is running. Every outcome is in the access audit."""
        known = await is_known_address(username, address)
        detail = {"via": via, "known_address": known}
        waiting, which = await self.wait(username, address, known)
        if waiting > 0:
            await access_audit.record("login_throttled", actor=username, address=address,
                                      detail={**detail, "retry_after": waiting, "limit": which})
            what = "您所在的网络" if which == "address" else "该账号"
            raise TooManyRequests(f"{what}登录失败次数过多，请 {waiting} 秒后再试", waiting,
                                  "address" if which == "address" else "username")
        user = await check_credentials(username, password)
        if user is None:
            for kind, bucket in self._buckets(username, address, known):
                await self.store.add(bucket, self.limits[kind][1])
            if known:  # failures from a known address still count towards that address's limit
                await self.store.add(f"address:{address}", self.limits["address"][1])
            await access_audit.record("login_failed", actor=username, address=address, detail=detail)
            raise Unauthorized("用户名或密码错误")
        await self.store.clear(f"known:{username}|{address}" if known else f"account:{username}")
        await remember_address(username, address)
        await access_audit.record("login_succeeded", actor=user["username"], role=user["role"], address=address,
                                  detail=detail)
        return user

    async def reset(self) -> None:
        await self.store.reset()


async def is_known_address(username: str, address: str) -> bool:
    """Whether this account signed in successfully from this address in the last
    ``KNOWN_ADDRESS_DAYS`` days."""
    if not address:
        return False
    since = clock.now() - dt.timedelta(days=KNOWN_ADDRESS_DAYS)
    return await SignInAddress.exists().where(
        (SignInAddress.key == f"{username}|{address}") & (SignInAddress.last_at >= since))


async def remember_address(username: str, address: str) -> None:
    """Mark the address as the account's own; keep the ``KNOWN_ADDRESSES_KEPT`` most recent."""
    if not address:
        return
    now = clock.now()
    key = f"{username}|{address}"
    await SignInAddress.insert(SignInAddress(key=key, username=username, address=address[:64], last_at=now)).on_conflict(
        target=SignInAddress.key, action="DO UPDATE", values=[SignInAddress.last_at])
    older = await SignInAddress.select(SignInAddress.id).where(SignInAddress.username == username).order_by(
        SignInAddress.last_at, ascending=False).offset(KNOWN_ADDRESSES_KEPT).limit(100)
    if older:
        await SignInAddress.delete().where(SignInAddress.id.is_in([r["id"] for r in older]))
