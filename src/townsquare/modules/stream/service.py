"""Stream use cases: who a socket belongs to, presence (who sees it, what they see), typing."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.auth import InvalidToken, SessionValidator, Viewer, decode_access_token
from townsquare.kit.db import UnitOfWork
from townsquare.kit.errors import ValidationFailed
from townsquare.kit.platform import Platform
from townsquare.kit.realtime import purge_stream_events
from townsquare.modules.profiles import repository as profiles_repository
from townsquare.modules.social import service as social_service
from townsquare.modules.social.repository import relations_of
from townsquare.modules.stream import policy
from townsquare.modules.stream.schemas import PresenceList, PresenceOut

MAX_PRESENCE_USERNAMES = 100


async def authenticate(
    uow: UnitOfWork, validator: SessionValidator, secret: str, token: str
) -> Viewer:
    """The viewer behind an access token, with the same checks as every HTTP request."""
    user_id, session_id = decode_access_token(token, secret=secret)
    viewer = await validator(uow, user_id, session_id)
    if viewer is None:
        raise InvalidToken("The session has ended; log in again.")
    return viewer


# --- presence


async def presence_audience(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Who gets ``user_id``'s live presence events (``policy.may_see_presence``)."""
    shows = user_id in await profiles_repository.activity_status_shown(session, [user_id])
    if not shows:
        return []
    friends = await social_service.friend_ids(session, user_id)
    relations = await relations_of(session, user_id, friends)
    return [
        friend
        for friend, relation in relations.items()
        if not relation.blocked
        and policy.may_see_presence(
            friend, user_id, are_friends=relation.is_friend, shows_activity=shows
        )
    ]


async def list_presence(
    session: AsyncSession, platform: Platform, viewer_id: uuid.UUID, usernames: list[str]
) -> PresenceList:
    """Online / last seen of ``usernames``, shown only where the policy allows (constant
    number of queries and Redis round trips)."""
    names = list(dict.fromkeys(name.strip().lower() for name in usernames if name.strip()))
    if len(names) > MAX_PRESENCE_USERNAMES:
        raise ValidationFailed.on(
            "usernames", f"At most {MAX_PRESENCE_USERNAMES} usernames.", "too_long"
        )
    ids = await profiles_repository.user_ids_for_usernames(session, names)
    relations = await relations_of(session, viewer_id, ids.values())
    shows = await profiles_repository.activity_status_shown(session, ids.values())
    visible = [
        user_id
        for user_id in ids.values()
        if not (user_id in relations and relations[user_id].blocked)
        and policy.may_see_presence(
            viewer_id,
            user_id,
            are_friends=user_id in relations and relations[user_id].is_friend,
            shows_activity=user_id in shows,
        )
    ]
    online = await platform.presence.online(visible)
    last_seen = await platform.presence.last_seen([u for u in visible if u not in online])
    items: list[PresenceOut] = []
    for name in names:
        user_id = ids.get(name)
        if user_id is None:
            continue  # unknown or hidden: the same answer as a stranger's
        if user_id in relations and relations[user_id].blocked:
            continue  # blocks hide both ways: as if the account did not exist
        seen = user_id in visible
        items.append(
            PresenceOut(
                username=name,
                online=(user_id in online) if seen else None,
                last_seen_at=last_seen.get(user_id) if seen else None,
            )
        )
    return PresenceList(items=items)


async def announce_presence(
    platform: Platform, user_id: uuid.UUID, *, online: bool, last_seen_at: datetime | None
) -> None:
    """Tell the friends allowed to know that ``user_id`` came online or went offline."""
    async with platform.database.unit_of_work(read_only=True) as uow:
        audience = await presence_audience(uow.session, user_id)
    data = {
        "user_id": str(user_id),
        "online": online,
        "last_seen_at": last_seen_at.isoformat() if last_seen_at else None,
    }
    await platform.hub.send_ephemeral(audience, "presence", data)


# --- typing


async def announce_typing(
    platform: Platform, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """Send ``typing`` to the conversation's other active members (the messaging module
    decides who they are; a non-member gets its NotFound)."""
    from townsquare.modules.messaging.service import typing_recipients

    async with platform.database.unit_of_work(read_only=True) as uow:
        recipients = await typing_recipients(uow.session, user_id, conversation_id)
    data = {"conversation_id": str(conversation_id), "user_id": str(user_id)}
    await platform.hub.send_ephemeral(recipients, "typing", data)


# --- retention


async def purge_old_events(platform: Platform) -> None:
    """Periodic job: drop stream events past ``stream_retention_hours``."""
    await purge_stream_events(platform.database, platform.settings.stream_retention_hours)
