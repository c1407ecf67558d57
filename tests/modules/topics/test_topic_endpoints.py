"""A topic's details, follows, my topics, staff edits and featured topics, through HTTP."""

from __future__ import annotations

from tests.fixtures.content_topics import create_tagged_post, ensure_topic, get_topic
from tests.fixtures.users import signed_in_user
from tests.modules.topics.helpers import API, all_pages, assert_problem, get_ok, make_staff
from townsquare.kit.auth import Role


async def test_unknown_topic_is_404(client):
    viewer = await signed_in_user(client)
    assert_problem(await client.get(f"{API}/topics/nothing"), 404, "topic_not_found")
    for method in ("post", "delete"):
        response = await client.request(
            method, f"{API}/topics/nothing/follow", headers=viewer.headers
        )
        assert_problem(response, 404, "topic_not_found")
    assert_problem(await client.get(f"{API}/topics/nothing/posts"), 404, "topic_not_found")
    assert (await client.get(f"{API}/topics/{'x' * 102}")).status_code == 422
    assert (await client.get(f"{API}/topics/a%00b")).status_code == 422


async def test_follow_and_unfollow(app, client):
    await ensure_topic(app, "rust")
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    # Anonymous visitors read topics but cannot follow them.
    assert (await get_ok(client, "/topics/rust"))["following"] is False
    assert_problem(await client.post(f"{API}/topics/rust/follow"), 401)

    response = await client.post(f"{API}/topics/Rust/follow", headers=alice.headers)
    assert response.status_code == 200, response.text
    assert response.json()["following"] is True
    assert response.json()["follower_count"] == 1
    # Following again changes nothing.
    again = await client.post(f"{API}/topics/%23rust/follow", headers=alice.headers)
    assert again.json()["follower_count"] == 1
    assert (await client.post(f"{API}/topics/rust/follow", headers=bob.headers)).json()[
        "follower_count"
    ] == 2

    assert (await get_ok(client, "/topics/rust", alice.headers))["following"] is True
    assert (await get_ok(client, "/topics/rust"))["following"] is False

    response = await client.delete(f"{API}/topics/rust/follow", headers=alice.headers)
    assert response.status_code == 204
    response = await client.delete(f"{API}/topics/rust/follow", headers=alice.headers)
    assert response.status_code == 204  # not following any more: no change
    topic = await get_ok(client, "/topics/rust", alice.headers)
    assert topic["follower_count"] == 1
    assert topic["following"] is False
    assert (await get_topic(app, "rust")).follower_count == 1


async def test_my_topics_newest_follow_first(app, client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    names = ["one", "two", "three", "four", "five"]
    for name in names:
        await ensure_topic(app, name)
        await client.post(f"{API}/topics/{name}/follow", headers=alice.headers)
    await client.post(f"{API}/topics/two/follow", headers=bob.headers)
    await client.delete(f"{API}/topics/four/follow", headers=alice.headers)

    mine = await all_pages(client, "/me/topics", alice.headers, limit=2)
    assert [t["name"] for t in mine] == ["five", "three", "two", "one"]
    assert all(t["following"] for t in mine)
    assert [t["name"] for t in await all_pages(client, "/me/topics", bob.headers)] == ["two"]
    assert_problem(await client.get(f"{API}/me/topics"), 401)
    assert_problem(
        await client.get(f"{API}/me/topics", params={"cursor": "garbage"}, headers=alice.headers),
        422,
        "validation_failed",
    )


async def test_staff_edit_topics_and_feature_them(app, client):
    author = await signed_in_user(client)
    await create_tagged_post(app, author.user_id, "#Gardening tips")
    await ensure_topic(app, "birds")
    await ensure_topic(app, "apples")
    moderator = await make_staff(app, client)
    admin = await make_staff(app, client, Role.ADMIN)

    # Not staff: 403, and nothing changes.
    response = await client.patch(
        f"{API}/topics/gardening", json={"is_featured": True}, headers=author.headers
    )
    assert_problem(response, 403, "forbidden")
    assert_problem(await client.patch(f"{API}/topics/gardening", json={}), 401)
    assert (await get_ok(client, "/topics/gardening"))["is_featured"] is False

    body = {
        "description": "Plants, soil and patience.",
        "color": "#2e7d32",
        "icon": "🌱",
        "is_featured": True,
    }
    response = await client.patch(f"{API}/topics/Gardening", json=body, headers=moderator.headers)
    assert response.status_code == 200, response.text
    topic = response.json()
    assert topic["description"] == "Plants, soil and patience."
    assert topic["color"] == "#2E7D32"
    assert topic["icon"] == "🌱"
    assert topic["is_featured"] is True
    assert topic["post_count"] == 1
    assert topic["display_name"] == "Gardening"
    await client.patch(f"{API}/topics/birds", json={"is_featured": True}, headers=admin.headers)
    await client.patch(f"{API}/topics/apples", json={"is_featured": True}, headers=admin.headers)
    await client.patch(f"{API}/topics/apples", json={"is_featured": False}, headers=admin.headers)

    # null clears; omitted stays.
    response = await client.patch(
        f"{API}/topics/gardening", json={"icon": None}, headers=admin.headers
    )
    assert response.json()["icon"] is None
    assert response.json()["color"] == "#2E7D32"

    featured = await all_pages(client, "/topics/featured", limit=1)
    assert [t["name"] for t in featured] == ["birds", "gardening"]
    await client.post(f"{API}/topics/birds/follow", headers=author.headers)
    featured = await get_ok(client, "/topics/featured", author.headers)
    assert [t["following"] for t in featured["items"]] == [True, False]

    assert_problem(await client.patch(f"{API}/topics/unknown", json={}, headers=admin.headers), 404)


async def test_bad_topic_edits_change_nothing(app, client):
    await ensure_topic(app, "chess")
    admin = await make_staff(app, client, Role.ADMIN)
    bad_bodies = [
        {"color": "red"},
        {"color": "#12345"},
        {"color": "#GGGGGG"},
        {"is_featured": "yes"},
        {"is_featured": 1},
        {"is_featured": None},
        {"description": "x" * 1001},
        {"description": "nul\x00"},
        {"icon": ""},
        {"icon": "i" * 101},
        {"name": "other"},
        {"post_count": 10},
    ]
    for body in bad_bodies:
        response = await client.patch(f"{API}/topics/chess", json=body, headers=admin.headers)
        assert_problem(response, 422, "validation_failed")
    topic = await get_ok(client, "/topics/chess")
    assert topic["color"] is None
    assert topic["is_featured"] is False
    assert topic["description"] is None
    assert topic["post_count"] == 0


async def test_a_topic_named_like_a_route(app, client):
    author = await signed_in_user(client)
    await create_tagged_post(app, author.user_id, "#Trending #featured")
    assert (await get_ok(client, "/topics/%23trending"))["display_name"] == "Trending"
    assert (await get_ok(client, "/topics/%23featured"))["post_count"] == 1
    assert (await client.post(f"{API}/topics/trending/follow", headers=author.headers)).json()[
        "following"
    ] is True
    page = await get_ok(client, "/topics/trending/posts")
    assert len(page["items"]) == 1
