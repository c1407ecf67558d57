"""Bookmarks through HTTP: bookmark, move, remove, list by collection; what must stay hidden."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.fixtures.cache import empty_cache
from tests.fixtures.content import create_post, update_post
from tests.fixtures.graph import befriend, block
from tests.fixtures.users import PASSWORD, signed_in_user
from tests.modules.bookmarks.helpers import listed, new_collection, put_bookmark
from tests.modules.topics.helpers import (
    API,
    assert_problem,
    count_queries,
    get_ok,
    settle,
)
from townsquare.kit.models import utcnow
from townsquare.modules.posts.models import PostStatus, Visibility


async def test_bookmark_move_and_remove(app, client):
    author = await signed_in_user(client)
    me = await signed_in_user(client)
    first = await create_post(app, author.user_id, content="first")
    second = await create_post(app, author.user_id, content="second")
    reading = await new_collection(client, me, "Reading list")

    response = await put_bookmark(client, me, first, body=False)
    assert response.status_code == 201, response.text
    bookmark = response.json()
    assert bookmark["post_id"] == first
    assert bookmark["collection_id"] is None
    response = await put_bookmark(client, me, second, reading["id"])
    assert response.status_code == 201
    assert response.json()["collection_id"] == reading["id"]

    assert await listed(client, me) == [second, first]
    assert await listed(client, me, "default") == [first]
    assert await listed(client, me, reading["id"]) == [second]
    items = (await get_ok(client, "/me/bookmarks", me.headers))["items"]
    assert items[1]["id"] == bookmark["id"]
    assert items[1]["collection_id"] is None
    assert items[1]["post"]["content"] == "first"
    assert items[1]["post"]["bookmarked"] is True
    post = await get_ok(client, f"/posts/{first}", me.headers)
    assert items[1]["post"] == post  # the same representation as the post itself

    # PUT again moves the one bookmark (same id, same place in the list).
    response = await put_bookmark(client, me, first, reading["id"])
    assert response.status_code == 200, response.text
    assert response.json()["id"] == bookmark["id"]
    assert await listed(client, me, reading["id"]) == [second, first]
    assert await listed(client, me, "default") == []
    response = await put_bookmark(client, me, first, None)
    assert response.status_code == 200
    assert await listed(client, me, "default") == [first]
    assert await listed(client, me) == [second, first]

    assert (
        await client.delete(f"{API}/posts/{first}/bookmark", headers=me.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{API}/posts/{first}/bookmark", headers=me.headers)
    ).status_code == 204
    assert await listed(client, me) == [second]
    assert (await get_ok(client, f"/posts/{first}", me.headers))["bookmarked"] is False
    # Someone else's bookmarks are their own.
    assert await listed(client, author) == []


async def test_bad_bookmark_requests_change_nothing(app, client):
    author = await signed_in_user(client)
    me = await signed_in_user(client)
    other = await signed_in_user(client)
    post = await create_post(app, author.user_id)
    theirs = await new_collection(client, other, "Theirs")

    assert_problem(await put_bookmark(client, me, post, theirs["id"]), 404, "collection_not_found")
    assert_problem(await put_bookmark(client, me, post, str(uuid.uuid4())), 404)
    assert_problem(await put_bookmark(client, me, uuid.uuid4()), 404, "post_not_found")
    response = await client.put(
        f"{API}/posts/{post}/bookmark", json={"collection_id": "nope"}, headers=me.headers
    )
    assert_problem(response, 422)
    response = await client.put(
        f"{API}/posts/{post}/bookmark", json={"extra": 1}, headers=me.headers
    )
    assert_problem(response, 422)
    assert_problem(await client.put(f"{API}/posts/not-a-uuid/bookmark", headers=me.headers), 422)
    assert_problem(await client.put(f"{API}/posts/{post}/bookmark"), 401)
    assert_problem(await client.get(f"{API}/me/bookmarks"), 401)
    assert await listed(client, me) == []

    mine = await new_collection(client, me, "Mine")
    await put_bookmark(client, me, post, mine["id"])
    # Moving to someone else's collection fails and leaves the bookmark where it was.
    assert_problem(await put_bookmark(client, me, post, theirs["id"]), 404)
    assert await listed(client, me, mine["id"]) == [post]
    # Nobody else may list my collection.
    response = await client.get(
        f"{API}/me/bookmarks", params={"collection": mine["id"]}, headers=other.headers
    )
    assert_problem(response, 404, "collection_not_found")
    for bad in ("nonsense", "1234", "x" * 37):
        response = await client.get(
            f"{API}/me/bookmarks", params={"collection": bad}, headers=me.headers
        )
        assert_problem(response, 422)
    response = await client.get(f"{API}/me/bookmarks", params={"cursor": "!!"}, headers=me.headers)
    assert_problem(response, 422)


async def test_only_posts_i_may_see_can_be_bookmarked(app, client):
    author = await signed_in_user(client)
    me = await signed_in_user(client)
    now = utcnow()
    hidden = [
        await create_post(app, author.user_id, visibility=Visibility.FRIENDS),
        await create_post(app, author.user_id, visibility=Visibility.CLOSE_FRIENDS),
        await create_post(app, author.user_id, visibility=Visibility.ONLY_ME),
        await create_post(app, author.user_id, visibility=Visibility.CUSTOM),
        await create_post(app, author.user_id, status=PostStatus.DRAFT),
        await create_post(
            app,
            author.user_id,
            status=PostStatus.SCHEDULED,
            published_at=now.replace(year=now.year + 1),
        ),
        await create_post(app, author.user_id, archived=True),
        await create_post(app, author.user_id, deleted=True),
    ]
    for post_id in hidden:
        assert_problem(await put_bookmark(client, me, post_id), 404, "post_not_found")
    # The author sees their own draft, but a draft cannot be bookmarked.
    assert_problem(await put_bookmark(client, author, hidden[4]), 404, "post_not_found")
    blocked = await create_post(app, author.user_id)
    await block(app, author.user_id, me.user_id)
    assert_problem(await put_bookmark(client, me, blocked), 404, "post_not_found")
    assert await listed(client, me) == []
    # The author may bookmark their own published posts, even for their eyes only.
    assert (await put_bookmark(client, author, hidden[2])).status_code == 201
    assert await listed(client, author) == [hidden[2]]


async def test_posts_that_become_invisible_leave_the_list(app, client):
    author = await signed_in_user(client)
    friend = await signed_in_user(client)
    blocker = await signed_in_user(client)
    await befriend(app, author.user_id, friend.user_id)
    deleted = await create_post(app, author.user_id, content="to be deleted")
    narrowed = await create_post(app, author.user_id, content="to be narrowed")
    archived = await create_post(app, author.user_id, content="to be archived")
    friends_only = await create_post(app, author.user_id, visibility=Visibility.FRIENDS)
    blocked = await create_post(app, blocker.user_id, content="blocker's post")
    for post_id in (deleted, narrowed, archived, friends_only, blocked):
        assert (await put_bookmark(client, friend, post_id)).status_code == 201
    assert len(await listed(client, friend)) == 5

    await update_post(app, deleted, deleted_at=utcnow())
    await update_post(app, narrowed, visibility=Visibility.ONLY_ME)
    await update_post(app, archived, archived_at=utcnow())
    await block(app, blocker.user_id, friend.user_id)
    assert await listed(client, friend) == [friends_only]

    # The author deactivates: all their posts vanish from my bookmarks.
    response = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=author.headers
    )
    assert response.status_code in (200, 204), response.text
    assert await listed(client, friend) == []
    assert await listed(client, friend, "default") == []
    # A bookmark of a post I can no longer see can still be removed.
    assert (
        await client.delete(f"{API}/posts/{friends_only}/bookmark", headers=friend.headers)
    ).status_code == 204


async def test_constant_queries_per_page(app, client):
    me = await signed_in_user(client)
    authors = [await signed_in_user(client) for _ in range(3)]
    collection = await new_collection(client, me, "All")
    for i in range(24):
        author = authors[i % 3]
        post_id = await create_post(app, author.user_id, content=f"post {i}")
        await put_bookmark(client, me, post_id, collection["id"] if i % 2 else None)
    for params in ({}, {"collection": collection["id"]}, {"collection": "default"}):
        counts = {}
        for limit in (2, 10 if params else 20):
            await settle(app)
            await empty_cache(app)
            with count_queries(app) as counter:
                page = await get_ok(client, "/me/bookmarks", me.headers, limit=limit, **params)
            assert len(page["items"]) == limit
            counts[limit] = counter.count
        assert len(set(counts.values())) == 1, (params, counts)


async def test_the_same_bookmark_twice_at_once_makes_one_row(app, client, backend):
    if backend.name != "postgres":
        pytest.skip("SQLite serializes writers; the race needs PostgreSQL")
    author = await signed_in_user(client)
    me = await signed_in_user(client)
    post_id = await create_post(app, author.user_id)
    responses = await asyncio.gather(*(put_bookmark(client, me, post_id) for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200] * 5 + [201]
    assert len({r.json()["id"] for r in responses}) == 1
    assert await listed(client, me) == [post_id]

    responses = await asyncio.gather(
        *(
            client.post(f"{API}/me/bookmark-collections", json={"name": "Same"}, headers=me.headers)
            for _ in range(4)
        )
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409]
