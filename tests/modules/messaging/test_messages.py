"""Messages: types and validation, replies, edits, deletes, disappearing messages, mentions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import update

from tests.fixtures import graph
from tests.fixtures.content import create_post
from tests.fixtures.problems import assert_problem, error_fields
from tests.fixtures.users import signed_in_user
from tests.modules.messaging.helpers import (
    API,
    Snapshot,
    count_rows,
    dm,
    events_named,
    group,
    messages,
    ok,
    send,
    stream_events,
)
from townsquare.kit.models import utcnow
from townsquare.modules.messaging.models import Message
from townsquare.modules.messaging.tasks import purge_expired_messages
from townsquare.modules.posts.models import Visibility

MEDIA = "https://cdn.example.org/a.bin"


@pytest.fixture
async def pair(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    cid = ok(await dm(client, alice, bob, "start"), 201)["conversation_id"]
    return alice, bob, cid


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "text", "content": "   "}, "body.content"),
        ({"type": "text", "content": "x", "media_url": MEDIA}, "body.media_url"),
        ({"type": "image", "content": "caption"}, "body.media_url"),
        ({"type": "video"}, "body.media_url"),
        ({"type": "audio"}, "body.media_url"),
        ({"type": "voice", "duration_ms": 1200}, "body.media_url"),
        ({"type": "file", "media_url": MEDIA}, "body.file_name"),
        ({"type": "shared_post"}, "body.shared_post_id"),
        ({"type": "system", "content": "x"}, "body.type"),
        ({"type": "image", "media_url": "ftp://x"}, "body.media_url"),
        ({"content": "x", "expires_in_seconds": 1}, "body.expires_in_seconds"),
        ({"content": "a\u0000b"}, "body.content"),
        ({"content": "x", "unknown": 1}, "body.unknown"),
    ],
)
async def test_invalid_messages_are_refused(app, client, pair, body, field):
    alice, _, cid = pair
    snapshot = await Snapshot.take(app)
    response = await client.post(
        f"{API}/conversations/{cid}/messages", json=body, headers=alice.headers
    )
    assert field in error_fields(assert_problem(response, 422))
    await snapshot.assert_unchanged(app)


async def test_every_message_type(app, client, pair):
    alice, bob, cid = pair
    image = ok(
        await send(
            client, alice, cid, type="image", content="", media_url=MEDIA, media_type="image/png"
        ),
        201,
    )
    assert (image["type"], image["media_url"], image["media_type"]) == ("image", MEDIA, "image/png")
    ok(await send(client, alice, cid, type="video", content="", media_url=MEDIA), 201)
    ok(await send(client, alice, cid, type="audio", content="", media_url=MEDIA), 201)
    voice = ok(
        await send(client, alice, cid, type="voice", content="", media_url=MEDIA, duration_ms=3100),
        201,
    )
    assert voice["duration_ms"] == 3100
    file = ok(
        await send(
            client,
            alice,
            cid,
            type="file",
            content="",
            media_url=MEDIA,
            file_name="a.pdf",
            file_size=1234,
        ),
        201,
    )
    assert (file["file_name"], file["file_size"]) == ("a.pdf", 1234)
    listed = (await client.get(f"{API}/conversations", headers=bob.headers)).json()["items"][0]
    assert listed["last_message"]["preview"] == "[file]"
    types = [m["type"] for m in ok(await messages(client, bob, cid))["items"]]
    assert types == ["file", "voice", "audio", "video", "image", "text"]
    previews = [p["preview"] for p in await events_named(app, "message.sent")]
    assert previews[-5:] == ["[photo]", "[video]", "[audio]", "[voice message]", "[file]"]


async def test_oversized_message(app_factory):
    import httpx

    app = await app_factory(message_max_length=10)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        alice, bob = await signed_in_user(client), await signed_in_user(client)
        cid = ok(await dm(client, alice, bob, "0123456789"), 201)["conversation_id"]
        sent = ok(await send(client, alice, cid, content="short"), 201)
        snapshot = await Snapshot.take(app)
        # Must show 4: an oversized message answers 422 on body.content and changes nothing.
        body = assert_problem(
            await send(client, alice, cid, content="x" * 11), 422, "message_too_long"
        )
        assert error_fields(body) == {"body.content"}
        assert_problem(await dm(client, alice, bob, "x" * 11), 422, "message_too_long")
        response = await client.patch(
            f"{API}/messages/{sent['id']}", json={"content": "y" * 11}, headers=alice.headers
        )
        assert_problem(response, 422, "message_too_long")
        await snapshot.assert_unchanged(app)
        page = ok(await messages(client, alice, cid))
        assert [m["content"] for m in page["items"]] == ["short", "0123456789"]


async def test_reply_in_the_same_conversation_only(app, client, pair):
    alice, bob, cid = pair
    first = ok(await messages(client, bob, cid))["items"][0]
    reply = ok(await send(client, bob, cid, content="answer", reply_to_id=first["id"]), 201)
    assert reply["reply_to"] == {
        "id": first["id"],
        "sender_id": alice.user_id,
        "preview": "start",
        "unavailable": False,
    }
    carol = await signed_in_user(client)
    other = ok(await dm(client, alice, carol, "elsewhere"), 201)
    snapshot = await Snapshot.take(app)
    response = await send(client, bob, cid, content="x", reply_to_id=other["id"])
    assert error_fields(assert_problem(response, 422)) == {"body.reply_to_id"}
    await snapshot.assert_unchanged(app)
    # A deleted original shows as unavailable in the reply.
    ok(await client.delete(f"{API}/messages/{first['id']}", headers=alice.headers), 204)
    page = ok(await messages(client, bob, cid))
    assert page["items"][0]["reply_to"]["unavailable"] is True
    assert page["items"][0]["reply_to"]["preview"] is None


async def test_edit_own_text_only(app, client, pair):
    alice, bob, cid = pair
    mine = ok(await send(client, alice, cid, content="typo"), 201)
    edited = ok(
        await client.patch(
            f"{API}/messages/{mine['id']}", json={"content": "fixed"}, headers=alice.headers
        )
    )
    assert edited["content"] == "fixed"
    assert edited["edited_at"] is not None
    [(_, live)] = await stream_events(app, bob, "message.edited")
    assert live["content"] == "fixed"
    # Must show 4: editing someone else's message answers 403 and changes nothing.
    snapshot = await Snapshot.take(app)
    response = await client.patch(
        f"{API}/messages/{mine['id']}", json={"content": "hacked"}, headers=bob.headers
    )
    assert_problem(response, 403, "not_message_sender")
    await snapshot.assert_unchanged(app)
    assert ok(await messages(client, bob, cid))["items"][0]["content"] == "fixed"
    image = ok(await send(client, alice, cid, type="image", content="", media_url=MEDIA), 201)
    response = await client.patch(
        f"{API}/messages/{image['id']}", json={"content": "x"}, headers=alice.headers
    )
    assert_problem(response, 409, "message_not_editable")
    response = await client.patch(
        f"{API}/messages/{mine['id']}", json={"content": ""}, headers=alice.headers
    )
    assert error_fields(assert_problem(response, 422)) == {"body.content"}


async def test_delete_for_everyone_shows_deleted(app, client, pair):
    alice, bob, cid = pair
    mine = ok(await send(client, alice, cid, type="image", content="look", media_url=MEDIA), 201)
    assert_problem(
        await client.delete(f"{API}/messages/{mine['id']}", headers=bob.headers),
        403,
        "not_message_sender",
    )
    ok(await client.delete(f"{API}/messages/{mine['id']}", headers=alice.headers), 204)
    ok(
        await client.delete(f"{API}/messages/{mine['id']}", headers=alice.headers), 204
    )  # idempotent
    shown = ok(await messages(client, bob, cid))["items"][0]
    assert shown["id"] == mine["id"]
    assert shown["deleted"] is True
    assert (shown["content"], shown["media_url"]) == ("", None)
    [(_, live)] = await stream_events(app, bob, "message.deleted")
    assert live["deleted"] is True
    assert live["media_url"] is None
    response = await client.patch(
        f"{API}/messages/{mine['id']}", json={"content": "x"}, headers=alice.headers
    )
    assert_problem(response, 409, "message_deleted")
    listed = (await client.get(f"{API}/conversations", headers=bob.headers)).json()["items"][0]
    assert listed["last_message"]["preview"] == "[deleted]"


async def test_disappearing_messages_hide_at_once_and_are_purged(app, client, pair):
    alice, bob, cid = pair
    short = ok(await send(client, alice, cid, content="poof", expires_in_seconds=60), 201)
    assert short["expires_at"] is not None
    ok(await send(client, alice, cid, content="reply", reply_to_id=short["id"]), 201)
    # The conversation's default timer applies to messages without their own.
    ok(
        await client.patch(
            f"{API}/conversations/{cid}", json={"message_ttl_seconds": 3600}, headers=alice.headers
        )
    )
    timed = ok(await send(client, bob, cid, content="timed"), 201)
    assert timed["expires_at"] is not None
    assert "poof" in [m["content"] for m in ok(await messages(client, bob, cid))["items"]]

    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(Message)
            .where(Message.id == uuid.UUID(short["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()
    # Hidden at once, before the purge.
    page = ok(await messages(client, bob, cid))
    assert "poof" not in [m["content"] for m in page["items"]]
    [reply] = [m for m in page["items"] if m["content"] == "reply"]
    assert reply["reply_to"]["unavailable"] is True
    before = await count_rows(app, "messages")
    assert await purge_expired_messages(app.state.platform) == 1
    assert await count_rows(app, "messages") == before - 1
    assert await purge_expired_messages(app.state.platform) == 0
    page = ok(await messages(client, bob, cid))
    assert [m["content"] for m in page["items"]] == ["timed", "", "reply", "start"]
    assert page["items"][2]["reply_to"] is None  # the original is gone for good


async def test_mentions_of_members(app, client):
    alice, bob, carol = (
        await signed_in_user(client),
        await signed_in_user(client),
        await signed_in_user(client),
    )
    outsider = await signed_in_user(client)
    cid = (await group(client, alice, bob, carol))["id"]
    sent = ok(
        await send(
            client,
            alice,
            cid,
            content=f"@{bob.username} @{carol.username} @{outsider.username} @{alice.username}",
        ),
        201,
    )
    assert sorted(sent["mentioned_user_ids"]) == sorted([bob.user_id, carol.user_id])
    payload = (await events_named(app, "message.sent"))[-1]
    assert payload["mentioned_user_ids"] == sorted([bob.user_id, carol.user_id])
    assert payload["kind"] == "group"
    assert payload["conversation_title"] == "Team"
    edited = ok(
        await client.patch(
            f"{API}/messages/{sent['id']}",
            json={"content": f"only @{carol.username}"},
            headers=alice.headers,
        )
    )
    assert edited["mentioned_user_ids"] == [carol.user_id]
    assert await count_rows(app, "message_mentions") == 1


async def test_mute_excludes_from_notifications(app, client):
    alice, bob, carol = (
        await signed_in_user(client),
        await signed_in_user(client),
        await signed_in_user(client),
    )
    cid = (await group(client, alice, bob, carol))["id"]
    ok(await client.post(f"{API}/conversations/{cid}/mute", headers=bob.headers), 204)
    listed = (await client.get(f"{API}/conversations", headers=bob.headers)).json()["items"][0]
    assert listed["muted"] is True
    ok(await send(client, alice, cid, content="hey all"), 201)
    payload = (await events_named(app, "message.sent"))[-1]
    assert payload["notify_user_ids"] == [carol.user_id]
    # Muted members still receive the message live (muting silences notifications only).
    assert len(await stream_events(app, bob, "message.created")) >= 1
    ok(await client.delete(f"{API}/conversations/{cid}/mute", headers=bob.headers), 204)
    ok(await send(client, alice, cid, content="again"), 201)
    payload = (await events_named(app, "message.sent"))[-1]
    assert payload["notify_user_ids"] == sorted([bob.user_id, carol.user_id])


async def test_shared_posts_follow_the_post_policy(app, client):
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    carol = await signed_in_user(client)
    await graph.befriend(app, alice.user_id, carol.user_id)
    public = await create_post(app, carol.user_id, content="public post")
    friends_only = await create_post(
        app, carol.user_id, content="for friends", visibility=Visibility.FRIENDS
    )
    cid = ok(await dm(client, alice, bob, "look"), 201)["conversation_id"]
    ok(await send(client, alice, cid, type="shared_post", content="", shared_post_id=public), 201)
    sent = ok(
        await send(client, alice, cid, type="shared_post", content="", shared_post_id=friends_only),
        201,
    )
    assert sent["shared_post"]["unavailable"] is False
    assert sent["shared_post"]["post"]["content"] == "for friends"
    page = ok(await messages(client, bob, cid))["items"]
    assert page[0]["shared_post"] == {"id": friends_only, "unavailable": True, "post": None}
    assert page[1]["shared_post"]["post"]["content"] == "public post"
    # Live: bob's copy says unavailable, alice's does not; neither embeds the post.
    bob_live = [d for _, d in await stream_events(app, bob, "message.created")][-1]
    alice_live = [d for _, d in await stream_events(app, alice, "message.created")][-1]
    assert bob_live["shared_post"] == {"id": friends_only, "unavailable": True, "post": None}
    assert alice_live["shared_post"] == {"id": friends_only, "unavailable": False, "post": None}
    # The sender must be able to see what they share.
    secret = await create_post(app, carol.user_id, content="only me", visibility=Visibility.ONLY_ME)
    response = await send(client, alice, cid, type="shared_post", content="", shared_post_id=secret)
    assert error_fields(assert_problem(response, 422)) == {"body.shared_post_id"}
