"""Every notification type from its real action, and everyone who must NOT be notified."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from tests.fixtures import content, graph
from tests.fixtures.queries import count_queries
from tests.modules.notifications.helpers import (
    API,
    comment,
    notifications,
    post,
    react,
    row_count,
    set_preferences,
    settle,
    types_of,
    unread_count,
    users,
)
from townsquare.kit.events import Event, OutboxEvent, record_event
from townsquare.kit.models import new_id, utcnow
from townsquare.modules.messaging.events import MESSAGE_SENT
from townsquare.modules.notifications import handlers
from townsquare.modules.posts.models import Visibility
from townsquare.modules.social.events import FOLLOWED


async def test_friend_request_and_accept(client, app):
    ann, bo = await users(client, 2)
    response = await client.post(f"{API}/users/{bo.username}/friend-request", headers=ann.headers)
    assert response.status_code in (200, 201), response.text
    await settle(app)
    [note] = await notifications(client, bo)
    assert note["type"] == "friend_request"
    assert note["actor"]["username"] == ann.username
    assert note["title"] == f"{ann.username.title()} sent you a friend request"
    assert note["read"] is False
    assert note["priority"] == "normal"
    assert await types_of(client, ann) == []

    incoming = await client.get(f"{API}/me/friend-requests/incoming", headers=bo.headers)
    request_id = incoming.json()["items"][0]["id"]
    accepted = await client.post(
        f"{API}/me/friend-requests/{request_id}/accept", headers=bo.headers
    )
    assert accepted.status_code in (200, 204), accepted.text
    await settle(app)
    [note] = await notifications(client, ann)
    assert note["type"] == "friend_accept"
    assert note["actor"]["username"] == bo.username


async def test_follow_follow_request_and_approval(client, app):
    ann, bo, cy = await users(client, 3)
    await client.post(f"{API}/users/{bo.username}/follow", headers=ann.headers)
    await graph.set_private(app, cy.user_id)
    await client.post(f"{API}/users/{cy.username}/follow", headers=ann.headers)
    await settle(app)
    assert await types_of(client, bo) == ["follow"]
    assert await types_of(client, cy) == ["follow_request"]

    pending = await client.get(f"{API}/me/follow-requests", headers=cy.headers)
    follow_id = pending.json()["items"][0]["id"]
    approved = await client.post(
        f"{API}/me/follow-requests/{follow_id}/approve", headers=cy.headers
    )
    assert approved.status_code in (200, 204), approved.text
    await settle(app)
    [note] = await notifications(client, ann)
    assert note["type"] == "follow_accept"
    assert note["actor"]["username"] == cy.username


async def test_reaction_comment_reply_share_mention(client, app):
    ann, bo, cy = await users(client, 3)
    mine = await post(client, ann, "My post")
    await react(client, bo, mine["id"])
    top = await comment(client, bo, mine["id"], "First!")
    await settle(app)
    kinds = await notifications(client, ann)
    assert [n["type"] for n in kinds] == ["comment", "reaction"]
    reaction = kinds[1]
    assert reaction["target"] == {"type": "post", "id": mine["id"]}
    assert reaction["data"]["reaction"] == "like"
    assert reaction["action_url"] == f"/posts/{mine['id']}"
    assert reaction["priority"] == "low"

    # cy answers bo's comment: bo hears of the reply, ann (the post's author) of a comment.
    reply = await client.post(
        f"{API}/comments/{top['id']}/replies", json={"content": "Agreed"}, headers=cy.headers
    )
    assert reply.status_code == 201, reply.text
    await settle(app)
    assert await types_of(client, bo) == ["reply"]
    assert (await types_of(client, ann))[0] == "comment"

    # ann replying to bo on her own post: bo gets a reply, ann nothing about herself.
    before = await types_of(client, ann)
    await client.post(
        f"{API}/comments/{top['id']}/replies", json={"content": "Thanks"}, headers=ann.headers
    )
    await settle(app)
    assert await types_of(client, bo) == ["reply", "reply"]
    assert await types_of(client, ann) == before

    shared = await client.post(f"{API}/posts/{mine['id']}/share", headers=cy.headers)
    assert shared.status_code == 201, shared.text
    await post(client, cy, f"Look @{ann.username}")
    await comment(client, bo, mine["id"], f"cc @{cy.username}")
    await settle(app)
    ann_types = await types_of(client, ann)
    assert ann_types[:3] == ["comment", "mention", "share"]
    assert "mention" in await types_of(client, cy)


async def test_message_sent_notifies_members_and_mentions(client, app):
    ann, bo, cy, di = await users(client, 4)
    conversation_id = str(uuid.uuid4())
    async with app.state.platform.database.unit_of_work() as uow:
        record_event(
            uow.session,
            MESSAGE_SENT,
            {
                "message_id": str(uuid.uuid4()),
                "conversation_id": conversation_id,
                "sender_id": ann.user_id,
                "kind": "group",
                "conversation_title": "Team",
                "preview": "hi @" + cy.username,
                "notify_user_ids": [bo.user_id, cy.user_id],
                "mentioned_user_ids": [cy.user_id],
            },
        )
        await uow.commit()
    await settle(app)
    [to_bo] = await notifications(client, bo)
    assert to_bo["type"] == "message"
    assert to_bo["message"] == "hi @" + cy.username
    assert to_bo["title"] == f"{ann.username.title()} sent a message in Team"
    assert to_bo["target"] == {"type": "conversation", "id": conversation_id}
    [to_cy] = await notifications(client, cy)
    assert (to_cy["type"], to_cy["priority"]) == ("mention", "high")
    assert await types_of(client, di) == []  # muted the conversation: not in notify_user_ids
    assert await types_of(client, ann) == []


def _notify_handler(app, event_name):
    """The notifications handler of an event, as registered: under the key it has always had
    (queued deliveries name it)."""
    handler = app.state.platform.handlers.get(event_name, f"{handlers.__name__}.handle")
    assert handler is not None
    return handler


async def _handle_group_message(app, sender, recipients, mentioned=()):
    """Run the notifications handler for one group message; the statements it sent."""
    event = Event(
        id=uuid.uuid4(),
        name=MESSAGE_SENT,
        payload={
            "message_id": str(uuid.uuid4()),
            "conversation_id": str(uuid.uuid4()),
            "sender_id": sender.user_id,
            "kind": "group",
            "conversation_title": "Everyone",
            "preview": "hello all",
            "notify_user_ids": [r.user_id for r in recipients],
            "mentioned_user_ids": [m.user_id for m in mentioned],
        },
        occurred_at=utcnow(),
    )
    handle = _notify_handler(app, MESSAGE_SENT)
    with count_queries(app) as statements:
        async with app.state.platform.database.unit_of_work() as uow:
            await handle(event, uow)
            await uow.commit()
    return statements


async def test_a_large_group_costs_the_same_queries_as_a_small_one(client, app):
    sender, first, *members = await users(client, 14)
    await settle(app)
    await _handle_group_message(app, sender, [first])  # caches the sender's profile card
    small = await _handle_group_message(app, sender, members[:2])
    large = await _handle_group_message(app, sender, members, mentioned=members[:1])
    await settle(app)
    assert len(large) == len(small), "\n".join(large)
    for member in members[1:]:
        assert await types_of(client, member) == ["message"] * (2 if member in members[:2] else 1)
    assert await types_of(client, members[0]) == ["mention", "message"]


async def test_one_batch_refuses_exactly_the_recipients_the_policy_refuses(client, app):
    sender, muting, blocking, blocked, silent, told = await users(client, 6)
    await graph.mute(app, muting.user_id, sender.user_id)
    await graph.block(app, blocking.user_id, sender.user_id)
    await graph.block(app, sender.user_id, blocked.user_id)
    response = await set_preferences(
        client, silent, {"type": "message", "channel": "in_app", "enabled": False}
    )
    assert response.status_code == 200, response.text
    await settle(app)
    everyone = [muting, blocking, blocked, silent, told, sender]
    await _handle_group_message(app, sender, everyone)
    await settle(app)
    for refused in (muting, blocking, blocked, silent, sender):
        assert await types_of(client, refused) == [], refused.username
    assert await types_of(client, told) == ["message"]
    assert await row_count(app) == 1


async def test_a_message_read_before_its_job_ran_notifies_nobody(client, app):
    ann, bo = await users(client, 2)
    sent = await client.post(
        f"{API}/users/{ann.username}/messages", json={"content": "hi"}, headers=bo.headers
    )
    assert sent.status_code == 201, sent.text
    message = sent.json()
    await settle(app)
    read = await client.post(
        f"{API}/conversations/{message['conversation_id']}/read", json={}, headers=ann.headers
    )
    assert read.status_code == 200, read.text
    await settle(app)
    assert await unread_count(client, ann) == 0

    def late_event(message_id):
        """The message's notification job, running late (a new event id: not a duplicate)."""
        return Event(
            id=uuid.uuid4(),
            name=MESSAGE_SENT,
            payload={
                "message_id": message_id,
                "conversation_id": message["conversation_id"],
                "sender_id": bo.user_id,
                "kind": "direct",
                "conversation_title": None,
                "preview": "hi",
                "notify_user_ids": [ann.user_id],
                "mentioned_user_ids": [],
            },
            occurred_at=utcnow(),
        )

    handle = _notify_handler(app, MESSAGE_SENT)
    # Ann has read that message: no second notification, unread or not.
    async with app.state.platform.database.unit_of_work() as uow:
        await handle(late_event(message["id"]), uow)
        await uow.commit()
    assert await row_count(app) == 1
    assert await unread_count(client, ann) == 0
    # A message past her watermark still notifies.
    async with app.state.platform.database.unit_of_work() as uow:
        await handle(late_event(str(new_id())), uow)
        await uow.commit()
    assert await row_count(app) == 2
    assert await unread_count(client, ann) == 1


