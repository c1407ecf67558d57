"""The API contract of accounts and authentication."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import email_validator
from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from townsquare.kit.auth import Role
from townsquare.kit.validation import NoNul
from townsquare.modules.accounts.models import AccountStatus
from townsquare.modules.accounts.passwords import MAX_LENGTH, MIN_LENGTH
from townsquare.modules.profiles.schemas import (
    DisplayName,
    PrivacyOut,
    ProfileOut,
    SettingsOut,
    Username,
)

#: email-validator refuses special-use domains (RFC 6761 and kin) that ``format: email`` alone
#: allows: the schema names them, so a client learns it from the contract, not from a 422.
SPECIAL_USE_DOMAINS: list[str] = email_validator.SPECIAL_USE_DOMAIN_NAMES
EMAIL_PATTERN = (
    r"^(?!.*@(?:.*\.)?(?:"
    + "|".join("".join(f"[{c.upper()}{c}]" for c in name) for name in SPECIAL_USE_DOMAINS)
    + r")$)"
)
Email = Annotated[
    EmailStr,
    Field(max_length=320, json_schema_extra={"pattern": EMAIL_PATTERN}),
    AfterValidator(str.lower),
]
#: What Pydantic's ``strip_whitespace`` strips (Unicode White_Space), as a character class; a
#: ``\S`` would differ from it (JavaScript counts U+FEFF as a space, Python not U+0085).
NOT_WHITESPACE = r"[^\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
NewPassword = Annotated[
    str,
    Field(
        min_length=MIN_LENGTH,
        max_length=MAX_LENGTH,
        description=f"{MIN_LENGTH} to {MAX_LENGTH} characters.",
    ),
]
# Checking an existing password: any length up to the maximum (old rules may have differed).
Password = Annotated[str, Field(min_length=1, max_length=MAX_LENGTH)]
Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterRequest(Strict):
    email: Email
    username: Username
    password: NewPassword
    display_name: DisplayName


class VerifyEmailRequest(Strict):
    token: Secret


class LoginRequest(Strict):
    identifier: Annotated[
        str,
        StringConstraints(
            strip_whitespace=True, min_length=1, max_length=320, pattern=NOT_WHITESPACE
        ),
        NoNul,
        Field(description="Email address or username (not only white space)."),
    ]
    password: Password


class RefreshRequest(Strict):
    refresh_token: Secret


class TokenPair(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds until the access token expires.")
    refresh_token: str
    refresh_expires_in: int
    session_id: uuid.UUID


class ForgotPasswordRequest(Strict):
    email: Email


class ResetPasswordRequest(Strict):
    token: Secret
    new_password: NewPassword


class ChangePasswordRequest(Strict):
    current_password: Password
    new_password: NewPassword


class PasswordConfirmation(Strict):
    password: Password


class Accepted(BaseModel):
    detail: str


class SessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_agent: str
    ip_address: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    current: bool = False


class RevokedSessions(BaseModel):
    revoked: int


class AccountOut(BaseModel):
    id: uuid.UUID
    email: str
    email_verified: bool
    status: AccountStatus
    role: Role
    username: str
    display_name: str
    created_at: datetime
    last_login_at: datetime | None
    login_count: int


class ExportedSession(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    user_agent: str
    ip_address: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    revoked_at: datetime | None
    revoked_reason: str | None


class DataExport(BaseModel):
    """Everything Townsquare holds about me, in one document (PRODUCT.md §1)."""

    exported_at: datetime
    account: AccountOut
    profile: ProfileOut
    privacy: PrivacyOut
    settings: SettingsOut
    sessions: list[ExportedSession]


class AccountUpdate(Strict):
    """Changing the email needs the current password and a new verification."""

    email: Email
    current_password: Password


class DeletionScheduled(BaseModel):
    status: AccountStatus
    purge_after: datetime = Field(
        description="Personal data is purged after this time; logging in before it cancels."
    )


class AccountStatusChange(Strict):
    status: Literal[AccountStatus.ACTIVE, AccountStatus.SUSPENDED]
    reason: Annotated[str, StringConstraints(max_length=500), NoNul] | None = None
