"""A topic's page lists only the posts the viewer may see, newest first, in constant queries."""

from __future__ import annotations

from datetime import timedelta

from tests.fixtures.cache import empty_cache
from tests.fixtures.content import update_post
from tests.fixtures.content_topics import create_tagged_post, detach
from tests.fixtures.graph import add_close_friend, befriend, block, follow
from tests.fixtures.users import PASSWORD, signed_in_user
from tests.modules.topics.helpers import (
    API,
    all_pages,
    assert_problem,
    count_queries,
    get_ok,
    settle,
)
from townsquare.kit.models import utcnow
from townsquare.modules.posts.models import PostStatus, Visibility


async def _ids(client, headers=None, name="garden"):
    return [p["id"] for p in await all_pages(client, f"/topics/{name}/posts", headers, limit=3)]


async def test_page_lists_visible_posts_newest_first(app, client):
    author = await signed_in_user(client)
    now = utcnow()
    older = await create_tagged_post(
        app, author.user_id, "#garden old", published_at=now - timedelta(hours=2)
    )
    newer = await create_tagged_post(
        app, author.user_id, "#Garden new", published_at=now - timedelta(hours=1)
    )
    newest = await create_tagged_post(app, author.user_id, "#GARDEN newest")
    await create_tagged_post(app, author.user_id, "#kitchen elsewhere")

    page = await get_ok(client, "/topics/garden/posts")
    assert [p["id"] for p in page["items"]] == [newest, newer, older]
    first = page["items"][0]
    assert first["author"]["user_id"] == author.user_id
    assert first["content"] == "#GARDEN newest"
    assert first["visibility"] == "public"
    assert await _ids(client) == [newest, newer, older]
    assert [p["id"] for p in (await get_ok(client, "/topics/garden/posts", limit=1))["items"]] == [
        newest
    ]
    response = await client.get(f"{API}/topics/garden/posts", params={"cursor": "bm90IGpzb24"})
    assert_problem(response, 422, "validation_failed")
    response = await client.get(f"{API}/topics/garden/posts", params={"limit": 0})
    assert_problem(response, 422)

    # A post whose tag was removed leaves the page.
    await detach(app, newer)
    assert await _ids(client) == [newest, older]


async def test_page_never_lists_what_the_viewer_may_not_see(app, client):
    author = await signed_in_user(client)
    friend = await signed_in_user(client)
    close = await signed_in_user(client)
    listed = await signed_in_user(client)
    stranger = await signed_in_user(client)
    await befriend(app, author.user_id, friend.user_id)
    await befriend(app, author.user_id, close.user_id)
    await add_close_friend(app, author.user_id, close.user_id)
    now = utcnow()

    async def post(**kw):
        return await create_tagged_post(app, author.user_id, "#garden", **kw)

    public = await post()
    friends = await post(visibility=Visibility.FRIENDS)
    close_only = await post(visibility=Visibility.CLOSE_FRIENDS)
    custom = await post(visibility=Visibility.CUSTOM, audience=[listed.user_id])
    only_me = await post(visibility=Visibility.ONLY_ME)
    # Never on the page, not even for the author.
    await post(status=PostStatus.DRAFT)
    await post(status=PostStatus.SCHEDULED, published_at=now + timedelta(days=1))
    await post(archived=True)
    await post(deleted=True)

    everything = {public, friends, close_only, custom, only_me}
    expected = [
        (None, {public}),
        (stranger, {public}),
        (friend, {public, friends}),
        (close, {public, friends, close_only}),
        (listed, {public, custom}),
        (author, everything),
    ]
    for viewer, ids in expected:
        headers = viewer.headers if viewer else None
        assert set(await _ids(client, headers)) == ids, viewer

    # Blocks hide both ways.
    await block(app, friend.user_id, author.user_id)
    assert await _ids(client, friend.headers) == []
    await block(app, author.user_id, stranger.user_id)
    assert await _ids(client, stranger.headers) == []
    assert set(await _ids(client, author.headers)) == everything

    # A post that becomes invisible leaves the page.
    await update_post(app, public, deleted_at=utcnow())
    assert await _ids(client) == []
    assert set(await _ids(client, close.headers)) == {friends, close_only}


async def test_private_and_deactivated_authors(app, client):
    author = await signed_in_user(client)
    follower = await signed_in_user(client)
    pending = await signed_in_user(client)
    other = await signed_in_user(client)
    post_id = await create_tagged_post(app, author.user_id, "#garden in private")
    response = await client.patch(
        f"{API}/me/profile", json={"is_private": True}, headers=author.headers
    )
    assert response.status_code == 200, response.text
    await follow(app, follower.user_id, author.user_id)
    await follow(app, pending.user_id, author.user_id, approved=False)
    assert await _ids(client) == []
    assert await _ids(client, other.headers) == []
    assert await _ids(client, pending.headers) == []
    assert await _ids(client, follower.headers) == [post_id]

    response = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=author.headers
    )
    assert response.status_code in (200, 204), response.text
    assert await _ids(client, follower.headers) == []


async def test_constant_queries_per_page(app, client):
    author = await signed_in_user(client)
    viewer = await signed_in_user(client)
    await befriend(app, author.user_id, viewer.user_id)
    for i in range(25):
        visibility = Visibility.FRIENDS if i % 2 else Visibility.PUBLIC
        await create_tagged_post(app, author.user_id, f"#garden {i}", visibility=visibility)

    counts = {}
    for limit in (2, 20):
        await settle(app)
        await empty_cache(app)
        with count_queries(app) as counter:
            page = await get_ok(client, "/topics/garden/posts", viewer.headers, limit=limit)
        assert len(page["items"]) == limit
        counts[limit] = counter.count
    assert counts[2] == counts[20], counts


async def test_page_follows_posts_written_through_the_api(app, client):
    author = await signed_in_user(client)
    stranger = await signed_in_user(client)
    response = await client.post(
        f"{API}/posts", json={"content": "First #Garden post"}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    public = response.json()
    response = await client.post(
        f"{API}/posts",
        json={"content": "#garden for friends", "visibility": "friends"},
        headers=author.headers,
    )
    friends_only = response.json()
    page = await get_ok(client, "/topics/garden/posts", author.headers)
    # The same representation as GET /posts/{id}.
    same = await get_ok(client, f"/posts/{public['id']}", author.headers)
    assert page["items"][1] == same
    assert [p["id"] for p in page["items"]] == [friends_only["id"], public["id"]]
    assert await _ids(client, stranger.headers) == [public["id"]]
    assert (await get_ok(client, "/topics/garden"))["post_count"] == 2

    # An edit that drops the tag, and a deletion, take posts off the page.
    response = await client.patch(
        f"{API}/posts/{friends_only['id']}", json={"content": "no tag"}, headers=author.headers
    )
    assert response.status_code == 200, response.text
    assert await _ids(client, author.headers) == [public["id"]]
    response = await client.delete(f"{API}/posts/{public['id']}", headers=author.headers)
    assert response.status_code == 204, response.text
    assert await _ids(client, author.headers) == []
    assert (await get_ok(client, "/topics/garden"))["post_count"] == 0
