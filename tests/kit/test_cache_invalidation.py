"""What the cache holds never outlives the change that makes it wrong.

On both backends: the embedded one caches in process (``MemoryCache``), PostgreSQL in Redis.
Every test first proves that the entry it is about *is* cached (so a pass is not a cache that
was never used), then makes the change through the API and reads again at once.

- ``session:{id}``: logout, revoking a session, changing or resetting the password and a
  suspension end a cached session at once; verifying or changing the email changes what a
  cached session may do at once.
- ``user:{id}``: a new display name, username or avatar shows at once in author cards.
- ``user:{id}:friends``: after an unfriend, friends-only posts neither reach the former friend's
  feed (fan-out) nor show.
- The unit-of-work rules of ``kit/cache.py`` themselves (remember / invalidate_after_commit).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy.exc import IntegrityError

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.problems import assert_problem
from tests.fixtures.users import PASSWORD, SignedIn, login, signed_in_user, verify_email
from tests.kit.helpers import AppFactory, running
from tests.modules.posts.helpers import new_post
from tests.modules.social.helpers import befriend
from townsquare.config import Settings
from townsquare.kit.cache import Cache, invalidate_after_commit, remember
from townsquare.modules.accounts.admin import create_admin
from townsquare.modules.topics.models import Topic

API = "/api/v1"
NEW_PASSWORD = "a different and longer passphrase"


def cache_of(app: FastAPI) -> Cache:
    cache: Cache = app.state.platform.database.cache
    return cache


async def cached(app: FastAPI, key: str) -> Any:
    """The decoded entry under ``key`` (None when not cached)."""
    raw = await cache_of(app).get(key)
    return None if raw is None else orjson.loads(raw)


async def me(client: httpx.AsyncClient, user: SignedIn | dict[str, str]) -> httpx.Response:
    headers = user.headers if isinstance(user, SignedIn) else user
    return await client.get(f"{API}/me", headers=headers)


async def cached_session(app: FastAPI, client: httpx.AsyncClient, user: SignedIn) -> Any:
    """Use the session once (a read: cached at once) and return its cache entry."""
    response = await me(client, user)
    assert response.status_code == 200, response.text
    entry = await cached(app, f"session:{user.session_id}")
    assert entry is not None, "the session was not cached: the test would prove nothing"
    assert entry["user_id"] == user.user_id
    return entry


async def another_session(client: httpx.AsyncClient, user: SignedIn) -> SignedIn:
    response = await login(client, user.username, user.password)
    assert response.status_code == 200, response.text
    tokens = response.json()
    return SignedIn(
        user.user_id,
        user.username,
        user.email,
        user.password,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["session_id"],
    )


def assert_ended(response: httpx.Response) -> None:
    assert_problem(response, 401, "invalid_token")


# --- sessions


async def test_logout_ends_a_cached_session_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    await cached_session(app, client, user)
    await cached_session(app, client, other)

    response = await client.post(f"{API}/auth/logout", headers=user.headers)
    assert response.status_code == 204, response.text

    assert_ended(await me(client, user))
    assert await cached(app, f"session:{user.session_id}") is None
    # Only that session ended.
    assert (await me(client, other)).status_code == 200
    assert await cached(app, f"session:{other.session_id}") is not None


async def test_revoking_sessions_ends_cached_ones_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(client)
    second = await another_session(client, user)
    third = await another_session(client, user)
    for session in (user, second, third):
        await cached_session(app, client, session)

    response = await client.delete(f"{API}/auth/sessions/{second.session_id}", headers=user.headers)
    assert response.status_code == 204, response.text
    assert_ended(await me(client, second))
    assert (await me(client, third)).status_code == 200

    response = await client.delete(f"{API}/auth/sessions", headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json() == {"revoked": 1}
    assert_ended(await me(client, third))
    assert_ended(await me(client, second))
    assert (await me(client, user)).status_code == 200  # "all but this one"


async def test_password_change_ends_the_other_cached_sessions_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    await cached_session(app, client, user)
    await cached_session(app, client, other)

    response = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=user.headers,
    )
    assert response.status_code == 204, response.text

    assert_ended(await me(client, other))
    assert (await me(client, user)).status_code == 200  # the session that changed it stays
    assert (await login(client, user.username, NEW_PASSWORD)).status_code == 200


async def test_password_reset_ends_every_cached_session_at_once(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    other = await another_session(client, user)
    await cached_session(app, client, user)
    await cached_session(app, client, other)

    response = await client.post(f"{API}/auth/password/forgot", json={"email": user.email})
    assert response.status_code == 202, response.text
    token = (await mailbox.wait_for(user.email, "Reset your password")).token
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert response.status_code == 204, response.text

    assert_ended(await me(client, user))
    assert_ended(await me(client, other))


ADMIN_PASSWORD = "the admin's own long passphrase"


async def sign_in_admin(client: httpx.AsyncClient, settings: Settings) -> SignedIn:
    name = f"admin_{uuid.uuid4().hex[:8]}"
    user_id = await create_admin(
        settings, f"{name}@example.org", name, ADMIN_PASSWORD, name.title()
    )
    response = await login(client, name, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    tokens = response.json()
    admin = SignedIn(
        str(user_id),
        name,
        f"{name}@example.org",
        ADMIN_PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["session_id"],
    )
    assert (await me(client, admin)).json()["role"] == "admin"
    return admin


async def set_status(
    client: httpx.AsyncClient, staff: SignedIn, user: SignedIn, status: str
) -> None:
    response = await client.post(
        f"{API}/admin/users/{user.user_id}/status",
        json={"status": status, "reason": "test"},
        headers=staff.headers,
    )
    assert response.status_code == 204, response.text


async def test_suspension_ends_cached_sessions_at_once(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings
) -> None:
    admin = await sign_in_admin(client, settings)
    target = await signed_in_user(client)
    second = await another_session(client, target)
    bystander = await signed_in_user(client)
    for session in (admin, target, second, bystander):
        await cached_session(app, client, session)

    await set_status(client, admin, target, "suspended")

    assert_ended(await me(client, target))
    assert_ended(await me(client, second))
    assert (await me(client, bystander)).status_code == 200
    assert (await me(client, admin)).status_code == 200

    # Reinstating opens the account again, not the sessions the suspension ended.
    await set_status(client, admin, target, "active")
    assert_ended(await me(client, target))
    assert_ended(await me(client, second))
    assert (await login(client, target.username)).status_code == 200


async def test_email_verification_and_change_apply_to_a_cached_session_at_once(
    app_factory: AppFactory, mailbox: Mailbox
) -> None:
    app = await app_factory(allow_unverified_posting=False)
    async with running(app, started=True) as client:
        user = await signed_in_user(client)
        assert (await cached_session(app, client, user))["email_verified"] is False
        assert (await me(client, user)).json()["email_verified"] is False

        response = await client.post(f"{API}/posts", json={"content": "hi"}, headers=user.headers)
        assert_problem(response, 403, "email_not_verified")

        await verify_email(client, mailbox, user.email)
        response = await client.post(f"{API}/posts", json={"content": "hi"}, headers=user.headers)
        assert response.status_code == 201, response.text
        # Invalidated: a tombstone stands in for a while, so no request that read the old
        # facts can write them back; the next requests read the database.
        assert await cached(app, f"session:{user.session_id}") is None
        assert await cache_of(app).get(f"session:{user.session_id}") is None
        assert (await me(client, user)).json()["email_verified"] is True

        # A new address is unverified again, at once.
        response = await client.patch(
            f"{API}/me",
            json={"email": f"new.{user.email}", "current_password": user.password},
            headers=user.headers,
        )
        assert response.status_code == 200, response.text
        response = await client.post(f"{API}/posts", json={"content": "hi"}, headers=user.headers)
        assert_problem(response, 403, "email_not_verified")
        assert (await me(client, user)).json()["email_verified"] is False


class GatedCache:
    """Wraps a cache; the first ``set_many`` of a key with ``prefix`` waits for ``release``."""

    def __init__(self, inner: Cache, prefix: str) -> None:
        self.inner = inner
        self.prefix: str | None = prefix
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    def open_for_others(self) -> None:
        self.prefix = None

    async def get(self, key: str) -> bytes | None:
        return await self.inner.get(key)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        return await self.inner.get_many(keys)

    async def set(self, key: str, value: bytes, ttl_seconds: int) -> None:
        await self.set_many({key: value}, ttl_seconds)

    async def set_many(
        self, items: dict[str, bytes], ttl_seconds: int, *, only_if_absent: bool = False
    ) -> None:
        prefix = self.prefix
        if prefix is not None and any(key.startswith(prefix) for key in items):
            self.reached.set()
            await self.release.wait()
        await self.inner.set_many(items, ttl_seconds, only_if_absent=only_if_absent)

    async def delete(self, *keys: str) -> None:
        await self.inner.delete(*keys)

    async def invalidate(self, *keys: str) -> None:
        await self.inner.invalidate(*keys)


async def test_a_session_read_before_a_logout_is_not_cached_after_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """A request that found the session live, then was slow to cache it, must not bring a
    session back that a logout ended meanwhile (the classic cache-aside race: read, invalidate,
    write back)."""
    user = await signed_in_user(client)
    assert await cached(app, f"session:{user.session_id}") is None
    gate = GatedCache(cache_of(app), prefix="session:")
    database = app.state.platform.database
    database.cache = gate
    try:
        slow_read = asyncio.create_task(me(client, user))
        await asyncio.wait_for(gate.reached.wait(), timeout=10)  # read live, about to cache
        gate.open_for_others()
        response = await client.post(f"{API}/auth/logout", headers=user.headers)
        assert response.status_code == 204, response.text
        gate.release.set()
        assert (await slow_read).status_code == 200  # it began before the logout
    finally:
        database.cache = gate.inner
    assert_ended(await me(client, user))


# --- profile cards


async def test_profile_changes_show_at_once_in_author_cards(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    await befriend(client, alice, bob)
    post = await new_post(client, alice, content="a post with my name on it")
    response = await client.post(
        f"{API}/posts/{post['id']}/comments",
        json={"content": "and a comment"},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    response = await client.put(
        f"{API}/posts/{post['id']}/reaction", json={"type": "like"}, headers=alice.headers
    )
    assert response.status_code in (200, 201), response.text

    old = (alice.username, alice.username.title(), None)
    assert await author_cards(client, bob, alice, post["id"]) == dict.fromkeys(CARD_PATHS, old)
    card = await cached(app, f"user:{alice.user_id}")
    assert card is not None, "the card was not cached: the test would prove nothing"
    assert (card["username"], card["display_name"]) == old[:2]

    new_name = f"renamed_{uuid.uuid4().hex[:8]}"
    avatar = "https://cdn.example.org/avatars/alice.png"
    response = await client.patch(
        f"{API}/me/profile",
        json={"username": new_name, "display_name": "Alice Renamed", "avatar_url": avatar},
        headers=alice.headers,
    )
    assert response.status_code == 200, response.text
    alice.username = new_name

    new = (new_name, "Alice Renamed", avatar)
    assert await author_cards(client, bob, alice, post["id"]) == dict.fromkeys(CARD_PATHS, new)
    assert (await client.get(f"{API}/users/{old[0]}", headers=bob.headers)).status_code == 404
    # Bob's own card did not change.
    response = await client.get(f"{API}/users/{alice.username}/friends", headers=bob.headers)
    assert response.status_code == 200, response.text
    assert [(c["username"], c["display_name"]) for c in response.json()["items"]] == [
        (bob.username, bob.username.title())
    ]


CARD_PATHS = ("post", "timeline", "feed", "comments", "reactions", "friends")


async def author_cards(
    client: httpx.AsyncClient, viewer: SignedIn, author: SignedIn, post_id: str
) -> dict[str, tuple[str, str, str | None]]:
    """(username, display_name, avatar_url) of ``author`` as each read path shows it."""

    async def body(path: str, **params: Any) -> Any:
        response = await client.get(f"{API}{path}", params=params, headers=viewer.headers)
        assert response.status_code == 200, (path, response.text)
        return response.json()

    def card(*values: dict[str, Any]) -> tuple[str, str, str | None]:
        """The one card ``values`` show (each read path shows the author exactly once)."""
        assert len(values) == 1, values
        return (values[0]["username"], values[0]["display_name"], values[0]["avatar_url"])

    timeline = await body(f"/users/{author.username}/posts")
    feed = await body("/feed")
    comments = await body(f"/posts/{post_id}/comments")
    reactions = await body(f"/posts/{post_id}/reactions")
    friends = await body(f"/users/{viewer.username}/friends")
    return {
        "post": card((await body(f"/posts/{post_id}"))["author"]),
        "timeline": card(*(item["author"] for item in timeline["items"])),
        "feed": card(*(item["author"] for item in feed["items"] if item["id"] == post_id)),
        "comments": card(*(item["author"] for item in comments["items"])),
        "reactions": card(*(item["user"] for item in reactions["items"])),
        "friends": card(*friends["items"]),
    }


# --- friends


async def test_unfriending_stops_friends_only_posts_at_once(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    await befriend(client, alice, bob)
    await befriend(client, alice, carol)
    platform = app.state.platform
    # Feeds exist before the posts (so fan-out reaches them), friend lists get cached.
    for user in (alice, bob, carol):
        assert await feed(client, user, "ranked") == []
    before = await new_post(client, alice, content="friends only, before", visibility="friends")
    await platform.outbox.wait_idle()
    assert await feed(client, bob) == [before["id"]]
    assert await in_redis_feed(app, bob, before["id"]) in (True, None)
    assert await feed(client, alice, "ranked") == [before["id"]]
    assert await feed(client, bob, "ranked") == [before["id"]]
    # Cached, or a tombstone after the last befriending (never a list without bob).
    friends = await cached(app, f"user:{alice.user_id}:friends")
    assert friends is None or bob.user_id in friends

    response = await client.delete(f"{API}/me/friends/{bob.username}", headers=alice.headers)
    assert response.status_code == 204, response.text
    await platform.outbox.wait_idle()

    assert bob.user_id not in (await cached(app, f"user:{alice.user_id}:friends") or [])
    assert alice.user_id not in (await cached(app, f"user:{bob.user_id}:friends") or [])
    assert await feed(client, bob) == []  # what the friendship brought has gone
    assert await feed(client, bob, "ranked") == []
    after = await new_post(client, alice, content="friends only, after", visibility="friends")
    await platform.outbox.wait_idle()

    assert await feed(client, bob) == []
    assert await in_redis_feed(app, bob, after["id"]) in (False, None)  # not fanned out
    response = await client.get(f"{API}/posts/{after['id']}", headers=bob.headers)
    assert_problem(response, 404)
    # The friend who stayed gets both.
    assert await feed(client, carol) == [after["id"], before["id"]]
    assert await in_redis_feed(app, carol, after["id"]) in (True, None)


async def feed(client: httpx.AsyncClient, user: SignedIn, order: str = "chronological") -> list:
    response = await client.get(
        f"{API}/feed", params={"order": order, "limit": 50}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def in_redis_feed(app: FastAPI, user: SignedIn, post_id: str) -> bool | None:
    """Whether the user's Redis feed holds the post (None without Redis). The feed must exist:
    fan-out only reaches existing feeds, so a missing one would prove nothing."""
    redis = app.state.platform.redis
    if redis is None:
        return None
    key = f"{app.state.settings.redis_key_prefix}feed:{user.user_id}"
    assert await redis.exists(key) == 1, "no Redis feed: fan-out could not have reached it"
    return await redis.zscore(key, post_id) is not None


# --- the unit-of-work rules of kit/cache.py


@pytest.fixture
async def keys(app: FastAPI) -> AsyncIterator[list[str]]:
    """Two keys of this test's own (removed afterwards)."""
    names = [f"kit-test:{uuid.uuid4().hex}", f"kit-test:{uuid.uuid4().hex}"]
    yield names
    await cache_of(app).delete(*names)


