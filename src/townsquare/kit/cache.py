"""Cache interface with a Redis backend (production) and an in-process backend (embedded).

A cache is an optimisation, never a source of truth: when Redis fails, reads are misses and
writes are dropped, the failure is logged and counted, and callers fall back to the database.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Protocol

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

from townsquare.kit.redis import REDIS_ERRORS

log = structlog.get_logger(__name__)


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def delete(self, *keys: str) -> None: ...


class MemoryCache:
    """A bounded LRU with per-entry expiry, for a single embedded process."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._max_entries = max_entries

    async def get(self, key: str) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= time.monotonic():
            self._entries.pop(key, None)
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)


class RedisCache:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def get(self, key: str) -> bytes | None:
        try:
            value = await self._redis.get(self._prefix + key)
        except (RedisError, OSError) as exc:
            self._degraded("get", exc)
            return None
        return value.encode() if isinstance(value, str) else value

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl_seconds)
        except (RedisError, OSError) as exc:
            self._degraded("set", exc)

    async def delete(self, *keys: str) -> None:
        if not keys:
            return
        try:
            await self._redis.delete(*(self._prefix + key for key in keys))
        except (RedisError, OSError) as exc:
            # A failed invalidation could leave stale data; the short TTLs bound how long.
            self._degraded("delete", exc)

    @staticmethod
    def _degraded(operation: str, exc: Exception) -> None:
        REDIS_ERRORS.labels("cache").inc()
        log.warning("cache_unavailable", operation=operation, error=str(exc))
