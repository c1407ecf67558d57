"""Threaded comments on posts (top level is depth 0; replies go to depth 3 at most)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, TimestampMixin

MAX_DEPTH = 3


class Comment(IdMixin, TimestampMixin, Base):
    __tablename__ = "comments"

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    depth: Mapped[int] = mapped_column(default=0)
    content: Mapped[str] = mapped_column(Text)
    is_edited: Mapped[bool] = mapped_column(default=False, server_default=false())
    edited_at: Mapped[datetime | None]
    #: Soft delete: the row stays (content blanked) so the thread keeps its shape.
    deleted_at: Mapped[datetime | None]
    replies_count: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = (
        CheckConstraint(f"depth BETWEEN 0 AND {MAX_DEPTH}", name="depth"),
        CheckConstraint("replies_count >= 0", name="replies_count_non_negative"),
        # Listing a thread level: children of a parent (or top level of a post), oldest first.
        Index("ix_comments_post_id_parent_id_id", "post_id", "parent_id", "id"),
        Index("ix_comments_parent_id_id", "parent_id", "id"),
        # A user's recent comments (the ranked feed's affinity).
        Index("ix_comments_author_id_created_at", "author_id", "created_at"),
    )


class CommentMention(Base):
    __tablename__ = "comment_mentions"

    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )

    __table_args__ = (Index("ix_comment_mentions_user_id", "user_id"),)
