"""Domain events of notifications (through the outbox)."""

from __future__ import annotations

#: A notification is to be emailed at once; its handler sends the mail in its own job, so a
#: failing SMTP server delays (and retries) the mail without touching the notification.
EMAIL_REQUESTED = "notification.email_requested"
