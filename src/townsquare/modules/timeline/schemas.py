"""The cached, viewer-independent body of a post, and how its values are written.

``PostBody`` declares the body's fields with the same types as the API's ``EmbeddedPostOut``,
so dumping it in JSON mode writes every value exactly as the API writes it (datetimes with
``Z``, UUIDs as strings, enums as values, floats as floats). It runs on a cache miss only; the
hot path merges cached bodies with the viewer's state as plain dicts.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from townsquare.modules.posts.models import CommentPermission, PostStatus, PostType, Visibility
from townsquare.modules.posts.schemas import LocationOut, MediaOut

#: Bumped when the body's layout changes: older cached bodies are then misses.
BODY_VERSION = 1


class PollOptionBody(BaseModel):
    id: uuid.UUID
    text: str
    votes_count: int


class PollBody(BaseModel):
    allows_multiple: bool
    closes_at: datetime | None
    options: list[PollOptionBody]


class PostBody(BaseModel):
    id: uuid.UUID
    author_id: uuid.UUID
    type: PostType
    content: str
    hashtags: list[str]
    visibility: Visibility
    status: PostStatus
    published_at: datetime | None
    created_at: datetime
    is_edited: bool
    edited_at: datetime | None
    archived_at: datetime | None
    deleted_at: datetime | None
    location: LocationOut | None
    link_url: str | None
    media: list[MediaOut]
    poll: PollBody | None
    allow_reactions: bool
    comment_permission: CommentPermission
    comment_count: int
    share_count: int
    reaction_counts: dict[str, int]
    shared_post_id: uuid.UUID | None
    v: int = BODY_VERSION
