"""A Redis outage costs caching, never answers: reads and writes fall back to the database.

The application's ``redis_url`` points at a small TCP proxy to the real Redis (written here), so
a test can cut Redis off in the middle of a run (the proxy closes its listener and every open
connection) and bring it back on the same port. Both database backends are used: SQLite with
Redis is a valid configuration too (the Redis cache, feed store and rate limits then serve the
embedded database). Each test uses a Redis key prefix of its own, checked and emptied in the
real Redis.

Failures are counted in ``townsquare_redis_errors_total`` (``component`` "cache" for cached
keys, "feed" for the feed store), read from the default Prometheus registry.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from redis.asyncio import Redis

from tests.conftest import REDIS_URL
from tests.fixtures.users import SignedIn, login, signed_in_user
from tests.kit.helpers import AppFactory, running
from tests.modules.posts.helpers import new_post
from tests.modules.social.helpers import befriend, follow

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="TOWNSQUARE_TEST_REDIS_URL is not set")

API = "/api/v1"


class RedisProxy:
    """Forwards TCP connections from 127.0.0.1:``port`` to the real Redis, until stopped."""

    def __init__(self, upstream_url: str) -> None:
        parts = urlsplit(upstream_url)
        self._upstream_url = parts
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0
        self.connections = 0

    @property
    def url(self) -> str:
        """The upstream URL (credentials and database kept) with the proxy's address."""
        parts = self._upstream_url
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    async def start(self) -> None:
        """Listen (again) on ``port``: a free one the first time, the same one after a stop."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Refuse new connections and cut every open one, as a Redis going away would."""
        if self._server is None:
            return
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        self.connections += 1
        upstream_writer: asyncio.StreamWriter | None = None
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*self._upstream)
            self._writers.add(upstream_writer)
            await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))
        except OSError:
            pass
        finally:
            writer.close()
            self._writers.discard(writer)
            if upstream_writer is not None:
                upstream_writer.close()
                self._writers.discard(upstream_writer)
            self._tasks.discard(task)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@pytest.fixture
async def proxy() -> AsyncIterator[RedisProxy]:
    assert REDIS_URL
    running_proxy = RedisProxy(REDIS_URL)
    await running_proxy.start()
    try:
        yield running_proxy
    finally:
        await running_proxy.stop()


@pytest.fixture
async def real_redis() -> AsyncIterator[Redis]:
    """The real Redis (not through the proxy), to look at keys."""
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    try:
        yield redis
    finally:
        await redis.aclose()


@pytest.fixture
async def prefix(real_redis: Redis) -> AsyncIterator[str]:
    """A key prefix of the test's own, emptied afterwards (the SQLite backend's clean-up does
    not look at Redis)."""
    value = f"ts-test-outage-{uuid.uuid4().hex[:10]}:"
    try:
        yield value
    finally:
        keys = [key async for key in real_redis.scan_iter(match=f"{value}*")]
        if keys:
            await real_redis.delete(*keys)


def redis_errors(component: str) -> float:
    value = REGISTRY.get_sample_value("townsquare_redis_errors_total", {"component": component})
    return value or 0.0


def error_counts() -> dict[str, float]:
    return {component: redis_errors(component) for component in ("cache", "feed", "ratelimit")}


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with running(app, started=True) as http:
        yield http


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def feed_ids(
    http: httpx.AsyncClient, user: SignedIn, order: str = "chronological"
) -> list[str]:
    """Every post id of the user's home feed, following cursors (2 a page)."""
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(20):
        params = {"limit": 2, "order": order, **({"cursor": cursor} if cursor else {})}
        body = ok(await http.get(f"{API}/feed", params=params, headers=user.headers))
        ids += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            assert len(ids) == len(set(ids)), ids
            return ids
    raise AssertionError("feed pagination did not end")


async def timeline_ids(http: httpx.AsyncClient, viewer: SignedIn, username: str) -> list[str]:
    response = await http.get(
        f"{API}/users/{username}/posts", params={"limit": 50}, headers=viewer.headers
    )
    return [item["id"] for item in ok(response)["items"]]


