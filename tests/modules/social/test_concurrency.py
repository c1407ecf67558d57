"""Concurrent changes leave one row and exact counts.

Meant for PostgreSQL, where requests really overlap (READ COMMITTED, row locks); on SQLite the
same requests queue on the write lock, and the outcome must be the same.
"""

from __future__ import annotations

import asyncio

from tests.fixtures.users import signed_in_user
from tests.modules.social.helpers import (
    API,
    count_rows,
    events_named,
    follow,
    send_request,
    stats,
    usernames,
)


async def test_the_same_friend_request_twice_at_once_makes_one_row(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    first, second = await asyncio.gather(
        send_request(client, ada, bob), send_request(client, ada, bob)
    )
    assert (first.status_code, second.status_code) == (200, 200), (first.text, second.text)
    assert first.json()["friend_request_id"] == second.json()["friend_request_id"]
    assert await count_rows(app, "friend_requests") == 1
    assert len(await events_named(app, "social.friend_request_sent")) == 1


async def test_crossed_friend_requests_at_once_make_one_friendship(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    answers = await asyncio.gather(send_request(client, ada, bob), send_request(client, bob, ada))
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    # One of them asked, the other accepted by asking back.
    assert sorted(a.json()["friendship"] for a in answers) == ["friends", "request_sent"]
    assert await count_rows(app, "friend_requests") == 0
    assert await count_rows(app, "friendships") == 2
    for user in (ada, bob):
        assert (await stats(client, user))["friends_count"] == 1
    assert len(await events_named(app, "social.friend_request_accepted")) == 1


async def test_accepting_twice_at_once_counts_once(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    request_id = (await send_request(client, ada, bob)).json()["friend_request_id"]
    accept = f"{API}/me/friend-requests/{request_id}/accept"
    answers = await asyncio.gather(
        client.post(accept, headers=bob.headers),
        client.post(accept, headers=bob.headers),
        send_request(client, bob, ada),
    )
    # Whichever of the three comes first makes the friendship; the accepts after it find no
    # request any more.
    assert sorted(a.status_code for a in answers[:2]) in ([204, 404], [404, 404])
    assert answers[2].status_code == 200, answers[2].text
    assert await count_rows(app, "friendships") == 2
    for user in (ada, bob):
        assert (await stats(client, user))["friends_count"] == 1


async def test_twenty_concurrent_follows_count_exactly_twenty(app, client):
    star = await signed_in_user(client)
    fans = [await signed_in_user(client) for _ in range(20)]
    answers = await asyncio.gather(*(follow(client, fan, star) for fan in fans))
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    assert (await stats(client, star))["followers_count"] == 20
    assert len(await usernames(client, f"/users/{star.username}/followers", None)) == 20
    # And twenty concurrent unfollows (plus repeats) bring it back to zero.
    unfollows = [
        client.delete(f"{API}/users/{star.username}/follow", headers=fan.headers)
        for fan in fans + fans[:5]
    ]
    assert all(a.status_code == 204 for a in await asyncio.gather(*unfollows))
    assert (await stats(client, star))["followers_count"] == 0
    assert await count_rows(app, "follows") == 0


async def test_mutual_follows_and_a_block_at_once_stay_consistent(app, client):
    ada, bob = await signed_in_user(client), await signed_in_user(client)
    await asyncio.gather(
        follow(client, ada, bob),
        follow(client, bob, ada),
        client.put(f"{API}/me/blocks/{bob.username}", headers=ada.headers),
        send_request(client, bob, ada),
    )
    # Whatever the order, a block leaves nothing between them, and counts match the rows.
    assert await count_rows(app, "blocks") == 1
    for table in ("follows", "friend_requests", "friendships"):
        assert await count_rows(app, table) == 0, table
    for user in (ada, bob):
        counts = await stats(client, user)
        assert counts["followers_count"] == counts["following_count"] == 0