# --- nobody who must not hear of it


async def test_self_muted_blocked_and_hidden_actors_notify_nobody(client, app):
    ann, bo, cy, di = await users(client, 4)
    mine = await post(client, ann)
    await react(client, ann, mine["id"])  # self
    await comment(client, ann, mine["id"])  # self
    await graph.mute(app, ann.user_id, bo.user_id)
    await react(client, bo, mine["id"])  # muted by ann
    await graph.block(app, cy.user_id, ann.user_id)  # cy blocked ann: cannot even see the post
    await client.post(f"{API}/users/{ann.username}/follow", headers=cy.headers)
    await settle(app)
    assert await types_of(client, ann) == []
    # ann blocked di: di's follow is refused by the graph; a follow recorded before the block
    # is still not turned into a notification once the block exists.
    await graph.follow(app, di.user_id, ann.user_id)
    async with app.state.platform.database.unit_of_work() as uow:
        record_event(
            uow.session,
            FOLLOWED,
            {"follow_id": str(uuid.uuid4()), "follower_id": di.user_id, "followee_id": ann.user_id},
        )
        await uow.commit()
    await graph.block(app, ann.user_id, di.user_id)
    await settle(app)
    assert await types_of(client, ann) == []
    assert await row_count(app) == 0


async def test_nobody_hears_of_content_they_may_not_see(client, app):
    ann, bo, cy = await users(client, 3)
    # A mention in a friends-only post of someone who is not a friend: nothing.
    await post(client, ann, f"psst @{bo.username}", visibility="friends")
    await settle(app)
    assert await types_of(client, bo) == []
    # A reaction event on a post the recipient (its author) can see, but a reply notification
    # about a post the replied-to author can no longer see is dropped.
    secret = await content.create_post(app, ann.user_id, visibility=Visibility.PUBLIC)
    top = await comment(client, bo, secret)
    await content.update_post(app, secret, visibility=Visibility.ONLY_ME)
    async with app.state.platform.database.unit_of_work() as uow:
        await _notify_handler(app, "comment.created")(
            Event(
                id=uuid.uuid4(),
                name="comment.created",
                payload={
                    "comment_id": str(uuid.uuid4()),
                    "post_id": secret,
                    "post_author_id": ann.user_id,
                    "author_id": cy.user_id,
                    "depth": 1,
                    "parent_id": top["id"],
                    "parent_author_id": bo.user_id,
                    "in_reply_to_id": top["id"],
                    "in_reply_to_author_id": bo.user_id,
                },
                occurred_at=utcnow(),
            ),
            uow,
        )
        await uow.commit()
    await settle(app)  # bo's own comment.created goes through the outbox in the background
    assert await types_of(client, bo) == []
    assert await types_of(client, ann) == ["comment", "comment"]  # bo's, then cy's


