"""Friend requests and friendships through HTTP: the whole life cycle, its errors, its counts."""

from __future__ import annotations

import uuid

from tests.fixtures.users import signed_in_user
from tests.modules.social.helpers import (
    API,
    assert_problem,
    befriend,
    connection,
    count_rows,
    events_named,
    incoming,
    ok,
    outgoing,
    send_request,
    stats,
    usernames,
)


async def test_request_accept_makes_friends_both_ways_with_counts_and_events(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)

    sent = ok(await send_request(client, ada, bob))
    assert sent["friendship"] == "request_sent"
    assert sent["user"]["username"] == bob.username
    request_id = sent["friend_request_id"]

    mine = (await outgoing(client, ada))["items"]
    assert [(r["id"], r["user"]["username"]) for r in mine] == [(request_id, bob.username)]
    theirs = (await incoming(client, bob))["items"]
    assert [(r["id"], r["user"]["username"]) for r in theirs] == [(request_id, ada.username)]
    assert set(theirs[0]["user"]) == {
        "user_id",
        "username",
        "display_name",
        "avatar_url",
        "is_verified",
    }
    assert (await connection(client, bob, ada))["friendship"] == "request_received"

    ok(await client.post(f"{API}/me/friend-requests/{request_id}/accept", headers=bob.headers), 204)

    assert (await incoming(client, bob))["items"] == []
    assert (await outgoing(client, ada))["items"] == []
    assert await usernames(client, f"/users/{ada.username}/friends", bob) == [bob.username]
    assert await usernames(client, f"/users/{bob.username}/friends", ada) == [ada.username]
    for user in (ada, bob):
        assert (await stats(client, user))["friends_count"] == 1
    assert await count_rows(app, "friendships") == 2
    assert await count_rows(app, "friend_requests") == 0
    link = await connection(client, ada, bob)
    assert link["friendship"] == "friends"
    assert link["friend_request_id"] is None

    expected = {"request_id": request_id, "requester_id": ada.user_id, "addressee_id": bob.user_id}
    assert await events_named(app, "social.friend_request_sent") == [expected]
    assert await events_named(app, "social.friend_request_accepted") == [expected]


