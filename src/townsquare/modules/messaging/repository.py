"""All SQL of messaging."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from townsquare.kit.models import new_id, utcnow
from townsquare.kit.pagination import PageRequest, decode_cursor, encode_cursor, malformed_cursor
from townsquare.kit.sql import insert_or_ignore
from townsquare.modules.messaging import policy
from townsquare.modules.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    MemberRole,
    Message,
    MessageMention,
    MessageType,
)
from townsquare.modules.social import policy as people

# --- conversations


def direct_key(a: uuid.UUID, b: uuid.UUID) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


async def get_conversation(
    session: AsyncSession, conversation_id: uuid.UUID, *, for_update: bool = False
) -> Conversation | None:
    """``for_update`` locks the row (PostgreSQL; SQLite's writers are serialised anyway):
    membership changes take it so member counts and admin checks hold when they write."""
    if for_update:
        return await session.scalar(
            select(Conversation)
            .where(Conversation.id == conversation_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    return await session.get(Conversation, conversation_id)


async def get_or_create_direct(
    session: AsyncSession, sender_id: uuid.UUID, recipient_id: uuid.UUID
) -> tuple[Conversation, list[ConversationMember], set[uuid.UUID]]:
    """The pair's one direct conversation, created with both members if missing, with its
    ``members_and_blocks`` for the sender. Race-free: two first messages at once both
    insert-or-ignore on the unique ``direct_key``; one row wins and both read it back. The
    common case (it exists) is one read."""
    key = direct_key(sender_id, recipient_id)
    found = await _direct_with_members(session, key, sender_id)
    if found is not None:
        return found
    now = utcnow()
    conversation_id = new_id()
    inserted = await insert_or_ignore(
        session,
        Conversation,
        {
            "id": conversation_id,
            "kind": ConversationKind.DIRECT.value,
            "direct_key": key,
            "created_by": sender_id,
            "last_message_at": now,
            "member_count": 2,
            "created_at": now,
            "updated_at": now,
        },
        ["direct_key"],
    )
    if inserted:
        for user_id in (sender_id, recipient_id):
            await insert_or_ignore(
                session,
                ConversationMember,
                {
                    "id": new_id(),
                    "conversation_id": conversation_id,
                    "user_id": user_id,
                    "role": MemberRole.MEMBER.value,
                    "joined_at": now,
                    "muted": False,
                },
                ["conversation_id", "user_id"],
            )
    found = await _direct_with_members(session, key, sender_id)
    assert found is not None
    return found


# The conversation on every member's row (outer: a conversation is found even without any).
_DIRECT_WITH_MEMBERS = (
    select(
        Conversation,
        ConversationMember,
        people.blocked_either_way_clause(bindparam("user_id"), ConversationMember.user_id).label(
            "blocked"
        ),
    )
    .outerjoin(ConversationMember, ConversationMember.conversation_id == Conversation.id)
    .where(Conversation.direct_key == bindparam("key"))
    .order_by(ConversationMember.joined_at, ConversationMember.id)
    .execution_options(populate_existing=True)
)


async def _direct_with_members(
    session: AsyncSession, key: str, user_id: uuid.UUID
) -> tuple[Conversation, list[ConversationMember], set[uuid.UUID]] | None:
    rows = (await session.execute(_DIRECT_WITH_MEMBERS, {"key": key, "user_id": user_id})).all()
    if not rows:
        return None
    members, blocked = _with_blocks([(m, flag) for _, m, flag in rows if m is not None], user_id)
    return rows[0][0], members, blocked


def add_group(
    session: AsyncSession,
    *,
    created_by: uuid.UUID,
    title: str,
    description: str | None,
    avatar_url: str | None,
    message_ttl_seconds: int | None,
) -> Conversation:
    conversation = Conversation(
        id=new_id(),
        kind=ConversationKind.GROUP,
        title=title,
        description=description,
        avatar_url=avatar_url,
        created_by=created_by,
        message_ttl_seconds=message_ttl_seconds,
        member_count=0,
        last_message_at=utcnow(),
    )
    session.add(conversation)
    return conversation


# The statements of every message sent are built once, over bind parameters: building and
# cache-keying a statement costs more Python time than PostgreSQL takes to run one of these.

_TOUCH_LAST_MESSAGE = (
    update(Conversation)
    .where(
        Conversation.id == bindparam("conversation_id"),
        Conversation.last_message_at <= bindparam("sent_at"),
    )
    .values(last_message_at=bindparam("sent_at"), last_message_id=bindparam("message_id"))
)


async def touch_last_message(session: AsyncSession, message: Message) -> None:
    """Move the conversation's sort key to ``message``; in SQL and only forwards, so
    concurrent senders leave the newest one."""
    await session.execute(
        _TOUCH_LAST_MESSAGE,
        {
            "conversation_id": message.conversation_id,
            "sent_at": message.created_at,
            "message_id": message.id,
        },
    )


async def add_to_member_count(
    session: AsyncSession, conversation_id: uuid.UUID, delta: int
) -> None:
    await session.execute(
        update(Conversation)
        .where(Conversation.id == conversation_id)
        .values(member_count=Conversation.member_count + delta)
    )


# --- members


_MEMBER = select(ConversationMember).where(
    ConversationMember.conversation_id == bindparam("conversation_id"),
    ConversationMember.user_id == bindparam("user_id"),
)


async def get_member(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> ConversationMember | None:
    return await session.scalar(_MEMBER, {"conversation_id": conversation_id, "user_id": user_id})


_READ_WATERMARKS = select(
    ConversationMember.user_id, ConversationMember.last_read_message_id
).where(
    ConversationMember.conversation_id == bindparam("conversation_id"),
    ConversationMember.user_id.in_(bindparam("user_ids", expanding=True)),
    ConversationMember.last_read_message_id.is_not(None),
)


async def read_watermarks(
    session: AsyncSession, conversation_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """The last message each of ``user_ids`` has read in the conversation (message ids are
    time-ordered, so it covers every id up to it); members who read nothing are left out."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.execute(
        _READ_WATERMARKS, {"conversation_id": conversation_id, "user_ids": ids}
    )
    return {user_id: last_read for user_id, last_read in rows if last_read is not None}


