"""Email notifications and digests arrive at a real aiosmtpd server (the ``mailbox``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import event, func, select, update

from tests.modules.notifications.helpers import (
    API,
    comment,
    notifications,
    post,
    react,
    set_preferences,
    settle,
    users,
)
from townsquare.kit.events import OutboxEvent
from townsquare.kit.models import utcnow
from townsquare.modules.notifications import tasks
from townsquare.modules.notifications.events import EMAIL_REQUESTED
from townsquare.modules.notifications.models import Notification
from townsquare.modules.profiles import service as profiles_service


def _notices(mailbox, address):
    return [m for m in mailbox.to(address) if "Confirm your email" not in m.subject]


async def test_instant_email_has_text_and_html_and_is_sent_once(client, app, mailbox):
    ann, bo, cy = await users(client, 3)
    await client.post(f"{API}/users/{ann.username}/friend-request", headers=bo.headers)
    await settle(app)
    mail = await mailbox.wait_for(ann.email, "sent you a friend request")
    assert mail.subject == f"{bo.username.title()} sent you a friend request"
    assert "/friend-requests" in mail.text
    html = mail.part("text/html")
    assert "<strong>" in html
    assert "/friend-requests" in html
    assert "Choose what Townsquare emails you" in mail.text

    # Redelivering the email job sends nothing more; reactions are not emailed by default.
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        note = await uow.session.scalar(select(Notification))
        assert note is not None
        assert note.emailed_at is not None
        note_id = note.id
    async with app.state.platform.database.unit_of_work() as uow:
        await tasks.send_instant_email(app.state.platform, uow, note_id)
        await uow.commit()
    mine = await post(client, ann)
    await react(client, cy, mine["id"])
    await settle(app)
    assert len(_notices(mailbox, ann.email)) == 1


async def test_the_account_switch_turns_all_email_off(client, app, mailbox):
    ann, bo = await users(client, 2)
    async with app.state.platform.database.unit_of_work() as uow:
        await profiles_service.update_settings(
            uow.session, uuid.UUID(ann.user_id), {"email_notifications": False}
        )
        await uow.commit()
    await client.post(f"{API}/users/{ann.username}/friend-request", headers=bo.headers)
    await settle(app)
    assert len(await _types(client, ann)) == 1  # in-app still there
    assert _notices(mailbox, ann.email) == []


async def _types(client, user):
    response = await client.get(f"{API}/notifications", headers=user.headers)
    return [n["type"] for n in response.json()["items"]]


async def test_hourly_and_daily_digests_arrive_once_with_their_items(client, app, mailbox):
    ann, bo, cy = await users(client, 3)
    changed = await set_preferences(
        client,
        ann,
        {"type": "reaction", "channel": "email", "enabled": True, "frequency": "daily"},
        {"type": "comment", "channel": "email", "enabled": True, "frequency": "hourly"},
    )
    assert changed.status_code == 200, changed.text
    platform = app.state.platform
    start = utcnow()
    mine = await post(client, ann, "My post")
    await react(client, bo, mine["id"])
    await react(client, cy, mine["id"])
    await comment(client, bo, mine["id"], "First")
    await settle(app)
    assert await tasks.send_digests(platform, now=start + timedelta(minutes=30)) == 0
    assert _notices(mailbox, ann.email) == []

    assert await tasks.send_digests(platform, now=start + timedelta(minutes=61)) == 1
    [hourly] = _notices(mailbox, ann.email)
    assert hourly.subject == "Your hourly Townsquare digest: 1 new notification"
    assert f"{bo.username.title()} commented on your post" in hourly.text
    assert "commented on your post" in hourly.part("text/html")
    assert "reacted" not in hourly.text
    # Not again: nothing new.
    assert await tasks.send_digests(platform, now=start + timedelta(minutes=70)) == 0

    # A new comment waits for the next hourly window.
    await comment(client, cy, mine["id"], "Second")
    await settle(app)
    assert await tasks.send_digests(platform, now=start + timedelta(minutes=90)) == 0
    assert await tasks.send_digests(platform, now=start + timedelta(minutes=122)) == 1
    second = _notices(mailbox, ann.email)[-1]
    assert f"{cy.username.title()} commented on your post" in second.text
    assert "First" not in second.text
    assert "1 new notification" in second.subject

    assert await tasks.send_digests(platform, now=start + timedelta(hours=25)) == 1
    daily = _notices(mailbox, ann.email)[-1]
    assert daily.subject == "Your daily Townsquare digest: 2 new notifications"
    assert f"{cy.username.title()} and {bo.username.title()} reacted to your post" in daily.text
    assert "reacted to your post" in daily.part("text/html")
    assert await tasks.send_digests(platform, now=start + timedelta(hours=26)) == 0
    assert len(_notices(mailbox, ann.email)) == 3
    assert [m.subject for m in _notices(mailbox, bo.email)] == []


# --- chat messages: one mail per conversation, after a delay, about what is still unread


async def _let_waiting_mails_go(app) -> None:
    """Time passes for the delayed email jobs: make every waiting outbox event due, run it."""
    await settle(app)  # first what is due now (it may ask for delayed mails)
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.dispatched_at.is_(None))
            .values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()
    await settle(app)


async def _dm(client, sender, to, content):
    response = await client.post(
        f"{API}/users/{to.username}/messages", json={"content": content}, headers=sender.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def test_chat_messages_wait_and_arrive_in_one_mail_per_conversation(client, app, mailbox):
    ann, bo, cy = await users(client, 3)
    for text in ("Are you there?", "Lunch at noon", "Bring the map"):
        await _dm(client, bo, ann, text)
    await _dm(client, cy, ann, "Hello from Cy")
    await settle(app)
    # Nothing yet: the mails wait for the delay; one request per conversation, not per message.
    assert _notices(mailbox, ann.email) == []
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        waiting = list(
            await uow.session.scalars(
                select(OutboxEvent.available_at).where(
                    OutboxEvent.name == EMAIL_REQUESTED, OutboxEvent.dispatched_at.is_(None)
                )
            )
        )
    assert len(waiting) == 2
    assert all(at > utcnow() + timedelta(seconds=200) for at in waiting)

    await _let_waiting_mails_go(app)
    mails = {m.subject: m for m in _notices(mailbox, ann.email)}
    assert set(mails) == {
        f"{bo.username.title()} sent you a message (+2 more)",
        f"{cy.username.title()} sent you a message",
    }
    from_bo = mails[f"{bo.username.title()} sent you a message (+2 more)"].text
    assert from_bo.index("Are you there?") < from_bo.index("Lunch") < from_bo.index("Bring the map")
    assert "Hello from Cy" not in from_bo
    assert _notices(mailbox, bo.email) == []

    # Once mailed, the next message starts a new mail of its own.
    await _dm(client, bo, ann, "One more thing")
    await _let_waiting_mails_go(app)
    latest = _notices(mailbox, ann.email)[-1]
    assert latest.subject == f"{bo.username.title()} sent you a message"
    assert "One more thing" in latest.text
    assert "Lunch" not in latest.text
    assert len(_notices(mailbox, ann.email)) == 3


async def test_messages_relayed_together_are_notified_by_one_job(client, app, mailbox):
    """Under load one relay claim takes many messages: their notifications are made in one
    job (one insert), each as it would be alone, and the conversation asks for one mail."""
    ann, bo = await users(client, 2)
    relay = app.state.platform.outbox
    await relay.start()
    inserts: list[str] = []

    def record(_conn, _cursor, statement, *_args):
        if statement.startswith("INSERT INTO notifications"):
            inserts.append(statement)

    engine = app.state.platform.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        # A drain is busy: the three commits' kicks wait for it and then share one claim.
        async with relay._lock:
            sent = [await _dm(client, bo, ann, text) for text in ("One", "Two", "Three")]
        await settle(app)
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(inserts) == 1
    listed = await notifications(client, ann)
    told = [n for n in listed if n["type"] == "message"]
    assert sorted(n["data"]["message_id"] for n in told) == sorted(m["id"] for m in sent)
    # Newest first, in the order the messages were sent.
    assert [n["data"]["message_id"] for n in told] == [m["id"] for m in reversed(sent)]
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        asked = await uow.session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == EMAIL_REQUESTED, OutboxEvent.dispatched_at.is_(None))
        )
    assert asked == 1
    await _let_waiting_mails_go(app)
    [mail] = _notices(mailbox, ann.email)
    assert mail.subject == f"{bo.username.title()} sent you a message (+2 more)"


async def test_messages_read_before_the_mail_leaves_are_not_mailed(client, app, mailbox):
    ann, bo, cy = await users(client, 3)
    first = await _dm(client, bo, ann, "Seen in the app")
    await _dm(client, bo, ann, "Also seen")
    await _dm(client, cy, ann, "Notification read")
    await settle(app)
    # Ann reads Bo's conversation in the app, and Cy's message as a notification.
    read = await client.post(
        f"{API}/conversations/{first['conversation_id']}/read", json={}, headers=ann.headers
    )
    assert read.status_code == 200, read.text
    listed = (await client.get(f"{API}/notifications", headers=ann.headers)).json()["items"]
    [from_cy] = [n for n in listed if n["actor"]["user_id"] == cy.user_id]
    marked = await client.post(f"{API}/notifications/{from_cy['id']}/read", headers=ann.headers)
    assert marked.status_code in (200, 204), marked.text
    await _let_waiting_mails_go(app)
    assert _notices(mailbox, ann.email) == []

    # A message after the read is still unread when its mail leaves: only it is told.
    await _dm(client, bo, ann, "Not seen yet")
    await _let_waiting_mails_go(app)
    [mail] = _notices(mailbox, ann.email)
    assert mail.subject == f"{bo.username.title()} sent you a message"
    assert "Not seen yet" in mail.text
    assert "Seen in the app" not in mail.text
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        unmailed = await uow.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.emailed_at.is_(None), Notification.email_frequency.is_not(None))
        )
    assert unmailed == 0


async def test_a_group_chat_mail_says_who_wrote_what(client, app, mailbox):
    ann, bo, cy = await users(client, 3)
    created = await client.post(
        f"{API}/conversations",
        json={"title": "Team", "members": [ann.username, cy.username]},
        headers=bo.headers,
    )
    assert created.status_code == 201, created.text
    team = created.json()["id"]
    for sender, text in ((bo, "Agenda is up"), (cy, "Thanks!")):
        sent = await client.post(
            f"{API}/conversations/{team}/messages", json={"content": text}, headers=sender.headers
        )
        assert sent.status_code == 201, sent.text
    await _let_waiting_mails_go(app)
    [mail] = _notices(mailbox, ann.email)
    assert mail.subject == f"{cy.username.title()} sent a message in Team (+1 more)"
    assert f"{bo.username.title()}: Agenda is up" in mail.text
    assert f"{cy.username.title()}: Thanks!" in mail.text
    # Bo gets Cy's message only, and Cy Bo's: nobody is mailed their own words.
    [to_bo] = _notices(mailbox, bo.email)
    assert "Thanks!" in to_bo.text
    assert "Agenda" not in to_bo.text
