"""Use cases of accounts: registration, sign-in sessions, passwords, account status.

Services flush and never commit: the request (or job) commits once at the edge. Emails leave
through domain events, so a rolled-back change never sends one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.auth import Role, SessionValidator, Viewer, issue_access_token
from townsquare.kit.cache import recall, remember, ttls_of
from townsquare.kit.db import UnitOfWork
from townsquare.kit.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    Unauthorized,
    ValidationFailed,
)
from townsquare.kit.events import record_event
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import PageRequest
from townsquare.kit.platform import Platform
from townsquare.kit.slow import read_apart, release
from townsquare.kit.web import ClientInfo
from townsquare.modules.accounts import events, repository
from townsquare.modules.accounts.models import (
    AccountStatus,
    AccountToken,
    AuthSession,
    RefreshToken,
    TokenPurpose,
    User,
)
from townsquare.modules.accounts.passwords import PasswordHasher, password_hasher
from townsquare.modules.accounts.schemas import (
    AccountOut,
    DataExport,
    ExportedSession,
    RegisterRequest,
    TokenPair,
)
from townsquare.modules.accounts.throttle import LoginThrottle, count_reset_email
from townsquare.modules.accounts.tokens import hash_secret, new_secret
from townsquare.modules.profiles import service as profiles
from townsquare.modules.profiles.schemas import PrivacyOut, ProfileOut, SettingsOut

# --- errors a client may meet (stable codes)


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidCredentials(Unauthorized):
    code = "invalid_credentials"


class AccountSuspended(Forbidden):
    code = "account_suspended"


class InvalidRefreshToken(Unauthorized):
    code = "invalid_refresh_token"


class RefreshTokenReused(Unauthorized):
    """A used refresh token came back: someone has a copy. The session is ended for good."""

    code = "refresh_token_reused"
    keep_changes = True


class InvalidEmailToken(BadRequest):
    code = "invalid_token"


class AlreadyVerified(Conflict):
    code = "email_already_verified"


class SessionNotFound(NotFound):
    code = "session_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


def hasher(platform: Platform) -> PasswordHasher:
    s = platform.settings
    return password_hasher(s.password_argon2_time_cost, s.password_argon2_memory_kib)


# --- registration and email verification


async def register(
    session: AsyncSession, platform: Platform, body: RegisterRequest, *, role: Role = Role.USER
) -> User:
    profiles.check_username_allowed(body.username, platform.settings)
    # Hash before the first query: on SQLite that query takes the database-wide write lock,
    # and argon2 is slow by design (tens of ms), so every other writer would wait for it.
    password_hash = await hasher(platform).hash(body.password)
    if await repository.email_taken(session, body.email):
        raise EmailTaken("An account with this email already exists.")
    await profiles.check_username_available(session, body.username)
    user = User(email=body.email, password_hash=password_hash, role=role)
    session.add(user)
    try:
        await session.flush()
        await profiles.create_profile(session, user.id, body.username, body.display_name)
        await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("This email or username was just taken.") from exc
    record_event(session, events.ACCOUNT_REGISTERED, events.registered(user, body.username))
    return user


async def verify_email(session: AsyncSession, token: str) -> None:
    now = utcnow()
    found = await repository.get_usable_token(
        session, hash_secret(token), TokenPurpose.VERIFY_EMAIL, now
    )
    user = await repository.get_user(session, found.user_id) if found else None
    if found is None or user is None or user.email != found.email:
        raise InvalidEmailToken("This verification link is invalid, used or expired.")
    user.email_verified_at = user.email_verified_at or now
    await repository.use_tokens(session, user.id, TokenPurpose.VERIFY_EMAIL, now)
    await repository.forget_cached_sessions(session, user.id)
    record_event(session, events.EMAIL_VERIFIED, {"user_id": str(user.id)})


async def request_verification_email(
    session: AsyncSession, platform: Platform, viewer: Viewer
) -> None:
    user = await _get_user(session, viewer.user_id)
    if user.email_verified:
        raise AlreadyVerified("Your email address is already verified.")
    await platform.limiter.hit(
        platform.settings.rate_limit_password_per_account, "verify-resend", str(user.id)
    )
    record_event(session, events.VERIFICATION_REQUESTED, {"user_id": str(user.id)})


async def issue_email_token(
    session: AsyncSession, user: User, purpose: TokenPurpose, ttl: timedelta
) -> str:
    """A fresh single-use token for ``user``'s current address; only its hash is kept."""
    secret, digest = new_secret()
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest,
            email=user.email,
            expires_at=utcnow() + ttl,
        )
    )
    await session.flush()
    return secret