async def test_asking_someone_who_already_asked_me_accepts_their_request(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    ok(await send_request(client, ada, bob))
    answer = ok(await send_request(client, bob, ada))
    assert answer["friendship"] == "friends"
    assert await count_rows(app, "friend_requests") == 0
    assert await count_rows(app, "friendships") == 2
    assert (await stats(client, ada))["friends_count"] == 1
    assert len(await events_named(app, "social.friend_request_accepted")) == 1


async def test_repeating_a_request_or_befriending_a_friend_changes_nothing(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    first = ok(await send_request(client, ada, bob))
    again = ok(await send_request(client, ada, bob))
    assert again == first
    assert await count_rows(app, "friend_requests") == 1
    assert len(await events_named(app, "social.friend_request_sent")) == 1

    ok(
        await client.post(
            f"{API}/me/friend-requests/{first['friend_request_id']}/accept", headers=bob.headers
        ),
        204,
    )
    for asker, other in ((ada, bob), (bob, ada)):
        assert ok(await send_request(client, asker, other))["friendship"] == "friends"
    assert await count_rows(app, "friend_requests") == 0
    assert (await stats(client, bob))["friends_count"] == 1


async def test_decline_removes_the_request_and_allows_asking_again(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    request_id = ok(await send_request(client, ada, bob))["friend_request_id"]
    ok(
        await client.post(f"{API}/me/friend-requests/{request_id}/decline", headers=bob.headers),
        204,
    )
    assert (await outgoing(client, ada))["items"] == []
    assert (await connection(client, ada, bob))["friendship"] == "none"
    assert (await stats(client, ada))["friends_count"] == 0
    # Declined twice, or accepted after declining: gone.
    for action in ("decline", "accept"):
        response = await client.post(
            f"{API}/me/friend-requests/{request_id}/{action}", headers=bob.headers
        )
        assert_problem(response, 404, "friend_request_not_found")
    assert ok(await send_request(client, ada, bob))["friendship"] == "request_sent"


async def test_cancel_withdraws_only_my_own_request(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    ok(await send_request(client, ada, bob))
    # Bob cannot "cancel" Ada's request to him: that is a decline, by id.
    ok(await client.delete(f"{API}/users/{ada.username}/friend-request", headers=bob.headers), 204)
    assert len((await incoming(client, bob))["items"]) == 1
    ok(await client.delete(f"{API}/users/{bob.username}/friend-request", headers=ada.headers), 204)
    assert (await incoming(client, bob))["items"] == []
    # Cancelling again is harmless.
    ok(await client.delete(f"{API}/users/{bob.username}/friend-request", headers=ada.headers), 204)
    assert await count_rows(app, "friend_requests") == 0


async def test_only_the_addressee_may_accept_or_decline(app, client):
    ada, bob, eve = [await signed_in_user(client) for _ in range(3)]
    request_id = ok(await send_request(client, ada, bob))["friend_request_id"]
    for intruder in (eve, ada):  # a third party, and the requester herself
        for action in ("accept", "decline"):
            response = await client.post(
                f"{API}/me/friend-requests/{request_id}/{action}", headers=intruder.headers
            )
            assert_problem(response, 404, "friend_request_not_found")
    assert await count_rows(app, "friend_requests") == 1
    assert await count_rows(app, "friendships") == 0
    response = await client.post(
        f"{API}/me/friend-requests/{uuid.uuid4()}/accept", headers=bob.headers
    )
    assert_problem(response, 404, "friend_request_not_found")


async def test_unfriend_removes_both_rows_and_counts(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await befriend(client, ada, bob)
    ok(await client.delete(f"{API}/me/friends/{ada.username}", headers=bob.headers), 204)
    assert await count_rows(app, "friendships") == 0
    for user in (ada, bob):
        assert (await stats(client, user))["friends_count"] == 0
    # Again: nothing left to remove, the counts do not go below zero.
    ok(await client.delete(f"{API}/me/friends/{bob.username}", headers=ada.headers), 204)
    assert (await stats(client, ada))["friends_count"] == 0
    assert await usernames(client, f"/users/{ada.username}/friends", ada) == []


async def test_befriending_yourself_or_nobody_is_refused_and_changes_nothing(app, client):
    ada = await signed_in_user(client)
    response = await send_request(client, ada, ada)
    assert_problem(response, 422, "cannot_target_self")
    assert response.json()["errors"][0]["field"] == "path.username"
    for method, path in (
        ("POST", "/users/nobody_here/friend-request"),
        ("DELETE", "/users/nobody_here/friend-request"),
        ("DELETE", "/me/friends/nobody_here"),
        ("GET", "/users/nobody_here/friends"),
        ("GET", "/users/nobody_here/mutual-friends"),
    ):
        response = await client.request(method, f"{API}{path}", headers=ada.headers)
        assert_problem(response, 404, "user_not_found")
    for method, path in (
        ("DELETE", f"/users/{ada.username}/friend-request"),
        ("DELETE", f"/me/friends/{ada.username}"),
    ):
        response = await client.request(method, f"{API}{path}", headers=ada.headers)
        assert_problem(response, 422, "cannot_target_self")
    assert await count_rows(app, "friend_requests") == 0
    assert await count_rows(app, "user_stats") == 0


async def test_friend_actions_need_a_signed_in_user(client):
    ada = await signed_in_user(client)
    for method, path in (
        ("POST", f"/users/{ada.username}/friend-request"),
        ("GET", "/me/friend-requests/incoming"),
        ("GET", "/me/friend-requests/outgoing"),
        ("POST", f"/me/friend-requests/{uuid.uuid4()}/accept"),
        ("DELETE", f"/me/friends/{ada.username}"),
        ("GET", f"/users/{ada.username}/mutual-friends"),
    ):
        assert_problem(await client.request(method, f"{API}{path}"), 401)


async def test_mutual_friends_are_the_friends_we_share(client):
    ada, bob, cat, dan, eve = [await signed_in_user(client) for _ in range(5)]
    for a, b in ((ada, cat), (bob, cat), (ada, dan), (bob, dan), (ada, eve), (ada, bob)):
        await befriend(client, a, b)
    shared = await usernames(client, f"/users/{bob.username}/mutual-friends", ada)
    assert sorted(shared) == sorted([cat.username, dan.username])
    # Eve is Ada's friend only; with Bob she shares nobody but Ada.
    assert await usernames(client, f"/users/{bob.username}/mutual-friends", eve) == [ada.username]


async def test_request_pages_follow_the_cursor(client):
    bob = await signed_in_user(client)
    askers = [await signed_in_user(client) for _ in range(5)]
    for asker in askers:
        ok(await send_request(client, asker, bob))
    first = await incoming(client, bob, limit=2)
    assert len(first["items"]) == 2
    assert first["next_cursor"]
    names = await usernames(client, "/me/friend-requests/incoming", bob, limit=2)
    assert names == [asker.username for asker in reversed(askers)]  # newest first