async def test_remember_in_a_writing_unit_waits_for_its_commit(
    app: FastAPI, keys: list[str]
) -> None:
    database = app.state.platform.database
    async with database.unit_of_work() as uow:
        await remember(uow.session, {keys[0]: {"v": 1}}, 60)
        assert await cached(app, keys[0]) is None  # not before the commit
        await uow.commit()
    assert await cached(app, keys[0]) == {"v": 1}

    async with database.unit_of_work(read_only=True) as uow:
        await remember(uow.session, {keys[1]: [1, 2]}, 60)
        assert await cached(app, keys[1]) == [1, 2]  # a read-only unit caches at once


async def test_remember_in_a_unit_that_rolls_back_caches_nothing(
    app: FastAPI, keys: list[str]
) -> None:
    database = app.state.platform.database
    async with database.unit_of_work() as uow:
        await remember(uow.session, {keys[0]: "never committed"}, 60)
    assert await cached(app, keys[0]) is None

    async def failing_request() -> None:
        async with database.unit_of_work() as uow:
            await remember(uow.session, {keys[0]: "failed"}, 60)
            raise RuntimeError("the request failed")

    with pytest.raises(RuntimeError):
        await failing_request()
    assert await cached(app, keys[0]) is None

    # The commit itself fails (a duplicate topic name): nothing is cached or invalidated.
    name = f"dup{uuid.uuid4().hex[:10]}"
    async with database.unit_of_work() as uow:
        uow.session.add(Topic(name=name, display_name=name))
        await uow.commit()
    await cache_of(app).set(keys[1], orjson.dumps("kept"), 60)

    async def failing_commit() -> None:
        async with database.unit_of_work() as uow:
            uow.session.add(Topic(name=name, display_name=name))
            await remember(uow.session, {keys[0]: "failed commit"}, 60)
            invalidate_after_commit(uow.session, keys[1])
            await uow.commit()

    with pytest.raises(IntegrityError):
        await failing_commit()
    assert await cached(app, keys[0]) is None
    assert await cached(app, keys[1]) == "kept"