# --- sign-in sessions


async def login(
    session: AsyncSession, platform: Platform, identifier: str, password: str, client: ClientInfo
) -> TokenPair:
    settings = platform.settings
    # argon2 and the failure delay are slow: the account is read apart, and the request's
    # session writes only once the password has proved right (kit.slow).
    found = await read_apart(
        platform.database, session, lambda reads: _credentials_for_login(reads, identifier)
    )
    throttle = LoginThrottle(
        platform, str(found.user_id) if found else "unknown:" + identifier.lower(), client.ip
    )
    await throttle.check()
    valid, upgraded_hash = await hasher(platform).verify(
        password, found.password_hash if found else None
    )
    if found is None or not valid:
        await throttle.failed()
        raise InvalidCredentials("Wrong email, username or password.")
    user = await repository.get_user_for_update(session, found.user_id)
    if user is None or user.password_hash != found.password_hash or _past_deletion_grace(user):
        # Changed since it was checked (a new password, a purge): the check proves nothing now.
        raise InvalidCredentials("Wrong email, username or password.")
    if user.status is AccountStatus.SUSPENDED:
        raise AccountSuspended(
            "This account is suspended."
            + (f" Reason: {user.status_reason}" if user.status_reason else "")
        )
    await throttle.succeeded()
    if upgraded_hash is not None:
        user.password_hash = upgraded_hash
    if user.status in (AccountStatus.DEACTIVATED, AccountStatus.DELETED):
        await _reactivate(session, user)
    now = utcnow()
    await repository.record_login(session, user.id, now)
    auth = AuthSession(
        user_id=user.id,
        user_agent=client.user_agent,
        ip_address=client.ip,
        created_at=now,
        last_used_at=now,
        expires_at=now + timedelta(days=settings.refresh_token_ttl_days),
    )
    session.add(auth)
    await session.flush()
    return await _issue_tokens(session, platform, user.id, auth)


@dataclass(frozen=True)
class _Credentials:
    """What a password check needs of an account, read apart from the writing unit of work."""

    user_id: uuid.UUID
    password_hash: str | None


async def _credentials_for_login(session: AsyncSession, identifier: str) -> _Credentials | None:
    user = await _find_user_for_login(session, identifier)
    if user is None or _past_deletion_grace(user):
        return None  # awaiting its purge: no longer restorable, so treated as unknown
    return _Credentials(user.id, user.password_hash)


async def _find_user_for_login(session: AsyncSession, identifier: str) -> User | None:
    if "@" in identifier:
        return await repository.get_user_by_email(session, identifier)
    user_id = await profiles.user_id_for_username(session, identifier)
    return await repository.get_user(session, user_id) if user_id else None


def _past_deletion_grace(user: User) -> bool:
    return (
        user.status is AccountStatus.DELETED
        and user.purge_after is not None
        and user.purge_after <= utcnow()
    )


async def _reactivate(session: AsyncSession, user: User) -> None:
    """Logging in undoes a deactivation, or a deletion still inside its grace period."""
    user.status = AccountStatus.ACTIVE
    user.deactivated_at = user.deleted_at = user.purge_after = None
    await profiles.show_profile(session, user.id)
    record_event(session, events.ACCOUNT_REACTIVATED, {"user_id": str(user.id)})


async def _issue_tokens(
    session: AsyncSession, platform: Platform, user_id: uuid.UUID, auth: AuthSession
) -> TokenPair:
    settings = platform.settings
    secret, digest = new_secret()
    session.add(RefreshToken(session_id=auth.id, token_hash=digest, expires_at=auth.expires_at))
    await session.flush()
    access_token, expires_in = issue_access_token(
        secret=settings.secret_key,
        user_id=user_id,
        session_id=auth.id,
        ttl=timedelta(minutes=settings.access_token_ttl_minutes),
    )
    return TokenPair(
        access_token=access_token,
        expires_in=expires_in,
        refresh_token=secret,
        refresh_expires_in=int((auth.expires_at - utcnow()).total_seconds()),
        session_id=auth.id,
    )


