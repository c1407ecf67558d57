"""Background jobs of notifications: instant emails and hourly/daily digests.

The transaction that marks a notification emailed (or a digest sent) also queues its mail
(``kit.mail.MailQueue``); the mail is sent after that commit, with no transaction open, so SMTP
never holds SQLite's write lock or a PostgreSQL connection. If SMTP fails, the queued mail is
retried with backoff; a crash between the commit and the send is covered by the queue's lease.
Delivery is at least once: in normal operation each notification (and each digest) is emailed
once.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import structlog

from townsquare.kit.db import UnitOfWork
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.modules.notifications import repository, service
from townsquare.modules.notifications.models import Frequency

log = structlog.get_logger(__name__)
DIGEST_WINDOWS = {Frequency.HOURLY: timedelta(hours=1), Frequency.DAILY: timedelta(days=1)}


async def send_instant_email(
    platform: Platform, uow: UnitOfWork, notification_id: uuid.UUID
) -> None:
    mail = await service.instant_email(uow.session, platform.settings, notification_id, utcnow())
    if mail is not None:
        platform.mail.queue(uow.session, mail)


async def send_digests(platform: Platform, now: datetime | None = None) -> int:
    """Send every digest that is due at ``now`` (default: the current time); how many went
    out (queued, then sent after each commit). Safe to run in several processes at once: each
    digest row is locked while it is marked."""
    now = now or utcnow()
    sent = 0
    for frequency, window in DIGEST_WINDOWS.items():
        async with platform.database.unit_of_work(read_only=True) as uow:
            due = await repository.due_digests(uow.session, frequency, now, now - window)
        for user_id in due:
            try:
                async with platform.database.unit_of_work() as uow:
                    mail = await service.digest_email(
                        uow.session, platform.settings, user_id, frequency, now, window
                    )
                    if mail is not None:
                        platform.mail.queue(uow.session, mail)
                    await uow.commit()  # then the mail goes out, retried if SMTP fails
            except Exception:
                # One user's failure must not stop the others; nothing was marked, so the next
                # run tries again.
                log.exception("notification_digest_failed", user_id=str(user_id))
                continue
            sent += mail is not None
    return sent
