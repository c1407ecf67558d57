"""Use cases of profiles, privacy and settings. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config import Settings
from townsquare.kit.cache import invalidate_after_commit, recall, remember, ttls_of
from townsquare.kit.errors import Conflict, NotFound, ValidationFailed
from townsquare.modules.profiles import policy, repository
from townsquare.modules.profiles.models import PrivacySettings, Profile, UserSettings
from townsquare.modules.profiles.schemas import PersonCard, ProfileStats, UserProfileOut


class UsernameTaken(Conflict):
    code = "username_taken"


class ProfileNotFound(NotFound):
    code = "profile_not_found"


#: Purged profiles get ``deleted_<id>``: nobody may claim such a name first and block the purge.
PURGED_USERNAME_PREFIX = "deleted_"


def check_username_allowed(username: str, settings: Settings) -> None:
    name = username.lower()
    reserved = {reserved.lower() for reserved in settings.reserved_usernames}
    if name in reserved or name.startswith(PURGED_USERNAME_PREFIX):
        raise ValidationFailed.on("body.username", "This username is reserved.", "reserved")


async def check_username_available(session: AsyncSession, username: str) -> None:
    if await repository.username_taken(session, username):
        raise UsernameTaken("This username is already taken.")


# --- cards: the little every list shows of a person (``PersonCard``, cached under ``user:{id}``)


def card_cache_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}"


def _card_of(profile: Profile) -> PersonCard:
    return PersonCard.model_validate(profile)


async def get_cards(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, PersonCard]:
    """Cards by user id: one cache round trip, then one query for those not cached. Hidden
    users are included (callers decide who is listed; visibility filters run in SQL)."""
    ids = list(set(user_ids))
    cached = await recall(session, (card_cache_key(user_id) for user_id in ids))
    cards = {
        user_id: PersonCard(user_id=user_id, **cached[card_cache_key(user_id)])
        for user_id in ids
        if card_cache_key(user_id) in cached
    }
    missing = [user_id for user_id in ids if user_id not in cards]
    if missing:
        found = await repository.get_profiles(session, missing)
        loaded = {user_id: _card_of(profile) for user_id, profile in found.items()}
        cards.update(loaded)
        await remember(
            session,
            {card_cache_key(card.user_id): _card_fields(card) for card in loaded.values()},
            ttls_of(session).profile,
        )
    return cards


def _card_fields(card: PersonCard) -> dict[str, Any]:
    return card.model_dump(exclude={"user_id"})


def forget_card(session: AsyncSession, user_id: uuid.UUID) -> None:
    """The card changed: drop its cached copy once the change commits."""
    invalidate_after_commit(session, card_cache_key(user_id))


async def create_profile(
    session: AsyncSession, user_id: uuid.UUID, username: str, display_name: str
) -> Profile:
    return repository.add_profile_with_defaults(session, user_id, username, display_name)


async def get_own_profile(session: AsyncSession, user_id: uuid.UUID) -> Profile:
    profile = await repository.get_profile(session, user_id)
    if profile is None:
        raise ProfileNotFound()
    return profile


def check_birth_date(birth_date: date | None) -> None:
    """From 1900-01-01 to today: a rule of the calendar the request's schema cannot state."""
    if birth_date is not None and not date(1900, 1, 1) <= birth_date <= date.today():
        raise ValidationFailed.on(
            "body.birth_date", "Must be a date between 1900-01-01 and today.", "out_of_range"
        )


async def update_own_profile(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any], settings: Settings
) -> Profile:
    check_birth_date(changes.get("birth_date"))
    profile = await get_own_profile(session, user_id)
    new_username = changes.get("username")
    if new_username is not None and new_username != profile.username:
        check_username_allowed(new_username, settings)
        await check_username_available(session, new_username)
    for field, value in changes.items():
        setattr(profile, field, value)
    try:
        await session.flush()
    except IntegrityError as exc:  # a concurrent request took the username first
        raise UsernameTaken("This username is already taken.") from exc
    forget_card(session, user_id)
    return profile


async def view_profile(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    username: str,
    *,
    load_email: Callable[[uuid.UUID], Awaitable[str | None]],
    relationship_of: Callable[[uuid.UUID | None, uuid.UUID], Awaitable[policy.Relationship]],
    load_stats: Callable[[uuid.UUID], Awaitable[ProfileStats]],
) -> UserProfileOut:
    """``username``'s profile with only what ``viewer_id`` may see; 404 if they may see nothing.

    The social graph, through the caller, supplies ``relationship_of(viewer_id, owner_id)``
    (friend, blocked...) and the owner's counts: profiles does not import it (no cycle).
    """
    found = await repository.get_profile_and_privacy_by_username(session, username)
    if found is None:
        raise ProfileNotFound()
    profile, privacy = found
    relationship = await relationship_of(viewer_id, profile.user_id)
    if not policy.may_find_profile(profile, relationship):
        raise ProfileNotFound()
    stats = await load_stats(profile.user_id)
    return await _visible_view(profile, privacy, relationship, stats, load_email)


