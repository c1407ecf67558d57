"""Feed stores: where fan-out on write puts post ids and a page finds its candidates.

Two stores implement one protocol (``FeedStore``); configuration picks one (``service.feed_store``):
``RedisFeedStore`` when Redis is configured (production), ``DatabaseFeedStore`` (the home inbox
tables, ``models.py``) otherwise (the embedded default). The service runs the same code over
either. Every operation takes the session it may write with (the Redis store ignores it).

Home feeds as capped Redis sorted sets (production), after Mastodon's FeedManager.

``feed:{user_id}`` holds post ids scored by publication time in milliseconds, at most
``feed_max_items`` of them, and lives ``feed_ttl_seconds`` (seed 000: 15 minutes) after its
owner last read it. Only existing feeds receive fan-out, so "recently active" means "read their
feed within the TTL"; a missing feed is rebuilt from the database on the next read.

Each feed holds a marker member ``-`` scored by minus its build time: it tells an empty feed from
an expired one, and lets a feed built before a Redis outage ended be rebuilt (a fan-out lost
during the outage would otherwise be missing from it): a process that failed to write feeds
sets ``feed:stale-before`` once Redis answers again, and older feeds count as missing.
The store is an index, not the truth: every page is filtered again in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.feed import repository

SENTINEL = "-"

#: Push one post into every feed among KEYS that exists, keeping at most ARGV[3] posts in each
#: (the marker sits at rank 0 with a negative score and is never trimmed). Returns how many
#: feeds got it.
_PUSH = """
local pushed = 0
local cap = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    redis.call('ZADD', key, ARGV[1], ARGV[2])
    local size = redis.call('ZCARD', key)
    if size > cap + 1 then
      redis.call('ZREMRANGEBYRANK', key, 1, size - cap - 1)
    end
    pushed = pushed + 1
  end
