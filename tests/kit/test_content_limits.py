"""Per-account limits on content (``kit.web.limit_per_account``): posts, shares, comments,
reactions, messages, friend requests, follows and bookmarks.

A burst past the limit answers 429 ``rate_limited`` with ``Retry-After`` and ``RateLimit-*``
headers, writes nothing, and leaves other accounts alone; the limit is taken before the
request's first SQL statement.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select

from tests.conftest import CONTENT_LIMITS
from tests.fixtures.content import create_post
from tests.fixtures.problems import assert_problem
from tests.fixtures.queries import count_queries
from tests.fixtures.users import SignedIn, signed_in_user
from tests.kit.helpers import AppFactory, running
from townsquare.models import metadata

API = "/api/v1"
LIMIT = 3


@dataclass
class World:
    """What the actions of one test need: the app, a client, a bystander who owns posts."""

    app: FastAPI
    client: httpx.AsyncClient
    owner: SignedIn

    async def post_id(self) -> str:
        return await create_post(self.app, self.owner.user_id)

    async def comment_id(self) -> str:
        response = await self.client.post(
            f"{API}/posts/{await self.post_id()}/comments",
            json={"content": "First!"},
            headers=self.owner.headers,
        )
        assert response.status_code == 201, response.text
        comment_id: str = response.json()["id"]
        return comment_id

    async def someone(self) -> SignedIn:
        return await signed_in_user(self.client)


#: One write of a kind by ``actor``, the ``i``-th of the burst; each gets a target of its own
#: where the write is once per target (a follow, a reaction, a bookmark...).
Action = Callable[[World, SignedIn, int], Awaitable[httpx.Response]]


async def write_post(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(f"{API}/posts", json={"content": f"post {i}"}, headers=actor.headers)


async def share(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(f"{API}/posts/{await w.post_id()}/share", headers=actor.headers)


async def comment(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(
        f"{API}/posts/{await w.post_id()}/comments",
        json={"content": f"comment {i}"},
        headers=actor.headers,
    )


async def reply(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(
        f"{API}/comments/{await w.comment_id()}/replies",
        json={"content": f"reply {i}"},
        headers=actor.headers,
    )


async def react_to_post(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.put(
        f"{API}/posts/{await w.post_id()}/reaction", json={"type": "like"}, headers=actor.headers
    )


async def react_to_comment(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.put(
        f"{API}/comments/{await w.comment_id()}/reaction",
        json={"type": "like"},
        headers=actor.headers,
    )


async def direct_message(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(
        f"{API}/users/{w.owner.username}/messages",
        json={"content": f"message {i}"},
        headers=actor.headers,
    )


async def start_group(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(
        f"{API}/conversations",
        json={"title": f"Group {i}", "members": [w.owner.username]},
        headers=actor.headers,
    )


async def friend_request(w: World, actor: SignedIn, i: int) -> httpx.Response:
    target = await w.someone()
    return await w.client.post(
        f"{API}/users/{target.username}/friend-request", headers=actor.headers
    )


async def follow(w: World, actor: SignedIn, i: int) -> httpx.Response:
    target = await w.someone()
    return await w.client.post(f"{API}/users/{target.username}/follow", headers=actor.headers)


async def bookmark(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.put(f"{API}/posts/{await w.post_id()}/bookmark", headers=actor.headers)


async def new_collection(w: World, actor: SignedIn, i: int) -> httpx.Response:
    return await w.client.post(
        f"{API}/me/bookmark-collections", json={"name": f"Saved {i}"}, headers=actor.headers
    )


@dataclass(frozen=True)
class Kind:
    setting: str
    #: Used in turn: the budget is one for all of them.
    actions: tuple[Action, ...]
    #: Where a successful write of this kind leaves rows: (table, the writer's column).
    tables: tuple[tuple[str, str], ...]
    status: int = 201


KINDS = {
    "posts": Kind("rate_limit_posts", (write_post,), (("posts", "author_id"),)),
    "shares": Kind("rate_limit_shares", (share,), (("posts", "author_id"),)),
    "comments": Kind("rate_limit_comments", (comment, reply), (("comments", "author_id"),)),
    "reactions": Kind(
        "rate_limit_reactions",
        (react_to_post, react_to_comment),
        (("reactions", "user_id"),),
        status=200,
    ),
    "messages": Kind(
        "rate_limit_messages",
        (direct_message, start_group),
        (("messages", "sender_id"), ("conversations", "created_by")),
    ),
    "friend_requests": Kind(
        "rate_limit_friend_requests",
        (friend_request,),
        (("friend_requests", "requester_id"),),
        status=200,
    ),
    "follows": Kind("rate_limit_follows", (follow,), (("follows", "follower_id"),), status=200),
    "bookmarks": Kind(
        "rate_limit_bookmarks",
        (bookmark, new_collection),
        (("bookmarks", "owner_id"), ("bookmark_collections", "owner_id")),
    ),
}


def test_every_content_limit_is_a_setting_relaxed_in_tests() -> None:
    assert {kind.setting for kind in KINDS.values()} == set(CONTENT_LIMITS)


async def written_by(
    app: FastAPI, user: SignedIn, tables: tuple[tuple[str, str], ...]
) -> dict[str, int]:
    """How many rows of each table ``user`` wrote."""
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        counts = {}
        for name, column in tables:
            table = metadata.tables[name]
            statement = (
                select(func.count())
                .select_from(table)
                .where(table.c[column] == uuid.UUID(user.user_id))
            )
            counts[name] = int(await uow.session.scalar(statement) or 0)
        return counts


def rate_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["RateLimit-Limit"]),
        int(response.headers["RateLimit-Remaining"]),
        int(response.headers["RateLimit-Reset"]),
    )


def assert_rate_limited(response: httpx.Response, limit: int, window_seconds: int = 60) -> None:
    body = assert_problem(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds
    assert body["retry_after"] == retry_after
    assert rate_headers(response)[:2] == (limit, 0)


@pytest.mark.parametrize("name", list(KINDS))
async def test_a_burst_past_the_limit_is_refused_and_writes_nothing(
    app_factory: AppFactory, name: str
) -> None:
    kind = KINDS[name]
    app = await app_factory(**{kind.setting: f"{LIMIT}/minute"})
    async with running(app, started=True) as client:
        world = World(app, client, await signed_in_user(client))
        actor = await signed_in_user(client)
        actions = kind.actions

        for i in range(LIMIT):
            response = await actions[i % len(actions)](world, actor, i)
            assert response.status_code == kind.status, response.text
            limit, remaining, reset = rate_headers(response)
            assert (limit, remaining) == (LIMIT, LIMIT - 1 - i)
            assert 0 <= reset <= 60

        before = await written_by(app, actor, kind.tables)
        assert all(before.values()), before
        # Every endpoint of the kind is refused now: they share the account's budget.
        for i, action in enumerate(actions, start=LIMIT):
            assert_rate_limited(await action(world, actor, i), LIMIT)
        assert await written_by(app, actor, kind.tables) == before

        # Another account has its own budget.
        bystander = await signed_in_user(client)
        for i, action in enumerate(actions):
            response = await action(world, bystander, i)
            assert response.status_code == kind.status, response.text
            assert rate_headers(response)[:2] == (LIMIT, LIMIT - 1 - i)


#: Every route behind a per-account limit: (method, path, scope of its budget).
LIMITED_ROUTES = [
    ("POST", "/posts", "posts"),
    ("POST", "/posts/{id}/share", "shares"),
    ("POST", "/posts/{id}/comments", "comments"),
    ("POST", "/comments/{id}/replies", "comments"),
    ("PUT", "/posts/{id}/reaction", "reactions"),
    ("PUT", "/comments/{id}/reaction", "reactions"),
    ("POST", "/users/{name}/messages", "messages"),
    ("POST", "/conversations", "messages"),
    ("POST", "/conversations/{id}/members", "messages"),
    ("POST", "/conversations/{id}/messages", "messages"),
    ("POST", "/users/{name}/friend-request", "friend_requests"),
    ("POST", "/users/{name}/follow", "follows"),
    ("PUT", "/posts/{id}/bookmark", "bookmarks"),
    ("POST", "/me/bookmark-collections", "bookmarks"),
]


@pytest.mark.parametrize(("method", "path", "scope"), LIMITED_ROUTES)
async def test_each_content_endpoint_spends_the_budget_before_anything_else(
    app_factory: AppFactory, method: str, path: str, scope: str
) -> None:
    """With a budget of one, the second request is refused whatever the first answered: the
    limit is taken before validation, lookups and permissions (a missing target or an invalid
    body still counts), and a refused request sends no SQL statement at all."""
    app = await app_factory(**dict.fromkeys(CONTENT_LIMITS, "1/minute"))
    async with running(app, started=True) as client:
        actor = await signed_in_user(client)
        url = API + path.format(id=uuid.uuid4(), name="nobody_here")
        first = await client.request(method, url, json={}, headers=actor.headers)
        assert first.status_code != 429, first.text
        await app.state.platform.outbox.wait_idle()  # no background job's statements
        with count_queries(app) as statements:
            refused = await client.request(method, url, json={}, headers=actor.headers)
        assert_rate_limited(refused, 1)
        assert statements == []
        # Without a valid token nothing is spent: the viewer dependency answers 401.
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            anonymous = await client.request(method, url, json={}, headers=headers)
            assert_problem(anonymous, 401)


async def test_the_limit_is_taken_before_the_first_sql_statement(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when the session is not cached (the viewer's check reads the database), the
    limiter runs first: no transaction is open while it waits, and it adds no statement."""
    app = await app_factory(rate_limit_posts="5/minute")
    async with running(app, started=True) as client:
        actor = await signed_in_user(client)
        world = World(app, client, actor)
        limiter = app.state.platform.limiter
        engine = app.state.platform.database.engine.sync_engine
        events: list[str] = []
        hit = limiter.hit

        async def observed_hit(*args: Any, **kwargs: Any) -> Any:
            events.append("limiter")
            return await hit(*args, **kwargs)

        def on_statement(*_args: Any) -> None:
            events.append("sql")

        monkeypatch.setattr(limiter, "hit", observed_hit)
        # Only the request's own statements: no background job runs meanwhile.
        await app.state.platform.outbox.wait_idle()
        monkeypatch.setattr(app.state.platform.outbox, "kick", lambda: None)
        event.listen(engine, "before_cursor_execute", on_statement)
        try:
            counts = []
            # The first post of an account does more (first rows, cold caches): not compared.
            for enabled in (True, True, False):
                monkeypatch.setattr(limiter, "enabled", enabled)
                await app.state.platform.cache.delete(f"session:{actor.session_id}")
                events.clear()
                response = await write_post(world, actor, 0)
                assert response.status_code == 201, response.text
                assert events[0] == "limiter", events
                assert events.count("limiter") == 1
                assert ("RateLimit-Limit" in response.headers) is enabled
                counts.append(events.count("sql"))
        finally:
            event.remove(engine, "before_cursor_execute", on_statement)
        # The session was read from the database, and the limit added no statement.
        assert counts[1] == counts[2] > 0


async def test_limits_can_be_switched_off(app_factory: AppFactory) -> None:
    app = await app_factory(rate_limit_enabled=False, rate_limit_posts="1/minute")
    async with running(app, started=True) as client:
        actor = await signed_in_user(client)
        world = World(app, client, actor)
        for i in range(3):
            response = await write_post(world, actor, i)
            assert response.status_code == 201, response.text
            assert "RateLimit-Limit" not in response.headers
