"""Rate limits on top of ``limits`` (moving windows in Redis, or in process memory).

``RateLimiter.hit`` consumes one unit for a key and raises ``TooManyRequests`` with
``Retry-After`` when the window is full; the ``RateLimit-*`` headers of the IETF draft describe
the tightest limit that applied, for the endpoint to copy onto its response.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import structlog
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from townsquare.kit.errors import TooManyRequests
from townsquare.kit.redis import REDIS_ERRORS

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RateLimitState:
    limit: int
    remaining: int
    reset_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }


@lru_cache(maxsize=256)
def _parse(rule: str) -> tuple[RateLimitItem, ...]:
    """A rule's limits, parsed once (rules come from the settings: a handful of strings)."""
    return tuple(parse_many(rule))


class RateLimiter:
    def __init__(self, storage: Storage, *, enabled: bool = True) -> None:
        self._storage = storage
        self._strategy = MovingWindowRateLimiter(storage)
        self.enabled = enabled

    @classmethod
    def in_memory(cls, *, enabled: bool = True) -> RateLimiter:
        return cls(MemoryStorage(), enabled=enabled)

    @classmethod
    def on_redis(cls, url: str, prefix: str, *, enabled: bool = True) -> RateLimiter:
        storage = RedisStorage(
            "async+" + url,
            implementation="redispy",
            key_prefix=prefix + "rl",
            wrap_exceptions=False,
            socket_connect_timeout=0.5,
            socket_timeout=0.5,
        )
        return cls(storage, enabled=enabled)

    async def hit(self, rule: str, scope: str, key: str, cost: int = 1) -> RateLimitState | None:
        """Consume ``cost`` from every limit in ``rule`` for ``scope``/``key``.

        All limits are tested before any is charged, so a refused request uses up nothing.
        Fails open when the store is unreachable: a Redis outage must not lock everybody out.
        """
        if not self.enabled:
            return None
        items = _parse(rule)
        try:
            if len(items) == 1:
                return await self._hit_one(items[0], scope, key, cost)
            for item in items:
                if not await self._strategy.test(item, scope, key, cost=cost):
                    state = await self._state(item, scope, key)
                    raise TooManyRequests(max(state.reset_seconds, 1), headers=state.headers())
            states = []
            for item in items:
                await self._strategy.hit(item, scope, key, cost=cost)
                states.append(await self._state(item, scope, key))
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("ratelimit").inc()
            log.warning("ratelimit_unavailable", error=str(exc))
            return None
        return min(states, key=lambda state: state.remaining, default=None)

    async def _hit_one(
        self, item: RateLimitItem, scope: str, key: str, cost: int
    ) -> RateLimitState:
        """One limit: its ``hit`` tests and charges atomically (a refused hit charges nothing),
        so the separate test the many-limit case needs is a round trip saved here."""
        if not await self._strategy.hit(item, scope, key, cost=cost):
            state = await self._state(item, scope, key)
            raise TooManyRequests(max(state.reset_seconds, 1), headers=state.headers())
        return await self._state(item, scope, key)

    async def count(self, rule: str, scope: str, key: str) -> int:
        """How many units were used in the tightest window of ``rule`` (0 when unknown)."""
        if not self.enabled:
            return 0
        used = 0
        for item in _parse(rule):
            try:
                state = await self._state(item, scope, key)
            except (RedisError, OSError):
                REDIS_ERRORS.labels("ratelimit").inc()
                return 0
            used = max(used, state.limit - state.remaining)
        return used

    async def check(self, rule: str, scope: str, key: str) -> None:
        """Raise ``TooManyRequests`` if ``rule`` is exhausted, without consuming anything."""
        if not self.enabled:
            return
        for item in _parse(rule):
            try:
                state = await self._state(item, scope, key)
            except (RedisError, OSError):
                REDIS_ERRORS.labels("ratelimit").inc()
                return
            if state.remaining <= 0:
                raise TooManyRequests(max(state.reset_seconds, 1), headers=state.headers())

    async def first_in_window(self, scope: str, key: str, seconds: int) -> bool:
        """True for the first call with ``scope``/``key`` in ``seconds``, False for the repeats.

        One atomic counter in the limiter's store (Redis ``INCR`` + ``EXPIRE`` in one script, or
        process memory), so it holds across processes; not a rate limit, so ``enabled`` does not
        apply. Fails open (True) when the store is unreachable.
        """
        try:
            return await self._storage.incr(f"once/{scope}/{key}", seconds) == 1
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("ratelimit").inc()
            log.warning("ratelimit_unavailable", error=str(exc))
            return True

    async def reset(self, rule: str, scope: str, key: str) -> None:
        for item in _parse(rule):
            try:
                await self._strategy.clear(item, scope, key)
            except (RedisError, OSError):
                REDIS_ERRORS.labels("ratelimit").inc()

    async def _state(self, item: RateLimitItem, scope: str, key: str) -> RateLimitState:
        stats = await self._strategy.get_window_stats(item, scope, key)
        reset = max(0, math.ceil(stats.reset_time - time.time()))
        return RateLimitState(item.amount, max(stats.remaining, 0), reset)