end
return pushed
"""

#: Redis failures a store operation may raise (connection refused, timeouts, server errors).
STORE_ERRORS = (RedisError, OSError)


def score_of(published_at: datetime) -> int:
    return int(published_at.timestamp() * 1000)


def moment_of(score: float) -> datetime:
    return datetime.fromtimestamp(score / 1000, tz=UTC)


@dataclass(frozen=True)
class FeedWindow:
    """Up to ``asked`` post ids at or below a score, newest first, with their scores."""

    entries: list[tuple[uuid.UUID, float]]
    asked: int
    #: Posts the feed holds in all (the sentinel not counted).
    size: int

    @property
    def is_full(self) -> bool:
        """More posts may follow below the last entry."""
        return len(self.entries) >= self.asked


class FeedStore(Protocol):
    """What the feed service asks of a store (both keep at most ``max_items`` per feed)."""

    max_items: int

    async def mark_stale(self, session: AsyncSession, moment: datetime) -> None: ...

    async def read(
        self, session: AsyncSession, user_id: uuid.UUID, max_score: float | None, count: int
    ) -> FeedWindow | None: ...

    async def replace(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None: ...

    async def add(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None: ...

    async def push(
        self,
        session: AsyncSession,
        post_id: uuid.UUID,
        score: int,
        user_ids: Sequence[uuid.UUID],
        batch_size: int,
    ) -> int: ...

    async def drop(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None: ...


class DatabaseFeedStore:
    """The home inbox (embedded mode): the Redis store's semantics over two tables, in the
    caller's transaction. No TTL: an inbox lives until a graph change drops it (it is capped
    like a Redis feed, so its size is bounded), and it never misses a fan-out, which commits
    with the job that made it; ``mark_stale`` is there for the protocol's sake."""

    def __init__(self, *, max_items: int) -> None:
        self.max_items = max_items

    async def mark_stale(self, session: AsyncSession, moment: datetime) -> None:
        await repository.drop_inboxes_built_before(session, moment)

    async def read(
        self, session: AsyncSession, user_id: uuid.UUID, max_score: float | None, count: int
    ) -> FeedWindow | None:
        top = repository.TOP_SCORE if max_score is None else int(max_score)
        found = await repository.read_inbox(session, user_id, top, count)
        if found is None:
            return None
        entries, size = found
        return FeedWindow(
            entries=[(post_id, float(score)) for post_id, score in entries], asked=count, size=size
        )

    async def replace(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        await repository.replace_inbox(session, user_id, entries[: self.max_items])

    async def add(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        await repository.add_to_inbox(session, user_id, entries)

    async def push(
        self,
        session: AsyncSession,
        post_id: uuid.UUID,
        score: int,
        user_ids: Sequence[uuid.UUID],
        batch_size: int,
    ) -> int:
        pushed = 0
        for start in range(0, len(user_ids), batch_size):
            batch = user_ids[start : start + batch_size]
            pushed += await repository.push_to_inboxes(
                session, post_id, score, batch, self.max_items
            )
        return pushed

    async def drop(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None:
        if user_ids:
            await repository.drop_inboxes(session, user_ids)


class RedisFeedStore:
    def __init__(self, redis: Redis, prefix: str, *, max_items: int, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self.max_items = max_items
        self._ttl = ttl_seconds
        self._push = redis.register_script(_PUSH)

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}feed:{user_id}"

    @property
    def _stale_key(self) -> str:
        return f"{self._prefix}feed:stale-before"

    async def mark_stale(self, session: AsyncSession, moment: datetime) -> None:
        """Every feed built before ``moment`` is rebuilt at its next read."""
        await self._redis.set(self._stale_key, score_of(moment), ex=self._ttl)

    async def read(
        self, session: AsyncSession, user_id: uuid.UUID, max_score: float | None, count: int
    ) -> FeedWindow | None:
        """The newest ``count`` posts scored at most ``max_score``; None when the feed does not
        exist or is older than the last outage. Reading keeps the feed alive for another TTL."""
        key = self._key(user_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.expire(key, self._ttl)
            pipe.zrevrangebyscore(
                key, "+inf" if max_score is None else max_score, 1, 0, count, withscores=True
            )
            pipe.zcard(key)
            pipe.zscore(key, SENTINEL)
            pipe.get(self._stale_key)
            alive, rows, size, marker, stale_before = await pipe.execute()
        if not alive or marker is None:
            return None
        if stale_before is not None and -float(marker) < float(stale_before):
            return None
        entries = [(uuid.UUID(_text(member)), float(score)) for member, score in rows]
        return FeedWindow(entries=entries, asked=count, size=max(int(size) - 1, 0))

    async def replace(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        """Store a rebuilt feed (atomically: readers see the old one or the new one)."""
        key = self._key(user_id)
        mapping: dict[str, float] = {SENTINEL: -score_of(datetime.now(UTC))}
        mapping.update({str(post_id): score for post_id, score in entries[: self.max_items]})
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key)
            pipe.zadd(key, mapping)
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def add(
        self, session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
    ) -> None:
        """Add posts to an existing feed (a rebuild catching up)."""
        if entries:
            await self._redis.zadd(
                self._key(user_id), {str(post_id): score for post_id, score in entries}
            )

    async def push(
        self,
        session: AsyncSession,
        post_id: uuid.UUID,
        score: int,
        user_ids: Sequence[uuid.UUID],
        batch_size: int,
    ) -> int:
        """Add the post to the existing feeds of ``user_ids``, in batches (one script call
        each); returns how many feeds received it."""
        pushed = 0
        for start in range(0, len(user_ids), batch_size):
            keys = [self._key(user_id) for user_id in user_ids[start : start + batch_size]]
            pushed += int(await self._push(keys=keys, args=[score, str(post_id), self.max_items]))
        return pushed

    async def drop(self, session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None:
        """Forget these feeds; their next read rebuilds them from the database."""
        if user_ids:
            await self._redis.delete(*(self._key(user_id) for user_id in user_ids))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
