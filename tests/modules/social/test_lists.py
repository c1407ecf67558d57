"""Who may read which list: connections_visibility, hidden users, close friends and mutes."""

from __future__ import annotations

import pytest

from tests.fixtures.users import signed_in_user
from tests.modules.social.helpers import (
    API,
    assert_problem,
    befriend,
    count_rows,
    deactivate,
    follow,
    incoming,
    ok,
    send_request,
    set_privacy,
    usernames,
)

CONNECTION_LISTS = ("friends", "followers", "following")


async def _owner_with_connections(client):
    """Owner with a friend (who also follows) and a followed user; plus a stranger."""
    owner, friend, star, stranger = [await signed_in_user(client) for _ in range(4)]
    await befriend(client, owner, friend)
    ok(await follow(client, friend, owner))
    ok(await follow(client, owner, star))
    return owner, friend, star, stranger


async def test_public_connections_are_listed_to_everyone(client):
    owner, friend, star, stranger = await _owner_with_connections(client)
    for viewer in (None, stranger, friend, owner):
        assert await usernames(client, f"/users/{owner.username}/friends", viewer) == [
            friend.username
        ]
        assert await usernames(client, f"/users/{owner.username}/followers", viewer) == [
            friend.username
        ]
        assert await usernames(client, f"/users/{owner.username}/following", viewer) == [
            star.username
        ]


@pytest.mark.parametrize("path", [*CONNECTION_LISTS, "mutual-friends"])
async def test_friends_only_connections(client, path):
    owner, friend, _, stranger = await _owner_with_connections(client)
    await set_privacy(client, owner, connections_visibility="friends")
    for viewer in (friend, owner):
        response = await client.get(f"{API}/users/{owner.username}/{path}", headers=viewer.headers)
        assert response.status_code == 200, response.text
    response = await client.get(f"{API}/users/{owner.username}/{path}", headers=stranger.headers)
    assert_problem(response, 403, "connections_hidden")
    response = await client.get(f"{API}/users/{owner.username}/{path}")
    assert_problem(response, 401 if path == "mutual-friends" else 403)


@pytest.mark.parametrize("path", [*CONNECTION_LISTS, "mutual-friends"])
async def test_only_me_connections(client, path):
    owner, friend, _, stranger = await _owner_with_connections(client)
    await set_privacy(client, owner, connections_visibility="only_me")
    for viewer in (friend, stranger):
        response = await client.get(f"{API}/users/{owner.username}/{path}", headers=viewer.headers)
        assert_problem(response, 403, "connections_hidden")
    response = await client.get(f"{API}/users/{owner.username}/{path}", headers=owner.headers)
    assert response.status_code == 200, response.text


async def test_hidden_connections_still_show_their_counts_on_the_profile(client):
    owner, _, _, stranger = await _owner_with_connections(client)
    await set_privacy(client, owner, connections_visibility="only_me")
    seen = (await client.get(f"{API}/users/{owner.username}", headers=stranger.headers)).json()
    assert seen["stats"] == {
        "followers_count": 1,
        "following_count": 1,
        "friends_count": 1,
        "posts_count": 0,
    }


async def test_deactivated_users_leave_every_list_and_their_own_lists_are_gone(client):
    owner, friend, star, stranger = await _owner_with_connections(client)
    asker = await signed_in_user(client)
    ok(await send_request(client, asker, owner))
    ok(await client.put(f"{API}/me/mutes/{asker.username}", headers=owner.headers), 204)
    ok(await client.put(f"{API}/me/close-friends/{friend.username}", headers=owner.headers), 204)

    for user in (friend, star, asker):
        await deactivate(client, user)
    for path in CONNECTION_LISTS:
        assert await usernames(client, f"/users/{owner.username}/{path}", stranger) == []
    assert (await incoming(client, owner))["items"] == []
    assert await usernames(client, "/me/mutes", owner) == []
    assert await usernames(client, "/me/close-friends", owner) == []
    response = await client.get(f"{API}/users/{friend.username}/friends", headers=owner.headers)
    assert_problem(response, 404, "user_not_found")
    # Acting on a hidden user is as for an unknown one.
    assert_problem(await send_request(client, owner, star), 404, "user_not_found")


async def test_close_friends_are_mine_alone(app, client):
    me, pal, other = [await signed_in_user(client) for _ in range(3)]
    path = f"{API}/me/close-friends/{pal.username}"
    ok(await client.put(path, headers=me.headers), 204)
    ok(await client.put(path, headers=me.headers), 204)  # again: one row
    assert await count_rows(app, "close_friends") == 1
    assert await usernames(client, "/me/close-friends", me) == [pal.username]
    assert await usernames(client, "/me/close-friends", pal) == []
    assert await usernames(client, "/me/close-friends", other) == []
    link = (await client.get(f"{API}/users/{pal.username}/connection", headers=me.headers)).json()
    assert link["close_friend"] is True
    ok(await client.delete(path, headers=me.headers), 204)
    ok(await client.delete(path, headers=me.headers), 204)
    assert await usernames(client, "/me/close-friends", me) == []
    response = await client.put(f"{API}/me/close-friends/{me.username}", headers=me.headers)
    assert_problem(response, 422, "cannot_target_self")
    response = await client.put(f"{API}/me/close-friends/nobody_here", headers=me.headers)
    assert_problem(response, 404, "user_not_found")


async def test_mutes_are_private_to_the_muter(app, client):
    me, noisy = await signed_in_user(client), await signed_in_user(client)
    path = f"{API}/me/mutes/{noisy.username}"
    ok(await client.put(path, headers=me.headers), 204)
    ok(await client.put(path, headers=me.headers), 204)
    assert await count_rows(app, "mutes") == 1
    assert await usernames(client, "/me/mutes", me) == [noisy.username]
    # The muted user sees nothing different: no list, no flag, and everything still works.
    assert await usernames(client, "/me/mutes", noisy) == []
    theirs = await client.get(f"{API}/users/{me.username}/connection", headers=noisy.headers)
    assert theirs.json()["muted"] is False
    assert ok(await follow(client, noisy, me))["follow"] == "active"
    mine = await client.get(f"{API}/users/{noisy.username}/connection", headers=me.headers)
    assert mine.json()["muted"] is True
    ok(await client.delete(path, headers=me.headers), 204)
    assert await usernames(client, "/me/mutes", me) == []
    response = await client.put(f"{API}/me/mutes/{me.username}", headers=me.headers)
    assert_problem(response, 422, "cannot_target_self")


async def test_my_lists_need_a_signed_in_user(client):
    for path in ("/me/close-friends", "/me/mutes", "/me/blocks", "/me/friend-requests/incoming"):
        assert_problem(await client.get(f"{API}{path}"), 401)


async def test_connection_with_myself_is_refused(client):
    me = await signed_in_user(client)
    response = await client.get(f"{API}/users/{me.username}/connection", headers=me.headers)
    assert_problem(response, 422, "cannot_target_self")
