"""Accounts own credentials, status and sign-in sessions (the public face is in ``profiles``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.auth import Role
from townsquare.kit.models import Base, IdMixin, StrEnumType, TimestampMixin, utcnow


class AccountStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DEACTIVATED = "deactivated"
    DELETED = "deleted"


class TokenPurpose(StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "users"

    #: Stored lower-cased, so uniqueness is case-insensitive on every database.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    #: Null once the account's personal data has been purged.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email_verified_at: Mapped[datetime | None]
    status: Mapped[AccountStatus] = mapped_column(
        StrEnumType(AccountStatus, 20),
        default=AccountStatus.ACTIVE,
        server_default=AccountStatus.ACTIVE.value,
    )
    role: Mapped[Role] = mapped_column(
        StrEnumType(Role, 20), default=Role.USER, server_default=Role.USER.value
    )
    status_reason: Mapped[str | None] = mapped_column(String(500))
    last_login_at: Mapped[datetime | None]
    login_count: Mapped[int] = mapped_column(default=0, server_default="0")
    deactivated_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    purge_after: Mapped[datetime | None]
    purged_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("status", AccountStatus), name="status"),
        CheckConstraint(_in("role", Role), name="role"),
        CheckConstraint("login_count >= 0", name="login_count_non_negative"),
        Index(
            "ix_users_purge_due",
            "purge_after",
            postgresql_where=text("purged_at IS NULL AND purge_after IS NOT NULL"),
            sqlite_where=text("purged_at IS NULL AND purge_after IS NOT NULL"),
        ),
    )

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None


class AuthSession(IdMixin, Base):
    """A signed-in device: what refresh tokens belong to and what 'log out' ends."""

    __tablename__ = "auth_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    user_agent: Mapped[str] = mapped_column(String(500), default="")
    ip_address: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(String(50))

    __table_args__ = (Index("ix_auth_sessions_user_id_id", "user_id", "id"),)


class RefreshToken(IdMixin, Base):
    """One link in a session's rotation chain; only its SHA-256 is stored."""

    __tablename__ = "refresh_tokens"

    session_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AccountToken(IdMixin, Base):
    """Single-use, expiring email tokens (verification and password reset), stored hashed."""

    __tablename__ = "account_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(StrEnumType(TokenPurpose, 20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The address the token was sent to: verifying proves ownership of that address only.
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint(_in("purpose", TokenPurpose), name="purpose"),
        Index("ix_account_tokens_user_id_purpose", "user_id", "purpose"),
    )
