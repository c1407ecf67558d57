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
