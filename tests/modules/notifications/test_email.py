"""Email notifications and digests arrive at a real aiosmtpd server (the ``mailbox``)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select

from tests.modules.notifications.helpers import (
    API,
    comment,
    post,
    react,
    set_preferences,
    settle,
    users,
)
from townsquare.kit.models import utcnow
from townsquare.modules.notifications import tasks
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
