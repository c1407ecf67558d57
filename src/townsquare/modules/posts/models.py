"""Posts and what belongs to them: media, custom audiences, revisions, mentions, polls."""

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
    false,
    text,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, StrEnumType, TimestampMixin, utcnow


class PostType(StrEnum):
    TEXT = "text"
    PHOTO = "photo"
    VIDEO = "video"
    LINK = "link"
    AUDIO = "audio"
    POLL = "poll"


class Visibility(StrEnum):
    PUBLIC = "public"
    FRIENDS = "friends"
    CLOSE_FRIENDS = "close_friends"
    ONLY_ME = "only_me"
    CUSTOM = "custom"


class PostStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    PUBLISHED = "published"


class CommentPermission(StrEnum):
    EVERYONE = "everyone"
    FRIENDS = "friends"
    NOBODY = "nobody"


class MediaType(StrEnum):
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    GIF = "gif"


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class Post(IdMixin, TimestampMixin, Base):
    __tablename__ = "posts"

    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[PostType] = mapped_column(StrEnumType(PostType, 10))
    content: Mapped[str] = mapped_column(Text, default="")
    visibility: Mapped[Visibility] = mapped_column(StrEnumType(Visibility, 15))
    status: Mapped[PostStatus] = mapped_column(StrEnumType(PostStatus, 10))
    #: When a scheduled post goes out; for published posts, when it did.
    published_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    is_edited: Mapped[bool] = mapped_column(default=False, server_default=false())
    edited_at: Mapped[datetime | None]
    location_name: Mapped[str | None] = mapped_column(String(200))
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    link_url: Mapped[str | None] = mapped_column(String(2048))
    allow_reactions: Mapped[bool] = mapped_column(default=True, server_default=true())
    comment_permission: Mapped[CommentPermission] = mapped_column(
        StrEnumType(CommentPermission, 10), default=CommentPermission.EVERYONE
    )
    #: A share points at the post it shares (which keeps its own visibility).
    shared_post_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("posts.id", ondelete="SET NULL")
    )
    comment_count: Mapped[int] = mapped_column(default=0, server_default="0")
    share_count: Mapped[int] = mapped_column(default=0, server_default="0")
    view_count: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(_in("type", PostType), name="type"),
        CheckConstraint(_in("visibility", Visibility), name="visibility"),
        CheckConstraint(_in("status", PostStatus), name="status"),
        CheckConstraint(_in("comment_permission", CommentPermission), name="comment_permission"),
        CheckConstraint("latitude IS NULL OR latitude BETWEEN -90 AND 90", name="latitude"),
        CheckConstraint("longitude IS NULL OR longitude BETWEEN -180 AND 180", name="longitude"),
        CheckConstraint(
            "comment_count >= 0 AND share_count >= 0 AND view_count >= 0", name="counts"
        ),
        # Timelines: an author's posts newest first.
        Index("ix_posts_author_id_published_at_id", "author_id", "published_at", "id"),
        # Public listings and feeds: newest published first.
        Index("ix_posts_published_at_id", "published_at", "id"),
        # The scheduler's query: scheduled posts that are due.
        Index(
            "ix_posts_scheduled_due",
            "published_at",
            postgresql_where=text("status = 'scheduled'"),
            sqlite_where=text("status = 'scheduled'"),
        ),
        Index("ix_posts_shared_post_id", "shared_post_id"),
    )


class PostMedia(IdMixin, Base):
    __tablename__ = "post_media"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    position: Mapped[int]
    media_type: Mapped[MediaType] = mapped_column(StrEnumType(MediaType, 10))
    url: Mapped[str] = mapped_column(String(2048))
    thumbnail_url: Mapped[str | None] = mapped_column(String(2048))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_seconds: Mapped[float | None]
    alt_text: Mapped[str | None] = mapped_column(String(1500))

    __table_args__ = (
        UniqueConstraint("post_id", "position"),
        CheckConstraint(_in("media_type", MediaType), name="media_type"),
    )


class PostAudience(Base):
    """The explicit viewers of a ``custom``-visibility post."""

    __tablename__ = "post_audience"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class PostRevision(IdMixin, Base):
    """A previous version of an edited post (readable by whoever may see the post)."""

    __tablename__ = "post_revisions"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    content: Mapped[str] = mapped_column(Text)
    location_name: Mapped[str | None] = mapped_column(String(200))
    link_url: Mapped[str | None] = mapped_column(String(2048))
    #: When this version was written (the post's creation or a previous edit).
    written_at: Mapped[datetime]
    replaced_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_post_revisions_post_id_id", "post_id", "id"),)


class PostMention(Base):
    """A linked @mention: only users who may see the post are linked."""

    __tablename__ = "post_mentions"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_post_mentions_user_id", "user_id", "post_id"),)


class Poll(Base):
    __tablename__ = "polls"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    allows_multiple: Mapped[bool] = mapped_column(default=False)
    closes_at: Mapped[datetime | None]


class PollOption(IdMixin, Base):
    __tablename__ = "poll_options"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("polls.post_id", ondelete="CASCADE"))
    position: Mapped[int]
    text: Mapped[str] = mapped_column(String(200))
    votes_count: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        UniqueConstraint("post_id", "position"),
        CheckConstraint("votes_count >= 0", name="votes_count_non_negative"),
    )


class PollVote(IdMixin, Base):
    """One row per chosen option. ``slot`` makes single-choice polls one vote per user:
    it is 0 for every vote of a single-choice poll, the option's position otherwise."""

    __tablename__ = "poll_votes"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("polls.post_id", ondelete="CASCADE"))
    option_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("poll_options.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    slot: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("post_id", "user_id", "slot"),)
