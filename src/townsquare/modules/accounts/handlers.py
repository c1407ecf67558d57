"""Event handlers of accounts: the emails that follow registration and reset requests.

Each handler issues a fresh single-use token in its own transaction and queues the mail in it
(``kit.mail.MailQueue``): it is sent after that commit, with no transaction open, and retried if
SMTP fails. The secret is stored as a hash; the queued mail carrying it is deleted once sent.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, EventHandlers
from townsquare.kit.platform import Platform
from townsquare.modules.accounts import emails, events, repository, service
from townsquare.modules.accounts.models import AccountStatus, TokenPurpose


def register_handlers(handlers: EventHandlers, platform: Platform) -> None:
    async def send_verification(event: Event, uow: UnitOfWork) -> None:
        user = await repository.get_user(uow.session, uuid.UUID(event.payload["user_id"]))
        if user is None or user.email_verified or user.status is not AccountStatus.ACTIVE:
            return
        ttl = timedelta(hours=platform.settings.email_verification_ttl_hours)
        token = await service.issue_email_token(uow.session, user, TokenPurpose.VERIFY_EMAIL, ttl)
        mail = emails.verification(platform.settings, user.email, token, ttl)
        platform.mail.queue(uow.session, mail)

    async def send_password_reset(event: Event, uow: UnitOfWork) -> None:
        user = await repository.get_user(uow.session, uuid.UUID(event.payload["user_id"]))
        if user is None or user.purged_at is not None:
            return
        ttl = timedelta(minutes=platform.settings.password_reset_ttl_minutes)
        token = await service.issue_email_token(uow.session, user, TokenPurpose.RESET_PASSWORD, ttl)
        mail = emails.password_reset(platform.settings, user.email, token, ttl)
        platform.mail.queue(uow.session, mail)

    for name in (events.ACCOUNT_REGISTERED, events.VERIFICATION_REQUESTED, events.EMAIL_CHANGED):
        handlers.on(name, send_verification)
    handlers.on(events.PASSWORD_RESET_REQUESTED, send_password_reset)
