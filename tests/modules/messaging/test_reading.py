"""Reading: read receipts, unread counts, the conversation list's order and pages, and the
constant number of queries per page."""

from __future__ import annotations

from typing import Any

from tests.fixtures import graph
from tests.fixtures.content import create_post
from tests.fixtures.problems import assert_problem, error_fields
from tests.fixtures.queries import count_queries
from tests.fixtures.users import signed_in_user
from tests.modules.messaging.helpers import (
    API,
    conversation,
    conversations,
    dm,
    group,
    messages,
    ok,
    send,
    stream_events,
)


async def _read(client, user, cid, message_id=None):
    body = {} if message_id is None else {"message_id": message_id}
    return await client.post(f"{API}/conversations/{cid}/read", json=body, headers=user.headers)


async def _unread(client, user, cid) -> int:
    return int(ok(await conversation(client, user, cid))["unread_count"])


async def test_read_receipts_and_unread_counts(app, client):
    alice, bob, carol = (
        await signed_in_user(client),
        await signed_in_user(client),
        await signed_in_user(client),
    )
    cid = (await group(client, alice, bob, carol))["id"]
    assert await _unread(client, bob, cid) == 0  # the creation is before bob's watermark
    first = ok(await send(client, alice, cid, content="one"), 201)
    ok(await send(client, alice, cid, content="two"), 201)
    ok(await send(client, carol, cid, content="three"), 201)
    assert await _unread(client, bob, cid) == 3
    assert await _unread(client, alice, cid) == 1  # carol's; her own do not count

    receipt = ok(await _read(client, bob, cid, first["id"]))
    assert receipt["last_read_message_id"] == first["id"]
    assert receipt["user_id"] == bob.user_id
    assert await _unread(client, bob, cid) == 2
    # Others see it live and in the detail.
    [(_, live)] = await stream_events(app, alice, "conversation.read")
    assert live["user_id"] == bob.user_id
    assert live["last_read_message_id"] == first["id"]
    members = {
        m["user"]["username"]: m for m in ok(await conversation(client, carol, cid))["members"]
    }
    assert members[bob.username]["last_read_message_id"] == first["id"]
    assert members[bob.username]["last_read_at"] is not None
    assert members[bob.username]["muted"] is None  # private to bob

    ok(await _read(client, bob, cid))
    assert await _unread(client, bob, cid) == 0
    # The watermark never moves back.
    receipt = ok(await _read(client, bob, cid, first["id"]))
    assert receipt["last_read_message_id"] != first["id"]
    assert await _unread(client, bob, cid) == 0

    # Deleted messages do not count.
    four = ok(await send(client, alice, cid, content="four"), 201)
    assert await _unread(client, bob, cid) == 1
    ok(await client.delete(f"{API}/messages/{four['id']}", headers=alice.headers), 204)
    assert await _unread(client, bob, cid) == 0

    other = ok(await dm(client, alice, carol, "elsewhere"), 201)
    body = assert_problem(await _read(client, bob, cid, other["id"]), 422)
    assert error_fields(body) == {"body.message_id"}


async def test_list_is_ordered_by_last_message_and_paged(app, client):
    me = await signed_in_user(client)
    peers = [await signed_in_user(client) for _ in range(5)]
    cids = [
        ok(await dm(client, peer, me, f"from {i}"), 201)["conversation_id"]
        for i, peer in enumerate(peers)
    ]
    # A new message moves a conversation to the top.
    ok(await send(client, me, cids[1], content="bump"), 201)
    expected = [cids[1], cids[4], cids[3], cids[2], cids[0]]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = await conversations(client, me, **params)
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    first = (await conversations(client, me))["items"]
    assert first[0]["last_message"]["preview"] == "bump"
    assert first[0]["unread_count"] == 0
    assert first[1]["unread_count"] == 1
    response = await client.get(
        f"{API}/conversations", params={"cursor": "garbage"}, headers=me.headers
    )
    assert error_fields(assert_problem(response, 422)) == {"query.cursor"}


async def test_message_pages(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    cid = ok(await dm(client, alice, bob, "m0"), 201)["conversation_id"]
    for i in range(1, 7):
        ok(await send(client, alice if i % 2 else bob, cid, content=f"m{i}"), 201)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = ok(await messages(client, bob, cid, **params))
        seen += [m["content"] for m in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"m{i}" for i in range(6, -1, -1)]
    response = await messages(client, bob, cid, cursor="bm90LWpzb24")
    assert error_fields(assert_problem(response, 422)) == {"query.cursor"}


# --- constant query counts


async def _statements(app, client, path: str, viewer, limit: int) -> int:
    await app.state.platform.outbox.wait_idle()
    # Warm the profile-card cache first, so both page sizes are measured alike.
    await client.get(f"{API}{path}", params={"limit": limit}, headers=viewer.headers)
    with count_queries(app) as statements:
        response = await client.get(f"{API}{path}", params={"limit": limit}, headers=viewer.headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == limit
    return len(statements)


async def test_conversation_list_costs_constant_queries(app, client):
    me = await signed_in_user(client)
    for i in range(8):
        peer, other = await signed_in_user(client), await signed_in_user(client)
        ok(await dm(client, peer, me, f"hello {i}"), 201)
        cid = (await group(client, peer, me, other, title=f"G{i}"))["id"]
        ok(await send(client, other, cid, content=f"@{me.username} hi"), 201)
    small = await _statements(app, client, "/conversations", me, 2)
    large = await _statements(app, client, "/conversations", me, 16)
    assert small == large


async def test_message_page_costs_constant_queries(app, client):
    alice, bob, carol = (
        await signed_in_user(client),
        await signed_in_user(client),
        await signed_in_user(client),
    )
    await graph.befriend(app, alice.user_id, bob.user_id)
    cid = (await group(client, alice, bob, carol))["id"]
    previous = None
    for i in range(12):
        sender = (alice, bob, carol)[i % 3]
        body: dict[str, Any] = {"content": f"@{bob.username} {i}"}
        if previous:
            body["reply_to_id"] = previous
        if i % 4 == 0:
            post = await create_post(app, sender.user_id, content=f"post {i}")
            body = {"type": "shared_post", "content": "", "shared_post_id": post}
        previous = ok(await send(client, sender, cid, **body), 201)["id"]
    # Both pages hold shared posts (whose hydration is the posts module's constant cost).
    small = await _statements(app, client, f"/conversations/{cid}/messages", bob, 4)
    large = await _statements(app, client, f"/conversations/{cid}/messages", bob, 12)
    assert small == large
