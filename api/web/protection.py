"""What guards the public pages: CSRF on every form, a per-client rate limit on submitting and
tracking, and security headers. All of it is scoped to the web pages; the JSON API is untouched."""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable

from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

SECURITY_HEADERS = {
    # no script, font or frame from anywhere; forms post only back here
    "content-security-policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}


def security_headers(app: ASGIApp, extra: dict[str, str] | None = None) -> ASGIApp:
    """Add the security headers to every response of the web pages, error pages included."""
    chosen = {**SECURITY_HEADERS, **(extra or {})}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableScopeHeaders.from_message(message)
                for name, value in chosen.items():
                    headers[name] = value
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


def security_headers_allowing(**changed: str) -> Callable[[ASGIApp], ASGIApp]:
    """``security_headers`` with some headers changed (``permissions_policy=...``): the console's phone
    pages use the camera and the position, and draw the chosen photos from ``blob:`` addresses."""
    return lambda app: security_headers(app, {name.replace("_", "-"): value for name, value in changed.items()})


def csrf_middleware(secret: str) -> DefineMiddleware:
    """Litestar's double-submit CSRF check, mounted on the web router only (never on /api)."""
    config = CSRFConfig(secret=secret, cookie_name="huying_csrf", cookie_httponly=True, cookie_samesite="lax")
    return DefineMiddleware(CSRFMiddleware, config=config)


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after}s")
        self.retry_after = retry_after


class RateLimiter:
    """A sliding window per client and per bucket ("submit", "track"), in this process's memory.

    Limits are ``(requests, seconds)``; several API processes each count their own share, which is
    enough to slow down a script hammering a form without a shared store.
    """

    MAX_CLIENTS = 50_000

    def __init__(self, limits: dict[str, tuple[int, int]], clock: Callable[[], float] = time.monotonic):
        self.limits = dict(limits)
        self.clock = clock
        self._hits: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, bucket: str, client: str) -> None:
        """Count one request; raise ``RateLimited`` when the client is over the bucket's limit."""
        count, window = self.limits[bucket]
        now = self.clock()
        with self._lock:
            if len(self._hits) > self.MAX_CLIENTS:
                self._forget_idle(now)
            hits = self._hits.setdefault((bucket, client), collections.deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) >= count:
                raise RateLimited(max(1, math.ceil(hits[0] + window - now)))
            hits.append(now)

    async def acquire(self, bucket: str, client: str) -> None:
        self.hit(bucket, client)

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()

    def _forget_idle(self, now: float) -> None:
        longest = max(window for _, window in self.limits.values())
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= now - longest]:
            del self._hits[key]


_SLIDING_WINDOW = """
local key, window, limit, member = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return math.max(1, math.ceil(tonumber(oldest[2]) + window - now))
end
redis.call('ZADD', key, now, member)
redis.call('EXPIRE', key, math.ceil(window))
return 0
"""


class RedisRateLimiter:
    """The same sliding window kept in Redis (``HUYING_REDIS_URL``), so every API process counts
    against one shared limit. The check and the count are one server-side script (atomic, on Redis's
    clock). If Redis cannot be reached the request is let through and a warning logged: the limit
    protects the forms, it must not take them down."""

    PREFIX = "huying:ratelimit"

    def __init__(self, url: str, limits: dict[str, tuple[int, int]]):
        import redis.asyncio

        self.limits = dict(limits)
        self._redis = redis.asyncio.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        self._script = self._redis.register_script(_SLIDING_WINDOW)

    async def acquire(self, bucket: str, client: str) -> None:
        import logging
        import uuid

        count, window = self.limits[bucket]
        try:
            retry_after = await self._script(keys=[f"{self.PREFIX}:{bucket}:{client}"],
                                             args=[window, count, uuid.uuid4().hex])
        except Exception:  # Redis down: fail open
            logging.getLogger(__name__).warning("rate limit store unreachable; request let through", exc_info=True)
            return
        if int(retry_after):
            raise RateLimited(int(retry_after))

    async def reset(self) -> None:
        async for key in self._redis.scan_iter(match=f"{self.PREFIX}:*"):
            await self._redis.delete(key)

    async def close(self) -> None:
        await self._redis.aclose()


def make_limiter(redis_url: str | None, limits: dict[str, tuple[int, int]]):
    return RedisRateLimiter(redis_url, limits) if redis_url else RateLimiter(limits)


def parse_limit(text: str | None, default: tuple[int, int]) -> tuple[int, int]:
    """``"20/600"`` → 20 requests per 600 seconds."""
    if not text:
        return default
    count, _, seconds = text.partition("/")
    return int(count), int(seconds or 60)
