"""Group conversations: create, rename, add and remove members (admins), leave, re-add."""

from __future__ import annotations

from tests.fixtures import graph
from tests.fixtures.problems import assert_problem, error_fields
from tests.fixtures.users import signed_in_user
from tests.modules.messaging.helpers import (
    API,
    Snapshot,
    conversation,
    conversations,
    group,
    messages,
    ok,
    send,
    set_allow_messages_from,
    stream_events,
)


def _actions(page: dict) -> list[str | None]:
    return [m["system_action"] for m in page["items"]]


async def test_group_lifecycle(app, client):
    admin, bob = await signed_in_user(client), await signed_in_user(client)
    carol, dave = await signed_in_user(client), await signed_in_user(client)
    created = await group(client, admin, bob, carol, title="Book club")
    cid = created["id"]
    assert created["kind"] == "group"
    assert created["title"] == "Book club"
    assert created["member_count"] == 3
    assert created["my_role"] == "admin"
    roles = {m["user"]["username"]: m["role"] for m in created["members"]}
    assert roles == {admin.username: "admin", bob.username: "member", carol.username: "member"}
    assert _actions(ok(await messages(client, bob, cid))) == ["created"]
    # Members hear of it live.
    assert [t for t, _ in await stream_events(app, bob)][:2] == [
        "conversation.updated",
        "message.created",
    ]

    # Rename: admins only, recorded as a system message.
    renamed = ok(
        await client.patch(
            f"{API}/conversations/{cid}", json={"title": "Books"}, headers=admin.headers
        )
    )
    assert renamed["title"] == "Books"
    page = ok(await messages(client, carol, cid))
    assert _actions(page) == ["renamed", "created"]
    assert page["items"][0]["sender"]["username"] == admin.username
    snapshot = await Snapshot.take(app)
    assert_problem(
        await client.patch(
            f"{API}/conversations/{cid}", json={"title": "Mine"}, headers=bob.headers
        ),
        403,
        "not_conversation_admin",
    )
    assert_problem(
        await client.post(
            f"{API}/conversations/{cid}/members",
            json={"usernames": [dave.username]},
            headers=bob.headers,
        ),
        403,
        "not_conversation_admin",
    )
    assert_problem(
        await client.delete(
            f"{API}/conversations/{cid}/members/{carol.username}", headers=bob.headers
        ),
        403,
        "not_conversation_admin",
    )
    await snapshot.assert_unchanged(app)

    # Add and remove: admins only; system messages name who.
    added = ok(
        await client.post(
            f"{API}/conversations/{cid}/members",
            json={"usernames": [dave.username]},
            headers=admin.headers,
        )
    )
    assert added["member_count"] == 4
    ok(
        await client.delete(
            f"{API}/conversations/{cid}/members/{carol.username}", headers=admin.headers
        ),
        204,
    )
    page = ok(await messages(client, admin, cid))
    assert _actions(page)[:2] == ["removed", "added"]
    assert page["items"][0]["subject"]["username"] == carol.username
    assert page["items"][1]["subject"]["username"] == dave.username
    detail = ok(await conversation(client, admin, cid))
    assert detail["member_count"] == 3
    assert {m["user"]["username"] for m in detail["members"]} == {
        admin.username,
        bob.username,
        dave.username,
    }

    # The removed member keeps the history up to the removal, and may no longer write.
    ok(await send(client, bob, cid, content="after carol left"), 201)
    carol_page = ok(await messages(client, carol, cid))
    assert "after carol left" not in [m["content"] for m in carol_page["items"]]
    assert _actions(carol_page)[0] == "removed"
    assert ok(await conversation(client, carol, cid))["active"] is False
    assert (await conversations(client, carol))["items"] == []


