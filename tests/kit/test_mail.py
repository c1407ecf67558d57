"""kit.mail.MailQueue: mail queued in a transaction leaves after its commit, is retried, and a
mail whose sender died between the commit and the send goes out when its lease ends."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.fixtures.mailbox import Mailbox
from townsquare.kit.mail import Mail, OutgoingMail
from townsquare.kit.models import utcnow


def _mail(to: str = "ann@example.org", subject: str = "Hello") -> Mail:
    return Mail(to=to, subject=subject, text="plain", html="<p>html</p>")


async def _rows(app: FastAPI) -> int:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        count = await uow.session.scalar(select(func.count()).select_from(OutgoingMail))
        return int(count or 0)


async def _make_due(app: FastAPI) -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(OutgoingMail).values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


async def test_a_rolled_back_transaction_sends_nothing(app: FastAPI, mailbox: Mailbox) -> None:
    platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        platform.mail.queue(uow.session, _mail())
        await uow.session.flush()
    await _make_due(app)
    assert await platform.mail.send_due() == 0
    assert mailbox.messages == []
    assert await _rows(app) == 0


async def test_a_committed_mail_is_sent_once_and_its_row_deleted(
    app: FastAPI, mailbox: Mailbox
) -> None:
    platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        platform.mail.queue(uow.session, _mail(subject="One"))
        platform.mail.queue(uow.session, _mail(subject="Two"))
        await uow.commit()
    assert sorted(m.subject for m in mailbox.messages) == ["One", "Two"]
    assert await _rows(app) == 0
    await _make_due(app)
    assert await platform.mail.send_due() == 0


async def test_a_mail_whose_sender_died_goes_out_when_its_lease_ends(
    app: FastAPI, mailbox: Mailbox
) -> None:
    """The commit happened, the process died before the send: the row stays leased."""
    platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        platform.mail.queue(uow.session, _mail(subject="Orphan"))
        uow.session.info.pop("townsquare.commit_hooks")  # the send never runs
        await uow.commit()
    assert mailbox.messages == []
    assert await platform.mail.send_due() == 0  # still leased to the dead sender
    await _make_due(app)  # the lease ends
    assert await platform.mail.send_due() == 1
    assert [m.subject for m in mailbox.messages] == ["Orphan"]
    assert await _rows(app) == 0


async def test_a_mail_refused_every_time_becomes_dead_and_is_not_sent(
    app_factory, mailbox: Mailbox
) -> None:
    app = await app_factory(outbox_max_attempts=2)
    platform = app.state.platform
    mailbox.refuse(10)
    async with platform.database.unit_of_work() as uow:
        platform.mail.queue(uow.session, _mail(subject="Never"))
        await uow.commit()  # attempt 1 refused
    await _make_due(app)
    assert await platform.mail.send_due() == 0  # attempt 2 refused: dead
    await _make_due(app)
    assert await platform.mail.send_due() == 0  # a dead mail is not tried again
    assert mailbox.data_started == 2
    async with platform.database.unit_of_work(read_only=True) as uow:
        row = (await uow.session.execute(select(OutgoingMail.dead_at, OutgoingMail.attempts))).one()
    assert row.dead_at is not None
    assert row.attempts == 2
