"""Reactions on posts and comments: one per user per target, counted per type."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, StrEnumType, utcnow


class TargetType(StrEnum):
    POST = "post"
    COMMENT = "comment"


class Reaction(IdMixin, Base):
    __tablename__ = "reactions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    target_type: Mapped[TargetType] = mapped_column(StrEnumType(TargetType, 10))
    target_id: Mapped[uuid.UUID]
    type: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("target_type", "target_id", "user_id"),
        CheckConstraint("target_type IN ('post', 'comment')", name="target_type"),
        # Who reacted, newest first, optionally by type.
        Index("ix_reactions_target_type_target_id_id", "target_type", "target_id", "id"),
        Index("ix_reactions_user_id", "user_id"),
    )


class ReactionCount(Base):
    __tablename__ = "reaction_counts"

    target_type: Mapped[TargetType] = mapped_column(StrEnumType(TargetType, 10), primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)

    __table_args__ = (CheckConstraint("count >= 0", name="count_non_negative"),)
