"""Follows through HTTP: public and private accounts, approvals, notify-on-post, counts."""

from __future__ import annotations

import uuid

from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.social.helpers import (
    API,
    assert_problem,
    connection,
    count_rows,
    events_named,
    follow,
    get_page,
    ok,
    stats,
    usernames,
)


async def _make_private(client, user: SignedIn, private: bool = True) -> None:
    response = await client.patch(
        f"{API}/me/profile", json={"is_private": private}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def test_follow_a_public_account_counts_lists_and_records_an_event(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    answer = ok(await follow(client, fan, star))
    assert answer["follow"] == "active"
    assert answer["notify_on_post"] is False
    assert answer["user"]["username"] == star.username

    assert await usernames(client, f"/users/{star.username}/followers", None) == [fan.username]
    assert await usernames(client, f"/users/{fan.username}/following", None) == [star.username]
    assert (await stats(client, star))["followers_count"] == 1
    assert (await stats(client, fan))["following_count"] == 1
    assert (await connection(client, star, fan))["follows_you"] is True
    [event] = await events_named(app, "social.followed")
    assert event["follower_id"] == fan.user_id
    assert event["followee_id"] == star.user_id
    uuid.UUID(event["follow_id"])


async def test_following_again_is_idempotent_and_may_change_notify_on_post(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    assert ok(await follow(client, fan, star, notify_on_post=True))["notify_on_post"] is True
    # Without a body the option stays as it was; with one it changes.
    assert ok(await follow(client, fan, star))["notify_on_post"] is True
    assert ok(await follow(client, fan, star, notify_on_post=False))["notify_on_post"] is False
    assert await count_rows(app, "follows") == 1
    assert (await stats(client, star))["followers_count"] == 1
    assert len(await events_named(app, "social.followed")) == 1


async def test_patch_changes_notify_on_post_only_of_an_existing_follow(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    path = f"{API}/users/{star.username}/follow"
    response = await client.patch(path, json={"notify_on_post": True}, headers=fan.headers)
    assert_problem(response, 404, "not_following")
    ok(await follow(client, fan, star))
    answer = ok(await client.patch(path, json={"notify_on_post": True}, headers=fan.headers))
    assert answer["notify_on_post"] is True
    assert (await connection(client, fan, star))["notify_on_post"] is True
    for bad in ({}, {"notify_on_post": "yes"}, {"notify_on_post": 1}, {"other": True}):
        response = await client.patch(path, json=bad, headers=fan.headers)
        assert_problem(response, 422, "validation_failed")
    assert (await connection(client, fan, star))["notify_on_post"] is True


async def test_unfollow_removes_the_follow_and_its_counts(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    ok(await follow(client, fan, star))
    path = f"{API}/users/{star.username}/follow"
    ok(await client.delete(path, headers=fan.headers), 204)
    ok(await client.delete(path, headers=fan.headers), 204)  # again: nothing to do
    assert (await stats(client, star))["followers_count"] == 0
    assert (await stats(client, fan))["following_count"] == 0
    assert await usernames(client, f"/users/{star.username}/followers", None) == []
    assert (await connection(client, fan, star))["follow"] == "none"


async def test_a_private_account_approves_its_followers(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    await _make_private(client, star)
    answer = ok(await follow(client, fan, star, notify_on_post=True))
    assert answer["follow"] == "pending"

    # Pending follows count nowhere and list nowhere, except in the owner's requests.
    assert (await stats(client, star))["followers_count"] == 0
    assert (await stats(client, fan))["following_count"] == 0
    assert await usernames(client, f"/users/{star.username}/followers", star) == []
    requests = (await get_page(client, "/me/follow-requests", star))["items"]
    assert [r["user"]["username"] for r in requests] == [fan.username]
    assert await get_page(client, "/me/follow-requests", fan) == {"items": [], "next_cursor": None}
    [requested] = await events_named(app, "social.follow_requested")
    assert requested["follow_id"] == requests[0]["id"]

    approve = f"{API}/me/follow-requests/{requests[0]['id']}/approve"
    ok(await client.post(approve, headers=star.headers), 204)
    assert_problem(
        await client.post(approve, headers=star.headers), 404, "follow_request_not_found"
    )
    assert (await stats(client, star))["followers_count"] == 1
    assert (await stats(client, fan))["following_count"] == 1
    assert await usernames(client, f"/users/{star.username}/followers", star) == [fan.username]
    link = await connection(client, fan, star)
    assert (link["follow"], link["notify_on_post"]) == ("active", True)
    assert (await get_page(client, "/me/follow-requests", star))["items"] == []
    [approved] = await events_named(app, "social.follow_approved")
    assert approved == {**requested}
    assert await events_named(app, "social.followed") == []


async def test_declining_or_withdrawing_a_follow_request(app, client):
    fan, other, star = [await signed_in_user(client) for _ in range(3)]
    await _make_private(client, star)
    ok(await follow(client, fan, star))
    ok(await follow(client, other, star))
    requests = (await get_page(client, "/me/follow-requests", star))["items"]
    by_name = {r["user"]["username"]: r["id"] for r in requests}

    # Only the account followed may answer; others get 404 and change nothing.
    for intruder in (fan, other):
        for action in ("approve", "decline"):
            response = await client.post(
                f"{API}/me/follow-requests/{by_name[fan.username]}/{action}",
                headers=intruder.headers,
            )
            assert_problem(response, 404, "follow_request_not_found")
    decline = f"{API}/me/follow-requests/{by_name[fan.username]}/decline"
    ok(await client.post(decline, headers=star.headers), 204)
    assert_problem(await client.post(decline, headers=star.headers), 404)
    # Withdrawing a pending request is an unfollow.
    ok(await client.delete(f"{API}/users/{star.username}/follow", headers=other.headers), 204)
    assert (await get_page(client, "/me/follow-requests", star))["items"] == []
    assert await count_rows(app, "follows") == 0
    assert (await stats(client, star))["followers_count"] == 0
    response = await client.post(
        f"{API}/me/follow-requests/{uuid.uuid4()}/approve", headers=star.headers
    )
    assert_problem(response, 404, "follow_request_not_found")


async def test_turning_public_keeps_pending_requests_and_new_follows_are_active(app, client):
    early, late, star = [await signed_in_user(client) for _ in range(3)]
    await _make_private(client, star)
    assert ok(await follow(client, early, star))["follow"] == "pending"
    await _make_private(client, star, False)
    assert ok(await follow(client, late, star))["follow"] == "active"
    # The earlier request waits for the owner's answer, as documented.
    assert (await connection(client, early, star))["follow"] == "pending"
    requests = (await get_page(client, "/me/follow-requests", star))["items"]
    assert [r["user"]["username"] for r in requests] == [early.username]
    assert (await stats(client, star))["followers_count"] == 1
    # A follow approved before the account turned private stays active.
    await _make_private(client, star)
    assert (await connection(client, late, star))["follow"] == "active"


async def test_following_yourself_or_nobody_is_refused(app, client):
    me = await signed_in_user(client)
    for method in ("POST", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"{API}/users/{me.username}/follow",
            headers=me.headers,
            json={"notify_on_post": True} if method == "PATCH" else None,
        )
        assert_problem(response, 422, "cannot_target_self")
        response = await client.request(
            method,
            f"{API}/users/no_such_user/follow",
            headers=me.headers,
            json={"notify_on_post": True} if method == "PATCH" else None,
        )
        assert_problem(response, 404, "user_not_found")
    for path in ("followers", "following"):
        response = await client.get(f"{API}/users/no_such_user/{path}")
        assert_problem(response, 404, "user_not_found")
    assert await count_rows(app, "follows") == 0
    assert (await stats(client, me))["following_count"] == 0


async def test_a_bad_follow_body_is_refused(app, client):
    fan, star = await signed_in_user(client), await signed_in_user(client)
    for bad in ({"notify_on_post": "true"}, {"notify_on_post": None}, {"extra": 1}):
        response = await client.post(
            f"{API}/users/{star.username}/follow", json=bad, headers=fan.headers
        )
        assert_problem(response, 422, "validation_failed")
    assert await count_rows(app, "follows") == 0


async def test_follow_actions_need_a_signed_in_user(client):
    star = await signed_in_user(client)
    for method, path in (
        ("POST", f"/users/{star.username}/follow"),
        ("PATCH", f"/users/{star.username}/follow"),
        ("DELETE", f"/users/{star.username}/follow"),
        ("GET", "/me/follow-requests"),
        ("POST", f"/me/follow-requests/{uuid.uuid4()}/approve"),
        ("GET", f"/users/{star.username}/connection"),
    ):
        assert_problem(await client.request(method, f"{API}{path}"), 401)


async def test_follower_pages_are_newest_first_with_cursors(client):
    star = await signed_in_user(client)
    fans = [await signed_in_user(client) for _ in range(5)]
    for fan in fans:
        ok(await follow(client, fan, star))
    first = await get_page(client, f"/users/{star.username}/followers", None, limit=2)
    assert [card["username"] for card in first["items"]] == [fans[4].username, fans[3].username]
    names = await usernames(client, f"/users/{star.username}/followers", None, limit=2)
    assert names == [fan.username for fan in reversed(fans)]
    response = await client.get(
        f"{API}/users/{star.username}/followers", params={"cursor": "not-a-cursor"}
    )
    assert_problem(response, 422, "validation_failed")
    assert response.json()["errors"][0]["type"] == "invalid_cursor"
