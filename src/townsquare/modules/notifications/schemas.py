"""The API contract of notifications."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from townsquare.kit.validation import NoNul
from townsquare.modules.notifications.models import (
    Channel,
    Frequency,
    NotificationType,
    Priority,
    TargetType,
)
from townsquare.modules.profiles.schemas import PersonCard


class TargetOut(BaseModel):
    type: TargetType
    id: uuid.UUID


class NotificationOut(BaseModel):
    id: uuid.UUID
    type: NotificationType
    actor: PersonCard | None = Field(description="Who caused it; null for system notifications.")
    target: TargetOut | None
    title: str
    message: str | None
    data: dict[str, Any]
    action_url: str | None
    priority: Priority
    group_key: str
    read: bool
    read_at: datetime | None
    created_at: datetime


class NotificationGroupOut(BaseModel):
    group_key: str
    type: NotificationType
    text: str = Field(description='What happened, e.g. "Ann and 5 others reacted to your post".')
    count: int = Field(description="Notifications in the group.")
    actors_count: int = Field(description="Distinct people in the group.")
    actors: list[PersonCard] = Field(description="Up to 3 most recent distinct actors.")
    unread: bool
    unread_count: int
    latest_at: datetime
    latest: NotificationOut


class UnreadCountOut(BaseModel):
    unread_count: int = Field(description="Unread notifications (counted up to 999).")


class ReadAllOut(BaseModel):
    updated: int


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: NotificationType
    channel: Channel
    enabled: StrictBool
    frequency: Frequency | None = Field(
        default=None,
        description="Email only: instant, hourly or daily digest; null follows the account's "
        "`notification_frequency` setting.",
    )


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preferences: list[PreferenceIn] = Field(min_length=1, max_length=100)


class PreferenceOut(BaseModel):
    type: NotificationType
    channel: Channel
    enabled: bool
    frequency: Frequency | None = Field(description="Email only; the effective frequency.")
    is_default: bool = Field(description="True when nothing was stored for this pair.")


class PreferencesOut(BaseModel):
    preferences: list[PreferenceOut]
    email_notifications: bool = Field(
        description="The account-wide email switch (`/me/settings`); off means no email at all."
    )
    push_notifications: bool = Field(
        description="The account-wide push switch; push delivery itself comes in a later issue."
    )


Title = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoNul
]
Message = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), NoNul]


class SystemNotificationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: uuid.UUID
    title: Title
    message: Message | None = None
    action_url: (
        Annotated[str, StringConstraints(max_length=500, pattern=r"^(/|https?://)\S*$"), NoNul]
        | None
    ) = None
    priority: Priority = Priority.NORMAL
