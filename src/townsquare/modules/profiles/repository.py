"""All SQL of the profiles module."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from townsquare.modules.profiles.models import (
    MessagePermission,
    PrivacySettings,
    Profile,
    UserSettings,
)

UserColumn = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]


def add_profile_with_defaults(
    session: AsyncSession, user_id: uuid.UUID, username: str, display_name: str
) -> Profile:
    profile = Profile(user_id=user_id, username=username, display_name=display_name)
    session.add_all([profile, PrivacySettings(user_id=user_id), UserSettings(user_id=user_id)])
    return profile


async def get_profile(session: AsyncSession, user_id: uuid.UUID) -> Profile | None:
    return await session.get(Profile, user_id)


# Statements on every message sent and every notification made, built once over bind
# parameters: building and cache-keying one costs more than PostgreSQL takes to run it.
_PROFILE_BY_USERNAME = select(Profile).where(Profile.username == bindparam("username"))
_PROFILE_AND_MESSAGE_PERMISSION_BY_USERNAME = (
    select(Profile, UserSettings.allow_messages_from)
    .outerjoin(UserSettings, UserSettings.user_id == Profile.user_id)
    .where(Profile.username == bindparam("username"))
)
_MESSAGE_PERMISSIONS = select(UserSettings.user_id, UserSettings.allow_messages_from).where(
    UserSettings.user_id.in_(bindparam("user_ids", expanding=True))
)
_SETTINGS_OF = select(UserSettings).where(
    UserSettings.user_id.in_(bindparam("user_ids", expanding=True))
)


async def get_profile_by_username(session: AsyncSession, username: str) -> Profile | None:
    return await session.scalar(_PROFILE_BY_USERNAME, {"username": username.lower()})


async def get_profile_and_message_permission_by_username(
    session: AsyncSession, username: str
) -> tuple[Profile, MessagePermission] | None:
    """``get_profile_by_username`` and that user's ``message_permissions`` in one query (a
    direct message needs both)."""
    row = (
        await session.execute(
            _PROFILE_AND_MESSAGE_PERMISSION_BY_USERNAME, {"username": username.lower()}
        )
    ).first()
    if row is None:
        return None
    profile, permission = row
    return profile, permission or MessagePermission.EVERYONE


async def get_profile_and_privacy_by_username(
    session: AsyncSession, username: str
) -> tuple[Profile, PrivacySettings] | None:
    row = (
        await session.execute(_PROFILE_AND_PRIVACY_BY_USERNAME, {"username": username.lower()})
    ).first()
    return (row[0], row[1]) if row else None


#: ``GET /users/{username}``'s statement, built once over a bind parameter.
_PROFILE_AND_PRIVACY_BY_USERNAME = (
    select(Profile, PrivacySettings)
    .join(PrivacySettings, PrivacySettings.user_id == Profile.user_id)
    .where(Profile.username == bindparam("username"))
)


async def user_id_for_username(session: AsyncSession, username: str) -> uuid.UUID | None:
    return await session.scalar(select(Profile.user_id).where(Profile.username == username.lower()))


async def username_taken(session: AsyncSession, username: str) -> bool:
    return await user_id_for_username(session, username) is not None


async def get_privacy(session: AsyncSession, user_id: uuid.UUID) -> PrivacySettings | None:
    return await session.get(PrivacySettings, user_id)


async def get_settings(session: AsyncSession, user_id: uuid.UUID) -> UserSettings | None:
    return await session.get(UserSettings, user_id)


async def set_hidden(session: AsyncSession, user_id: uuid.UUID, hidden: bool) -> None:
    await session.execute(
        update(Profile).where(Profile.user_id == user_id).values(is_hidden=hidden)
    )


async def scrub_profile(session: AsyncSession, user_id: uuid.UUID, username: str) -> None:
    """Erase every personal field; the row stays so references keep pointing somewhere."""
    personal: dict[str, Any] = {
        column: None
        for column in (
            "first_name",
            "last_name",
            "bio",
            "avatar_url",
            "cover_url",
            "birth_date",
            "gender",
            "phone",
            "location",
            "website",
        )
    }
    await session.execute(
        update(Profile)
        .where(Profile.user_id == user_id)
        .values(**personal, username=username, display_name="Deleted user", is_hidden=True)
    )


def hidden_clause(user: UserColumn) -> ColumnElement[bool]:
    """The user's profile is hidden (account deactivated, deleted or suspended)."""
    return exists().where(Profile.user_id == user, Profile.is_hidden.is_(True))


def private_clause(user: UserColumn) -> ColumnElement[bool]:
    """The user has a private account (approves followers; public posts need a follow)."""
    return exists().where(Profile.user_id == user, Profile.is_private.is_(True))


async def get_profiles(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Profile]:
    """Profiles by user id, in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Profile).where(Profile.user_id.in_(ids)))
    return {profile.user_id: profile for profile in rows}


async def user_ids_for_usernames(
    session: AsyncSession, usernames: Iterable[str]
) -> dict[str, uuid.UUID]:
    """User ids by (lower-case) username, in one query; unknown and hidden users left out."""
    names = list({name.lower() for name in usernames})
    if not names:
        return {}
    rows = await session.execute(
        select(Profile.username, Profile.user_id).where(
            Profile.username.in_(names), Profile.is_hidden.is_(False)
        )
    )
    return {username: user_id for username, user_id in rows}


async def message_permissions(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, MessagePermission]:
    """Each user's ``allow_messages_from`` (who may message them), in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(_MESSAGE_PERMISSIONS, {"user_ids": ids})
    return {user_id: permission for user_id, permission in rows}


async def settings_of(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, UserSettings]:
    """Each user's account settings, in one query."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.scalars(_SETTINGS_OF, {"user_ids": ids})
    return {row.user_id: row for row in rows}


async def activity_status_shown(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Those of ``user_ids`` whose ``show_activity_status`` is on (one query; for presence)."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    rows = await session.scalars(
        select(UserSettings.user_id).where(
            UserSettings.user_id.in_(ids), UserSettings.show_activity_status.is_(True)
        )
    )
    return set(rows)