async def refresh(
    session: AsyncSession, platform: Platform, refresh_token: str, client: ClientInfo
) -> TokenPair:
    """Rotate: the presented token is spent and a new one issued. A spent one ends the session."""
    now = utcnow()
    found = await repository.get_refresh_token(session, hash_secret(refresh_token))
    if found is None:
        raise InvalidRefreshToken("Unknown refresh token.")
    token, auth = found
    if auth.revoked_at is not None or min(auth.expires_at, token.expires_at) <= now:
        raise InvalidRefreshToken("This session has ended; log in again.")
    if token.used_at is not None or not await repository.mark_refresh_token_used(
        session, token.id, now
    ):
        await repository.revoke_sessions(
            session, auth.user_id, now, "refresh_token_reuse", only=auth.id
        )
        record_event(
            session,
            events.REFRESH_TOKEN_REUSED,
            {"user_id": str(auth.user_id), "session_id": str(auth.id), "ip": client.ip},
        )
        raise RefreshTokenReused(
            "This refresh token was already used, so the session has been ended. Log in again."
        )
    user = await repository.get_user(session, auth.user_id)
    if user is None or user.status is not AccountStatus.ACTIVE:
        raise InvalidRefreshToken("This account cannot sign in.")
    auth.last_used_at, auth.ip_address, auth.user_agent = now, client.ip, client.user_agent
    auth.expires_at = now + timedelta(days=platform.settings.refresh_token_ttl_days)
    return await _issue_tokens(session, platform, user.id, auth)


async def logout(session: AsyncSession, viewer: Viewer) -> None:
    await repository.revoke_sessions(
        session, viewer.user_id, utcnow(), "logout", only=viewer.session_id
    )


async def list_sessions(
    session: AsyncSession, viewer: Viewer, page: PageRequest
) -> tuple[Sequence[AuthSession], str | None]:
    return await repository.list_live_sessions(session, viewer.user_id, utcnow(), page)


async def revoke_session(session: AsyncSession, viewer: Viewer, session_id: uuid.UUID) -> None:
    now = utcnow()
    if await repository.get_live_session_of_user(session, session_id, viewer.user_id, now) is None:
        raise SessionNotFound()
    await repository.revoke_sessions(session, viewer.user_id, now, "revoked", only=session_id)


async def revoke_other_sessions(session: AsyncSession, viewer: Viewer) -> int:
    return await repository.revoke_sessions(
        session, viewer.user_id, utcnow(), "revoked", keep=viewer.session_id
    )


def session_validator() -> SessionValidator:
    """The ``SessionValidator`` behind every authenticated request.

    The viewer facts are cached under ``session:{id}`` (seed 000: 24 h, never past the session's
    expiry); every write that ends a session or changes those facts invalidates the key.
    """

    async def viewer_for_session(
        uow: UnitOfWork, user_id: uuid.UUID, session_id: uuid.UUID
    ) -> Viewer | None:
        now = utcnow()
        key = repository.session_cache_key(session_id)
        cached = (await recall(uow.session, [key])).get(key)
        if cached and cached["user_id"] == str(user_id) and cached["expires_at"] > now.timestamp():
            return Viewer(
                user_id=user_id,
                session_id=session_id,
                role=Role(cached["role"]),
                email_verified=bool(cached["email_verified"]),
            )
        found = await repository.get_live_session_with_user(uow.session, session_id, user_id, now)
        if found is None:
            return None
        auth, user = found
        facts = {
            "user_id": str(user.id),
            "role": user.role.value,
            "email_verified": user.email_verified,
            "expires_at": auth.expires_at.timestamp(),
        }
        lifetime = int((auth.expires_at - now).total_seconds())
        ttl = min(ttls_of(uow.session).session, lifetime)
        if ttl > 0:
            await remember(uow.session, {key: facts}, ttl)
        return Viewer(
            user_id=user.id,
            session_id=session_id,
            role=user.role,
            email_verified=user.email_verified,
        )

    return viewer_for_session


# --- passwords


async def request_password_reset(
    session: AsyncSession, platform: Platform, email: str, client: ClientInfo
) -> None:
    """Same answer whether or not the address has an account; the email goes out after commit."""
    await count_reset_email(platform, email, client.ip)
    user = await repository.get_user_by_email(session, email)
    if user is not None and user.purged_at is None:
        record_event(session, events.PASSWORD_RESET_REQUESTED, {"user_id": str(user.id)})