async def test_invalidate_after_commit_deletes_only_after_the_commit(
    app: FastAPI, keys: list[str]
) -> None:
    database = app.state.platform.database
    cache = cache_of(app)
    await cache.set(keys[0], orjson.dumps("old"), 60)
    await cache.set(keys[1], orjson.dumps("other"), 60)

    async with database.unit_of_work() as uow:
        invalidate_after_commit(uow.session, keys[0])
    assert await cached(app, keys[0]) == "old"  # rolled back: still valid

    async with database.unit_of_work() as uow:
        invalidate_after_commit(uow.session, keys[0])
        assert await cached(app, keys[0]) == "old"  # a reader could still cache the old row
        await uow.commit()
    assert await cached(app, keys[0]) is None
    assert await cached(app, keys[1]) == "other"  # only what was named


@pytest.mark.parametrize(
    "remember_first", [True, False], ids=["remember-first", "invalidate-first"]
)
async def test_a_key_invalidated_in_the_transaction_is_not_recached_by_it(
    app: FastAPI, keys: list[str], remember_first: bool
) -> None:
    database = app.state.platform.database
    await cache_of(app).set(keys[0], orjson.dumps("old"), 60)
    async with database.unit_of_work() as uow:
        if remember_first:
            await remember(uow.session, {keys[0]: "read in the transaction", keys[1]: 2}, 60)
            invalidate_after_commit(uow.session, keys[0])
        else:
            invalidate_after_commit(uow.session, keys[0])
            await remember(uow.session, {keys[0]: "read in the transaction", keys[1]: 2}, 60)
        await uow.commit()
    assert await cached(app, keys[0]) is None
    assert await cached(app, keys[1]) == 2  # the rest of that remember is kept
