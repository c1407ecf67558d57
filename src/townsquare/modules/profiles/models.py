"""Profiles own the public face of a user: profile fields, field visibility, and settings."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, StrEnumType, TimestampMixin, utcnow


class Audience(StrEnum):
    PUBLIC = "public"
    FRIENDS = "friends"
    ONLY_ME = "only_me"


class AccountType(StrEnum):
    PERSONAL = "personal"
    CREATOR = "creator"
    BUSINESS = "business"


class MessagePermission(StrEnum):
    EVERYONE = "everyone"
    FRIENDS = "friends"
    NOBODY = "nobody"


class NotificationFrequency(StrEnum):
    INSTANT = "instant"
    HOURLY = "hourly"
    DAILY = "daily"


class Theme(StrEnum):
    AUTO = "auto"
    LIGHT = "light"
    DARK = "dark"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


def _user_fk() -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class Profile(TimestampMixin, Base):
    __tablename__ = "profiles"

    user_id: Mapped[uuid.UUID] = _user_fk()
    #: Lower-case ``[a-z0-9_]{3,30}``; unique, hence unique case-insensitively.
    username: Mapped[str] = mapped_column(String(30), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    first_name: Mapped[str | None] = mapped_column(String(100))
    last_name: Mapped[str | None] = mapped_column(String(100))
    bio: Mapped[str | None] = mapped_column(Text)
    avatar_url: Mapped[str | None] = mapped_column(String(2048))
    cover_url: Mapped[str | None] = mapped_column(String(2048))
    birth_date: Mapped[date | None] = mapped_column(Date)
    gender: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(32))
    location: Mapped[str | None] = mapped_column(String(100))
    website: Mapped[str | None] = mapped_column(String(2048))
    is_verified: Mapped[bool] = mapped_column(default=False, server_default=false())
    account_type: Mapped[AccountType] = mapped_column(
        StrEnumType(AccountType, 20),
        default=AccountType.PERSONAL,
        server_default=AccountType.PERSONAL.value,
    )
    #: A private account approves its followers (social graph).
    is_private: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Hidden from everybody else while the account is not active (deactivated, deleted, ...).
    is_hidden: Mapped[bool] = mapped_column(default=False, server_default=false())

    __table_args__ = (
        CheckConstraint(_in("account_type", AccountType), name="account_type"),
        # The visibility policy asks "is this author hidden / private?" for every post it
        # filters; few accounts are, so these partial indexes stay tiny and answer at once.
        Index(
            "ix_profiles_hidden",
            "user_id",
            postgresql_where=text("is_hidden IS TRUE"),
            sqlite_where=text("is_hidden IS TRUE"),
        ),
        Index(
            "ix_profiles_private",
            "user_id",
            postgresql_where=text("is_private IS TRUE"),
            sqlite_where=text("is_private IS TRUE"),
        ),
    )


class PrivacySettings(Base):
    __tablename__ = "privacy_settings"

    user_id: Mapped[uuid.UUID] = _user_fk()
    profile_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.PUBLIC
    )
    email_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.ONLY_ME
    )
    phone_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.ONLY_ME
    )
    birth_date_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.FRIENDS
    )
    search_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.PUBLIC
    )
    #: Who may list my friends, followers and following.
    connections_visibility: Mapped[Audience] = mapped_column(
        StrEnumType(Audience, 10), default=Audience.PUBLIC, server_default=Audience.PUBLIC.value
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = tuple(
        CheckConstraint(_in(column, Audience), name=column)
        for column in (
            "profile_visibility",
            "email_visibility",
            "phone_visibility",
            "birth_date_visibility",
            "search_visibility",
            "connections_visibility",
        )
    )


class UserSettings(Base):
    __tablename__ = "user_settings"

    user_id: Mapped[uuid.UUID] = _user_fk()
    allow_messages_from: Mapped[MessagePermission] = mapped_column(
        StrEnumType(MessagePermission, 10), default=MessagePermission.EVERYONE
    )
    notification_frequency: Mapped[NotificationFrequency] = mapped_column(
        StrEnumType(NotificationFrequency, 10), default=NotificationFrequency.INSTANT
    )
    email_notifications: Mapped[bool] = mapped_column(default=True)
    push_notifications: Mapped[bool] = mapped_column(default=True)
    calm_mode: Mapped[bool] = mapped_column(default=False)
    hide_metrics: Mapped[bool] = mapped_column(default=False)
    dark_mode: Mapped[Theme] = mapped_column(StrEnumType(Theme, 10), default=Theme.AUTO)
    autoplay_videos: Mapped[bool] = mapped_column(default=True)
    data_saver: Mapped[bool] = mapped_column(default=False)
    #: Minutes per day before the app reminds the user to take a break; 0 means no limit.
    daily_time_limit_minutes: Mapped[int] = mapped_column(default=0)
    show_activity_status: Mapped[bool] = mapped_column(default=True)
    language: Mapped[str] = mapped_column(String(35), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        CheckConstraint(_in("allow_messages_from", MessagePermission), name="allow_messages_from"),
        CheckConstraint(
            _in("notification_frequency", NotificationFrequency), name="notification_frequency"
        ),
        CheckConstraint(_in("dark_mode", Theme), name="dark_mode"),
        CheckConstraint(
            "daily_time_limit_minutes BETWEEN 0 AND 1440", name="daily_time_limit_minutes"
        ),
    )
