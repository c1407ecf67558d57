"""Rate limits in memory and on Redis: moving windows, 429 with Retry-After, fail open."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from tests.conftest import REDIS_URL, Backend
from tests.fixtures.users import PASSWORD, register
from tests.kit.helpers import AppFactory, running
from townsquare.kit.errors import PROBLEM_CONTENT_TYPE, TooManyRequests
from townsquare.kit.ratelimit import RateLimiter

DEAD_REDIS = "redis://127.0.0.1:1/0"
RULE = "3/minute"


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        yield RateLimiter.in_memory()
        return
    if not REDIS_URL:
        pytest.skip("TOWNSQUARE_TEST_REDIS_URL is not set")
    prefix = f"ts-test-rl-{uuid.uuid4().hex[:8]}:"
    yield RateLimiter.on_redis(REDIS_URL, prefix)
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_hits_until_429(limiter: RateLimiter) -> None:
    states = [await limiter.hit(RULE, "login", "198.51.100.1") for _ in range(3)]
    assert [s.remaining for s in states if s] == [2, 1, 0]
    assert all(s is not None and s.limit == 3 for s in states)
    assert all(s is not None and 0 < s.reset_seconds <= 60 for s in states)
    assert states[0] is not None
    assert states[0].headers() == {
        "RateLimit-Limit": "3",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": str(states[0].reset_seconds),
    }

    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit(RULE, "login", "198.51.100.1")
    error = caught.value
    assert error.status == 429
    assert error.code == "rate_limited"
    assert 1 <= error.retry_after <= 60
    assert error.headers["Retry-After"] == str(error.retry_after)
    assert error.headers["RateLimit-Limit"] == "3"
    assert error.headers["RateLimit-Remaining"] == "0"

    # Keys and scopes are independent.
    assert await limiter.hit(RULE, "login", "198.51.100.2") is not None
    assert await limiter.hit(RULE, "register", "198.51.100.1") is not None


async def test_count_check_and_reset(limiter: RateLimiter) -> None:
    key = "account-1"
    assert await limiter.count(RULE, "pw", key) == 0
    for _ in range(5):
        await limiter.check(RULE, "pw", key)  # checking consumes nothing
    assert await limiter.count(RULE, "pw", key) == 0

    await limiter.hit(RULE, "pw", key)
    await limiter.hit(RULE, "pw", key)
    assert await limiter.count(RULE, "pw", key) == 2
    await limiter.check(RULE, "pw", key)
    await limiter.hit(RULE, "pw", key)
    assert await limiter.count(RULE, "pw", key) == 3
    with pytest.raises(TooManyRequests) as caught:
        await limiter.check(RULE, "pw", key)
    assert caught.value.retry_after >= 1
    # A refused hit does not consume.
    with pytest.raises(TooManyRequests):
        await limiter.hit(RULE, "pw", key)
    assert await limiter.count(RULE, "pw", key) == 3

    await limiter.reset(RULE, "pw", key)
    assert await limiter.count(RULE, "pw", key) == 0
    await limiter.check(RULE, "pw", key)
    state = await limiter.hit(RULE, "pw", key)
    assert state is not None
    assert state.remaining == 2


async def test_several_limits_report_the_tightest(limiter: RateLimiter) -> None:
    rule = "10/minute;3/hour"
    state = await limiter.hit(rule, "multi", "k")
    assert state is not None
    assert (state.limit, state.remaining) == (3, 2)
    state = await limiter.hit(rule, "multi", "k", cost=2)
    assert state is not None
    assert (state.limit, state.remaining) == (3, 0)
    with pytest.raises(TooManyRequests) as caught:
        await limiter.hit(rule, "multi", "k")
    assert caught.value.headers["RateLimit-Limit"] == "3"
    assert caught.value.retry_after > 60  # the hourly window is the one that is full


async def test_disabled_limiter_never_limits() -> None:
    limiter = RateLimiter.in_memory(enabled=False)
    for _ in range(20):
        assert await limiter.hit("1/hour", "s", "k") is None
        await limiter.check("1/hour", "s", "k")
    assert await limiter.count("1/hour", "s", "k") == 0


def _ratelimit_errors() -> float:
    value = REGISTRY.get_sample_value("townsquare_redis_errors_total", {"component": "ratelimit"})
    return value or 0.0


async def test_dead_redis_fails_open() -> None:
    limiter = RateLimiter.on_redis(DEAD_REDIS, "ts-test-dead:")
    before = _ratelimit_errors()
    for _ in range(5):
        assert await limiter.hit("1/hour", "s", "k") is None
    await limiter.check("1/hour", "s", "k")
    assert await limiter.count("1/hour", "s", "k") == 0
    await limiter.reset("1/hour", "s", "k")
    assert _ratelimit_errors() - before == 8


async def test_limited_endpoint_answers_429_problem(app_factory: AppFactory) -> None:
    application = await app_factory(rate_limit_login_per_ip="2/minute")
    async with running(application, started=True) as http:
        account = await register(http)
        body = {"identifier": account["username"], "password": PASSWORD}
        first = await http.post("/api/v1/auth/login", json=body)
        second = await http.post("/api/v1/auth/login", json=body)
        third = await http.post("/api/v1/auth/login", json=body)

    assert first.status_code == 200, first.text
    assert first.headers["ratelimit-limit"] == "2"
    assert first.headers["ratelimit-remaining"] == "1"
    assert second.headers["ratelimit-remaining"] == "0"
    assert third.status_code == 429
    assert third.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = third.json()
    assert problem["code"] == "rate_limited"
    assert 1 <= problem["retry_after"] <= 60
    assert third.headers["retry-after"] == str(problem["retry_after"])


async def test_limits_are_shared_between_app_instances(
    app_factory: AppFactory, backend: Backend
) -> None:
    """On Redis two processes share one budget; in memory each process has its own."""
    first = await app_factory(rate_limit_login_per_ip="2/minute")
    second = await app_factory(rate_limit_login_per_ip="2/minute")
    body = {"identifier": "nobody_here", "password": PASSWORD}
    async with running(first, started=True) as one, running(second, started=True) as two:
        await one.post("/api/v1/auth/login", json=body)
        await one.post("/api/v1/auth/login", json=body)
        response = await two.post("/api/v1/auth/login", json=body)
    assert response.status_code == (429 if backend.redis_url else 401)
