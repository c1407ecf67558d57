"""The home feed over HTTP, on both backends: SQLite reads it from the database (fan-out on
read), PostgreSQL + Redis serves it from fan-out Redis feeds merged at read time.

Graph changes go through the API (so their events reach the feed), and every "takes effect at
once" case reads the feed first, so that in production a Redis feed holding the post exists.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.cache import empty_cache
from tests.fixtures.problems import assert_problem
from tests.fixtures.queries import count_queries
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.posts.helpers import API, act, edit, new_post


async def settle(app: FastAPI) -> None:
    """Let the outbox handlers (fan-out, feed drops) finish, as a worker would shortly after."""
    await app.state.platform.outbox.wait_idle()


async def feed(client: httpx.AsyncClient, viewer: SignedIn, **params: Any) -> dict[str, Any]:
    response = await client.get(f"{API}/feed", params=params, headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def feed_ids(client: httpx.AsyncClient, viewer: SignedIn, **params: Any) -> list[str]:
    params.setdefault("limit", 100)
    return [item["id"] for item in (await feed(client, viewer, **params))["items"]]


async def all_pages(
    client: httpx.AsyncClient, viewer: SignedIn, limit: int, **params: Any
) -> list[str]:
    ids: list[str] = []
    cursor = None
    for _ in range(200):
        page = await feed(
            client, viewer, limit=limit, **({"cursor": cursor} if cursor else {}), **params
        )
        assert len(page["items"]) <= limit
        ids.extend(item["id"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError("the feed never ended")


def assert_cursor_refused(response: httpx.Response) -> None:
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"] == [
        {"field": "query.cursor", "message": body["errors"][0]["message"], "type": "invalid_cursor"}
    ]


async def befriend(client: httpx.AsyncClient, a: SignedIn, b: SignedIn) -> None:
    for one, other in ((a, b), (b, a)):  # crossing requests make a friendship
        response = await client.post(
            f"{API}/users/{other.username}/friend-request", headers=one.headers
        )
        assert response.status_code in (200, 201), response.text


async def follow(client: httpx.AsyncClient, follower: SignedIn, followee: SignedIn) -> None:
    response = await client.post(
        f"{API}/users/{followee.username}/follow", headers=follower.headers
    )
    assert response.status_code in (200, 201), response.text


async def call(
    client: httpx.AsyncClient, method: str, path: str, user: SignedIn, **kwargs: Any
) -> None:
    response = await client.request(method, f"{API}{path}", headers=user.headers, **kwargs)
    assert response.status_code < 300, response.text


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> dict[str, SignedIn]:
    """me; a friend; a followed account; a stranger; a topic author (I follow #gardening)."""
    people = {
        name: await signed_in_user(client)
        for name in ("me", "friend", "followed", "stranger", "tagger")
    }
    await befriend(client, people["me"], people["friend"])
    await follow(client, people["me"], people["followed"])
    await settle(app)
    return people


async def follow_topic(client: httpx.AsyncClient, user: SignedIn, name: str) -> None:
    await call(client, "POST", f"/topics/{name}/follow", user)


async def test_sources_order_and_pages(client, app, world) -> None:
    me, friend, followed, stranger, tagger = (
        world[k] for k in ("me", "friend", "followed", "stranger", "tagger")
    )
    included = [(await new_post(client, me, content="my own"))["id"]]
    included.append((await new_post(client, tagger, content="tomatoes #gardening"))["id"])
    untagged = await new_post(client, tagger, content="no tag")
    await follow_topic(client, me, "gardening")
    excluded = [untagged["id"]]
    for author, content, visibility, shown in (
        (friend, "friend public", "public", True),
        (friend, "friend friends-only", "friends", True),
        (followed, "followed public", "public", True),
        (stranger, "stranger public", "public", False),
        (followed, "followed friends-only", "friends", False),
        (friend, "friend only me", "only_me", False),
    ):
        post = await new_post(client, author, content=content, visibility=visibility)
        (included if shown else excluded).append(post["id"])
    await settle(app)

    ids = await feed_ids(client, me)
    assert ids == list(reversed(included))  # newest published first, nothing else
    # Keyset pages of 2 give the same posts in the same order, without duplicates.
    assert await all_pages(client, me, 2) == ids
    # The stranger follows nobody: only their own post.
    assert await feed_ids(client, stranger) == [excluded[1]]
    # Unfollowing the topic takes the tagged post away at once.
    await call(client, "DELETE", "/topics/gardening/follow", me)
    assert included[1] not in await feed_ids(client, me)


async def test_default_and_maximum_page_size(client, app, world) -> None:
    me = world["me"]
    for i in range(22):
        await new_post(client, me, content=f"post {i}")
    page = await feed(client, me)
    assert len(page["items"]) == 20
    assert page["next_cursor"]
    response = await client.get(f"{API}/feed", params={"limit": 101}, headers=me.headers)
    assert_problem(response, 422)
    response = await client.get(
        f"{API}/feed", params={"cursor": "not-a-cursor"}, headers=me.headers
    )
    assert_cursor_refused(response)
    response = await client.get(f"{API}/feed")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "change",
    ["delete", "archive", "only_me", "unfriend", "block_by_me", "block_by_them", "mute", "hidden"],
)
async def test_friend_post_disappears_at_once(client, app, world, change: str) -> None:
    me, friend = world["me"], world["friend"]
    kept = await new_post(client, me, content="still here")
    post = await new_post(client, friend, content="soon gone")
    await settle(app)
    assert post["id"] in await feed_ids(client, me)  # production: now in my Redis feed

    match change:
        case "delete":
            await call(client, "DELETE", f"/posts/{post['id']}", friend)
        case "archive":
            assert (await act(client, post["id"], "archive", friend)).status_code == 200
        case "only_me":
            assert (await edit(client, post["id"], friend, visibility="only_me")).status_code == 200
        case "unfriend":
            await call(client, "DELETE", f"/me/friends/{friend.username}", me)
        case "block_by_me":
            await call(client, "PUT", f"/me/blocks/{friend.username}", me)
        case "block_by_them":
            await call(client, "PUT", f"/me/blocks/{me.username}", friend)
        case "mute":
            await call(client, "PUT", f"/me/mutes/{friend.username}", me)
        case "hidden":
            await call(client, "POST", "/me/deactivate", friend, json={"password": friend.password})
    # At once: before any outbox handler has run.
    ids = await feed_ids(client, me)
    assert post["id"] not in ids
    assert kept["id"] in ids
    await settle(app)
    ids = await feed_ids(client, me)
    assert post["id"] not in ids
    assert kept["id"] in ids


