"""Notifications: what happened to a user, their preferences per type and channel, and when
their last email digest went out."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, StrEnumType, utcnow


class NotificationType(StrEnum):
    FRIEND_REQUEST = "friend_request"
    FRIEND_ACCEPT = "friend_accept"
    FOLLOW = "follow"
    FOLLOW_REQUEST = "follow_request"
    FOLLOW_ACCEPT = "follow_accept"
    REACTION = "reaction"
    COMMENT = "comment"
    REPLY = "reply"
    MENTION = "mention"
    SHARE = "share"
    MESSAGE = "message"
    SYSTEM = "system"


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"
    #: Stored preference only: push delivery is a later issue.
    PUSH = "push"


class Frequency(StrEnum):
    """How email arrives: one mail per notification, or a digest per hour or day."""

    INSTANT = "instant"
    HOURLY = "hourly"
    DAILY = "daily"


class TargetType(StrEnum):
    POST = "post"
    COMMENT = "comment"
    USER = "user"
    CONVERSATION = "conversation"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Notification(IdMixin, Base):
    __tablename__ = "notifications"

    recipient_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    #: Who caused it (None for system notifications, or once the actor's account is gone).
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    type: Mapped[NotificationType] = mapped_column(StrEnumType(NotificationType, 20))
    target_type: Mapped[TargetType | None] = mapped_column(StrEnumType(TargetType, 20))
    target_id: Mapped[uuid.UUID | None]
    #: The post whose visibility governs this notification (reactions, comments, replies,
    #: mentions, shares): the read side hides it when the recipient may no longer see the post.
    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    action_url: Mapped[str | None] = mapped_column(String(500))
    priority: Mapped[Priority] = mapped_column(StrEnumType(Priority, 10), default=Priority.NORMAL)
    #: Notifications with the same key display as one group ("A and 5 others ...").
    group_key: Mapped[str] = mapped_column(String(200))
    #: The outbox event this came from: with (recipient, type) unique, a redelivered event
    #: inserts nothing.
    source_event_id: Mapped[uuid.UUID]
    read_at: Mapped[datetime | None]
    #: How this notification is emailed, decided from the preferences when it was created:
    #: None (not at all), instant, or in the hourly/daily digest.
    email_frequency: Mapped[Frequency | None] = mapped_column(StrEnumType(Frequency, 10))
    emailed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("recipient_id", "source_event_id", "type"),
        CheckConstraint(_in("type", NotificationType), name="type"),
        CheckConstraint(_in("priority", Priority), name="priority"),
        CheckConstraint(_in("target_type", TargetType), name="target_type"),
        CheckConstraint(_in("email_frequency", Frequency), name="email_frequency"),
        # The list, newest first (keyset on id).
        Index("ix_notifications_recipient_id_id", "recipient_id", "id"),
        # Groups: latest member of each group of a recipient.
        Index(
            "ix_notifications_recipient_id_group_key_created_at",
            "recipient_id",
            "group_key",
            "created_at",
        ),
        # Unread count and mark-all-read touch only unread rows.
        Index(
            "ix_notifications_unread",
            "recipient_id",
            "id",
            postgresql_where=text("read_at IS NULL"),
            sqlite_where=text("read_at IS NULL"),
        ),
        # Emails still to send (instant sender and digests).
        Index(
            "ix_notifications_email_pending",
            "email_frequency",
            "recipient_id",
            "created_at",
            postgresql_where=text("emailed_at IS NULL AND email_frequency IS NOT NULL"),
            sqlite_where=text("emailed_at IS NULL AND email_frequency IS NOT NULL"),
        ),
        # Cleaning up after a deleted comment.
        Index("ix_notifications_target_id", "target_id"),
        Index("ix_notifications_post_id", "post_id"),
    )


class NotificationPreference(Base):
    """One stored choice; absent rows mean the defaults (``policy.default_preference``)."""

    __tablename__ = "notification_preferences"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    type: Mapped[NotificationType] = mapped_column(
        StrEnumType(NotificationType, 20), primary_key=True
    )
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 10), primary_key=True)
    enabled: Mapped[bool]
    #: Email only: None means the account's ``notification_frequency`` setting.
    frequency: Mapped[Frequency | None] = mapped_column(StrEnumType(Frequency, 10))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_in("type", NotificationType), name="type"),
        CheckConstraint(_in("channel", Channel), name="channel"),
        CheckConstraint(_in("frequency", Frequency), name="frequency"),
    )


class NotificationDigest(Base):
    """When a user's last digest of a frequency was sent (the next one gathers what came
    since)."""

    __tablename__ = "notification_digests"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    frequency: Mapped[Frequency] = mapped_column(StrEnumType(Frequency, 10), primary_key=True)
    last_sent_at: Mapped[datetime | None]

    __table_args__ = (CheckConstraint(_in("frequency", Frequency), name="frequency"),)
