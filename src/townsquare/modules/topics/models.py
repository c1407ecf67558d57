"""Topics made from #hashtags: follows, the posts that use them, and usage for trending."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, TimestampMixin, utcnow


class Topic(IdMixin, TimestampMixin, Base):
    __tablename__ = "topics"

    #: Case-folded hashtag text (Unicode letters, digits, underscore), unique.
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: The spelling first used, e.g. "PyCon" for #pycon.
    display_name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(7))
    icon: Mapped[str | None] = mapped_column(String(100))
    post_count: Mapped[int] = mapped_column(default=0, server_default="0")
    follower_count: Mapped[int] = mapped_column(default=0, server_default="0")
    is_featured: Mapped[bool] = mapped_column(default=False, server_default=false())
    trending_score: Mapped[float] = mapped_column(default=0.0, server_default="0")
    trending_updated_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("post_count >= 0 AND follower_count >= 0", name="counts"),
        Index("ix_topics_trending_score", "trending_score"),
    )


class TopicFollow(IdMixin, Base):
    __tablename__ = "topic_follows"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    topic_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("topics.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "topic_id"),
        Index("ix_topic_follows_topic_id", "topic_id"),
    )


class PostTopic(Base):
    __tablename__ = "post_topics"

    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    topic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("ix_post_topics_topic_id_post_id", "topic_id", "post_id"),)


class TopicDailyUsage(Base):
    """How many posts used a topic each day: the baseline trending compares against."""

    __tablename__ = "topic_daily_usage"

    topic_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("topics.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    count: Mapped[int] = mapped_column(default=0)
