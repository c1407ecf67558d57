"""Cache interface with a Redis backend (production) and an in-process backend (embedded).

A cache is an optimisation, never a source of truth: when Redis fails, reads are misses and
writes are dropped, the failure is logged and counted, and callers fall back to the database.

Services reach the cache through their session (``cache_of``), the way they reach the outbox:
the unit of work binds it. Writes to the cache follow the transaction, so the cache never holds
what the database may still roll back and never outlives a committed change:
- ``invalidate_after_commit`` replaces keys by short-lived tombstones once the transaction has
  committed;
- ``remember`` stores a value at once in a read-only unit, and after commit in a writing one
  (unless the same transaction invalidated that key), and never over a tombstone: a request
  that read the old row before someone else's change cannot write it back afterwards.
Key layout (seed 000): ``user:{id}``, ``user:{id}:friends``, ``post:{id}``, ``feed:{id}``,
``session:{id}``, ``notification:{id}:unread``.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.redis import REDIS_ERRORS

log = structlog.get_logger(__name__)


#: What an invalidated key holds for ``TOMBSTONE_SECONDS``: a read is a miss, and a value read
#: from the database before the invalidation cannot be written back over it (``set_many`` with
#: ``only_if_absent``), so a request in flight during a logout cannot re-cache the old session.
TOMBSTONE = b"\x00invalidated"
TOMBSTONE_SECONDS = 60


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...
    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...
    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None: ...
    async def set_many(
        self, items: dict[str, bytes], ttl_seconds: int, *, only_if_absent: bool = False
    ) -> None: ...
    async def delete(self, *keys: str) -> None: ...
    async def invalidate(self, *keys: str) -> None:
        """Replace the keys by tombstones (see ``TOMBSTONE``)."""
        ...


class NoCache:
    """Caches nothing (a session with no unit of work behind it)."""

    async def get(self, key: str) -> bytes | None:
        return None

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [None] * len(keys)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        return None

    async def set_many(
        self, items: dict[str, bytes], ttl_seconds: int, *, only_if_absent: bool = False
    ) -> None:
        return None

    async def delete(self, *keys: str) -> None:
        return None

    async def invalidate(self, *keys: str) -> None:
        return None


# --- the cache of a unit of work ------------------------------------------------------------


@dataclass(frozen=True)
class CacheTtls:
    """Seconds each kind of entry lives (seed 000; settings ``cache_*_ttl_seconds``)."""

    profile: int = 3600
    post: int = 1800
    friends: int = 3600
    session: int = 86400
    feed: int = 900


_CACHE = "townsquare.cache"
_TTLS = "townsquare.cache_ttls"
_READ_ONLY = "townsquare.cache_read_only"
_STALE = "townsquare.cache_stale"
_PENDING = "townsquare.cache_pending"


def bind_cache(session: AsyncSession, cache: Cache, ttls: CacheTtls, *, read_only: bool) -> None:
    session.info[_CACHE] = cache
    session.info[_TTLS] = ttls
    session.info[_READ_ONLY] = read_only


def cache_of(session: AsyncSession) -> Cache:
    cache: Cache = session.info.get(_CACHE) or NoCache()
    return cache


def ttls_of(session: AsyncSession) -> CacheTtls:
    ttls: CacheTtls = session.info.get(_TTLS) or CacheTtls()
    return ttls


def invalidate_after_commit(session: AsyncSession, *keys: str) -> None:
    """Delete ``keys`` from the cache once this transaction has committed."""
    session.info.setdefault(_STALE, set()).update(keys)


async def remember(session: AsyncSession, items: dict[str, Any], ttl_seconds: int) -> None:
    """Cache JSON-able ``items`` (key -> value): now if the unit only reads, else after commit."""
    if not items:
        return
    encoded = {key: orjson.dumps(value) for key, value in items.items()}
    if session.info.get(_READ_ONLY, False):
        await cache_of(session).set_many(encoded, ttl_seconds, only_if_absent=True)
    else:
        session.info.setdefault(_PENDING, []).append((encoded, ttl_seconds))


async def recall(session: AsyncSession, keys: Iterable[str]) -> dict[str, Any]:
    """The cached JSON values of those ``keys`` that are cached (one round trip)."""
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    values = await cache_of(session).get_many(wanted)
    return {key: orjson.loads(raw) for key, raw in zip(wanted, values, strict=True) if raw}


async def settle_after_commit(session: AsyncSession) -> None:
    """Apply what the committed transaction asked of the cache (called by the unit of work)."""
    stale: set[str] = session.info.pop(_STALE, set())
    pending: list[tuple[dict[str, bytes], int]] = session.info.pop(_PENDING, [])
    cache = cache_of(session)
    if stale:
        await cache.invalidate(*stale)
    for encoded, ttl_seconds in pending:
        fresh = {key: value for key, value in encoded.items() if key not in stale}
        if fresh:
            await cache.set_many(fresh, ttl_seconds, only_if_absent=True)


def forget_pending(session: AsyncSession) -> None:
    """Drop what a rolled-back transaction asked of the cache."""
    session.info.pop(_STALE, None)
    session.info.pop(_PENDING, None)


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
        return None if value == TOMBSTONE else value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return [await self.get(key) for key in keys]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self._entries[key] = (time.monotonic() + ttl_seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    async def set_many(
        self, items: dict[str, bytes], ttl_seconds: int, *, only_if_absent: bool = False
    ) -> None:
        for key, value in items.items():
            if only_if_absent and self._holds(key):
                continue
            await self.set(key, value, ttl_seconds)

    def _holds(self, key: str) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry[0] > time.monotonic()

    async def delete(self, *keys: str) -> None:
        for key in keys:
            self._entries.pop(key, None)

    async def invalidate(self, *keys: str) -> None:
        for key in keys:
            await self.set(key, TOMBSTONE, TOMBSTONE_SECONDS)

    def clear(self) -> None:
        self._entries.clear()


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
        return _live(value)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        try:
            values = await self._redis.mget([self._prefix + key for key in keys])
        except (RedisError, OSError) as exc:
            self._degraded("get", exc)
            return [None] * len(keys)
        return [_live(value) for value in values]

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        try:
            await self._redis.set(self._prefix + key, value, ex=ttl_seconds)
        except (RedisError, OSError) as exc:
            self._degraded("set", exc)

    async def set_many(
        self, items: dict[str, bytes], ttl_seconds: int, *, only_if_absent: bool = False
    ) -> None:
        if not items:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key, value in items.items():
                    pipe.set(self._prefix + key, value, ex=ttl_seconds, nx=only_if_absent)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self._degraded("set", exc)

    async def invalidate(self, *keys: str) -> None:
        if not keys:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self._prefix + key, TOMBSTONE, ex=TOMBSTONE_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            # A failed invalidation could leave stale data; the short TTLs bound how long.
            self._degraded("invalidate", exc)

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


def _live(value: bytes | str | None) -> bytes | None:
    raw = value.encode() if isinstance(value, str) else value
    return None if raw == TOMBSTONE else raw


def invalidated_here(session: AsyncSession) -> set[str]:
    """The keys this transaction will invalidate at commit: a reader in the same transaction
    must not trust the cache for them (it still holds the value from before the change)."""
    stale: set[str] = session.info.get(_STALE, set())
    return stale


def reads_only(session: AsyncSession) -> bool:
    """Whether the session's unit of work only reads (a GET): what it caches goes in at once."""
    return bool(session.info.get(_READ_ONLY, False))
