"""Domain events the accounts module publishes (through the outbox)."""

from __future__ import annotations

from typing import Any

from townsquare.kit.auth import Viewer
from townsquare.modules.accounts.models import User

ACCOUNT_REGISTERED = "account.registered"
VERIFICATION_REQUESTED = "account.verification_requested"
EMAIL_VERIFIED = "account.email_verified"
EMAIL_CHANGED = "account.email_changed"
PASSWORD_RESET_REQUESTED = "account.password_reset_requested"
PASSWORD_CHANGED = "account.password_changed"
REFRESH_TOKEN_REUSED = "account.refresh_token_reused"
ACCOUNT_REACTIVATED = "account.reactivated"
ACCOUNT_DEACTIVATED = "account.deactivated"
ACCOUNT_DELETION_SCHEDULED = "account.deletion_scheduled"
ACCOUNT_PURGED = "account.purged"
ACCOUNT_SUSPENDED = "account.suspended"
ACCOUNT_REINSTATED = "account.reinstated"


def registered(user: User, username: str) -> dict[str, Any]:
    return {"user_id": str(user.id), "email": user.email, "username": username}


def status_change(user: User, staff: Viewer, reason: str | None) -> dict[str, Any]:
    return {"user_id": str(user.id), "by": str(staff.user_id), "reason": reason}
