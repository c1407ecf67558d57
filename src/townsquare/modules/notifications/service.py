"""Use cases of notifications. Services flush; the edge (request or event handler) commits.

``notify`` is the one way a notification is made: it applies ``policy.may_notify``, inserts
exactly once per (recipient, source event, type), and after that insert — in the same
transaction — invalidates the unread count, publishes ``notification.created`` to the
recipient's stream, and (for instant email) records ``notification.email_requested`` so the
mail goes out in its own job.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config import Settings
from townsquare.kit.auth import Role, Viewer
from townsquare.kit.cache import invalidate_after_commit, recall, remember
from townsquare.kit.errors import Forbidden, NotFound, ValidationFailed
from townsquare.kit.events import record_event
from townsquare.kit.mail import Mail
from townsquare.kit.models import new_id, utcnow
from townsquare.kit.pagination import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    malformed_cursor,
)
from townsquare.kit.realtime import publish_to_users
from townsquare.modules.accounts import repository as accounts
from townsquare.modules.accounts.models import AccountStatus
from townsquare.modules.messaging import repository as messaging
from townsquare.modules.notifications import emails, policy, repository
from townsquare.modules.notifications.events import EMAIL_REQUESTED
from townsquare.modules.notifications.models import (
    Channel,
    Frequency,
    Notification,
    NotificationPreference,
    NotificationType,
    Priority,
    TargetType,
)
from townsquare.modules.notifications.repository import ListFilter, unread_cache_key
from townsquare.modules.notifications.schemas import (
    NotificationGroupOut,
    NotificationOut,
    PreferenceIn,
    PreferenceOut,
    PreferencesOut,
    ReadAllOut,
    SystemNotificationIn,
    TargetOut,
    UnreadCountOut,
)
from townsquare.modules.posts import repository as posts
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.profiles import service as profiles_service
from townsquare.modules.profiles.models import UserSettings
from townsquare.modules.profiles.schemas import PersonCard
from townsquare.modules.social import repository as social

#: What the recipient's live stream receives.
STREAM_EVENT = "notification.created"
#: Actors shown per group.
GROUP_ACTORS = 3
#: Notifications one digest mail lists at most (the rest wait for the next one).
DIGEST_MAX_ITEMS = 200


class NotificationNotFound(NotFound):
    code = "notification_not_found"


class RecipientNotFound(NotFound):
    code = "user_not_found"


class AdminOnly(Forbidden):
    code = "admin_only"


# --- creating


@dataclass(frozen=True)
class Notice:
    """What a handler wants to tell one recipient."""

    recipient_id: uuid.UUID
    actor_id: uuid.UUID | None
    type: NotificationType
    #: Follows the actor's name: "reacted to your post" -> "Ann reacted to your post".
    verb: str
    target_type: TargetType | None = None
    target_id: uuid.UUID | None = None
    #: The post whose visibility governs the notification (see ``policy``).
    post_id: uuid.UUID | None = None
    message: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    action_url: str | None = None
    priority: Priority = Priority.NORMAL
    #: Grouping key; None keeps the notification in a group of its own.
    group: str | None = None
    #: The title, when it is not "<actor> <verb>" (system notifications).
    title: str | None = None


async def notify(
    session: AsyncSession, source_event_id: uuid.UUID, notice: Notice, now: datetime | None = None
) -> Notification | None:
    """Create one notification if the policy allows; None if refused or already made."""
    made = await notify_events(session, [(source_event_id, notice)], now)
    return made[0] if made else None


async def notify_events(
    session: AsyncSession,
    sourced: Sequence[tuple[uuid.UUID, Notice]],
    now: datetime | None = None,
    *,
    batched_email_delay: timedelta = timedelta(0),
) -> list[Notification]:
    """Create the notifications the policy allows, at most once per (recipient, event, type);
    each notice comes with the id of the event it is about (a job may carry many events).

    The facts the policy needs are read for all recipients at once, so one event costs the same
    few queries whether it tells one person or a 250-member group (and many events share the
    preference, profile and insert statements). Each new notification is published to its
    recipient's stream, clears their unread count, and (instant email) asks for its mail in a
    job of its own; a chat message's mail waits ``batched_email_delay`` and takes along what
    else its conversation brings meanwhile (``_request_instant_emails``).
    """
    now = now or utcnow()
    sourced = [(e, n) for e, n in sourced if n.actor_id != n.recipient_id]
    stored = await repository.stored_preferences_for(
        session, [(n.recipient_id, n.type) for _, n in sourced]
    )
    sourced = [
        (e, n)
        for e, n in sourced
        if _enabled(stored.get((n.recipient_id, n.type), {}), n.type, Channel.IN_APP)
    ]
    if not sourced:
        return []
    facts = await _recipient_facts(session, [n for _, n in sourced], now)
    allowed = [
        (e, n) for e, n in sourced if policy.may_notify(n.recipient_id, n.actor_id, facts[_key(n)])
    ]
    if not allowed:
        return []
    cards = await profiles_service.get_cards(
        session, {n.actor_id for _, n in allowed if n.actor_id}
    )
    accounts = await profiles.settings_of(session, {n.recipient_id for _, n in allowed})
    # The events of one job keep their order in time (lists sort by it, ties by group key):
    # each event's notifications are a microsecond after the previous event's.
    order = dict.fromkeys(event_id for event_id, _ in allowed)
    created = {event_id: now + timedelta(microseconds=i) for i, event_id in enumerate(order)}
    rows = [
        _row(
            notice,
            event_id,
            cards.get(notice.actor_id) if notice.actor_id else None,
            _email_frequency(
                stored.get((notice.recipient_id, notice.type), {}),
                notice.type,
                accounts.get(notice.recipient_id),
            ),
            created[event_id],
        )
        for event_id, notice in allowed
    ]
    inserted = await repository.insert_notifications(session, rows)
    made = [Notification(**row) for row in rows if row["id"] in inserted]
    for notification in made:
        invalidate_after_commit(session, unread_cache_key(notification.recipient_id))
        card = cards.get(notification.actor_id) if notification.actor_id else None
        out = _out(notification, card).model_dump(mode="json")
        await publish_to_users(session, [notification.recipient_id], STREAM_EVENT, out)
    await _request_instant_emails(session, made, batched_email_delay, now)
    return made


async def _request_instant_emails(
    session: AsyncSession, made: Sequence[Notification], batch_delay: timedelta, now: datetime
) -> None:
    """One email job per new instant notification, except for chat messages
    (``policy.BATCHED_EMAIL_TYPES``): their job waits ``batch_delay`` and then mails every
    message of the conversation still unread (``batched_email``), so only the first
    notification of a conversation in that window asks for one. (Two concurrent first ones
    both ask; the second job finds nothing left to send.)"""
    instant = [n for n in made if n.email_frequency is Frequency.INSTANT]
    batched = [n for n in instant if n.type in policy.BATCHED_EMAIL_TYPES]
    waiting: set[tuple[uuid.UUID, str]] = set()
    if batched and batch_delay:
        waiting = await repository.groups_awaiting_email(
            session,
            [(n.recipient_id, n.group_key) for n in batched],
            since=now - batch_delay,
            excluding=[n.id for n in batched],
        )
    for notification in instant:
        delay = None
        if notification.type in policy.BATCHED_EMAIL_TYPES:
            group = (notification.recipient_id, notification.group_key)
            if group in waiting:
                continue
            if batch_delay:
                waiting.add(group)  # a later message of the conversation in this job rides along
            delay = batch_delay
        payload = {"notification_id": str(notification.id)}
        record_event(session, EMAIL_REQUESTED, payload, delay=delay)


_FactsKey = tuple[uuid.UUID, uuid.UUID | None, uuid.UUID | None, uuid.UUID | None]


def _key(notice: Notice) -> _FactsKey:
    chat = _chat_message(notice.target_type, notice.target_id, notice.data)
    return notice.recipient_id, notice.actor_id, notice.post_id, chat[1] if chat else None


def _chat_message(
    target_type: TargetType | None, target_id: uuid.UUID | None, data: dict[str, Any] | None
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """(conversation, message) of a notice or notification about a chat message."""
    message_id = (data or {}).get("message_id")
    if target_type is not TargetType.CONVERSATION or target_id is None or not message_id:
        return None
    return target_id, uuid.UUID(message_id)


async def _recipient_facts(
    session: AsyncSession, notices: Sequence[Notice], now: datetime
) -> dict[_FactsKey, policy.RecipientFacts]:
    """What ``policy.may_notify`` needs for each notice: a query per distinct actor (mutes and
    blocks of all recipients, whether the actor is hidden), per distinct post (who of the
    recipients may see it) and per conversation (how far the recipients have read); an event
    usually has one of each."""
    by_actor: dict[uuid.UUID, set[uuid.UUID]] = {}
    by_post: dict[uuid.UUID, set[uuid.UUID]] = {}
    by_conversation: dict[uuid.UUID, set[uuid.UUID]] = {}
    for n in notices:
        if n.actor_id is not None:
            by_actor.setdefault(n.actor_id, set()).add(n.recipient_id)
        if n.post_id is not None:
            by_post.setdefault(n.post_id, set()).add(n.recipient_id)
        if (chat := _chat_message(n.target_type, n.target_id, n.data)) is not None:
            by_conversation.setdefault(chat[0], set()).add(n.recipient_id)
    muted: dict[uuid.UUID, set[uuid.UUID]] = {}
    blocked: dict[uuid.UUID, set[uuid.UUID]] = {}
    hidden: set[uuid.UUID] = set()
    for actor, recipients in by_actor.items():
        muted[actor], blocked[actor] = await social.muting_or_blocked_with(
            session, actor, recipients
        )
        profile = await profiles.get_profile(session, actor)
        if profile is not None and profile.is_hidden:
            hidden.add(actor)
    may_see = {
        post_id: await posts.viewers_who_may_see(session, post_id, recipients, now)
        for post_id, recipients in by_post.items()
    }
    read_up_to = {
        conversation_id: await messaging.read_watermarks(session, conversation_id, recipients)
        for conversation_id, recipients in by_conversation.items()
    }
    return {
        _key(n): policy.RecipientFacts(
            muted_actor=n.actor_id is not None and n.recipient_id in muted[n.actor_id],
            blocked_either_way=n.actor_id is not None and n.recipient_id in blocked[n.actor_id],
            actor_hidden=n.actor_id in hidden,
            may_see_post=None if n.post_id is None else n.recipient_id in may_see[n.post_id],
            in_app_enabled=True,  # filtered before the facts were read
            message_read=_message_read(
                _chat_message(n.target_type, n.target_id, n.data), n.recipient_id, read_up_to
            ),
        )
        for n in notices
    }


def _message_read(
    chat: tuple[uuid.UUID, uuid.UUID] | None,
    reader_id: uuid.UUID,
    read_up_to: dict[uuid.UUID, dict[uuid.UUID, uuid.UUID]],
) -> bool:
    """Whether ``reader_id`` has read the chat message (their conversation's read watermark
    is at or past it: message ids are time-ordered)."""
    if chat is None:
        return False
    conversation_id, message_id = chat
    watermark = read_up_to.get(conversation_id, {}).get(reader_id)
    return watermark is not None and message_id <= watermark


def _row(
    notice: Notice,
    source_event_id: uuid.UUID,
    card: PersonCard | None,
    email_frequency: Frequency | None,
    now: datetime,
) -> dict[str, Any]:
    notification_id = new_id()
    title = notice.title or f"{card.display_name if card else 'Someone'} {notice.verb}"
    return {
        "id": notification_id,
        "recipient_id": notice.recipient_id,
        "actor_id": notice.actor_id,
        "type": notice.type,
        "target_type": notice.target_type,
        "target_id": notice.target_id,
        "post_id": notice.post_id,
        "title": title[:200],
        "message": notice.message,
        "data": {**notice.data, "verb": notice.verb},
        "action_url": notice.action_url,
        "priority": notice.priority,
        "group_key": notice.group or f"{notice.type.value}:{notification_id}",
        "source_event_id": source_event_id,
        "email_frequency": email_frequency,
        "created_at": now,
    }


def _enabled(
    stored: dict[Channel, NotificationPreference], type_: NotificationType, channel: Channel
) -> bool:
    row = stored.get(channel)
    return row.enabled if row is not None else policy.default_enabled(type_, channel)


def _email_frequency(
    stored: dict[Channel, NotificationPreference],
    type_: NotificationType,
    account: UserSettings | None,
) -> Frequency | None:
    """How (and whether) this notification will be emailed, from the type's email preference
    and the account's master switch and default frequency."""
    if not _enabled(stored, type_, Channel.EMAIL):
        return None
    if account is not None and not account.email_notifications:
        return None
    row = stored.get(Channel.EMAIL)
    if row is not None and row.frequency is not None:
        return row.frequency
    return Frequency(account.notification_frequency.value) if account else Frequency.INSTANT


