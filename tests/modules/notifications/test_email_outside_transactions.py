"""Email is sent with no write transaction open, and a refused mail is retried, once.

SMTP is slow: sent inside a writing unit of work it would hold SQLite's writer turn and write
lock, or (PostgreSQL, shown with a pool of one connection) a pooled connection, so another
user's write would wait for the mail server. The ``mailbox`` (a real aiosmtpd) holds DATA.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import SignedIn
from tests.modules.notifications.helpers import API, comment, post, set_preferences, settle, users
from townsquare.kit.mail import OutgoingMail
from townsquare.kit.models import utcnow
from townsquare.modules.notifications import tasks

SLOW_SMTP_SECONDS = 5.0
POOLS = pytest.mark.parametrize("pool_size", [10, 1], ids=["pool-10", "pool-1"])


@pytest.fixture
async def started(
    app_factory: Callable[..., Awaitable[FastAPI]],
) -> AsyncIterator[Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]]:
    """``await started(**settings)`` -> (app, client); a generous pool timeout, so a held
    connection shows as a slow write rather than as an error."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**overrides: object) -> tuple[FastAPI, httpx.AsyncClient]:
            app = await app_factory(database_pool_timeout_seconds=30, **overrides)
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
            client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
            return app, await stack.enter_async_context(client)

        yield start


async def _write_meanwhile(client: httpx.AsyncClient, writer: SignedIn) -> None:
    response = await client.post(
        f"{API}/posts", json={"content": "not held up"}, headers=writer.headers
    )
    assert response.status_code == 201, response.text


async def _make_queued_mail_due(app: FastAPI) -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(OutgoingMail).values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


async def _queued(app: FastAPI) -> list[tuple[str, str | None, datetime]]:
    """The mails waiting in the queue: (to, last error, when they may go)."""
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(
            select(OutgoingMail.to, OutgoingMail.last_error, OutgoingMail.available_at)
        )
        return [(to, error, at) for to, error, at in rows]


def _friend_requests(mailbox: Mailbox, address: str) -> list[object]:
    return [m for m in mailbox.to(address) if "friend request" in m.subject]


@POOLS
async def test_an_instant_email_being_sent_holds_up_no_other_write(
    started: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
    mailbox: Mailbox,
    pool_size: int,
) -> None:
    app, client = await started(database_pool_size=pool_size, database_max_overflow=0)
    ann, bo, cy = await users(client, 3)
    await settle(app)
    mailbox.clear()
    mailbox.hold_data(SLOW_SMTP_SECONDS)

    response = await client.post(f"{API}/users/{ann.username}/friend-request", headers=bo.headers)
    assert response.status_code in (200, 201), response.text
    await mailbox.wait_for_data()  # the email job is talking to the (slow) SMTP server
    await _write_meanwhile(client, cy)
    # The write did not queue behind the send: the mail is still on its way.
    assert _friend_requests(mailbox, ann.email) == []

    await mailbox.wait_for(ann.email, "friend request", seconds=SLOW_SMTP_SECONDS + 10)
    await settle(app)
    assert len(_friend_requests(mailbox, ann.email)) == 1
    assert await _queued(app) == []  # sent mail leaves no row behind


async def test_a_refused_instant_email_is_retried_and_arrives_once(
    started: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]], mailbox: Mailbox
) -> None:
    app, client = await started(job_retry_base_seconds=600)  # no retry comes due by itself
    ann, bo = await users(client, 2)
    await settle(app)
    mailbox.clear()
    mailbox.refuse(1)

    await client.post(f"{API}/users/{ann.username}/friend-request", headers=bo.headers)
    await settle(app)
    await mailbox.wait_for_data()
    assert _friend_requests(mailbox, ann.email) == []
    [(to, last_error, available_at)] = await _queued(app)
    assert to == ann.email
    assert last_error is not None
    assert "451" in last_error
    assert available_at > utcnow()  # a retry, after a backoff

    platform = app.state.platform
    assert await platform.mail.send_due() == 0  # not before its time
    await _make_queued_mail_due(app)
    assert await platform.mail.send_due() == 1
    assert await platform.mail.send_due() == 0
    await settle(app)
    assert len(_friend_requests(mailbox, ann.email)) == 1
    assert await _queued(app) == []


async def _hourly_comment_digest(
    client: httpx.AsyncClient, app: FastAPI
) -> tuple[SignedIn, SignedIn]:
    ann, bo = await users(client, 2)
    changed = await set_preferences(
        client,
        ann,
        {"type": "comment", "channel": "email", "enabled": True, "frequency": "hourly"},
    )
    assert changed.status_code == 200, changed.text
    mine = await post(client, ann, "My post")
    await comment(client, bo, mine["id"], "First")
    await settle(app)
    return ann, bo


def _digests(mailbox: Mailbox, address: str) -> list[object]:
    return [m for m in mailbox.to(address) if "digest" in m.subject]


@POOLS
async def test_a_digest_being_sent_holds_up_no_other_write(
    started: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
    mailbox: Mailbox,
    pool_size: int,
) -> None:
    app, client = await started(database_pool_size=pool_size, database_max_overflow=0)
    start = utcnow()
    ann, bo = await _hourly_comment_digest(client, app)
    mailbox.clear()
    mailbox.hold_data(SLOW_SMTP_SECONDS)

    sending = asyncio.create_task(
        tasks.send_digests(app.state.platform, now=start + timedelta(minutes=61))
    )
    await mailbox.wait_for_data()
    await _write_meanwhile(client, bo)
    # The write did not queue behind the send: the digest is still on its way.
    assert _digests(mailbox, ann.email) == []
    assert await sending == 1
    assert len(_digests(mailbox, ann.email)) == 1


async def test_a_refused_digest_is_retried_and_arrives_once(
    started: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]], mailbox: Mailbox
) -> None:
    app, client = await started()
    start = utcnow()
    ann, _ = await _hourly_comment_digest(client, app)
    mailbox.clear()
    mailbox.refuse(1)
    platform = app.state.platform

    assert await tasks.send_digests(platform, now=start + timedelta(minutes=61)) == 1
    assert _digests(mailbox, ann.email) == []
    # The digest is marked sent: the next run makes no second one; the queued mail is retried.
    assert await tasks.send_digests(platform, now=start + timedelta(minutes=70)) == 0
    await _make_queued_mail_due(app)
    assert await platform.mail.send_due() == 1
    assert await platform.mail.send_due() == 0
    assert len(_digests(mailbox, ann.email)) == 1
    async with platform.database.unit_of_work(read_only=True) as uow:
        assert await uow.session.scalar(select(func.count()).select_from(OutgoingMail)) == 0
