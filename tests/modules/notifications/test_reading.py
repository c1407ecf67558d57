"""The read side: grouping, pagination, filters, read state, the cached unread count, what
a block or a deleted post hides afterwards, preferences, and constant queries per page."""

from __future__ import annotations

from tests.fixtures import content, graph
from tests.fixtures.cache import empty_cache
from tests.fixtures.queries import count_queries
from tests.modules.notifications.helpers import (
    API,
    assert_problem,
    comment,
    error_fields,
    notifications,
    post,
    react,
    set_preferences,
    settle,
    types_of,
    unread_count,
    users,
)
from townsquare.kit.models import utcnow


async def _grouped(client, user, **params):
    response = await client.get(f"{API}/notifications/grouped", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_reactions_group_as_one_with_count_and_text(client, app):
    ann, *others = await users(client, 7)
    mine = await post(client, ann)
    for other in others:
        await react(client, other, mine["id"])
    await comment(client, others[0], mine["id"])
    await settle(app)
    page = await _grouped(client, ann)
    assert [g["type"] for g in page["items"]] == ["comment", "reaction"]
    group = page["items"][1]
    last = others[-1].username.title()
    assert group["text"] == f"{last} and 5 others reacted to your post"
    assert (group["count"], group["actors_count"], group["unread"]) == (6, 6, True)
    assert [a["username"] for a in group["actors"]] == [o.username for o in others[::-1][:3]]
    assert group["group_key"] == f"reaction:post:{mine['id']}"
    single = page["items"][0]
    assert single["text"] == f"{others[0].username.title()} commented on your post"

    two = await post(client, ann, "Second")
    await react(client, others[0], two["id"])
    await react(client, others[1], two["id"])
    await settle(app)
    newest = (await _grouped(client, ann))["items"][0]
    assert newest["text"] == (
        f"{others[1].username.title()} and {others[0].username.title()} reacted to your post"
    )

    # Reading a group marks only that group.
    marked = await client.post(
        f"{API}/notifications/read-all",
        params={"group_key": group["group_key"]},
        headers=ann.headers,
    )
    assert marked.json() == {"updated": 6}
    assert await unread_count(client, ann) == 3


async def test_group_pages_have_no_duplicates_or_gaps(client, app):
    ann, *others = await users(client, 4)
    posts = [await post(client, ann, f"p{i}") for i in range(5)]
    for p in posts:
        for other in others:
            await react(client, other, p["id"])
    await settle(app)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await _grouped(client, ann, **params)
        seen += [g["group_key"] for g in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"reaction:post:{p['id']}" for p in reversed(posts)]
    malformed = await client.get(
        f"{API}/notifications/grouped", params={"cursor": "nope"}, headers=ann.headers
    )
    assert "query.cursor" in error_fields(assert_problem(malformed, 422))


async def test_pagination_and_filters(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann)
    await react(client, bo, mine["id"])
    await react(client, cy, mine["id"])
    for i in range(3):
        await comment(client, bo, mine["id"], f"c{i}")
    await client.post(f"{API}/users/{ann.username}/follow", headers=cy.headers)
    await settle(app)
    everything = await notifications(client, ann, limit=100)
    assert [n["type"] for n in everything] == ["follow"] + ["comment"] * 3 + ["reaction"] * 2

    seen, cursor = [], None
    while True:
        params = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        response = await client.get(f"{API}/notifications", params=params, headers=ann.headers)
        body = response.json()
        seen += [n["id"] for n in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == [n["id"] for n in everything]

    assert await types_of_filtered(client, ann, types=["reaction", "follow"]) == [
        "follow",
        "reaction",
        "reaction",
    ]
    assert await types_of_filtered(client, ann, exclude_types=["comment"]) == [
        "follow",
        "reaction",
        "reaction",
    ]
    marked = await client.post(
        f"{API}/notifications/{everything[0]['id']}/read", headers=ann.headers
    )
    assert marked.status_code == 204
    unread = await notifications(client, ann, unread_only="true", limit=100)
    assert len(unread) == 5
    assert everything[0]["id"] not in {n["id"] for n in unread}

    bad = await client.get(
        f"{API}/notifications", params={"types": "nonsense"}, headers=ann.headers
    )
    assert "query.types.0" in error_fields(assert_problem(bad, 422))
    too_many = await client.get(f"{API}/notifications", params={"limit": 101}, headers=ann.headers)
    assert_problem(too_many, 422)
    assert_problem(await client.get(f"{API}/notifications"), 401)


async def types_of_filtered(client, user, **params):
    return [n["type"] for n in await notifications(client, user, **params)]


async def test_mark_read_all_read_and_cached_unread_count(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann)
    await react(client, bo, mine["id"])
    await settle(app)
    cache = app.state.platform.cache
    key = f"notification:{ann.user_id}:unread"
    # The insert left a short tombstone (kit.cache: no stale write-back); once it is gone, a
    # read caches the count.
    assert await cache.get(key) is None
    await empty_cache(app)
    assert await unread_count(client, ann) == 1
    assert await cache.get(key) == b"1"
    assert await unread_count(client, ann) == 1  # served from the cache

    await react(client, cy, mine["id"])
    await settle(app)
    assert await cache.get(key) is None  # the new notification invalidated it
    assert await unread_count(client, ann) == 2

    [newest, older] = await notifications(client, ann)
    await empty_cache(app)
    assert await unread_count(client, ann) == 2
    assert await cache.get(key) == b"2"
    marked = await client.post(f"{API}/notifications/{newest['id']}/read", headers=ann.headers)
    assert marked.status_code == 204
    assert await cache.get(key) is None
    assert await unread_count(client, ann) == 1
    again = await client.post(f"{API}/notifications/{newest['id']}/read", headers=ann.headers)
    assert again.status_code == 204  # idempotent
    [first, second] = await notifications(client, ann)
    assert first["read"] is True
    assert first["read_at"] is not None
    assert second["read"] is False

    # Somebody else's notification (or a made-up id) is not found; nothing changes.
    assert_problem(
        await client.post(f"{API}/notifications/{older['id']}/read", headers=bo.headers),
        404,
        "notification_not_found",
    )
    await empty_cache(app)
    assert await unread_count(client, ann) == 1
    done = await client.post(f"{API}/notifications/read-all", headers=ann.headers)
    assert done.json() == {"updated": 1}
    assert await cache.get(key) is None
    assert await unread_count(client, ann) == 0
    assert (await client.post(f"{API}/notifications/read-all", headers=ann.headers)).json() == {
        "updated": 0
    }


async def _dm(client, sender, to, content):
    response = await client.post(
        f"{API}/users/{to.username}/messages", json={"content": content}, headers=sender.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _read_conversation(client, user, conversation_id, **body):
    response = await client.post(
        f"{API}/conversations/{conversation_id}/read", json=body, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def test_reading_a_conversation_reads_its_message_notifications(client, app):
    ann, bo, cy = await users(client, 3)
    first = await _dm(client, bo, ann, "one")
    await _dm(client, bo, ann, "two")
    await _dm(client, cy, ann, "another chat")
    await settle(app)
    assert await unread_count(client, ann) == 3
    chat = first["conversation_id"]

    # Up to the first message: only its notification is read.
    await _read_conversation(client, ann, chat, message_id=first["id"])
    await settle(app)
    assert await unread_count(client, ann) == 2
    read = {n["message"]: n["read_at"] is not None for n in await notifications(client, ann)}
    assert read == {"one": True, "two": False, "another chat": False}

    # Up to the latest: Bo's chat is done; Cy's conversation is untouched, and so is Bo's side.
    await _read_conversation(client, ann, chat)
    await settle(app)
    assert await unread_count(client, ann) == 1
    assert [n["message"] for n in await notifications(client, ann) if n["read_at"] is None] == [
        "another chat"
    ]
    await _read_conversation(client, bo, chat)
    await settle(app)
    assert await unread_count(client, ann) == 1

    # A message after the read is unread again.
    await _dm(client, bo, ann, "three")
    await settle(app)
    assert await unread_count(client, ann) == 2


async def test_block_after_the_fact_and_deleted_posts_hide_notifications(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann)
    other = await post(client, ann, "other")
    await react(client, bo, mine["id"])
    await react(client, cy, other["id"])
    await client.post(f"{API}/users/{ann.username}/follow", headers=bo.headers)
    await settle(app)
    assert await unread_count(client, ann) == 3

    blocked = await client.put(f"{API}/me/blocks/{bo.username}", headers=ann.headers)
    assert blocked.status_code in (200, 204), blocked.text
    await settle(app)  # the block's event drops the cached count
    assert await types_of(client, ann) == ["reaction"]
    assert await unread_count(client, ann) == 1
    assert [g["type"] for g in (await _grouped(client, ann))["items"]] == ["reaction"]

    await content.update_post(app, other["id"], deleted_at=utcnow())
    await empty_cache(app)
    assert await types_of(client, ann) == []
    assert await unread_count(client, ann) == 0

    # Blocks hide both ways: cy blocks ann, ann no longer sees what cy did.
    await content.update_post(app, other["id"], deleted_at=None)
    assert await types_of(client, ann) == ["reaction"]
    await graph.block(app, cy.user_id, ann.user_id)
    assert await types_of(client, ann) == []


async def test_a_deleted_comment_takes_its_notifications_along(client, app):
    ann, bo = await users(client, 2)
    mine = await post(client, ann)
    made = await comment(client, bo, mine["id"])
    await settle(app)
    assert await types_of(client, ann) == ["comment"]
    removed = await client.delete(f"{API}/comments/{made['id']}", headers=bo.headers)
    assert removed.status_code == 204, removed.text
    await settle(app)
    assert await types_of(client, ann) == []


async def test_preferences_defaults_changes_and_validation(client, app):
    (ann,) = await users(client, 1)
    response = await client.get(f"{API}/me/notification-preferences", headers=ann.headers)
    assert response.status_code == 200
    body = response.json()
    prefs = {(p["type"], p["channel"]): p for p in body["preferences"]}
    assert len(prefs) == 12 * 3
    assert prefs[("friend_request", "email")]["enabled"] is True
    assert prefs[("reaction", "email")]["enabled"] is False
    assert prefs[("reaction", "in_app")]["enabled"] is True
    assert prefs[("mention", "email")]["frequency"] == "instant"
    assert prefs[("mention", "push")]["frequency"] is None
    assert body["email_notifications"] is True

    changed = await set_preferences(
        client,
        ann,
        {"type": "reaction", "channel": "email", "enabled": True, "frequency": "daily"},
        {"type": "comment", "channel": "push", "enabled": False},
    )
    assert changed.status_code == 200, changed.text
    prefs = {(p["type"], p["channel"]): p for p in changed.json()["preferences"]}
    assert prefs[("reaction", "email")] == {
        "type": "reaction",
        "channel": "email",
        "enabled": True,
        "frequency": "daily",
        "is_default": False,
    }
    assert prefs[("comment", "push")]["enabled"] is False
    again = await set_preferences(
        client, ann, {"type": "reaction", "channel": "email", "enabled": False}
    )
    prefs = {(p["type"], p["channel"]): p for p in again.json()["preferences"]}
    assert prefs[("reaction", "email")]["enabled"] is False

    for bad, field in (
        ({"type": "poke", "channel": "email", "enabled": True}, "body.preferences.0.type"),
        ({"type": "follow", "channel": "sms", "enabled": True}, "body.preferences.0.channel"),
        (
            {"type": "follow", "channel": "email", "enabled": True, "frequency": "weekly"},
            "body.preferences.0.frequency",
        ),
        (
            {"type": "follow", "channel": "push", "enabled": True, "frequency": "daily"},
            "body.preferences.0.frequency",
        ),
        (
            {"type": "system", "channel": "in_app", "enabled": False},
            "body.preferences.0.enabled",
        ),
    ):
        refused = await set_preferences(client, ann, bad)
        assert field in error_fields(assert_problem(refused, 422)), refused.text
    # A refused write changes nothing.
    refused = await set_preferences(
        client,
        ann,
        {"type": "follow", "channel": "in_app", "enabled": False},
        {"type": "follow", "channel": "push", "enabled": True, "frequency": "daily"},
    )
    assert_problem(refused, 422)
    current = await client.get(f"{API}/me/notification-preferences", headers=ann.headers)
    prefs = {(p["type"], p["channel"]): p for p in current.json()["preferences"]}
    assert prefs[("follow", "in_app")]["enabled"] is True


async def test_a_page_costs_the_same_queries_whatever_its_size(client, app):
    ann, *others = await users(client, 9)
    small = await post(client, ann)
    await react(client, others[0], small["id"])
    await settle(app)

    async def cost(path: str) -> int:
        await empty_cache(app)
        with count_queries(app) as statements:
            response = await client.get(path, params={"limit": 50}, headers=ann.headers)
        assert response.status_code == 200
        return len(statements)

    flat_small = await cost(f"{API}/notifications")
    grouped_small = await cost(f"{API}/notifications/grouped")
    for i, other in enumerate(others):
        p = await post(client, ann, f"p{i}")
        await react(client, other, p["id"])
        await comment(client, other, p["id"])
        await client.post(f"{API}/users/{ann.username}/follow", headers=other.headers)
    await settle(app)
    assert len(await notifications(client, ann, limit=50)) > 20
    assert await cost(f"{API}/notifications") == flat_small
    assert await cost(f"{API}/notifications/grouped") == grouped_small
