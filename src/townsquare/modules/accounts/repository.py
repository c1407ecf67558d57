"""All SQL of the accounts module."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.auth import Role
from townsquare.kit.cache import invalidate_after_commit
from townsquare.kit.pagination import PageRequest, paginate_by_id
from townsquare.modules.accounts.models import (
    AccountStatus,
    AccountToken,
    AuthSession,
    RefreshToken,
    TokenPurpose,
    User,
)


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


AccountFacts: TypeAlias = (
    "Row[uuid.UUID, str, datetime | None, AccountStatus, Role, datetime, datetime | None, int]"
)
#: ``GET /me``'s columns, built once over a bind parameter (a Core row: no ORM identity map).
_ACCOUNT_FACTS = select(
    User.id,
    User.email,
    User.email_verified_at,
    User.status,
    User.role,
    User.created_at,
    User.last_login_at,
    User.login_count,
).where(User.id == bindparam("user_id"))


async def get_account_facts(session: AsyncSession, user_id: uuid.UUID) -> AccountFacts | None:
    """The account's own fields (``AccountOut`` less the profile's names), one Core row."""
    return (await session.execute(_ACCOUNT_FACTS, {"user_id": user_id})).first()


async def get_user_for_update(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id, with_for_update=True, populate_existing=True)


async def get_user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def email_taken(session: AsyncSession, email: str) -> bool:
    return await session.scalar(select(User.id).where(User.email == email.lower())) is not None


async def get_email(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    return await session.scalar(select(User.email).where(User.id == user_id))


async def record_login(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> None:
    """Counted in SQL, so concurrent logins never lose an increment."""
    await session.execute(
        update(User)
        .where(User.id == user_id)
        .values(last_login_at=at, login_count=User.login_count + 1)
    )


async def get_live_session_with_user(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> tuple[AuthSession, User] | None:
    row = (
        await session.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(
                AuthSession.id == session_id,
                AuthSession.user_id == user_id,
                AuthSession.revoked_at.is_(None),
                AuthSession.expires_at > now,
                User.status == AccountStatus.ACTIVE,
            )
        )
    ).first()
    return (row[0], row[1]) if row else None


async def get_refresh_token(
    session: AsyncSession, token_hash: str
) -> tuple[RefreshToken, AuthSession] | None:
    row = (
        await session.execute(
            select(RefreshToken, AuthSession)
            .join(AuthSession, AuthSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == token_hash)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def mark_refresh_token_used(session: AsyncSession, token_id: uuid.UUID, at: datetime) -> bool:
    """Claims the token; False if another request already used it (a replay, or a race)."""
    result = await session.execute(
        update(RefreshToken)
        .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
        .values(used_at=at)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_live_sessions(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, page: PageRequest
) -> tuple[Sequence[AuthSession], str | None]:
    statement = select(AuthSession).where(
        AuthSession.user_id == user_id,
        AuthSession.revoked_at.is_(None),
        AuthSession.expires_at > now,
    )
    return await paginate_by_id(session, statement, AuthSession.id, page)


async def list_all_sessions(session: AsyncSession, user_id: uuid.UUID) -> Sequence[AuthSession]:
    """Every session the user ever had, live or ended (for the data export)."""
    return (
        await session.scalars(
            select(AuthSession).where(AuthSession.user_id == user_id).order_by(AuthSession.id)
        )
    ).all()


async def get_live_session_of_user(
    session: AsyncSession, session_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> AuthSession | None:
    return await session.scalar(
        select(AuthSession).where(
            AuthSession.id == session_id,
            AuthSession.user_id == user_id,
            AuthSession.revoked_at.is_(None),
            AuthSession.expires_at > now,
        )
    )


async def revoke_sessions(
    session: AsyncSession,
    user_id: uuid.UUID,
    at: datetime,
    reason: str,
    *,
    only: uuid.UUID | None = None,
    keep: uuid.UUID | None = None,
) -> int:
    """Revoke the user's live sessions (just ``only``, or all but ``keep``); returns how many."""
    statement = update(AuthSession).where(
        AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
    )
    if only is not None:
        statement = statement.where(AuthSession.id == only)
    if keep is not None:
        statement = statement.where(AuthSession.id != keep)
    revoked = list(
        await session.scalars(
            statement.values(revoked_at=at, revoked_reason=reason).returning(AuthSession.id)
        )
    )
    invalidate_after_commit(session, *(session_cache_key(session_id) for session_id in revoked))
    return len(revoked)


def session_cache_key(session_id: uuid.UUID) -> str:
    return f"session:{session_id}"


async def forget_cached_sessions(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Drop the cached copies of the user's sessions (their viewer facts changed)."""
    ids = await session.scalars(
        select(AuthSession.id).where(
            AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None)
        )
    )
    invalidate_after_commit(session, *(session_cache_key(session_id) for session_id in ids))


async def get_usable_token(
    session: AsyncSession, token_hash: str, purpose: TokenPurpose, now: datetime
) -> AccountToken | None:
    return await session.scalar(
        select(AccountToken).where(
            AccountToken.token_hash == token_hash,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
            AccountToken.expires_at > now,
        )
    )


async def use_tokens(
    session: AsyncSession, user_id: uuid.UUID, purpose: TokenPurpose, at: datetime
) -> None:
    """Spend every open token of ``purpose`` for the user: one success ends them all."""
    await session.execute(
        update(AccountToken)
        .where(
            AccountToken.user_id == user_id,
            AccountToken.purpose == purpose,
            AccountToken.used_at.is_(None),
        )
        .values(used_at=at)
    )


async def list_users_due_for_purge(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[User]:
    return (
        await session.scalars(
            select(User)
            .where(
                User.status == AccountStatus.DELETED,
                User.purged_at.is_(None),
                User.purge_after.is_not(None),
                User.purge_after <= now,
            )
            .order_by(User.purge_after)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()


async def delete_credentials(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Sessions, refresh tokens (by cascade) and email tokens of a purged account."""
    await session.execute(delete(AuthSession).where(AuthSession.user_id == user_id))
    await session.execute(delete(AccountToken).where(AccountToken.user_id == user_id))
