"""Web-form rate limits: kept in Redis when it is configured, so several API processes share them."""

from __future__ import annotations

import os

import msgspec
import pytest

from api.web import Web
from api.web.protection import RateLimited, RateLimiter, RedisRateLimiter

REDIS_URL = os.environ.get("HUYING_TEST_REDIS_URL")
if os.environ.get("CI") == "true" and not REDIS_URL:
    raise RuntimeError("CI=true but HUYING_TEST_REDIS_URL is not set: Redis must be tested")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="Redis is not reachable here (set HUYING_TEST_REDIS_URL)")


@needs_redis
async def test_two_api_processes_count_against_one_limit():
    first, second = (RedisRateLimiter(REDIS_URL, {"submit": (2, 60)}) for _ in range(2))
    try:
        await first.reset()
        await first.acquire("submit", "203.0.113.9")
        await second.acquire("submit", "203.0.113.9")
        with pytest.raises(RateLimited) as limited:
            await first.acquire("submit", "203.0.113.9")
        assert 1 <= limited.value.retry_after <= 60
        await second.acquire("submit", "198.51.100.7")  # another client has its own allowance
    finally:
        await first.reset()
        await first.close()
        await second.close()


async def test_an_unreachable_redis_lets_the_form_through():
    limiter = RedisRateLimiter("redis://127.0.0.1:1/0", {"submit": (1, 60)})
    for _ in range(3):
        await limiter.acquire("submit", "203.0.113.9")
    await limiter.close()


def test_the_limiter_follows_the_settings(platform):
    assert isinstance(Web(platform).limiter, RateLimiter)
    platform.settings = msgspec.structs.replace(platform.settings, redis_url="redis://127.0.0.1:6379/7")
    assert isinstance(Web(platform).limiter, RedisRateLimiter)
