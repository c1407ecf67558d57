"""The shared Redis client (production mode) and a health signal for when it goes away."""

from __future__ import annotations

from prometheus_client import Counter
from redis.asyncio import Redis

REDIS_ERRORS = Counter(
    "townsquare_redis_errors_total",
    "Redis operations that failed and fell back to the database or to no limit",
    ["component"],
)


def create_redis(url: str) -> Redis:
    # Short timeouts: a dead Redis must cost a request milliseconds, not seconds.
    return Redis.from_url(
        url,
        socket_connect_timeout=0.5,
        socket_timeout=0.5,
        health_check_interval=15,
        retry_on_timeout=False,
    )


class OutageTracker:
    """What this process could not write to Redis, until a later success reports the recovery.

    Components whose Redis data goes stale when a write is lost (the home feeds) note the
    failure, and on their next successful call tell every process that data written before
    the recovery must be rebuilt.
    """

    def __init__(self) -> None:
        self._failed: set[str] = set()

    def failed(self, component: str) -> None:
        self._failed.add(component)

    def take_recovery(self, component: str) -> bool:
        """Whether ``component`` failed since the last call (and forget it)."""
        if component in self._failed:
            self._failed.discard(component)
            return True
        return False