async def test_unfollow_removes_at_once_and_follow_brings_back(client, app, world) -> None:
    me, followed = world["me"], world["followed"]
    post = await new_post(client, followed, content="public words")
    await settle(app)
    assert post["id"] in await feed_ids(client, me)
    await call(client, "DELETE", f"/users/{followed.username}/follow", me)
    assert post["id"] not in await feed_ids(client, me)
    await follow(client, me, followed)
    await settle(app)
    assert post["id"] in await feed_ids(client, me)


async def test_new_posts_reach_an_existing_feed(client, app, world) -> None:
    me, friend, followed = world["me"], world["friend"], world["followed"]
    assert await feed_ids(client, me) == []  # production: an (empty) Redis feed now exists
    first = await new_post(client, friend, content="first")
    second = await new_post(client, followed, content="second")
    close = await new_post(client, friend, content="close friends only", visibility="close_friends")
    await settle(app)
    assert await feed_ids(client, me) == [second["id"], first["id"]]
    # Put me on the friend's close-friends list: their close-friends posts show up.
    await call(client, "PUT", f"/me/close-friends/{me.username}", friend)
    await settle(app)
    assert close["id"] in await feed_ids(client, me)


async def test_custom_audience_and_private_accounts(client, app, world) -> None:
    me, friend = world["me"], world["friend"]
    other = await signed_in_user(client)
    await befriend(client, friend, other)
    await settle(app)
    for_me = await new_post(
        client, friend, content="for me", visibility="custom", audience=[me.username]
    )
    not_for_me = await new_post(
        client, friend, content="not me", visibility="custom", audience=[other.username]
    )
    await settle(app)
    ids = await feed_ids(client, me)
    assert for_me["id"] in ids
    assert not_for_me["id"] not in ids
    assert not_for_me["id"] in await feed_ids(client, other)
    assert for_me["id"] not in await feed_ids(client, other)


async def test_metrics_hidden_in_calm_mode_and_with_hide_metrics(client, app, world) -> None:
    me, friend = world["me"], world["friend"]
    post = await new_post(client, friend, content="count me")
    await call(client, "PUT", f"/posts/{post['id']}/reaction", me, json={"type": "like"})
    item = (await feed(client, me))["items"][0]
    assert item["reaction_counts"] == {"like": 1}
    assert item["comment_count"] == 0
    for setting in ("hide_metrics", "calm_mode"):
        await call(client, "PATCH", "/me/settings", me, json={setting: True})
        item = (await feed(client, me))["items"][0]
        assert item["reaction_counts"] is None
        assert item["comment_count"] is None
        assert item["viewer_reaction"] == "like"  # my own reaction is mine to see
        await call(client, "PATCH", "/me/settings", me, json={setting: False})


async def test_ranked_order(client, app, world) -> None:
    me, friend, followed = world["me"], world["friend"], world["followed"]
    quiet = await new_post(client, followed, content="older, loved")
    for _ in range(3):
        fan = await signed_in_user(client)
        await call(client, "PUT", f"/posts/{quiet['id']}/reaction", fan, json={"type": "love"})
    await call(client, "POST", f"/posts/{quiet['id']}/comments", friend, json={"content": "yes"})
    recent = [await new_post(client, followed, content=f"newer {i}") for i in range(3)]
    await settle(app)
    chronological = await feed_ids(client, me)
    assert chronological[-1] == quiet["id"]
    ranked = await feed_ids(client, me, order="ranked")
    assert set(ranked) == set(chronological)
    assert ranked[0] == quiet["id"]  # engagement outweighs a few minutes of age
    # Ranked pages: every post once, in the order of the single page.
    assert await all_pages(client, me, 2, order="ranked") == ranked
    # Calm mode: chronological whatever the order asked.
    await call(client, "PATCH", "/me/settings", me, json={"calm_mode": True})
    assert await feed_ids(client, me, order="ranked") == chronological
    assert recent


async def test_ranked_cursor_is_not_a_chronological_cursor(client, app, world) -> None:
    me = world["me"]
    for i in range(3):
        await new_post(client, me, content=f"p{i}")
    cursor = (await feed(client, me, order="ranked", limit=1))["next_cursor"]
    assert cursor
    response = await client.get(f"{API}/feed", params={"cursor": cursor}, headers=me.headers)
    assert_cursor_refused(response)


async def test_page_costs_the_same_queries_whatever_its_size(client, app, world) -> None:
    me, friend = world["me"], world["friend"]
    for i in range(22):
        await new_post(client, friend, content=f"p{i} @{me.username}")
    await settle(app)
    await feed(client, me, limit=2)  # warm: production rebuilds the Redis feed once
    counts = {}
    for limit in (2, 20):
        await empty_cache(app)
        with count_queries(app) as statements:
            page = await feed(client, me, limit=limit)
        assert len(page["items"]) == limit
        counts[limit] = len(statements)
    assert counts[2] == counts[20], counts
