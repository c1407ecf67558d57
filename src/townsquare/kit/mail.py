"""Outgoing email: SMTP (aiosmtplib) in production, the console in the embedded default."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol

import aiosmtplib
import structlog

from townsquare.config import MailBackend, Settings

log = structlog.get_logger(__name__)


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
