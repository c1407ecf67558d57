"""Production feeds (PostgreSQL + Redis): fan-out on write into capped sorted sets of active
feeds only, read-time merge for large audiences, rebuild of missing feeds, and pages past the
cap read from the database. Skipped on the embedded backend, which has no Redis feeds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from redis.asyncio import Redis

from tests.conftest import Backend
from tests.fixtures.content import create_post
from tests.fixtures.users import signed_in_user
from tests.modules.feed.test_home_feed import (
    all_pages,
    befriend,
    feed_ids,
    follow,
    settle,
)
from tests.modules.posts.helpers import new_post
from townsquare.kit.models import utcnow


@pytest.fixture
async def redis(backend: Backend) -> AsyncIterator[Redis]:
    if backend.redis_url is None:
        pytest.skip("production feeds need Redis")
    client = Redis.from_url(backend.redis_url)
    yield client
    await client.aclose()


async def start(app_factory, **overrides):
    app = await app_factory(**overrides)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    return app, httpx.AsyncClient(transport=transport, base_url="http://testserver")


def feed_key(app, user) -> str:
    return f"{app.state.settings.redis_key_prefix}feed:{user.user_id}"


async def members(redis: Redis, key: str) -> list[str]:
    return [m.decode() for m in await redis.zrevrange(key, 0, -1)]


async def test_fan_out_reaches_active_feeds_only(redis, app_factory) -> None:
    app, client = await start(app_factory)
    async with client:
        author, active, inactive = [await signed_in_user(client) for _ in range(3)]
        await befriend(client, author, active)
        await befriend(client, author, inactive)
        await settle(app)
        assert await feed_ids(client, active) == []  # reading makes the feed exist (empty)
        assert await members(redis, feed_key(app, active)) == ["-"]  # the sentinel
        post = await new_post(client, author, content="hello friends", visibility="friends")
        await settle(app)
        assert await members(redis, feed_key(app, active)) == [post["id"], "-"]
        assert not await redis.exists(feed_key(app, inactive))
        # The inactive friend's first read rebuilds the feed from the database.
        assert await feed_ids(client, inactive) == [post["id"]]
        assert await members(redis, feed_key(app, inactive)) == [post["id"], "-"]
        # The feed expires after the TTL of seed 000 (15 minutes), renewed by each read.
        ttl = await redis.ttl(feed_key(app, active))
        assert 800 < ttl <= 900


async def test_only_me_and_close_friends_fan_out_to_their_audience(redis, app_factory) -> None:
    app, client = await start(app_factory)
    async with client:
        author, close, plain = [await signed_in_user(client) for _ in range(3)]
        for friend in (close, plain):
            await befriend(client, author, friend)
        response = await client.put(
            f"/api/v1/me/close-friends/{close.username}", headers=author.headers
        )
        assert response.status_code == 204
        await settle(app)
        for user in (author, close, plain):
            await feed_ids(client, user)
        secret = await new_post(client, author, content="me only", visibility="only_me")
        inner = await new_post(client, author, content="inner", visibility="close_friends")
        await settle(app)
        assert await members(redis, feed_key(app, author)) == [inner["id"], secret["id"], "-"]
        assert await members(redis, feed_key(app, close)) == [inner["id"], "-"]
        assert await members(redis, feed_key(app, plain)) == ["-"]
        # The author's own feed shows their live posts, "only me" ones included.
        assert await feed_ids(client, author) == [inner["id"], secret["id"]]


async def test_large_audiences_are_merged_at_read_time(redis, app_factory) -> None:
    app, client = await start(app_factory, feed_fanout_audience_limit=2)
    async with client:
        star, fan_one, fan_two = [await signed_in_user(client) for _ in range(3)]
        await follow(client, fan_one, star)
        await follow(client, fan_two, star)  # now 2 followers: over the limit
        await settle(app)
        await feed_ids(client, fan_one)
        post = await new_post(client, star, content="to the many")
        await settle(app)
        assert post["id"] not in await members(redis, feed_key(app, fan_one))
        assert await feed_ids(client, fan_one) == [post["id"]]  # merged when read
        assert await all_pages(client, fan_one, 1) == [post["id"]]


async def test_feeds_are_capped_and_deep_pages_come_from_the_database(redis, app_factory) -> None:
    app, client = await start(app_factory, feed_max_items=50)
    async with client:
        author, reader = await signed_in_user(client), await signed_in_user(client)
        await follow(client, reader, author)
        await settle(app)
        start_at = utcnow() - timedelta(hours=2)
        ids = [
            await create_post(app, author.user_id, published_at=start_at + timedelta(minutes=i))
            for i in range(60)
        ]
        expected = list(reversed(ids))
        assert await feed_ids(client, reader) == expected[:100]
        assert await redis.zcard(feed_key(app, reader)) == 51  # 50 posts and the sentinel
        # Paging past the 50 the feed holds continues from the database, in order.
        assert await all_pages(client, reader, 7) == expected
        # New posts push the oldest out: the cap holds.
        fresh = [await new_post(client, author, content=f"new {i}") for i in range(3)]
        await settle(app)
        stored = await members(redis, feed_key(app, reader))
        assert len(stored) == 51
        assert stored[:3] == [post["id"] for post in reversed(fresh)]
        assert await all_pages(client, reader, 20) == [p["id"] for p in reversed(fresh)] + expected


async def test_a_dropped_feed_is_rebuilt(redis, app_factory) -> None:
    app, client = await start(app_factory)
    async with client:
        author, reader = await signed_in_user(client), await signed_in_user(client)
        await follow(client, reader, author)
        await settle(app)
        post = await new_post(client, author, content="kept in the database")
        await settle(app)
        await redis.delete(feed_key(app, reader))
        assert await feed_ids(client, reader) == [post["id"]]
        assert await members(redis, feed_key(app, reader)) == [post["id"], "-"]