async def reset_password(
    session: AsyncSession, platform: Platform, token: str, new_password: str
) -> None:
    now = utcnow()
    await release(session)
    password_hash = await hasher(platform).hash(new_password)  # before any write (kit.slow)
    found = await repository.get_usable_token(
        session, hash_secret(token), TokenPurpose.RESET_PASSWORD, now
    )
    user = await repository.get_user_for_update(session, found.user_id) if found else None
    if found is None or user is None or user.email != found.email:
        raise InvalidEmailToken("This reset link is invalid, used or expired.")
    user.password_hash = password_hash
    # The link reached the inbox, which proves the address as well as a verification would.
    user.email_verified_at = user.email_verified_at or now
    await repository.use_tokens(session, user.id, TokenPurpose.RESET_PASSWORD, now)
    await repository.revoke_sessions(session, user.id, now, "password_reset")
    record_event(session, events.PASSWORD_CHANGED, {"user_id": str(user.id), "via": "reset"})


async def change_password(
    session: AsyncSession, platform: Platform, viewer: Viewer, current: str, new: str
) -> None:
    checked = await _check_password(session, platform, viewer, current)
    new_hash = await hasher(platform).hash(new)  # still outside the writing unit of work
    user = await _get_user_as_checked(session, viewer, checked)
    user.password_hash = new_hash
    await repository.revoke_sessions(
        session, user.id, utcnow(), "password_changed", keep=viewer.session_id
    )
    record_event(session, events.PASSWORD_CHANGED, {"user_id": str(user.id), "via": "change"})


async def _get_user_checking_password(
    session: AsyncSession,
    platform: Platform,
    viewer: Viewer,
    password: str,
    field: str = "body.current_password",
) -> User:
    """The viewer's account, locked for the write that follows, once ``password`` proved right."""
    checked = await _check_password(session, platform, viewer, password, field)
    return await _get_user_as_checked(session, viewer, checked, field)


async def _check_password(
    session: AsyncSession,
    platform: Platform,
    viewer: Viewer,
    password: str,
    field: str = "body.current_password",
) -> _Credentials:
    """Check the viewer's password with no transaction open (argon2 is slow, ``kit.slow``)."""
    await platform.limiter.hit(
        platform.settings.rate_limit_password_per_account, "password-check", str(viewer.user_id)
    )
    found = await read_apart(
        platform.database, session, lambda reads: _credentials_of(reads, viewer.user_id)
    )
    if found is None:
        raise UserNotFound()
    valid, _ = await hasher(platform).verify(password, found.password_hash)
    if not valid:
        raise ValidationFailed.on(field, "The password is not correct.", "wrong_password")
    return found


async def _credentials_of(session: AsyncSession, user_id: uuid.UUID) -> _Credentials | None:
    user = await repository.get_user(session, user_id)
    return _Credentials(user.id, user.password_hash) if user else None


async def _get_user_as_checked(
    session: AsyncSession,
    viewer: Viewer,
    checked: _Credentials,
    field: str = "body.current_password",
) -> User:
    """The account re-read for update; if its password changed since the check, the check
    proved nothing, and the answer is the one a wrong password gets."""
    user = await repository.get_user_for_update(session, viewer.user_id)
    if user is None:
        raise UserNotFound()
    if user.password_hash != checked.password_hash:
        raise ValidationFailed.on(field, "The password is not correct.", "wrong_password")
    return user


async def _get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repository.get_user(session, user_id)
    if user is None:
        raise UserNotFound()
    return user


# --- my account


async def get_account(session: AsyncSession, viewer: Viewer) -> AccountOut:
    """One Core row of the account, and the names from the profile's card (cached, invalidated
    when the profile changes): on a warm cache one SQL statement."""
    user = await repository.get_account_facts(session, viewer.user_id)
    if user is None:
        raise UserNotFound()
    card = (await profiles.get_cards(session, [viewer.user_id])).get(viewer.user_id)
    if card is None:
        raise profiles.ProfileNotFound()
    return AccountOut(
        id=user.id,
        email=user.email,
        email_verified=user.email_verified_at is not None,
        status=user.status,
        role=user.role,
        username=card.username,
        display_name=card.display_name,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
        login_count=user.login_count,
    )


async def export_data(session: AsyncSession, viewer: Viewer) -> DataExport:
    """My account, profile, privacy, settings and sign-in history, as one document."""
    return DataExport(
        exported_at=utcnow(),
        account=await get_account(session, viewer),
        profile=ProfileOut.model_validate(await profiles.get_own_profile(session, viewer.user_id)),
        privacy=PrivacyOut.model_validate(await profiles.get_privacy(session, viewer.user_id)),
        settings=SettingsOut.model_validate(await profiles.get_settings(session, viewer.user_id)),
        sessions=[
            ExportedSession.model_validate(s)
            for s in await repository.list_all_sessions(session, viewer.user_id)
        ],
    )


