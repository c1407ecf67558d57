"""Direct conversations: created by the first message, reused after; who may message whom."""

from __future__ import annotations

import asyncio

from tests.fixtures import graph
from tests.fixtures.problems import assert_problem, error_fields
from tests.fixtures.users import signed_in_user
from tests.modules.messaging.helpers import (
    API,
    Snapshot,
    conversations,
    count_rows,
    dm,
    events_named,
    messages,
    ok,
    send,
    set_allow_messages_from,
    stream_events,
)


async def test_first_message_creates_the_conversation_and_later_ones_reuse_it(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    first = ok(await dm(client, alice, bob, "hello bob"), 201)
    assert first["sender"]["username"] == alice.username
    assert first["content"] == "hello bob"
    assert first["type"] == "text"
    reply = ok(await dm(client, bob, alice, "hi alice"), 201)
    assert reply["conversation_id"] == first["conversation_id"]
    again = ok(await send(client, alice, first["conversation_id"], content="third"), 201)
    assert again["conversation_id"] == first["conversation_id"]
    assert await count_rows(app, "conversations") == 1
    assert await count_rows(app, "conversation_members") == 2

    page = ok(await messages(client, bob, first["conversation_id"]))
    assert [m["content"] for m in page["items"]] == ["third", "hi alice", "hello bob"]

    listed = (await conversations(client, bob))["items"]
    assert len(listed) == 1
    assert listed[0]["kind"] == "direct"
    assert [m["username"] for m in listed[0]["members"]] == [alice.username]
    assert listed[0]["last_message"]["preview"] == "third"
    assert listed[0]["unread_count"] == 1  # "third"; bob's own reply read everything before


async def test_concurrent_first_messages_make_one_conversation(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    answers = await asyncio.gather(
        dm(client, alice, bob, "a1"),
        dm(client, bob, alice, "b1"),
        dm(client, alice, bob, "a2"),
    )
    ids = {ok(answer, 201)["conversation_id"] for answer in answers}
    assert len(ids) == 1
    assert await count_rows(app, "conversations") == 1
    assert await count_rows(app, "conversation_members") == 2


async def test_live_events_and_the_outbox_event(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    sent = ok(await dm(client, alice, bob, "ping"), 201)
    [(kind, data)] = await stream_events(app, bob, "message.created")
    assert kind == "message.created"
    assert data["id"] == sent["id"]
    assert data["conversation_id"] == sent["conversation_id"]
    assert data["content"] == "ping"
    assert len(await stream_events(app, alice, "message.created")) == 1  # other devices
    [payload] = await events_named(app, "message.sent")
    assert payload == {
        "message_id": sent["id"],
        "conversation_id": sent["conversation_id"],
        "sender_id": alice.user_id,
        "kind": "direct",
        "conversation_title": None,
        "preview": "ping",
        "notify_user_ids": [bob.user_id],
        "mentioned_user_ids": [],
    }


async def test_who_may_message_me(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    await set_allow_messages_from(client, bob, "friends")
    snapshot = await Snapshot.take(app)
    body = assert_problem(await dm(client, alice, bob), 403, "messaging_not_allowed")
    assert error_fields(body) == {"path.username"}
    await snapshot.assert_unchanged(app)

    await graph.befriend(app, alice.user_id, bob.user_id)
    conversation_id = ok(await dm(client, alice, bob), 201)["conversation_id"]

    # Settings are re-checked on every message, in an existing conversation too.
    await set_allow_messages_from(client, bob, "nobody")
    snapshot = await Snapshot.take(app)
    assert_problem(await dm(client, alice, bob), 403, "messaging_not_allowed")
    assert_problem(await send(client, alice, conversation_id), 403, "messaging_not_allowed")
    await snapshot.assert_unchanged(app)
    # Bob may still write to alice (her setting says everyone).
    ok(await send(client, bob, conversation_id), 201)

    await set_allow_messages_from(client, bob, "everyone")
    ok(await send(client, alice, conversation_id), 201)


async def test_blocks_refuse_messages_both_ways_and_hide_them(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    conversation_id = ok(await dm(client, alice, bob, "before"), 201)["conversation_id"]
    await graph.block(app, bob.user_id, alice.user_id)
    snapshot = await Snapshot.take(app)
    # The blocked one cannot write to the blocker, nor the blocker to the blocked.
    body = assert_problem(await dm(client, alice, bob), 403, "blocked")
    assert error_fields(body) == {"path.username"}
    assert_problem(await dm(client, bob, alice), 403, "blocked")
    assert_problem(await send(client, alice, conversation_id), 403, "blocked")
    assert_problem(await send(client, bob, conversation_id), 403, "blocked")
    await snapshot.assert_unchanged(app)
    # Blocks hide both ways: neither sees the other's messages nor the conversation in the list.
    assert ok(await messages(client, bob, conversation_id))["items"] == []
    assert [m["content"] for m in ok(await messages(client, alice, conversation_id))["items"]] == [
        "before"
    ]
    assert (await conversations(client, bob))["items"] == []
    assert (await conversations(client, alice))["items"] == []


async def test_a_refused_first_message_leaves_no_conversation_behind(app, client):
    # The conversation is made before the check reads the blocks off its members: a refusal
    # must roll it back with everything else.
    alice, bob, carol = [await signed_in_user(client) for _ in range(3)]
    await graph.block(app, bob.user_id, alice.user_id)
    await set_allow_messages_from(client, carol, "friends")
    snapshot = await Snapshot.take(app)
    assert_problem(await dm(client, alice, bob), 403, "blocked")
    assert_problem(await dm(client, bob, alice), 403, "blocked")
    assert_problem(await dm(client, alice, carol), 403, "messaging_not_allowed")
    await snapshot.assert_unchanged(app)
    assert (await conversations(client, alice))["items"] == []


async def test_cannot_message_yourself_or_unknown_users(app, client):
    alice = await signed_in_user(client)
    body = assert_problem(await dm(client, alice, alice), 422, "cannot_target_self")
    assert error_fields(body) == {"path.username"}
    response = await client.post(
        f"{API}/users/nobody_here/messages", json={"content": "x"}, headers=alice.headers
    )
    assert_problem(response, 404, "user_not_found")
    hidden = await signed_in_user(client)
    await graph.set_hidden(app, hidden.user_id)
    assert_problem(await dm(client, alice, hidden), 404, "user_not_found")
    assert await count_rows(app, "conversations") == 0


async def test_non_members_get_404_everywhere(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    eve = await signed_in_user(client)
    sent = ok(await dm(client, alice, bob, "secret"), 201)
    cid = sent["conversation_id"]
    snapshot = await Snapshot.take(app)
    h = eve.headers
    answers = [
        await client.get(f"{API}/conversations/{cid}", headers=h),
        await client.get(f"{API}/conversations/{cid}/messages", headers=h),
        await client.post(f"{API}/conversations/{cid}/messages", json={"content": "x"}, headers=h),
        await client.patch(
            f"{API}/conversations/{cid}", json={"message_ttl_seconds": 60}, headers=h
        ),
        await client.post(
            f"{API}/conversations/{cid}/members", json={"usernames": [eve.username]}, headers=h
        ),
        await client.delete(f"{API}/conversations/{cid}/members/{bob.username}", headers=h),
        await client.post(f"{API}/conversations/{cid}/leave", headers=h),
        await client.post(f"{API}/conversations/{cid}/mute", headers=h),
        await client.delete(f"{API}/conversations/{cid}/mute", headers=h),
        await client.post(f"{API}/conversations/{cid}/read", json={}, headers=h),
    ]
    for answer in answers:
        assert_problem(answer, 404, "conversation_not_found")
    assert_problem(
        await client.patch(f"{API}/messages/{sent['id']}", json={"content": "x"}, headers=h),
        404,
        "message_not_found",
    )
    assert_problem(
        await client.delete(f"{API}/messages/{sent['id']}", headers=h), 404, "message_not_found"
    )
    assert "secret" not in str([a.text for a in answers])
    await snapshot.assert_unchanged(app)
    assert (await conversations(client, eve))["items"] == []


async def test_direct_conversations_cannot_be_left_or_renamed(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    cid = ok(await dm(client, alice, bob), 201)["conversation_id"]
    assert_problem(
        await client.post(f"{API}/conversations/{cid}/leave", headers=alice.headers),
        409,
        "direct_conversation",
    )
    body = assert_problem(
        await client.patch(
            f"{API}/conversations/{cid}", json={"title": "x"}, headers=alice.headers
        ),
        422,
    )
    assert error_fields(body) == {"body.title"}
    # Either member may set the disappearing timer of a direct conversation.
    detail = ok(
        await client.patch(
            f"{API}/conversations/{cid}", json={"message_ttl_seconds": 3600}, headers=bob.headers
        )
    )
    assert detail["message_ttl_seconds"] == 3600
