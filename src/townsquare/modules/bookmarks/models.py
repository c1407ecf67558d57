"""Bookmarks: posts a user saved, in named collections (no collection = the default one)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, utcnow


class BookmarkCollection(IdMixin, Base):
    __tablename__ = "bookmark_collections"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("owner_id", "name"),)


class Bookmark(IdMixin, Base):
    __tablename__ = "bookmarks"

    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    collection_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("bookmark_collections.id", ondelete="CASCADE")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("owner_id", "post_id"),
        Index("ix_bookmarks_owner_id_collection_id_id", "owner_id", "collection_id", "id"),
    )