async def test_leaving_and_being_added_again(app, client):
    admin, bob = await signed_in_user(client), await signed_in_user(client)
    cid = (await group(client, admin, bob))["id"]
    ok(await client.post(f"{API}/conversations/{cid}/leave", headers=bob.headers), 204)
    # Must show 4: posting to a conversation you left answers 403 and changes nothing.
    snapshot = await Snapshot.take(app)
    body = assert_problem(await send(client, bob, cid, content="still here?"), 403, "not_a_member")
    assert body["detail"]
    assert_problem(
        await client.post(f"{API}/conversations/{cid}/leave", headers=bob.headers),
        403,
        "not_a_member",
    )
    assert_problem(
        await client.post(f"{API}/conversations/{cid}/read", json={}, headers=bob.headers),
        403,
        "not_a_member",
    )
    await snapshot.assert_unchanged(app)
    assert [m["content"] for m in ok(await messages(client, admin, cid))["items"]] == ["", ""]
    # Re-joining is by being added again by an admin.
    ok(
        await client.post(
            f"{API}/conversations/{cid}/members",
            json={"usernames": [bob.username]},
            headers=admin.headers,
        )
    )
    ok(await send(client, bob, cid, content="back"), 201)
    detail = ok(await conversation(client, bob, cid))
    assert detail["active"] is True
    assert detail["member_count"] == 2


async def test_last_admin_leaving_hands_over(app, client):
    admin, bob = await signed_in_user(client), await signed_in_user(client)
    carol = await signed_in_user(client)
    cid = (await group(client, admin, bob, carol))["id"]
    ok(await client.post(f"{API}/conversations/{cid}/leave", headers=admin.headers), 204)
    detail = ok(await conversation(client, bob, cid))
    assert {m["user"]["username"]: m["role"] for m in detail["members"]} == {
        bob.username: "admin",
        carol.username: "member",
    }
    # Removing yourself is leaving.
    ok(
        await client.delete(
            f"{API}/conversations/{cid}/members/{carol.username}", headers=carol.headers
        ),
        204,
    )
    assert ok(await conversation(client, bob, cid))["member_count"] == 1


async def test_adding_obeys_who_may_message_and_blocks(app, client):
    admin, bob = await signed_in_user(client), await signed_in_user(client)
    shy, blocker = await signed_in_user(client), await signed_in_user(client)
    await set_allow_messages_from(client, shy, "nobody")
    await graph.block(app, blocker.user_id, admin.user_id)
    snapshot = await Snapshot.take(app)
    response = await client.post(
        f"{API}/conversations",
        json={"title": "T", "members": [bob.username, shy.username]},
        headers=admin.headers,
    )
    body = assert_problem(response, 403, "messaging_not_allowed")
    assert error_fields(body) == {"body.members.1"}
    response = await client.post(
        f"{API}/conversations",
        json={"title": "T", "members": [blocker.username]},
        headers=admin.headers,
    )
    assert error_fields(assert_problem(response, 403, "blocked")) == {"body.members.0"}
    response = await client.post(
        f"{API}/conversations",
        json={"title": "T", "members": ["no_such_user"]},
        headers=admin.headers,
    )
    assert error_fields(assert_problem(response, 422)) == {"body.members.0"}
    await snapshot.assert_unchanged(app)

    cid = (await group(client, admin, bob))["id"]
    snapshot = await Snapshot.take(app)
    response = await client.post(
        f"{API}/conversations/{cid}/members",
        json={"usernames": [shy.username]},
        headers=admin.headers,
    )
    assert error_fields(assert_problem(response, 403, "messaging_not_allowed")) == {
        "body.usernames.0"
    }
    await snapshot.assert_unchanged(app)


async def test_member_limit(app_factory):
    import httpx

    app = await app_factory(conversation_max_members=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        admin, a, b, c = (
            await signed_in_user(client),
            await signed_in_user(client),
            await signed_in_user(client),
            await signed_in_user(client),
        )
        snapshot = await Snapshot.take(app)
        response = await client.post(
            f"{API}/conversations",
            json={"title": "T", "members": [a.username, b.username, c.username]},
            headers=admin.headers,
        )
        assert_problem(response, 409, "conversation_full")
        await snapshot.assert_unchanged(app)
        cid = (await group(client, admin, a, b))["id"]
        response = await client.post(
            f"{API}/conversations/{cid}/members",
            json={"usernames": [c.username]},
            headers=admin.headers,
        )
        assert_problem(response, 409, "conversation_full")
        assert ok(await conversation(client, admin, cid))["member_count"] == 3
