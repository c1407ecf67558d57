"""Outgoing email: SMTP (aiosmtplib) in production, the console in the embedded default.

Mail is never sent inside a writing unit of work (SMTP is slow: on SQLite a writer would hold
the process's writer turn and the write lock, on PostgreSQL a pooled connection and row locks).
``MailQueue.queue(session, mail)`` instead writes an ``outgoing_mails`` row in the caller's
transaction, already leased to this process (``available_at = now + TOWNSQUARE_JOB_LEASE_SECONDS``),
and a commit hook sends it once that transaction has committed, with no transaction open:

- sent: a short transaction deletes the row (a mail's body, which may carry a single-use link,
  stays in the database only until it is sent);
- SMTP failed: a short transaction schedules a retry at ``now + TOWNSQUARE_JOB_RETRY_BASE_SECONDS
  * 2^(attempts-1)``, or after ``TOWNSQUARE_OUTBOX_MAX_ATTEMPTS`` marks it dead (``dead_at``);
- the periodic ``send_due`` (every ``TOWNSQUARE_MAIL_RETRY_INTERVAL_SECONDS``) leases due rows
  (a retry whose time came, or a lease that ended because the process died between its commit
  and the send) in a short transaction (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and sends them
  the same way.

Guarantee: a mail is queued exactly when its transaction commits (a rolled-back change sends
nothing) and delivered **at least once**: in normal operation once; twice only if the process
dies between the SMTP server's acceptance and the deleting commit, or a send outlasts the
lease.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import structlog
from sqlalchemy import Index, String, Text, delete, select
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.config import MailBackend, Settings
from townsquare.kit.db import Database, on_commit
from townsquare.kit.models import Base, IdMixin, new_id, utcnow

log = structlog.get_logger(__name__)
_ERROR_MAX = 2000
_HOOK = "townsquare.mail"
_QUEUED = "townsquare.mail_queued"


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str

    def to_message(self, sender: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class Mailer(Protocol):
    async def send(self, mail: Mail) -> None: ...


class ConsoleMailer:
    """Writes each mail to the log, so a developer can click the link without an SMTP server."""

    def __init__(self, sender: str) -> None:
        self._sender = sender

    async def send(self, mail: Mail) -> None:
        log.info("mail_console", to=mail.to, subject=mail.subject, text=mail.text)


class SmtpMailer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def send(self, mail: Mail) -> None:
        s = self._settings
        await aiosmtplib.send(
            mail.to_message(s.mail_from),
            hostname=s.smtp_host,
            port=s.smtp_port,
            username=s.smtp_username,
            password=s.smtp_password,
            start_tls=s.smtp_starttls,
            use_tls=s.smtp_tls,
            timeout=s.smtp_timeout_seconds,
        )
        log.info("mail_sent", to=mail.to, subject=mail.subject)


def create_mailer(settings: Settings) -> Mailer:
    if settings.mail_backend is MailBackend.SMTP:
        return SmtpMailer(settings)
    return ConsoleMailer(settings.mail_from)


class OutgoingMail(IdMixin, Base):
    """A mail waiting to be sent (or retried); deleted once the SMTP server accepted it."""

    __tablename__ = "outgoing_mails"

    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: When it may be sent next: the end of the lease while a sender holds it, the retry time
    #: after a failure.
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None]

    __table_args__ = (
        Index(
            "ix_outgoing_mails_pending",
            "available_at",
            postgresql_where=sql_text("dead_at IS NULL"),
            sqlite_where=sql_text("dead_at IS NULL"),
        ),
    )

    def mail(self) -> Mail:
        return Mail(to=self.to, subject=self.subject, text=self.text, html=self.html)


class MailQueue:
    """Mail sent after the commit that queued it, retried until the SMTP server takes it."""

    def __init__(self, database: Database, mailer: Mailer, settings: Settings) -> None:
        self._database = database
        self.mailer = mailer
        self._lease = timedelta(seconds=settings.job_lease_seconds)
        self._retry_base = settings.job_retry_base_seconds
        self._max_attempts = settings.outbox_max_attempts
        self.batch_size = 100

    def queue(self, session: AsyncSession, mail: Mail) -> None:
        """Send ``mail`` once this session's transaction has committed (never if it rolls
        back), with no transaction open; retried later if SMTP fails."""
        row = OutgoingMail(
            id=new_id(),
            to=mail.to,
            subject=mail.subject,
            text=mail.text,
            html=mail.html,
            attempts=1,
            available_at=utcnow() + self._lease,
        )
        session.add(row)
        queued: list[tuple[uuid.UUID, Mail]] = session.info.setdefault(_QUEUED, [])
        queued.append((row.id, mail))

        def make_hook() -> _SendQueued:
            return _SendQueued(self, session)

        on_commit(session, _HOOK, make_hook)

    async def send_due(self) -> int:
        """Lease and send the mails due now (retries, ended leases); how many went out."""
        now = utcnow()
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.scalars(
                    select(OutgoingMail)
                    .where(OutgoingMail.dead_at.is_(None), OutgoingMail.available_at <= now)
                    .order_by(OutgoingMail.available_at)
                    .limit(self.batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            for row in rows:
                row.attempts += 1
                row.available_at = now + self._lease
            leased = [(row.id, row.mail()) for row in rows]
            await uow.commit()
        return await self.send(leased)

    async def send(self, leased: list[tuple[uuid.UUID, Mail]]) -> int:
        """Send mails whose rows this process leased; no transaction is open around SMTP."""
        sent = 0
        for mail_id, mail in leased:
            try:
                await self.mailer.send(mail)
            except Exception as exc:
                log.warning("mail_failed", to=mail.to, subject=mail.subject, exc_info=True)
                await self._record_failure(mail_id, f"{type(exc).__name__}: {exc}"[:_ERROR_MAX])
                continue
            async with self._database.unit_of_work() as uow:
                await uow.session.execute(delete(OutgoingMail).where(OutgoingMail.id == mail_id))
                await uow.commit()
            sent += 1
        return sent

    async def _record_failure(self, mail_id: uuid.UUID, error: str) -> None:
        async with self._database.unit_of_work() as uow:
            row = await uow.session.get(
                OutgoingMail, mail_id, with_for_update=True, populate_existing=True
            )
            if row is None:
                return
            now = utcnow()
            row.last_error = error
            if row.attempts >= self._max_attempts:
                row.dead_at = now
                log.error("mail_dead", to=row.to, subject=row.subject, attempts=row.attempts)
            else:
                delay = self._retry_base * 2 ** max(row.attempts - 1, 0)
                row.available_at = now + timedelta(seconds=delay * random.uniform(1, 1.1))  # noqa: S311
            await uow.commit()


@dataclass
class _SendQueued:
    """The commit hook of a transaction that queued mail: sends what it queued."""

    queue: MailQueue
    session: AsyncSession

    async def __call__(self) -> None:
        leased: list[tuple[uuid.UUID, Mail]] = self.session.info.pop(_QUEUED, [])
        await self.queue.send(leased)