async def change_email(
    session: AsyncSession, platform: Platform, viewer: Viewer, email: str, password: str
) -> AccountOut:
    user = await _get_user_checking_password(session, platform, viewer, password)
    if email != user.email:
        if await repository.email_taken(session, email):
            raise EmailTaken("An account with this email already exists.")
        user.email, user.email_verified_at = email, None
        try:
            await session.flush()
        except IntegrityError as exc:
            raise EmailTaken("An account with this email already exists.") from exc
        await repository.forget_cached_sessions(session, user.id)
        record_event(session, events.EMAIL_CHANGED, {"user_id": str(user.id)})
    return await get_account(session, viewer)


async def deactivate(
    session: AsyncSession, platform: Platform, viewer: Viewer, password: str
) -> None:
    """Hidden at once; logging in again reverses it."""
    user = await _get_user_checking_password(session, platform, viewer, password, "body.password")
    now = utcnow()
    user.status, user.deactivated_at = AccountStatus.DEACTIVATED, now
    await _withdraw(session, user, now, "deactivated")
    record_event(session, events.ACCOUNT_DEACTIVATED, {"user_id": str(user.id)})


async def schedule_deletion(
    session: AsyncSession, platform: Platform, viewer: Viewer, password: str
) -> User:
    """Hidden at once; personal data purged once the grace period is over."""
    user = await _get_user_checking_password(session, platform, viewer, password, "body.password")
    now = utcnow()
    user.status, user.deleted_at = AccountStatus.DELETED, now
    user.purge_after = now + timedelta(days=platform.settings.deletion_grace_days)
    await _withdraw(session, user, now, "deleted")
    record_event(
        session,
        events.ACCOUNT_DELETION_SCHEDULED,
        {"user_id": str(user.id), "purge_after": user.purge_after.isoformat()},
    )
    return user


async def _withdraw(session: AsyncSession, user: User, now: datetime, reason: str) -> None:
    await profiles.hide_profile(session, user.id)
    await repository.revoke_sessions(session, user.id, now, reason)


async def purge_due_accounts(session: AsyncSession, now: datetime, limit: int = 100) -> int:
    """Erase the personal data of deleted accounts whose grace period is over."""
    users = await repository.list_users_due_for_purge(session, now, limit)
    for user in users:
        user.email = f"deleted-{user.id.hex}@deleted.invalid"
        user.password_hash = None
        user.status_reason = None
        user.purged_at = now
        await repository.delete_credentials(session, user.id)
        await profiles.purge_profile(session, user.id)
        record_event(session, events.ACCOUNT_PURGED, {"user_id": str(user.id)})
    await session.flush()
    return len(users)


# --- staff


async def set_status(
    session: AsyncSession,
    staff: Viewer,
    user_id: uuid.UUID,
    status: AccountStatus,
    reason: str | None,
) -> User:
    """Suspend or reinstate an account. Moderators act on users; only admins on staff."""
    user = await repository.get_user_for_update(session, user_id)
    if user is None or user.purged_at is not None:
        raise UserNotFound()
    if user.id == staff.user_id:
        raise CannotModerate("You cannot change your own account's status.")
    if user.status is AccountStatus.DELETED:
        # Its owner asked for deletion: suspending would keep the data from being purged.
        raise CannotModerate("This account is being deleted.")
    if user.role is not Role.USER and staff.role is not Role.ADMIN:
        raise CannotModerate("Only admins may suspend moderators or admins.")
    now = utcnow()
    if status is AccountStatus.SUSPENDED and user.status is not AccountStatus.SUSPENDED:
        user.status, user.status_reason = AccountStatus.SUSPENDED, reason
        await _withdraw(session, user, now, "suspended")
        record_event(session, events.ACCOUNT_SUSPENDED, events.status_change(user, staff, reason))
    elif status is AccountStatus.ACTIVE and user.status is AccountStatus.SUSPENDED:
        user.status, user.status_reason = AccountStatus.ACTIVE, None
        await profiles.show_profile(session, user.id)
        record_event(session, events.ACCOUNT_REINSTATED, events.status_change(user, staff, reason))
    elif status is AccountStatus.ACTIVE and user.status is not AccountStatus.ACTIVE:
        raise CannotModerate("Only suspended accounts can be reinstated by staff.")
    await session.flush()
    return user


class CannotModerate(Forbidden):
    code = "cannot_moderate"