async def settle(app: FastAPI) -> None:
    """Let the events of the requests so far (fan-out among them) be handled."""
    await app.state.platform.outbox.wait_idle()


@dataclass
class World:
    """alice is friends with bob and follows carol; bob and carol have posted."""

    alice: SignedIn
    bob: SignedIn
    carol: SignedIn
    #: alice's home feed, newest first: carol's public post, then bob's friends-only one.
    posts: list[str]


async def build_world(app: FastAPI, http: httpx.AsyncClient) -> World:
    alice = await signed_in_user(http)
    bob = await signed_in_user(http)
    carol = await signed_in_user(http)
    await befriend(http, alice, bob)
    assert (await follow(http, alice, carol)).status_code in (200, 201), "follow refused"
    bob_post = await new_post(http, bob, content="bob, friends only", visibility="friends")
    carol_post = await new_post(http, carol, content="carol, in public")
    await settle(app)
    return World(alice, bob, carol, [carol_post["id"], bob_post["id"]])


# --- an outage in the middle of a run


async def test_reads_and_writes_survive_an_outage_and_caching_resumes(
    proxy: RedisProxy, real_redis: Redis, prefix: str, app_factory: AppFactory
) -> None:
    app = await app_factory(redis_url=proxy.url, redis_key_prefix=prefix)
    async with client_of(app) as http:
        world = await build_world(app, http)
        alice, bob = world.alice, world.bob
        feed_key = f"{prefix}feed:{alice.user_id}"
        session_key = f"{prefix}session:{alice.session_id}"

        # Warm: the feed, the session, the authors' cards and bob's profile go through Redis.
        assert await feed_ids(http, alice) == world.posts
        profile = ok(await http.get(f"{API}/users/{bob.username}", headers=alice.headers))
        assert profile["username"] == bob.username
        assert await timeline_ids(http, alice, bob.username) == [world.posts[1]]
        assert proxy.connections > 0
        assert await real_redis.exists(feed_key, session_key) == 2
        assert set(await real_redis.zrange(feed_key, 0, -1)) == {
            b"-",
            *(post_id.encode() for post_id in world.posts),
        }
        assert await real_redis.exists(f"{prefix}user:{bob.user_id}") == 1
        before = error_counts()

        await proxy.stop()
        # What Redis held for alice is gone when it comes back (as after a restart).
        await real_redis.delete(feed_key, session_key)

        # Every answer now comes from the database, with the same content.
        assert await feed_ids(http, alice) == world.posts
        assert sorted(await feed_ids(http, alice, "ranked")) == sorted(world.posts)
        profile = ok(await http.get(f"{API}/users/{bob.username}", headers=alice.headers))
        assert (profile["user_id"], profile["username"]) == (bob.user_id, bob.username)
        assert (profile["display_name"], profile["relationship"]) == (
            bob.username.title(),
            "friend",
        )
        assert await timeline_ids(http, alice, bob.username) == [world.posts[1]]
        me = ok(await http.get(f"{API}/me", headers=alice.headers))
        assert me["id"] == alice.user_id
        written = ok(
            await http.post(
                f"{API}/posts", json={"content": "written in the dark"}, headers=alice.headers
            ),
            201,
        )
        assert written["content"] == "written in the dark"
        assert written["author"]["username"] == alice.username
        shown = ok(await http.get(f"{API}/posts/{written['id']}", headers=bob.headers))
        assert shown["id"] == written["id"]
        # Logging in needs the rate limiter, which fails open.
        assert (await login(http, alice.username)).status_code == 200
        await settle(app)
        during = error_counts()
        assert during["cache"] > before["cache"], (before, during)
        assert during["feed"] > before["feed"], (before, during)
        assert during["ratelimit"] > before["ratelimit"], (before, during)
        assert await real_redis.exists(feed_key, session_key) == 0  # nothing reached Redis

        await proxy.start()  # the same port: the application's URL is unchanged

        me = ok(await http.get(f"{API}/me", headers=alice.headers))
        assert me["id"] == alice.user_id
        assert await real_redis.exists(session_key) == 1
        assert await feed_ids(http, alice) == [written["id"], *world.posts]
        assert await real_redis.exists(feed_key) == 1
        assert await real_redis.zscore(feed_key, written["id"]) is not None
        after = error_counts()
        # Healthy again: more requests add no failures.
        assert await timeline_ids(http, alice, bob.username) == [world.posts[1]]
        assert await feed_ids(http, alice, "ranked")
        assert error_counts() == after