async def members_by_user(
    session: AsyncSession, conversation_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, ConversationMember]:
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = await session.scalars(
        select(ConversationMember).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id.in_(ids),
        )
    )
    return {row.user_id: row for row in rows}


async def active_members(
    session: AsyncSession, conversation_id: uuid.UUID
) -> list[ConversationMember]:
    """Active members, oldest first."""
    rows = await session.scalars(
        select(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.left_at.is_(None),
        )
        .order_by(ConversationMember.joined_at, ConversationMember.id)
    )
    return list(rows)


async def active_member_ids(session: AsyncSession, conversation_id: uuid.UUID) -> list[uuid.UUID]:
    return [member.user_id for member in await active_members(session, conversation_id)]


_MEMBERS_AND_BLOCKS = (
    select(
        ConversationMember,
        people.blocked_either_way_clause(bindparam("user_id"), ConversationMember.user_id).label(
            "blocked"
        ),
    )
    .where(ConversationMember.conversation_id == bindparam("conversation_id"))
    .order_by(ConversationMember.joined_at, ConversationMember.id)
)


async def members_and_blocks(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[list[ConversationMember], set[uuid.UUID]]:
    """Every member, past or present (``user_id`` too), oldest first, and
    ``blocked_member_ids`` for ``user_id``: one query, each member with a blocked-either-way
    flag."""
    rows = await session.execute(
        _MEMBERS_AND_BLOCKS, {"conversation_id": conversation_id, "user_id": user_id}
    )
    return _with_blocks([(member, flag) for member, flag in rows], user_id)


def _with_blocks(
    flagged: Sequence[tuple[ConversationMember, bool]], user_id: uuid.UUID
) -> tuple[list[ConversationMember], set[uuid.UUID]]:
    """Members with their blocked-either-way flags -> the members, and the blocked ones."""
    blocked = {member.user_id for member, flag in flagged if flag and member.user_id != user_id}
    return [member for member, _ in flagged], blocked


async def active_members_and_blocks(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> tuple[list[ConversationMember], set[uuid.UUID]]:
    """``active_members`` and ``blocked_member_ids`` for ``user_id`` in one query."""
    members, blocked = await members_and_blocks(session, conversation_id, user_id)
    return [member for member in members if member.left_at is None], blocked


async def blocked_member_ids(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID
) -> set[uuid.UUID]:
    """The conversation's members (past or present) blocked either way with ``user_id``."""
    rows = await session.scalars(
        select(ConversationMember.user_id).where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id != user_id,
            people.blocked_either_way_clause(user_id, ConversationMember.user_id),
        )
    )
    return set(rows)


async def add_or_rejoin_member(
    session: AsyncSession,
    conversation: Conversation,
    user_id: uuid.UUID,
    role: MemberRole,
    now: datetime,
) -> bool:
    """Make ``user_id`` an active member; True if they were not one. The caller holds the
    conversation's lock. The read watermark starts at the conversation's last message, so a
    new member's unread count starts at zero."""
    inserted = await insert_or_ignore(
        session,
        ConversationMember,
        {
            "id": new_id(),
            "conversation_id": conversation.id,
            "user_id": user_id,
            "role": role.value,
            "joined_at": now,
            "muted": False,
            "last_read_message_id": conversation.last_message_id,
        },
        ["conversation_id", "user_id"],
    )
    if inserted:
        return True
    result = await session.execute(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation.id,
            ConversationMember.user_id == user_id,
            ConversationMember.left_at.is_not(None),
        )
        .values(
            left_at=None,
            role=role,
            joined_at=now,
            last_read_message_id=conversation.last_message_id,
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def mark_left(
    session: AsyncSession, conversation_id: uuid.UUID, user_id: uuid.UUID, now: datetime
) -> bool:
    """True only for the request that made an active member leave (so it counts once)."""
    result = await session.execute(
        update(ConversationMember)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.user_id == user_id,
            ConversationMember.left_at.is_(None),
        )
        .values(left_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def promote_oldest_member(session: AsyncSession, conversation_id: uuid.UUID) -> None:
    """A group whose last admin left gets one: its longest-standing active member."""
    oldest = await session.scalar(
        select(ConversationMember.id)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.left_at.is_(None),
        )
        .order_by(ConversationMember.joined_at, ConversationMember.id)
        .limit(1)
    )
    if oldest is not None:
        await session.execute(
            update(ConversationMember)
            .where(ConversationMember.id == oldest)
            .values(role=MemberRole.ADMIN)
        )


async def has_active_admin(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    found = await session.scalar(
        select(ConversationMember.id)
        .where(
            ConversationMember.conversation_id == conversation_id,
            ConversationMember.left_at.is_(None),
            ConversationMember.role == MemberRole.ADMIN,
        )
        .limit(1)
    )
    return found is not None


# --- messages


def add_message(session: AsyncSession, **fields: Any) -> Message:
    message = Message(id=new_id(), created_at=utcnow(), **fields)
    session.add(message)
    return message


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    return await session.get(Message, message_id)


async def get_visible_message(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    reader_id: uuid.UUID,
    left_at: datetime | None,
    now: datetime,
) -> Message | None:
    return await session.scalar(
        select(Message).where(
            Message.id == message_id,
            Message.conversation_id == conversation_id,
            policy.visible_messages_clause(reader_id, left_at, now),
        )
    )


async def list_messages(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    reader_id: uuid.UUID,
    left_at: datetime | None,
    now: datetime,
    page: PageRequest,
) -> tuple[list[Message], str | None]:
    """Newest first, keyset on the (time-ordered) id; one query."""
    statement = select(Message).where(
        Message.conversation_id == conversation_id,
        policy.visible_messages_clause(reader_id, left_at, now),
    )
    if page.cursor is not None:
        statement = statement.where(Message.id < _id_from_cursor(page.cursor))
    statement = statement.order_by(Message.id.desc()).limit(page.limit + 1)
    items = list((await session.scalars(statement)).all())
    if len(items) <= page.limit:
        return items, None
    items = items[: page.limit]
    return items, encode_cursor({"id": str(items[-1].id)})


def _id_from_cursor(cursor: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(decode_cursor(cursor)["id"]))
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc


async def latest_visible_message_id(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    reader_id: uuid.UUID,
    left_at: datetime | None,
    now: datetime,
) -> uuid.UUID | None:
    return await session.scalar(
        select(Message.id)
        .where(
            Message.conversation_id == conversation_id,
            policy.visible_messages_clause(reader_id, left_at, now),
        )
        .order_by(Message.id.desc())
        .limit(1)
    )


async def messages_by_id(
    session: AsyncSession, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Message]:
    """One query, even for no ids (a page costs the same whatever it holds)."""
    ids = list(set(message_ids))
    rows = await session.scalars(select(Message).where(Message.id.in_(ids)))
    return {row.id: row for row in rows}


async def mentions_of(
    session: AsyncSession, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    ids = list(set(message_ids))
    rows = await session.execute(
        select(MessageMention.message_id, MessageMention.user_id)
        .where(MessageMention.message_id.in_(ids))
        .order_by(MessageMention.user_id)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for message_id, user_id in rows:
        found[message_id].append(user_id)
    return found


async def replace_mentions(
    session: AsyncSession, message_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Make the message's mentions exactly ``user_ids``; returns the newly mentioned."""
    wanted = set(user_ids)
    existing = set(
        await session.scalars(
            select(MessageMention.user_id).where(MessageMention.message_id == message_id)
        )
    )
    if existing - wanted:
        await session.execute(
            delete(MessageMention).where(
                MessageMention.message_id == message_id,
                MessageMention.user_id.in_(existing - wanted),
            )
        )
    session.add_all(
        MessageMention(message_id=message_id, user_id=user_id) for user_id in wanted - existing
    )
    return wanted - existing


async def mark_deleted(session: AsyncSession, message_id: uuid.UUID, now: datetime) -> bool:
    """Delete for everyone: the row stays as a placeholder, its content and media cleared."""
    result = await session.execute(
        update(Message)
        .where(Message.id == message_id, Message.deleted_at.is_(None))
        .values(
            deleted_at=now,
            content="",
            media_url=None,
            media_type=None,
            file_name=None,
            file_size=None,
            duration_ms=None,
            shared_post_id=None,
        )
    )
    if result.rowcount:  # type: ignore[attr-defined]
        await session.execute(delete(MessageMention).where(MessageMention.message_id == message_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def purge_expired(session: AsyncSession, now: datetime, batch_size: int) -> int:
    """Hard-delete up to ``batch_size`` messages whose time has passed (the partial index on
    ``expires_at`` finds them); mentions go with them, replies keep a null ``reply_to_id``."""
    ids = list(
        await session.scalars(
            select(Message.id)
            .where(Message.expires_at.is_not(None), Message.expires_at <= now)
            .order_by(Message.expires_at)
            .limit(batch_size)
        )
    )
    if not ids:
        return 0
    await session.execute(
        update(Message)
        .where(Message.reply_to_id.in_(ids))
        .values(reply_to_id=None)
        .execution_options(synchronize_session=False)
    )
    await session.execute(delete(MessageMention).where(MessageMention.message_id.in_(ids)))
    await session.execute(
        delete(Message).where(Message.id.in_(ids)).execution_options(synchronize_session=False)
    )
    return len(ids)


# --- the conversation list


def _hidden_direct_clause(viewer_id: uuid.UUID) -> ColumnElement[bool]:
    """A direct conversation whose other member is blocked either way with the viewer."""
    other = aliased(ConversationMember)
    return and_(
        Conversation.kind == ConversationKind.DIRECT,
        select(other.id)
        .where(
            other.conversation_id == Conversation.id,
            other.user_id != viewer_id,
            people.blocked_either_way_clause(viewer_id, other.user_id),
        )
        .exists(),
    )


async def list_conversations(
    session: AsyncSession, viewer_id: uuid.UUID, now: datetime, page: PageRequest
) -> tuple[list[tuple[Conversation, ConversationMember, uuid.UUID | None]], str | None]:
    """The viewer's active conversations, most recent message first, keyset on
    ``(last_message_at, id)``; each with the viewer's member row and the id of the latest
    message the viewer may see (a correlated subquery on the messages index). One query."""
    last_visible = (
        select(Message.id)
        .where(
            Message.conversation_id == Conversation.id,
            policy.visible_messages_clause(viewer_id, None, now),
        )
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    statement = (
        select(Conversation, ConversationMember, last_visible)
        .join(ConversationMember, ConversationMember.conversation_id == Conversation.id)
        .where(
            ConversationMember.user_id == viewer_id,
            ConversationMember.left_at.is_(None),
            ~_hidden_direct_clause(viewer_id),
        )
    )
    if page.cursor is not None:
        at, last_id = _list_cursor(page.cursor)
        statement = statement.where(
            or_(
                Conversation.last_message_at < at,
                and_(Conversation.last_message_at == at, Conversation.id < last_id),
            )
        )
    statement = statement.order_by(
        Conversation.last_message_at.desc(), Conversation.id.desc()
    ).limit(page.limit + 1)
    rows: list[tuple[Conversation, ConversationMember, uuid.UUID | None]] = [
        (c, m, last) for c, m, last in (await session.execute(statement)).all()
    ]
    if len(rows) <= page.limit:
        return rows, None
    rows = rows[: page.limit]
    last_conversation = rows[-1][0]
    return rows, encode_cursor(
        {"at": last_conversation.last_message_at.isoformat(), "id": str(last_conversation.id)}
    )


def _list_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    values = decode_cursor(cursor)
    try:
        at = datetime.fromisoformat(str(values["at"]))
        last_id = uuid.UUID(str(values["id"]))
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc
    if at.tzinfo is None:
        raise malformed_cursor()
    return at, last_id


async def unread_counts(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    conversation_ids: Sequence[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, int]:
    """Per conversation: visible messages after the viewer's read watermark, not theirs, not
    deleted, not system messages (joins and renames are not news to catch up on). One
    grouped query for a whole page of conversations."""
    if not conversation_ids:
        return {}
    rows = await session.execute(
        select(Message.conversation_id, func.count())
        .join(
            ConversationMember,
            and_(
                ConversationMember.conversation_id == Message.conversation_id,
                ConversationMember.user_id == viewer_id,
            ),
        )
        .where(
            Message.conversation_id.in_(list(conversation_ids)),
            or_(
                ConversationMember.last_read_message_id.is_(None),
                Message.id > ConversationMember.last_read_message_id,
            ),
            or_(Message.sender_id.is_(None), Message.sender_id != viewer_id),
            Message.type != MessageType.SYSTEM,
            Message.deleted_at.is_(None),
            policy.visible_messages_clause(viewer_id, ConversationMember.left_at, now),
        )
        .group_by(Message.conversation_id)
    )
    return {conversation_id: int(count) for conversation_id, count in rows}


async def member_previews(
    session: AsyncSession,
    conversation_ids: Sequence[uuid.UUID],
    viewer_id: uuid.UUID,
    per_conversation: int,
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Up to ``per_conversation`` other active members of each conversation, oldest first
    (one query with a window function, portable to SQLite and PostgreSQL)."""
    if not conversation_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=ConversationMember.conversation_id,
            order_by=(ConversationMember.joined_at, ConversationMember.id),
        )
        .label("rank")
    )
    ranked = (
        select(ConversationMember.conversation_id, ConversationMember.user_id, rank)
        .where(
            ConversationMember.conversation_id.in_(list(conversation_ids)),
            ConversationMember.user_id != viewer_id,
            ConversationMember.left_at.is_(None),
        )
        .subquery()
    )
    rows = await session.execute(
        select(ranked.c.conversation_id, ranked.c.user_id)
        .where(ranked.c.rank <= per_conversation)
        .order_by(ranked.c.conversation_id, ranked.c.rank)
    )
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for conversation_id, user_id in rows:
        found[conversation_id].append(user_id)
    return found
