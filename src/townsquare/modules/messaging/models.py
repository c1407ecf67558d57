"""Conversations (direct and group), their members, messages and message mentions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, StrEnumType, TimestampMixin, utcnow


class ConversationKind(StrEnum):
    DIRECT = "direct"
    GROUP = "group"


class MemberRole(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class MessageType(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    VOICE = "voice"
    FILE = "file"
    SHARED_POST = "shared_post"
    SYSTEM = "system"


class SystemAction(StrEnum):
    CREATED = "created"
    ADDED = "added"
    REMOVED = "removed"
    LEFT = "left"
    RENAMED = "renamed"
    UPDATED = "updated"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Conversation(IdMixin, TimestampMixin, Base):
    __tablename__ = "conversations"

    kind: Mapped[ConversationKind] = mapped_column(StrEnumType(ConversationKind, 10))
    title: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    #: ``"{low id}:{high id}"`` for a direct conversation, NULL for groups. Unique, so two first
    #: messages between the same pair at the same instant still make one conversation.
    direct_key: Mapped[str | None] = mapped_column(String(73), unique=True)
    #: The list's sort key; set at creation, then moved by every message.
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Plain id (no foreign key): a purged message may leave it pointing nowhere.
    last_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    #: Default lifetime of new messages (disappearing messages); NULL keeps them.
    message_ttl_seconds: Mapped[int | None]
    #: Active members; moved under the conversation's row lock with the member rows.
    member_count: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(_in("kind", ConversationKind), name="kind"),
        CheckConstraint("member_count >= 0", name="member_count_non_negative"),
        CheckConstraint(
            "message_ttl_seconds IS NULL OR message_ttl_seconds > 0", name="message_ttl_positive"
        ),
        CheckConstraint(
            "(kind = 'direct') = (direct_key IS NOT NULL)", name="direct_key_for_direct"
        ),
        # The conversation list: a page of my conversations, most recent message first.
        Index("ix_conversations_last_message_at_id", "last_message_at", "id"),
    )


class ConversationMember(IdMixin, Base):
    __tablename__ = "conversation_members"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[MemberRole] = mapped_column(StrEnumType(MemberRole, 10))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when the member left or was removed; a later add clears it.
    left_at: Mapped[datetime | None]
    muted: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Read receipt: when the member last read, and up to which message. The id is a plain
    #: watermark (messages have time-ordered ids), so purging that message keeps it meaningful.
    last_read_at: Mapped[datetime | None]
    last_read_message_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)

    __table_args__ = (
        UniqueConstraint("conversation_id", "user_id"),
        CheckConstraint(_in("role", MemberRole), name="role"),
        # My conversations (list, unread counts, membership checks).
        Index("ix_conversation_members_user_id_conversation_id", "user_id", "conversation_id"),
    )


class Message(IdMixin, Base):
    __tablename__ = "messages"

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    #: The author; for a system message, who did what it records (NULL if nobody did).
    sender_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[MessageType] = mapped_column(StrEnumType(MessageType, 15))
    content: Mapped[str] = mapped_column(Text, default="")
    media_url: Mapped[str | None] = mapped_column(String(2048))
    media_type: Mapped[str | None] = mapped_column(String(100))
    file_name: Mapped[str | None] = mapped_column(String(255))
    file_size: Mapped[int | None] = mapped_column(BigInteger)
    duration_ms: Mapped[int | None]
    shared_post_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL")
    )
    reply_to_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    #: System messages only: what happened, and to whom (added, removed).
    system_action: Mapped[SystemAction | None] = mapped_column(StrEnumType(SystemAction, 10))
    subject_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    edited_at: Mapped[datetime | None]
    #: Deleted for everyone: the row stays (content and media cleared) and shows as deleted.
    deleted_at: Mapped[datetime | None]
    #: A disappearing message: hidden from the moment it passes, purged by the scheduler.
    expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        CheckConstraint(_in("type", MessageType), name="type"),
        CheckConstraint(
            f"system_action IS NULL OR {_in('system_action', SystemAction)}",
            name="system_action",
        ),
        CheckConstraint(
            "(type = 'system') = (system_action IS NOT NULL)", name="system_action_for_system"
        ),
        CheckConstraint("file_size IS NULL OR file_size >= 0", name="file_size_non_negative"),
        CheckConstraint("duration_ms IS NULL OR duration_ms >= 0", name="duration_non_negative"),
        # A conversation's messages, newest first (pages, previews, unread counts).
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # The purge job: disappearing messages whose time has passed.
        Index(
            "ix_messages_expires_at",
            "expires_at",
            postgresql_where=text("expires_at IS NOT NULL"),
            sqlite_where=text("expires_at IS NOT NULL"),
        ),
        # Foreign keys that a delete has to follow (user purge, message purge).
        Index("ix_messages_sender_id", "sender_id"),
        Index("ix_messages_reply_to_id", "reply_to_id"),
    )


class MessageMention(Base):
    __tablename__ = "message_mentions"

    message_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_message_mentions_user_id", "user_id"),)
