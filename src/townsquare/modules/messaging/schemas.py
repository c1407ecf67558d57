"""The API contract of messaging."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from townsquare.kit.contract import HttpUrlIn
from townsquare.kit.validation import NoNul, Visible
from townsquare.modules.messaging.models import (
    ConversationKind,
    MemberRole,
    MessageType,
    SystemAction,
)
from townsquare.modules.posts.schemas import PostOut
from townsquare.modules.profiles.schemas import PersonCard

#: The schema's ceiling; the deployment's limit (``message_max_length``, 4,000 by default) is
#: checked by the service and answers 422 ``message_too_long`` on ``body.content``.
MessageText = Annotated[str, StringConstraints(max_length=100_000), NoNul]
Url = HttpUrlIn
Username = Annotated[
    str, StringConstraints(min_length=1, max_length=30, pattern=r"^[A-Za-z0-9_]+$")
]
Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    NoNul,
    Visible(100),
]
Description = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000),
    NoNul,
    Visible(2000, required=False, multiline=True),
]
#: Disappearing messages live from 5 seconds to 90 days.
TtlSeconds = Annotated[int, Field(ge=5, le=90 * 24 * 3600)]

#: What a client may send (system messages are written by the server only).
SendableType = Literal["text", "image", "video", "audio", "voice", "file", "shared_post"]


class MessageIn(BaseModel):
    """A message. ``text`` needs ``content``; media types (image, video, audio, voice, file)
    need ``media_url`` (``content`` is then an optional caption); ``shared_post`` needs
    ``shared_post_id``. ``expires_in_seconds`` makes it disappear (the conversation's default
    timer applies otherwise)."""

    model_config = ConfigDict(extra="forbid")

    type: SendableType = "text"
    content: MessageText = ""
    media_url: Url | None = None
    media_type: Annotated[str, StringConstraints(max_length=100), NoNul] | None = Field(
        default=None, description="MIME type of the media, e.g. `image/png`."
    )
    #: Shown to the other members: a right-to-left override would disguise "gnp.exe".
    file_name: (
        Annotated[str, StringConstraints(min_length=1, max_length=255), NoNul, Visible(255)] | None
    ) = None
    file_size: Annotated[int, Field(ge=0, le=2**53)] | None = None
    duration_ms: Annotated[int, Field(ge=0, le=24 * 3600 * 1000)] | None = None
    shared_post_id: uuid.UUID | None = None
    reply_to_id: uuid.UUID | None = None
    expires_in_seconds: TtlSeconds | None = None


class MessageEdit(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: MessageText


class SharedPostOut(BaseModel):
    """A shared post: ``post`` as the reader may see it, or ``unavailable`` when the reader
    may not see it (or it is gone). Live events carry ``post: null``; fetch the message."""

    id: uuid.UUID | None
    unavailable: bool
    post: PostOut | None = None


class ReplyOut(BaseModel):
    """The message replied to, as a short preview (``unavailable`` if deleted, expired or
    hidden from the reader)."""

    id: uuid.UUID
    sender_id: uuid.UUID | None
    preview: str | None
    unavailable: bool


class MessageOut(BaseModel):
    """A message as a member sees it. A deleted message keeps its place: ``deleted`` is true
    and content, media and mentions are empty."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    type: MessageType
    sender: PersonCard | None
    content: str
    media_url: str | None
    media_type: str | None
    file_name: str | None
    file_size: int | None
    duration_ms: int | None
    shared_post: SharedPostOut | None
    reply_to: ReplyOut | None
    mentioned_user_ids: list[uuid.UUID]
    system_action: SystemAction | None = Field(
        description="System messages: created, added, removed, left, renamed, updated."
    )
    subject: PersonCard | None = Field(description="System messages: who was added or removed.")
    edited_at: datetime | None
    deleted: bool
    expires_at: datetime | None
    created_at: datetime


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    avatar_url: Url | None = None
    members: list[Username] = Field(
        default_factory=list, max_length=1000, description="Usernames to add with you."
    )
    message_ttl_seconds: TtlSeconds | None = None


class ConversationPatch(BaseModel):
    """Fields to change; omitted ones stay. ``title``, ``description`` and ``avatar_url`` are
    for groups (admins); ``message_ttl_seconds`` (null turns it off) for any member of a direct
    conversation or a group's admins."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    avatar_url: Url | None = None
    message_ttl_seconds: TtlSeconds | None = None


class MembersIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    usernames: list[Username] = Field(min_length=1, max_length=1000)


class ReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: uuid.UUID | None = Field(
        default=None, description="Read up to this message; omitted: up to the latest."
    )


class MemberOut(BaseModel):
    user: PersonCard
    role: MemberRole
    joined_at: datetime
    muted: bool | None = Field(description="Only on the viewer's own entry.")
    last_read_message_id: uuid.UUID | None
    last_read_at: datetime | None


class LastMessageOut(BaseModel):
    id: uuid.UUID
    sender_id: uuid.UUID | None
    type: MessageType
    preview: str
    created_at: datetime


class ConversationSummaryOut(BaseModel):
    """A row of the conversation list."""

    id: uuid.UUID
    kind: ConversationKind
    title: str | None
    avatar_url: str | None
    member_count: int
    members: list[PersonCard] = Field(
        description="Up to five other active members (for a direct conversation: the other)."
    )
    last_message: LastMessageOut | None
    last_message_at: datetime
    unread_count: int
    muted: bool


class ConversationOut(BaseModel):
    """A conversation as a member sees it; ``members`` are the active ones with their read
    receipts. ``active`` is false for a member who left (history readable up to then)."""

    id: uuid.UUID
    kind: ConversationKind
    title: str | None
    description: str | None
    avatar_url: str | None
    created_by: uuid.UUID | None
    message_ttl_seconds: int | None
    member_count: int
    members: list[MemberOut]
    my_role: MemberRole
    active: bool
    muted: bool
    unread_count: int
    last_message_at: datetime
    created_at: datetime


class ReadReceiptOut(BaseModel):
    conversation_id: uuid.UUID
    user_id: uuid.UUID
    last_read_message_id: uuid.UUID | None
    last_read_at: datetime | None