async def remove_about_target(session: AsyncSession, target_id: uuid.UUID) -> None:
    """The target is gone (a deleted comment): its notifications go too."""
    for recipient in await repository.delete_about_target(session, target_id):
        invalidate_after_commit(session, unread_cache_key(recipient))


async def remove_about_post(session: AsyncSession, post_id: uuid.UUID) -> None:
    """The post is deleted: every notification about it goes, the shares of it included."""
    for recipient in await repository.delete_about_post(session, post_id):
        invalidate_after_commit(session, unread_cache_key(recipient))


async def conversation_read(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation_id: uuid.UUID,
    up_to_message_id: uuid.UUID,
) -> None:
    """The user read the conversation up to a message: its message and mention notifications
    up to there are read too (the chat was seen; the bell should not say otherwise)."""
    marked = await repository.mark_conversation_read(
        session, user_id, conversation_id, up_to_message_id, utcnow()
    )
    if marked:
        invalidate_after_commit(session, unread_cache_key(user_id))


def forget_unread_counts(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None:
    """What a viewer may see changed (a block): recount their unread notifications."""
    invalidate_after_commit(session, *(unread_cache_key(user_id) for user_id in user_ids))


async def send_system_notification(
    session: AsyncSession, staff: Viewer, body: SystemNotificationIn
) -> NotificationOut:
    if staff.role is not Role.ADMIN:
        raise AdminOnly("Only admins send system notifications.")
    user = await accounts.get_user(session, body.user_id)
    if user is None or user.purged_at is not None:
        raise RecipientNotFound()
    notice = Notice(
        recipient_id=body.user_id,
        actor_id=None,
        type=NotificationType.SYSTEM,
        verb="",
        title=body.title,
        message=body.message,
        action_url=body.action_url,
        priority=body.priority,
        data={"sent_by": str(staff.user_id)},
    )
    # The request is the source: a fresh id, so each admin call makes one notification.
    notification = await notify(session, new_id(), notice)
    assert notification is not None  # system notifications cannot be turned off in-app
    return _out(notification, None)


# --- reading


def _out(notification: Notification, actor: PersonCard | None) -> NotificationOut:
    target = (
        TargetOut(type=notification.target_type, id=notification.target_id)
        if notification.target_type is not None and notification.target_id is not None
        else None
    )
    data = {k: v for k, v in (notification.data or {}).items() if k != "verb"}
    return NotificationOut(
        id=notification.id,
        type=notification.type,
        actor=actor,
        target=target,
        title=notification.title,
        message=notification.message,
        data=data,
        action_url=notification.action_url,
        priority=notification.priority,
        group_key=notification.group_key,
        read=notification.read_at is not None,
        read_at=notification.read_at,
        created_at=notification.created_at,
    )


async def list_notifications(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest, only: ListFilter
) -> Page[NotificationOut]:
    items, cursor = await repository.list_visible(session, viewer_id, utcnow(), page, only)
    cards = await profiles_service.get_cards(session, {n.actor_id for n in items if n.actor_id})
    return Page(
        items=[_out(n, cards.get(n.actor_id) if n.actor_id else None) for n in items],
        next_cursor=cursor,
    )


def group_text(verb: str, title: str, names: Sequence[str], actors_count: int) -> str:
    """ "Ann reacted ...", "Ann and Bo reacted ...", "Ann and 5 others reacted ..."."""
    if not names or not verb:
        return title
    if actors_count <= 1:
        who = names[0]
    elif actors_count == 2 and len(names) >= 2:
        who = f"{names[0]} and {names[1]}"
    else:
        others = actors_count - 1
        who = f"{names[0]} and {others} other{'s' if others != 1 else ''}"
    return f"{who} {verb}"


def _decode_group_cursor(cursor: str) -> repository.GroupKey:
    values = decode_cursor(cursor)
    try:
        at = datetime.fromisoformat(str(values["at"]))
        key = str(values["key"])
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc
    if at.tzinfo is None:
        raise malformed_cursor()
    return at, key


async def list_groups(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest, only: ListFilter
) -> Page[NotificationGroupOut]:
    """Groups newest first by their latest notification: four queries per page (groups,
    their latest notifications, their latest actors, the actors' cards)."""
    now = utcnow()
    after = _decode_group_cursor(page.cursor) if page.cursor else None
    rows = await repository.list_visible_groups(
        session, viewer_id, now, after, page.limit + 1, only
    )
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    keys = [row.group_key for row in rows]
    latest = await repository.latest_of_groups(session, viewer_id, now, keys, only)
    actors = await repository.latest_actors_of_groups(
        session, viewer_id, now, keys, only, GROUP_ACTORS
    )
    cards = await profiles_service.get_cards(
        session, {actor for ids in actors.values() for actor in ids}
    )
    items = []
    for row in rows:
        newest = latest[row.group_key]
        shown = [cards[a] for a in actors.get(row.group_key, []) if a in cards]
        items.append(
            NotificationGroupOut(
                group_key=row.group_key,
                type=newest.type,
                text=group_text(
                    str((newest.data or {}).get("verb", "")),
                    newest.title,
                    [card.display_name for card in shown],
                    row.actors_count,
                ),
                count=row.count,
                actors_count=row.actors_count,
                actors=shown,
                unread=row.unread_count > 0,
                unread_count=row.unread_count,
                latest_at=row.latest_at,
                latest=_out(newest, cards.get(newest.actor_id) if newest.actor_id else None),
            )
        )
    cursor = (
        encode_cursor({"at": rows[-1].latest_at.isoformat(), "key": rows[-1].group_key})
        if more
        else None
    )
    return Page(items=items, next_cursor=cursor)


async def unread_count(session: AsyncSession, viewer_id: uuid.UUID, ttl: int) -> UnreadCountOut:
    """Cached under ``notification:{id}:unread``; every change to it invalidates the key."""
    key = unread_cache_key(viewer_id)
    cached = await recall(session, [key])
    if key in cached:
        return UnreadCountOut(unread_count=int(cached[key]))
    count = await repository.count_unread(session, viewer_id, utcnow())
    await remember(session, {key: count}, ttl)
    return UnreadCountOut(unread_count=count)


async def mark_read(
    session: AsyncSession, viewer_id: uuid.UUID, notification_id: uuid.UUID
) -> None:
    now = utcnow()
    found = await repository.get_visible(session, viewer_id, notification_id, now)
    if found is None:
        raise NotificationNotFound()
    if found.read_at is None:
        await repository.mark_read(session, viewer_id, notification_id, now)
        invalidate_after_commit(session, unread_cache_key(viewer_id))


async def mark_all_read(
    session: AsyncSession, viewer_id: uuid.UUID, group_key: str | None
) -> ReadAllOut:
    updated = await repository.mark_all_read(session, viewer_id, utcnow(), group_key)
    if updated:
        invalidate_after_commit(session, unread_cache_key(viewer_id))
    return ReadAllOut(updated=updated)


# --- preferences


async def get_preferences(session: AsyncSession, user_id: uuid.UUID) -> PreferencesOut:
    stored = await repository.stored_preferences(session, user_id)
    account = await profiles.get_settings(session, user_id)
    default_frequency = (
        Frequency(account.notification_frequency.value) if account else Frequency.INSTANT
    )
    items = []
    for type_ in NotificationType:
        for channel in Channel:
            row = stored.get((type_, channel))
            enabled = row.enabled if row else policy.default_enabled(type_, channel)
            frequency = None
            if channel is Channel.EMAIL:
                frequency = (row.frequency if row else None) or default_frequency
            items.append(
                PreferenceOut(
                    type=type_,
                    channel=channel,
                    enabled=enabled,
                    frequency=frequency,
                    is_default=row is None,
                )
            )
    return PreferencesOut(
        preferences=items,
        email_notifications=account.email_notifications if account else True,
        push_notifications=account.push_notifications if account else True,
    )


async def update_preferences(
    session: AsyncSession, user_id: uuid.UUID, changes: Sequence[PreferenceIn]
) -> PreferencesOut:
    for index, change in enumerate(changes):
        field_path = f"body.preferences.{index}"
        if change.frequency is not None and change.channel is not Channel.EMAIL:
            raise ValidationFailed.on(
                f"{field_path}.frequency", "Only email has a frequency.", "frequency_not_allowed"
            )
        if (
            change.type is NotificationType.SYSTEM
            and change.channel is Channel.IN_APP
            and not change.enabled
        ):
            raise ValidationFailed.on(
                f"{field_path}.enabled",
                "System notifications cannot be turned off in the app.",
                "required_notification",
            )
    for change in changes:
        await repository.save_preference(
            session, user_id, change.type, change.channel, change.enabled, change.frequency
        )
    return await get_preferences(session, user_id)


# --- email


async def _email_address(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """Where this user's notification mail goes, or None: inactive account or email off."""
    user = await accounts.get_user(session, user_id)
    if user is None or user.status is not AccountStatus.ACTIVE or user.purged_at is not None:
        return None
    account = await profiles.get_settings(session, user_id)
    if account is not None and not account.email_notifications:
        return None
    return user.email


async def instant_email(
    session: AsyncSession, settings: Settings, notification_id: uuid.UUID, now: datetime
) -> Mail | None:
    """Claim a notification for its instant email (marks it emailed in this transaction) and
    return the mail to send before commit; None if it was emailed already, is no longer
    visible to its recipient, or their email is off."""
    notification = await session.get(Notification, notification_id)
    if notification is None or notification.emailed_at is not None:
        return None
    if notification.type in policy.BATCHED_EMAIL_TYPES:
        return await batched_email(session, settings, notification, now)
    if not await repository.claim_for_email(session, notification_id, now):
        return None
    recipient = notification.recipient_id
    if await repository.get_visible(session, recipient, notification_id, now) is None:
        return None
    address = await _email_address(session, recipient)
    if address is None:
        return None
    return emails.single(
        settings, address, notification.title, notification.message, notification.action_url
    )


#: Most messages quoted in one batched message mail (the count says how many there were).
BATCHED_EMAIL_MAX_QUOTED = 10


async def batched_email(
    session: AsyncSession, settings: Settings, first: Notification, now: datetime
) -> Mail | None:
    """The messages of ``first``'s conversation waiting for their email, in one mail: claims
    (marks emailed) every instant notification of the recipient's group, then tells only
    those still unread, both as a notification and in the conversation (its read
    watermark), and still visible; None if nothing is left to tell."""
    recipient = first.recipient_id
    claimed = await repository.claim_group_for_email(session, recipient, first.group_key, now)
    if not claimed:
        return None
    unread = await repository.visible_unread(session, recipient, claimed, now)
    conversation_id = first.target_id
    if unread and conversation_id is not None:
        read_up_to = {
            conversation_id: await messaging.read_watermarks(session, conversation_id, [recipient])
        }
        unread = [
            n
            for n in unread
            if not _message_read(
                _chat_message(n.target_type, n.target_id, n.data), recipient, read_up_to
            )
        ]
    if not unread:
        return None
    address = await _email_address(session, recipient)
    if address is None:
        return None
    newest = unread[-1]
    more = len(unread) - 1
    title = f"{newest.title} (+{more} more)" if more else newest.title
    quoted = unread[-BATCHED_EMAIL_MAX_QUOTED:]
    lines = [n.message or "" for n in quoted]
    senders = {n.actor_id for n in quoted if n.actor_id is not None}
    if len(senders) > 1:  # a group chat: say who wrote what
        cards = await profiles_service.get_cards(session, senders)
        lines = [
            f"{cards[n.actor_id].display_name}: {line}" if n.actor_id in cards else line
            for n, line in zip(quoted, lines, strict=True)
        ]
    return emails.single(settings, address, title, "\n".join(lines), newest.action_url)


async def digest_email(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    frequency: Frequency,
    now: datetime,
    window: timedelta,
) -> Mail | None:
    """Gather the user's un-emailed ``frequency`` notifications into one mail, marking them
    emailed and the digest sent in this transaction; None if nothing is due (another process
    just sent it) or nothing is left to tell."""
    digest = await repository.lock_digest(session, user_id, frequency)
    if digest.last_sent_at is not None and digest.last_sent_at > now - window:
        return None
    visible, ids = await repository.pending_for_digest(
        session, user_id, frequency, now, DIGEST_MAX_ITEMS
    )
    if not ids:
        return None
    await repository.mark_emailed(session, ids, now)
    digest.last_sent_at = now
    address = await _email_address(session, user_id) if visible else None
    if address is None:
        return None
    groups: dict[str, list[Notification]] = {}
    for notification in reversed(visible):  # newest first
        groups.setdefault(notification.group_key, []).append(notification)
    actor_ids = {n.actor_id for n in visible if n.actor_id is not None}
    cards = await profiles_service.get_cards(session, actor_ids)
    lines = []
    for members in groups.values():
        newest = members[0]
        actors = list(dict.fromkeys(n.actor_id for n in members if n.actor_id in cards))
        names = [cards[actor].display_name for actor in actors if actor is not None]
        text = group_text(
            str((newest.data or {}).get("verb", "")), newest.title, names, len(actors)
        )
        lines.append(emails.DigestLine(text, len(members), newest.action_url))
    return emails.digest(settings, address, frequency, lines)
