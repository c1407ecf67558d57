"""Presence: live ``presence`` events and ``GET /api/v1/presence`` follow one policy — friends
only, only while the user shows their activity status, never across a block (either way)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from tests.fixtures import graph
from tests.fixtures.problems import assert_problem, error_fields
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.stream.helpers import assert_quiet, next_frame, open_stream

API = "/api/v1"


async def _presence(
    client: httpx.AsyncClient, viewer: SignedIn, *users: SignedIn | str
) -> dict[str, dict[str, Any]]:
    names = [u if isinstance(u, str) else u.username for u in users]
    response = await client.get(
        f"{API}/presence", params={"usernames": ",".join(names)}, headers=viewer.headers
    )
    assert response.status_code == 200, response.text
    return {item["username"]: item for item in response.json()["items"]}


async def _show_activity(client: httpx.AsyncClient, user: SignedIn, shown: bool) -> None:
    response = await client.patch(
        f"{API}/me/settings", json={"show_activity_status": shown}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def test_friends_see_the_first_socket_open_and_the_last_one_close(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice, friend, stranger = [await signed_in_user(client) for _ in range(3)]
    blocked_by_alice, blocking_alice = await signed_in_user(client), await signed_in_user(client)
    for other in (friend, blocked_by_alice, blocking_alice):
        await graph.befriend(app, alice.user_id, other.user_id)
    # Blocks hide both ways, even between users who were friends.
    await graph.block(app, alice.user_id, blocked_by_alice.user_id)
    await graph.block(app, blocking_alice.user_id, alice.user_id)
    watchers = [
        await open_stream(server, user)
        for user in (friend, stranger, blocked_by_alice, blocking_alice)
    ]
    friend_ws, others = watchers[0], watchers[1:]

    phone = await open_stream(server, alice)
    frame = await next_frame(friend_ws)
    assert (frame["id"], frame["type"]) == (None, "presence")
    assert frame["data"] == {"user_id": alice.user_id, "online": True, "last_seen_at": None}
    seen = await _presence(client, friend, alice)
    assert seen[alice.username] == {
        "username": alice.username,
        "online": True,
        "last_seen_at": None,
    }

    # A second socket, and closing it while the first stays, change nothing.
    laptop = await open_stream(server, alice)
    await laptop.close()
    await assert_quiet(friend_ws)
    assert (await _presence(client, friend, alice))[alice.username]["online"] is True

    await phone.close()
    frame = await next_frame(friend_ws)
    assert frame["type"] == "presence"
    assert frame["data"]["user_id"] == alice.user_id
    assert frame["data"]["online"] is False
    last_seen = datetime.fromisoformat(frame["data"]["last_seen_at"])
    answer = (await _presence(client, friend, alice))[alice.username]
    assert answer["online"] is False
    assert datetime.fromisoformat(answer["last_seen_at"]) == last_seen

    # Nobody else heard a thing, and the REST answer follows the same policy.
    for ws in others:
        await assert_quiet(ws, 0.2)
    assert (await _presence(client, stranger, alice))[alice.username] == {
        "username": alice.username,
        "online": None,
        "last_seen_at": None,
    }
    assert await _presence(client, blocked_by_alice, alice) == {}
    assert await _presence(client, blocking_alice, alice) == {}
    for ws in watchers:
        await ws.close()


async def test_with_activity_status_off_nobody_sees_it(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice, friend = await signed_in_user(client), await signed_in_user(client)
    await graph.befriend(app, alice.user_id, friend.user_id)
    await _show_activity(client, alice, False)
    async with await open_stream(server, friend) as friend_ws:
        ws = await open_stream(server, alice)
        await assert_quiet(friend_ws)
        hidden = {"username": alice.username, "online": None, "last_seen_at": None}
        assert (await _presence(client, friend, alice))[alice.username] == hidden
        await ws.close()
        await assert_quiet(friend_ws)
        assert (await _presence(client, friend, alice))[alice.username] == hidden
        # Users always see their own.
        assert (await _presence(client, alice, alice))[alice.username]["online"] is False

        # Switched back on, it shows again (the next connection announces it).
        await _show_activity(client, alice, True)
        async with await open_stream(server, alice):
            frame = await next_frame(friend_ws)
            assert (frame["type"], frame["data"]["online"]) == ("presence", True)
            assert (await _presence(client, friend, alice))[alice.username]["online"] is True


async def test_presence_lookup_leaves_out_unknown_and_hidden_users_and_is_bounded(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    viewer, friend, hidden = [await signed_in_user(client) for _ in range(3)]
    await graph.befriend(app, viewer.user_id, friend.user_id)
    await graph.befriend(app, viewer.user_id, hidden.user_id)
    await graph.set_hidden(app, hidden.user_id)
    found = await _presence(client, viewer, friend, hidden, "nobody_here", friend.username.upper())
    # Never connected: offline, no last seen; names are matched case-insensitively, once.
    assert found == {
        friend.username: {"username": friend.username, "online": False, "last_seen_at": None}
    }

    too_many = ",".join(f"user{n}" for n in range(101))
    response = await client.get(
        f"{API}/presence", params={"usernames": too_many}, headers=viewer.headers
    )
    assert error_fields(assert_problem(response, 422)) == {"usernames"}
    assert_problem(await client.get(f"{API}/presence", params={"usernames": "x"}), 401)