async def test_a_feed_kept_through_an_outage_shows_what_was_published_during_it(
    proxy: RedisProxy, real_redis: Redis, prefix: str, app_factory: AppFactory
) -> None:
    """Redis was only unreachable: alice's feed is still in it when it comes back. The posts
    published meanwhile (her own among them) could not be pushed into it (the fan-out handler
    failed and the outbox retries it later, with backoff); the feed must show them anyway."""
    app = await app_factory(redis_url=proxy.url, redis_key_prefix=prefix)
    async with client_of(app) as http:
        world = await build_world(app, http)
        alice, carol = world.alice, world.carol
        assert await feed_ids(http, alice) == world.posts
        feed_key = f"{prefix}feed:{alice.user_id}"
        assert await real_redis.exists(feed_key) == 1

        await proxy.stop()
        by_carol = await new_post(http, carol, content="carol, during the outage")
        by_alice = await new_post(http, alice, content="alice, during the outage")
        await settle(app)
        assert await feed_ids(http, alice) == [by_alice["id"], by_carol["id"], *world.posts]

        await proxy.start()
        assert await real_redis.exists(feed_key) == 1  # kept: only the network was down
        shown = await feed_ids(http, alice)
        missing = {"alice's": by_alice["id"], "carol's": by_carol["id"]}
        missing = {whose: post_id for whose, post_id in missing.items() if post_id not in shown}
        assert not missing, f"posts published during the outage missing after it: {missing}"
        assert shown == [by_alice["id"], by_carol["id"], *world.posts]


# --- no Redis at all


async def test_every_read_answers_when_redis_was_never_there(
    prefix: str, app_factory: AppFactory
) -> None:
    """``redis_url`` names a port nothing listens on, from the start."""
    app = await app_factory(
        redis_url=f"redis://127.0.0.1:{_free_port()}/0", redis_key_prefix=prefix
    )
    before = error_counts()
    async with client_of(app) as http:
        world = await build_world(app, http)  # registration and login fail open too
        alice, bob = world.alice, world.bob
        assert await feed_ids(http, alice) == world.posts
        assert await feed_ids(http, alice) == world.posts  # nothing half-cached on a retry
        assert sorted(await feed_ids(http, alice, "ranked")) == sorted(world.posts)
        profile = ok(await http.get(f"{API}/users/{bob.username}", headers=alice.headers))
        assert profile["username"] == bob.username
        assert await timeline_ids(http, alice, bob.username) == [world.posts[1]]
        post = ok(await http.get(f"{API}/posts/{world.posts[1]}", headers=alice.headers))
        assert post["author"]["username"] == bob.username
        friends = ok(await http.get(f"{API}/users/{alice.username}/friends", headers=bob.headers))
        assert [card["username"] for card in friends["items"]] == [bob.username]
        me = ok(await http.get(f"{API}/me", headers=alice.headers))
        assert me["id"] == alice.user_id
        # Logged out stays logged out: no cache to miss the revocation.
        assert (await http.post(f"{API}/auth/logout", headers=bob.headers)).status_code == 204
        assert (await http.get(f"{API}/me", headers=bob.headers)).status_code == 401
    after = error_counts()
    assert after["cache"] > before["cache"], (before, after)
    assert after["feed"] > before["feed"], (before, after)
    assert after["ratelimit"] > before["ratelimit"], (before, after)
