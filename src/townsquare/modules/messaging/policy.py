"""Who may message whom, who may read a conversation, and who administers a group.

The one policy of messaging, as Python predicates (single decisions) and SQL clauses (lists):

- **Messaging someone** (a direct message, or adding them to a group) needs: no block either
  way, and the recipient's ``allow_messages_from`` to include the sender (``everyone``;
  ``friends``: a friendship; ``nobody``). Re-checked on every direct message, since settings,
  friendships and blocks change.
- **Reading** a conversation: its members. An active member reads everything; a member who
  left (or was removed) still reads the history up to the moment they left, and nothing after;
  someone who never was a member gets 404 (the conversation's existence is not revealed).
- **Writing** (sending, reading receipts, muting, leaving): active members only; a member who
  left gets 403 ``not_a_member``. Re-joining a group is by being added again by an admin.
- **Messages of a blocked person** (either way) are hidden from the reader, in every read path
  (pages, previews, unread counts, replies, live events), as blocks hide both ways everywhere.
- **Administering** a group (title, description, avatar, timer, adding and removing members):
  its admins. A direct conversation has no admins; both members may set its timer.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import cast

from sqlalchemy import ColumnElement, and_, not_, or_
from sqlalchemy.orm import InstrumentedAttribute

from townsquare.modules.messaging.models import (
    ConversationKind,
    ConversationMember,
    MemberRole,
    Message,
)
from townsquare.modules.profiles.models import MessagePermission
from townsquare.modules.social import policy as people


class Refusal(StrEnum):
    BLOCKED = "blocked"
    NOT_ALLOWED = "messaging_not_allowed"


def messaging_refusal(
    permission: MessagePermission, *, is_friend: bool, blocked: bool
) -> Refusal | None:
    """Why the sender may not message this recipient, or None if they may."""
    if blocked:
        return Refusal.BLOCKED
    match permission:
        case MessagePermission.EVERYONE:
            return None
        case MessagePermission.FRIENDS:
            return None if is_friend else Refusal.NOT_ALLOWED
        case _:
            return Refusal.NOT_ALLOWED


def is_active(member: ConversationMember | None) -> bool:
    return member is not None and member.left_at is None


def may_read(member: ConversationMember | None) -> bool:
    """Any member, past or present (a past one up to when they left)."""
    return member is not None


def may_administer(kind: ConversationKind, member: ConversationMember | None) -> bool:
    return kind is ConversationKind.GROUP and is_active(member) and member.role is MemberRole.ADMIN  # type: ignore[union-attr]


def may_set_timer(kind: ConversationKind, member: ConversationMember | None) -> bool:
    if kind is ConversationKind.DIRECT:
        return is_active(member)
    return may_administer(kind, member)


def may_see_message(
    message: Message,
    reader_id: uuid.UUID | None,
    left_at: datetime | None,
    blocked_ids: set[uuid.UUID],
    now: datetime,
) -> bool:
    """The Python twin of ``visible_messages_clause`` for one message of a conversation the
    reader is (or was) a member of."""
    if left_at is not None and message.created_at > left_at:
        return False
    if message.expires_at is not None and message.expires_at <= now:
        return False
    return not (
        message.sender_id is not None
        and message.sender_id != reader_id
        and message.sender_id in blocked_ids
    )


#: The sender column, typed as never null: the clause using it is guarded by ``IS NULL``.
_sender = cast(ColumnElement[uuid.UUID], Message.sender_id)


def visible_messages_clause(
    reader_id: uuid.UUID | ColumnElement[uuid.UUID],
    left_at: datetime
    | ColumnElement[datetime | None]
    | InstrumentedAttribute[datetime | None]
    | None,
    now: datetime,
) -> ColumnElement[bool]:
    """Messages of a conversation that a member sees (callers constrain the conversation and
    the membership): not expired, not after the member left, not from someone blocked either
    way. ``left_at`` may be the member row's column (for queries over many conversations)."""
    conditions: list[ColumnElement[bool]] = [
        or_(Message.expires_at.is_(None), Message.expires_at > now),
        or_(
            Message.sender_id.is_(None),
            Message.sender_id == reader_id,
            not_(people.blocked_either_way_clause(reader_id, _sender)),
        ),
    ]
    if isinstance(left_at, datetime):
        conditions.append(Message.created_at <= left_at)
    elif left_at is not None:
        conditions.append(or_(left_at.is_(None), Message.created_at <= left_at))
    return and_(*conditions)
