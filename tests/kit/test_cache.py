"""The cache interface: in-process and Redis backends behave alike; a dead Redis is a miss."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from townsquare.kit.cache import Cache, MemoryCache, RedisCache
from townsquare.kit.redis import create_redis

DEAD_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    if request.param == "memory":
        yield MemoryCache()
        return
    if not REDIS_URL:
        pytest.skip("TOWNSQUARE_TEST_REDIS_URL is not set")
    redis = create_redis(REDIS_URL)
    prefix = f"ts-test-cache-{uuid.uuid4().hex[:8]}:"
    try:
        yield RedisCache(redis, prefix)
    finally:
        keys = [key async for key in redis.scan_iter(match=f"{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def test_get_set_delete(cache: Cache) -> None:
    assert await cache.get("missing") is None
    await cache.set("a", b"\x00binary\xff", 60)
    await cache.set("b", b"two", 60)
    await cache.set("c", b"three", 60)
    assert await cache.get("a") == b"\x00binary\xff"
    await cache.set("a", b"replaced", 60)
    assert await cache.get("a") == b"replaced"

    await cache.delete("a", "b", "never-set")
    assert await cache.get("a") is None
    assert await cache.get("b") is None
    assert await cache.get("c") == b"three"
    await cache.delete()  # nothing to delete is fine
    assert await cache.get("c") == b"three"


async def test_entries_expire_after_their_ttl(cache: Cache) -> None:
    await cache.set("short", b"soon gone", 1)
    await cache.set("long", b"stays", 60)
    assert await cache.get("short") == b"soon gone"
    await asyncio.sleep(1.2)
    assert await cache.get("short") is None
    assert await cache.get("long") == b"stays"


@pytest.mark.skipif(not REDIS_URL, reason="TOWNSQUARE_TEST_REDIS_URL is not set")
async def test_redis_cache_keys_are_prefixed_and_expire() -> None:
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    prefix = f"ts-test-cache-{uuid.uuid4().hex[:8]}:"
    cache = RedisCache(redis, prefix)
    try:
        await cache.set("k", b"v", 30)
        assert await redis.get(f"{prefix}k") == b"v"
        assert await redis.get("k") is None
        assert 0 < await redis.ttl(f"{prefix}k") <= 30
    finally:
        await redis.delete(f"{prefix}k")
        await redis.aclose()


async def test_memory_cache_is_bounded_lru() -> None:
    cache = MemoryCache(max_entries=2)
    await cache.set("a", b"1", 60)
    await cache.set("b", b"2", 60)
    assert await cache.get("a") == b"1"  # a is now the most recently used
    await cache.set("c", b"3", 60)
    assert await cache.get("b") is None
    assert await cache.get("a") == b"1"
    assert await cache.get("c") == b"3"


def _cache_errors() -> float:
    value = REGISTRY.get_sample_value("townsquare_redis_errors_total", {"component": "cache"})
    return value or 0.0


async def test_dead_redis_is_a_miss_and_is_counted() -> None:
    redis = create_redis(DEAD_REDIS)
    cache = RedisCache(redis, "ts-test-dead:")
    before = _cache_errors()
    try:
        assert await cache.get("k") is None
        await cache.set("k", b"v", 60)
        await cache.delete("k", "j")
        assert await cache.get("k") is None
    finally:
        await redis.aclose()
    assert _cache_errors() - before == 4
