"""Typing indicators: ephemeral, to the conversation's other active members only (the
messaging module says who they are), never across a block."""

from __future__ import annotations

import json
import uuid

import httpx
from fastapi import FastAPI

from tests.fixtures import graph
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.stream.helpers import assert_quiet, next_frame, open_stream

API = "/api/v1"


async def _group(client: httpx.AsyncClient, admin: SignedIn, *members: SignedIn) -> str:
    response = await client.post(
        f"{API}/conversations",
        json={"title": "Team", "members": [m.username for m in members]},
        headers=admin.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _typing(conversation_id: str) -> str:
    return json.dumps({"type": "typing", "conversation_id": conversation_id})


async def test_typing_reaches_the_other_members_only(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice, bob, carol, dave = [await signed_in_user(client) for _ in range(4)]
    conversation_id = await _group(client, alice, bob, carol)
    # Whatever creating the group sends (its events, notifications) is over before we listen.
    await app.state.platform.outbox.wait_idle()
    sockets = [await open_stream(server, user) for user in (alice, bob, carol, dave)]
    alice_ws, bob_ws, carol_ws, dave_ws = sockets

    await alice_ws.send(_typing(conversation_id))
    for ws in (bob_ws, carol_ws):
        frame = await next_frame(ws)
        assert (frame["id"], frame["type"]) == (None, "typing")
        assert frame["data"] == {"conversation_id": conversation_id, "user_id": alice.user_id}
    await assert_quiet(dave_ws)  # not a member
    await assert_quiet(alice_ws)  # not echoed to the typist

    # A member who blocked the typist (or was blocked) no longer sees them type.
    await graph.block(app, carol.user_id, alice.user_id)
    await alice_ws.send(_typing(conversation_id))
    assert (await next_frame(bob_ws))["data"]["user_id"] == alice.user_id
    await assert_quiet(carol_ws)
    for ws in sockets:
        await ws.close()


async def test_typing_where_one_is_not_a_member_sends_nothing_but_an_error_frame(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    """Not a malformed frame: the socket stays open; the typist alone gets an ``error`` frame
    (the same answer for a conversation that does not exist), the members nothing."""
    alice, bob, carol, outsider = [await signed_in_user(client) for _ in range(4)]
    conversation_id = await _group(client, alice, bob, carol)
    left = await client.post(f"{API}/conversations/{conversation_id}/leave", headers=carol.headers)
    assert left.status_code == 204, left.text
    await app.state.platform.outbox.wait_idle()
    alice_ws, outsider_ws, carol_ws = [
        await open_stream(server, user) for user in (alice, outsider, carol)
    ]

    for ws in (outsider_ws, carol_ws):  # never a member; a member who left
        await ws.send(_typing(conversation_id))
        frame = await next_frame(ws)
        assert (frame["id"], frame["type"]) == (None, "error")
        assert frame["data"]["code"] == "conversation_not_found"
    await outsider_ws.send(_typing(str(uuid.uuid4())))
    unknown = await next_frame(outsider_ws)
    assert (unknown["type"], unknown["data"]["code"]) == ("error", "conversation_not_found")
    await assert_quiet(alice_ws)
    await assert_quiet(carol_ws, 0.1)

    # The sockets are still open and served.
    await outsider_ws.send('{"type": "ping"}')
    assert (await next_frame(outsider_ws))["type"] == "pong"
    # And carol, no longer a member, does not see alice type either.
    await alice_ws.send(_typing(conversation_id))
    await assert_quiet(carol_ws)
    for ws in (alice_ws, outsider_ws, carol_ws):
        await ws.close()
