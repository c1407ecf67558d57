"""Blocks through HTTP: what a block removes, hides and refuses, both ways."""

from __future__ import annotations

from tests.fixtures.users import signed_in_user
from tests.modules.social.helpers import (
    API,
    assert_problem,
    befriend,
    block,
    count_rows,
    events_named,
    follow,
    get_page,
    ok,
    send_request,
    stats,
    usernames,
)

ZERO = {"followers_count": 0, "following_count": 0, "friends_count": 0, "posts_count": 0}


async def test_a_block_removes_friendship_follows_close_friends_and_their_counts(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await befriend(client, ada, bob)
    ok(await follow(client, ada, bob))
    ok(await follow(client, bob, ada))
    for owner, member in ((ada, bob), (bob, ada)):
        path = f"{API}/me/close-friends/{member.username}"
        ok(await client.put(path, headers=owner.headers), 204)
    counts = {"friends_count": 1, "followers_count": 1, "following_count": 1}
    assert await stats(client, ada) == {**ZERO, **counts}

    await block(client, bob, ada)

    for table in ("friendships", "follows", "close_friends", "friend_requests"):
        assert await count_rows(app, table) == 0, table
    assert await stats(client, ada) == ZERO
    assert await stats(client, bob) == ZERO
    assert await events_named(app, "social.blocked") == [
        {"blocker_id": bob.user_id, "blocked_id": ada.user_id}
    ]


async def test_a_block_removes_pending_requests_both_ways(app, client):
    ada, bob, cat = [await signed_in_user(client) for _ in range(3)]
    await client.patch(f"{API}/me/profile", json={"is_private": True}, headers=ada.headers)
    assert ok(await follow(client, bob, ada))["follow"] == "pending"
    ok(await send_request(client, bob, ada))
    ok(await follow(client, cat, ada))  # someone else's request stays
    await block(client, ada, bob)
    assert [
        r["user"]["username"] for r in (await get_page(client, "/me/follow-requests", ada))["items"]
    ] == [cat.username]
    assert await count_rows(app, "friend_requests") == 0
    assert await count_rows(app, "follows") == 1


async def test_neither_side_may_start_anything_while_blocked(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await block(client, ada, bob)
    for me, other in ((ada, bob), (bob, ada)):
        for method, path in (
            ("POST", f"/users/{other.username}/friend-request"),
            ("POST", f"/users/{other.username}/follow"),
            ("PUT", f"/me/close-friends/{other.username}"),
        ):
            response = await client.request(method, f"{API}{path}", headers=me.headers)
            assert_problem(response, 403, "blocked")
    for table in ("friend_requests", "follows", "close_friends"):
        assert await count_rows(app, table) == 0
    # Muting stays possible (it is private to the muter), and so is blocking back.
    ok(await client.put(f"{API}/me/mutes/{ada.username}", headers=bob.headers), 204)
    await block(client, bob, ada)
    assert await count_rows(app, "blocks") == 2


async def test_blocked_profiles_are_not_found_from_either_side(client):
    ada, bob, cat = [await signed_in_user(client) for _ in range(3)]
    await block(client, ada, bob)
    for me, other in ((ada, bob), (bob, ada)):
        for path in ("", "/connection", "/friends", "/followers", "/following", "/mutual-friends"):
            response = await client.get(f"{API}/users/{other.username}{path}", headers=me.headers)
            assert_problem(response, 404, "user_not_found" if path else "profile_not_found")
    # Anyone else still sees both.
    for other in (ada, bob):
        response = await client.get(f"{API}/users/{other.username}", headers=cat.headers)
        assert response.status_code == 200, response.text
    assert (await client.get(f"{API}/users/{ada.username}")).status_code == 200


async def test_blocked_users_vanish_from_every_list_both_ways(client):
    ada, bob, cat = [await signed_in_user(client) for _ in range(3)]
    # Cat is friends with both and followed by both; Ada and Bob both follow Cat.
    await befriend(client, cat, ada)
    await befriend(client, cat, bob)
    ok(await follow(client, ada, cat))
    ok(await follow(client, bob, cat))
    ok(await follow(client, cat, ada))
    ok(await follow(client, cat, bob))
    friends = f"/users/{cat.username}/friends"
    followers = f"/users/{cat.username}/followers"
    following = f"/users/{cat.username}/following"
    assert sorted(await usernames(client, friends, ada)) == sorted([ada.username, bob.username])

    await block(client, ada, bob)
    for me, other in ((ada, bob), (bob, ada)):
        for path in (friends, followers, following):
            names = await usernames(client, path, me)
            assert other.username not in names, (me.username, path)
            assert me.username in names
    # Cat and strangers still see both.
    for viewer in (cat, None):
        assert len(await usernames(client, friends, viewer)) == 2
        assert len(await usernames(client, followers, viewer)) == 2


async def test_blocked_users_vanish_from_my_own_lists_both_ways(client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    ok(await client.put(f"{API}/me/mutes/{bob.username}", headers=ada.headers), 204)
    ok(await client.put(f"{API}/me/mutes/{ada.username}", headers=bob.headers), 204)
    await block(client, bob, ada)
    for me in (ada, bob):
        assert await usernames(client, "/me/mutes", me) == []
    assert await usernames(client, "/me/blocks", bob) == [ada.username]
    assert await usernames(client, "/me/blocks", ada) == []


async def test_unblock_lifts_the_block_but_restores_nothing(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await befriend(client, ada, bob)
    await block(client, ada, bob)
    await block(client, ada, bob)  # again: one row, one event
    assert await count_rows(app, "blocks") == 1
    assert len(await events_named(app, "social.blocked")) == 1

    # The blocked user cannot lift it.
    ok(await client.delete(f"{API}/me/blocks/{ada.username}", headers=bob.headers), 204)
    assert await count_rows(app, "blocks") == 1
    ok(await client.delete(f"{API}/me/blocks/{bob.username}", headers=ada.headers), 204)
    ok(await client.delete(f"{API}/me/blocks/{bob.username}", headers=ada.headers), 204)
    assert await count_rows(app, "blocks") == 0
    assert await usernames(client, "/me/blocks", ada) == []
    assert (await client.get(f"{API}/users/{ada.username}", headers=bob.headers)).status_code == 200
    assert await count_rows(app, "friendships") == 0
    assert ok(await send_request(client, bob, ada))["friendship"] == "request_sent"


async def test_both_blocks_must_go_before_they_can_connect(client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await block(client, ada, bob)
    await block(client, bob, ada)
    ok(await client.delete(f"{API}/me/blocks/{bob.username}", headers=ada.headers), 204)
    assert_problem(await follow(client, ada, bob), 403, "blocked")
    assert (await client.get(f"{API}/users/{bob.username}", headers=ada.headers)).status_code == 404


async def test_blocking_yourself_or_nobody_is_refused(app, client):
    me = await signed_in_user(client)
    for method in ("PUT", "DELETE"):
        response = await client.request(
            method, f"{API}/me/blocks/{me.username}", headers=me.headers
        )
        assert_problem(response, 422, "cannot_target_self")
        response = await client.request(method, f"{API}/me/blocks/nobody_here", headers=me.headers)
        assert_problem(response, 404, "user_not_found")
    assert await count_rows(app, "blocks") == 0
    for method, path in (("GET", "/me/blocks"), ("PUT", f"/me/blocks/{me.username}")):
        assert_problem(await client.request(method, f"{API}{path}"), 401)


async def test_my_blocks_page_through_newest_first(client):
    me = await signed_in_user(client)
    others = [await signed_in_user(client) for _ in range(3)]
    for other in others:
        await block(client, me, other)
    assert await usernames(client, "/me/blocks", me, limit=1) == [
        other.username for other in reversed(others)
    ]