async def _visible_view(
    profile: Profile,
    privacy: PrivacySettings,
    relationship: policy.Relationship,
    stats: ProfileStats,
    load_email: Callable[[uuid.UUID], Awaitable[str | None]],
) -> UserProfileOut:
    view = UserProfileOut(
        user_id=profile.user_id,
        username=profile.username,
        display_name=profile.display_name,
        avatar_url=profile.avatar_url,
        is_verified=profile.is_verified,
        account_type=profile.account_type,
        is_private=profile.is_private,
        restricted=not policy.may_see_full_profile(privacy, relationship),
        relationship=relationship.value,
        stats=stats,
    )
    if view.restricted:
        return view
    for field in ("first_name", "last_name", "bio", "cover_url", "gender", "location", "website"):
        setattr(view, field, getattr(profile, field))
    view.joined_at = profile.created_at
    if policy.may_see_field("phone", privacy, relationship):
        view.phone = profile.phone
    if policy.may_see_field("birth_date", privacy, relationship):
        view.birth_date = profile.birth_date
    if policy.may_see_field("email", privacy, relationship):
        view.email = await load_email(profile.user_id)
    return view


async def get_privacy(session: AsyncSession, user_id: uuid.UUID) -> PrivacySettings:
    privacy = await repository.get_privacy(session, user_id)
    if privacy is None:
        raise ProfileNotFound()
    return privacy


async def update_privacy(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any]
) -> PrivacySettings:
    privacy = await get_privacy(session, user_id)
    for field, value in changes.items():
        setattr(privacy, field, value)
    await session.flush()
    return privacy


async def get_settings(session: AsyncSession, user_id: uuid.UUID) -> UserSettings:
    user_settings = await repository.get_settings(session, user_id)
    if user_settings is None:
        raise ProfileNotFound()
    return user_settings


def _prefs_cache_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}:prefs"


async def _display_prefs(session: AsyncSession, user_id: uuid.UUID) -> dict[str, bool]:
    """The settings every list of posts consults (cached under ``user:{id}:prefs`` like the
    profile, invalidated when the settings change)."""
    key = _prefs_cache_key(user_id)
    cached = (await recall(session, [key])).get(key)
    if cached is not None:
        return {name: bool(value) for name, value in cached.items()}
    user_settings = await repository.get_settings(session, user_id)
    prefs = {
        "hide_metrics": user_settings is not None and user_settings.hide_metrics,
        "calm_mode": user_settings is not None and user_settings.calm_mode,
    }
    await remember(session, {key: prefs}, ttls_of(session).profile)
    return prefs


async def hides_metrics(session: AsyncSession, viewer_id: uuid.UUID | None) -> bool:
    """Whether the viewer asked not to see like and reaction counts, by ``hide_metrics`` or by
    calm mode (anonymous viewers: no)."""
    if viewer_id is None:
        return False
    prefs = await _display_prefs(session, viewer_id)
    return prefs["hide_metrics"] or prefs["calm_mode"]


async def prefers_calm(session: AsyncSession, viewer_id: uuid.UUID) -> bool:
    """Calm mode: chronological feeds, no metrics."""
    return (await _display_prefs(session, viewer_id))["calm_mode"]


async def update_settings(
    session: AsyncSession, user_id: uuid.UUID, changes: dict[str, Any]
) -> UserSettings:
    user_settings = await get_settings(session, user_id)
    for field, value in changes.items():
        setattr(user_settings, field, value)
    await session.flush()
    invalidate_after_commit(session, _prefs_cache_key(user_id))
    return user_settings


async def user_id_for_username(session: AsyncSession, username: str) -> uuid.UUID | None:
    return await repository.user_id_for_username(session, username)


async def hide_profile(session: AsyncSession, user_id: uuid.UUID) -> None:
    await repository.set_hidden(session, user_id, True)


async def show_profile(session: AsyncSession, user_id: uuid.UUID) -> None:
    await repository.set_hidden(session, user_id, False)


async def purge_profile(session: AsyncSession, user_id: uuid.UUID) -> None:
    # A placeholder unique to the user frees the old username for someone else.
    await repository.scrub_profile(session, user_id, f"{PURGED_USERNAME_PREFIX}{user_id.hex[:22]}")
    forget_card(session, user_id)