async def test_preference_off_means_no_notification(client, app):
    ann, bo = await users(client, 2)
    response = await set_preferences(
        client, ann, {"type": "reaction", "channel": "in_app", "enabled": False}
    )
    assert response.status_code == 200, response.text
    mine = await post(client, ann)
    await react(client, bo, mine["id"])
    await comment(client, bo, mine["id"])
    await settle(app)
    assert await types_of(client, ann) == ["comment"]


async def test_a_redelivered_event_makes_one_notification(client, app):
    ann, bo = await users(client, 2)
    mine = await post(client, ann)
    await react(client, bo, mine["id"])
    await settle(app)
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        row = await uow.session.scalar(
            select(OutboxEvent).where(OutboxEvent.name == "reaction.added")
        )
        assert row is not None
        event = Event(row.id, row.name, dict(row.payload), row.occurred_at)
    for _ in range(2):
        async with app.state.platform.database.unit_of_work() as uow:
            await _notify_handler(app, event.name)(event, uow)
            await uow.commit()
    assert await types_of(client, ann) == ["reaction"]
    assert await row_count(app) == 1


async def test_system_notification_from_an_admin_only(client, app):
    from tests.fixtures.problems import assert_problem
    from townsquare.kit.auth import Role
    from townsquare.modules.accounts.models import User

    admin, ann = await users(client, 2)
    body = {"user_id": ann.user_id, "title": "Maintenance tonight", "priority": "high"}
    assert_problem(
        await client.post(f"{API}/admin/notifications", json=body, headers=ann.headers), 403
    )
    async with app.state.platform.database.unit_of_work() as uow:
        user = await uow.session.get(User, uuid.UUID(admin.user_id))
        assert user is not None
        user.role = Role.MODERATOR
        await uow.commit()
    # Sessions cache the role: log in again to carry it.
    from tests.fixtures.users import login

    tokens = (await login(client, admin.username)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert_problem(
        await client.post(f"{API}/admin/notifications", json=body, headers=headers),
        403,
        "admin_only",
    )
    async with app.state.platform.database.unit_of_work() as uow:
        user = await uow.session.get(User, uuid.UUID(admin.user_id))
        assert user is not None
        user.role = Role.ADMIN
        await uow.commit()
    tokens = (await login(client, admin.username)).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    created = await client.post(f"{API}/admin/notifications", json=body, headers=headers)
    assert created.status_code == 201, created.text
    [note] = await notifications(client, ann)
    assert (note["type"], note["title"], note["priority"], note["actor"]) == (
        "system",
        "Maintenance tonight",
        "high",
        None,
    )
    missing = {**body, "user_id": str(uuid.uuid4())}
    assert_problem(
        await client.post(f"{API}/admin/notifications", json=missing, headers=headers),
        404,
        "user_not_found",
    )
    bad = {**body, "action_url": "javascript:alert(1)"}
    assert_problem(await client.post(f"{API}/admin/notifications", json=bad, headers=headers), 422)


async def test_mentions_in_friends_only_posts_whatever_blocks_exist_elsewhere(client, app):
    ann, bo, cy, di, ed = await users(client, 5)
    await graph.befriend(app, ann.user_id, bo.user_id)
    # Blocks of ann with people who are not mentioned, in both directions.
    await graph.block(app, ann.user_id, di.user_id)
    await graph.block(app, ed.user_id, ann.user_id)
    await post(client, ann, f"psst @{bo.username} @{cy.username}", visibility="friends")
    await settle(app)
    assert await types_of(client, bo) == ["mention"]  # a friend: the blocks are not about bo
    assert await types_of(client, cy) == []  # a stranger may not see the post
