"""All SQL of notifications.

Every read goes through ``policy.visible_notifications_clause``. Pages are keyset-paginated
(notifications by id; groups by their latest member's time and key), and a page of groups is
hydrated with a fixed number of queries whatever its size.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Result,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.pagination import PageRequest, paginate_by_id
from townsquare.kit.sql import insert_many_or_ignore, insert_or_ignore
from townsquare.modules.notifications import policy
from townsquare.modules.notifications.models import (
    Channel,
    Frequency,
    Notification,
    NotificationDigest,
    NotificationPreference,
    NotificationType,
    TargetType,
)

#: Unread counts stop here ("99+" style); counting further is work nobody reads.
UNREAD_COUNT_CAP = 999


def unread_cache_key(user_id: uuid.UUID) -> str:
    return f"notification:{user_id}:unread"


# --- writing


async def insert_notifications(session: AsyncSession, rows: list[dict[str, Any]]) -> set[uuid.UUID]:
    """Insert in one statement, skipping any (recipient, source event, type) already made;
    the ids of the rows inserted (a redelivered event inserts none)."""
    inserted = await insert_many_or_ignore(
        session,
        Notification,
        rows,
        conflict=["recipient_id", "source_event_id", "type"],
        returning="id",
    )
    return set(inserted)


async def delete_about_target(session: AsyncSession, target_id: uuid.UUID) -> list[uuid.UUID]:
    """Remove the notifications about a target (a deleted comment); their recipients."""
    recipients = list(
        await session.scalars(
            select(Notification.recipient_id).where(Notification.target_id == target_id).distinct()
        )
    )
    if recipients:
        await session.execute(
            delete(Notification)
            .where(Notification.target_id == target_id)
            .execution_options(synchronize_session=False)
        )
    return recipients


async def delete_about_post(session: AsyncSession, post_id: uuid.UUID) -> list[uuid.UUID]:
    """Remove the notifications about a post (a deleted post): those it governs (``post_id``:
    reactions, comments, replies, mentions in it, a share's own notification) and those whose
    target it is (the shares of it); their recipients."""
    about = or_(
        Notification.post_id == post_id,
        and_(Notification.target_type == TargetType.POST, Notification.target_id == post_id),
    )
    recipients = list(
        await session.scalars(
            delete(Notification)
            .where(about)
            .returning(Notification.recipient_id)
            .execution_options(synchronize_session=False)
        )
    )
    return list(dict.fromkeys(recipients))


# --- preferences


async def stored_preferences(
    session: AsyncSession, user_id: uuid.UUID
) -> dict[tuple[NotificationType, Channel], NotificationPreference]:
    rows = await session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user_id)
    )
    return {(row.type, row.channel): row for row in rows}


#: Built once over bind parameters (every notification job reads preferences): building and
#: cache-keying a statement costs more than PostgreSQL takes to run it.
_STORED_PREFERENCES = select(NotificationPreference).where(
    NotificationPreference.user_id.in_(bindparam("user_ids", expanding=True)),
    NotificationPreference.type.in_(bindparam("types", expanding=True)),
)


async def stored_preferences_for(
    session: AsyncSession, pairs: Iterable[tuple[uuid.UUID, NotificationType]]
) -> dict[tuple[uuid.UUID, NotificationType], dict[Channel, NotificationPreference]]:
    """The stored preferences of each (user, type) pair, by channel; one query."""
    wanted = set(pairs)
    if not wanted:
        return {}
    rows = await session.scalars(
        _STORED_PREFERENCES,
        {
            "user_ids": sorted({user for user, _ in wanted}),
            "types": sorted({type_ for _, type_ in wanted}),
        },
    )
    found: dict[tuple[uuid.UUID, NotificationType], dict[Channel, NotificationPreference]] = {}
    for row in rows:
        if (row.user_id, row.type) in wanted:
            found.setdefault((row.user_id, row.type), {})[row.channel] = row
    return found


async def save_preference(
    session: AsyncSession,
    user_id: uuid.UUID,
    type_: NotificationType,
    channel: Channel,
    enabled: bool,
    frequency: Frequency | None,
) -> None:
    """Insert or replace one preference; two concurrent saves make one row (the last wins)."""
    key = {"user_id": user_id, "type": type_, "channel": channel}
    values = {"enabled": enabled, "frequency": frequency}
    if not await insert_or_ignore(
        session, NotificationPreference, {**key, **values}, conflict=list(key)
    ):
        await session.execute(
            update(NotificationPreference)
            .where(*(getattr(NotificationPreference, name) == value for name, value in key.items()))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


# --- reading


@dataclass(frozen=True)
class ListFilter:
    types: frozenset[NotificationType] = frozenset()
    exclude_types: frozenset[NotificationType] = frozenset()
    unread_only: bool = False

    def clause(self) -> ColumnElement[bool]:
        parts: list[ColumnElement[bool]] = []
        if self.types:
            parts.append(Notification.type.in_(sorted(self.types)))
        if self.exclude_types:
            parts.append(Notification.type.not_in(sorted(self.exclude_types)))
        if self.unread_only:
            parts.append(Notification.read_at.is_(None))
        return and_(true(), *parts)


async def list_visible(
    session: AsyncSession, viewer_id: uuid.UUID, now: datetime, page: PageRequest, only: ListFilter
) -> tuple[Sequence[Notification], str | None]:
    statement = select(Notification).where(
        policy.visible_notifications_clause(viewer_id, now), only.clause()
    )
    return await paginate_by_id(session, statement, Notification.id, page)


async def count_unread(session: AsyncSession, viewer_id: uuid.UUID, now: datetime) -> int:
    """Visible unread notifications, counted up to ``UNREAD_COUNT_CAP`` (over the partial
    unread index)."""
    capped = (
        select(Notification.id)
        .where(Notification.read_at.is_(None), policy.visible_notifications_clause(viewer_id, now))
        .limit(UNREAD_COUNT_CAP)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)


async def get_visible(
    session: AsyncSession, viewer_id: uuid.UUID, notification_id: uuid.UUID, now: datetime
) -> Notification | None:
    return await session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            policy.visible_notifications_clause(viewer_id, now),
        )
    )


async def mark_read(
    session: AsyncSession, viewer_id: uuid.UUID, notification_id: uuid.UUID, now: datetime
) -> None:
    await session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.recipient_id == viewer_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )


async def mark_conversation_read(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    up_to_message_id: uuid.UUID,
    now: datetime,
) -> int:
    """Mark read the viewer's notifications about messages of the conversation up to
    ``up_to_message_id``: ids are time-ordered and their canonical text sorts the same, so
    the ``message_id`` in the notification's data compares as text on both databases."""
    result = await session.execute(
        update(Notification)
        .where(
            Notification.recipient_id == viewer_id,
            Notification.read_at.is_(None),
            Notification.target_type == TargetType.CONVERSATION,
            Notification.target_id == conversation_id,
            Notification.data["message_id"].as_string() <= str(up_to_message_id),
        )
        .values(read_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result)


async def mark_all_read(
    session: AsyncSession, viewer_id: uuid.UUID, now: datetime, group_key: str | None
) -> int:
    statement = update(Notification).where(
        Notification.recipient_id == viewer_id, Notification.read_at.is_(None)
    )
    if group_key is not None:
        statement = statement.where(Notification.group_key == group_key)
    result = await session.execute(
        statement.values(read_at=now).execution_options(synchronize_session=False)
    )
    return _rowcount(result)


# --- groups

#: (latest time, group key) of the last group of a page.
GroupKey = tuple[datetime, str]


@dataclass(frozen=True)
class GroupRow:
    group_key: str
    latest_at: datetime
    count: int
    actors_count: int
    unread_count: int


async def list_visible_groups(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    after: GroupKey | None,
    limit: int,
    only: ListFilter,
) -> list[GroupRow]:
    """Groups newest first by their latest member; ``limit`` rows (callers ask one more)."""
    latest_at = func.max(Notification.created_at)
    statement = (
        select(
            Notification.group_key,
            latest_at.label("latest_at"),
            func.count().label("count"),
            func.count(Notification.actor_id.distinct()).label("actors_count"),
            func.sum(case((Notification.read_at.is_(None), 1), else_=0)).label("unread"),
        )
        .where(policy.visible_notifications_clause(viewer_id, now), only.clause())
        .group_by(Notification.group_key)
        .order_by(latest_at.desc(), Notification.group_key.desc())
        .limit(limit)
    )
    if after is not None:
        at, key = after
        statement = statement.having(
            or_(latest_at < at, and_(latest_at == at, Notification.group_key < key))
        )
    rows = await session.execute(statement)
    return [
        GroupRow(row.group_key, row.latest_at, row.count, row.actors_count, int(row.unread or 0))
        for row in rows
    ]


async def latest_of_groups(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    group_keys: Sequence[str],
    only: ListFilter,
) -> dict[str, Notification]:
    """The newest visible notification of each group, in one query."""
    rank = (
        func.row_number()
        .over(
            partition_by=Notification.group_key,
            order_by=(Notification.created_at.desc(), Notification.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(Notification.id, rank)
        .where(
            Notification.group_key.in_(list(group_keys)),
            policy.visible_notifications_clause(viewer_id, now),
            only.clause(),
        )
        .subquery()
    )
    rows = await session.scalars(
        select(Notification).join(ranked, ranked.c.id == Notification.id).where(ranked.c.rank == 1)
    )
    return {row.group_key: row for row in rows}


async def latest_actors_of_groups(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    group_keys: Sequence[str],
    only: ListFilter,
    per_group: int,
) -> dict[str, list[uuid.UUID]]:
    """The ``per_group`` most recent distinct actors of each group, newest first (one query)."""
    last_at = func.max(Notification.created_at)
    per_actor = (
        select(
            Notification.group_key.label("group_key"),
            Notification.actor_id.label("actor_id"),
            last_at.label("last_at"),
        )
        .where(
            Notification.group_key.in_(list(group_keys)),
            Notification.actor_id.is_not(None),
            policy.visible_notifications_clause(viewer_id, now),
            only.clause(),
        )
        .group_by(Notification.group_key, Notification.actor_id)
        .subquery()
    )
    rank = (
        func.row_number()
        .over(
            partition_by=per_actor.c.group_key,
            order_by=(per_actor.c.last_at.desc(), per_actor.c.actor_id.desc()),
        )
        .label("rank")
    )
    ranked = select(per_actor.c.group_key, per_actor.c.actor_id, rank).subquery()
    rows = await session.execute(
        select(ranked.c.group_key, ranked.c.actor_id)
        .where(ranked.c.rank <= per_group)
        .order_by(ranked.c.group_key, ranked.c.rank)
    )
    found: dict[str, list[uuid.UUID]] = defaultdict(list)
    for group_key, actor_id in rows:
        found[group_key].append(actor_id)
    return found


# --- email


async def claim_for_email(session: AsyncSession, notification_id: uuid.UUID, now: datetime) -> bool:
    """Mark a notification emailed, if nobody did yet (the row stays locked until commit, so
    a concurrent sender waits and then finds it taken)."""
    result = await session.execute(
        update(Notification)
        .where(Notification.id == notification_id, Notification.emailed_at.is_(None))
        .values(emailed_at=now)
        .execution_options(synchronize_session=False)
    )
    return _rowcount(result) == 1


#: Built once (a query of every chat-message notification job), like ``_STORED_PREFERENCES``.
_GROUPS_AWAITING_EMAIL = (
    select(Notification.recipient_id, Notification.group_key)
    .where(
        Notification.email_frequency == Frequency.INSTANT,
        Notification.emailed_at.is_(None),
        Notification.recipient_id.in_(bindparam("recipients", expanding=True)),
        Notification.created_at >= bindparam("since"),
        Notification.group_key.in_(bindparam("groups", expanding=True)),
        Notification.id.not_in(bindparam("excluding", expanding=True)),
    )
    .distinct()
)


async def groups_awaiting_email(
    session: AsyncSession,
    pairs: Sequence[tuple[uuid.UUID, str]],
    *,
    since: datetime,
    excluding: Sequence[uuid.UUID],
) -> set[tuple[uuid.UUID, str]]:
    """Which (recipient, group) pairs have an instant notification made since ``since`` (other
    than ``excluding``) still waiting for its email: over the partial pending-email index."""
    rows = await session.execute(
        _GROUPS_AWAITING_EMAIL,
        {
            "recipients": sorted({recipient for recipient, _ in pairs}),
            "since": since,
            "groups": sorted({group for _, group in pairs}),
            "excluding": list(excluding),
        },
    )
    return {(row.recipient_id, row.group_key) for row in rows} & set(pairs)


async def claim_group_for_email(
    session: AsyncSession, recipient_id: uuid.UUID, group_key: str, now: datetime
) -> list[uuid.UUID]:
    """Mark every instant notification of the recipient's group emailed, if nobody did yet;
    returns their ids (locked until commit: a concurrent claim waits, then finds none)."""
    result = await session.scalars(
        update(Notification)
        .where(
            Notification.recipient_id == recipient_id,
            Notification.email_frequency == Frequency.INSTANT,
            Notification.emailed_at.is_(None),
            Notification.group_key == group_key,
            Notification.created_at <= now,
        )
        .values(emailed_at=now)
        .returning(Notification.id)
        .execution_options(synchronize_session=False)
    )
    return list(result)


async def visible_unread(
    session: AsyncSession, viewer_id: uuid.UUID, ids: Sequence[uuid.UUID], now: datetime
) -> list[Notification]:
    """Those of ``ids`` the viewer still sees and has not read, oldest first."""
    return list(
        await session.scalars(
            select(Notification)
            .where(
                Notification.id.in_(ids),
                Notification.read_at.is_(None),
                policy.visible_notifications_clause(viewer_id, now),
            )
            .order_by(Notification.id)
        )
    )


async def due_digests(
    session: AsyncSession, frequency: Frequency, now: datetime, window_start: datetime
) -> list[uuid.UUID]:
    """Users with un-emailed ``frequency`` notifications whose window has passed: their last
    digest (or, before the first, their oldest waiting notification) is at or before
    ``window_start`` (now minus the window). Runs over the partial pending-email index."""
    since = func.coalesce(NotificationDigest.last_sent_at, func.min(Notification.created_at))
    rows = await session.scalars(
        select(Notification.recipient_id)
        .outerjoin(
            NotificationDigest,
            and_(
                NotificationDigest.user_id == Notification.recipient_id,
                NotificationDigest.frequency == frequency,
            ),
        )
        .where(
            Notification.emailed_at.is_(None),
            Notification.email_frequency == frequency,
            Notification.created_at <= now,
        )
        .group_by(Notification.recipient_id, NotificationDigest.last_sent_at)
        .having(since <= window_start)
    )
    return list(rows)


async def lock_digest(
    session: AsyncSession, user_id: uuid.UUID, frequency: Frequency
) -> NotificationDigest:
    """The digest row, created if missing and locked until commit: one sender per digest."""
    key = {"user_id": user_id, "frequency": frequency}
    await insert_or_ignore(session, NotificationDigest, {**key, "last_sent_at": None}, list(key))
    row = await session.scalar(
        select(NotificationDigest)
        .where(NotificationDigest.user_id == user_id, NotificationDigest.frequency == frequency)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def pending_for_digest(
    session: AsyncSession, user_id: uuid.UUID, frequency: Frequency, now: datetime, limit: int
) -> tuple[list[Notification], list[uuid.UUID]]:
    """(visible un-emailed notifications of the digest, oldest first; ids of all of them,
    visible or not, up to ``limit``)."""
    pending = (
        Notification.recipient_id == user_id,
        Notification.email_frequency == frequency,
        Notification.emailed_at.is_(None),
        Notification.created_at <= now,
    )
    ids = list(
        await session.scalars(
            select(Notification.id).where(*pending).order_by(Notification.id).limit(limit)
        )
    )
    if not ids:
        return [], []
    visible = list(
        await session.scalars(
            select(Notification)
            .where(Notification.id.in_(ids), policy.visible_notifications_clause(user_id, now))
            .order_by(Notification.id)
        )
    )
    return visible, ids


async def mark_emailed(session: AsyncSession, ids: Iterable[uuid.UUID], now: datetime) -> None:
    await session.execute(
        update(Notification)
        .where(Notification.id.in_(list(ids)), Notification.emailed_at.is_(None))
        .values(emailed_at=now)
        .execution_options(synchronize_session=False)
    )


def _rowcount(result: Result[Any]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]
