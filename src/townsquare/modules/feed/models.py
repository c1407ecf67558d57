"""The home inbox: the feed store of the embedded mode (no Redis), filled on write.

``home_inbox`` holds, per user, the ids of the posts fanned out to them, scored like the Redis
feed (publication time in milliseconds), at most ``feed_max_items`` per user. Its primary key
(user_id, score, post_id) makes a page of the feed one index range scan, newest first.
``home_inbox_builds`` says which inboxes exist (a row per built inbox): fan-out fills existing
inboxes only, and a missing one is rebuilt from the database at its next read, exactly like a
missing Redis feed. The inbox is an index, not the truth: every page is filtered again.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base


class HomeInboxEntry(Base):
    __tablename__ = "home_inbox"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: The post's publication time in milliseconds (``store.score_of``), as in a Redis feed.
    score: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HomeInboxBuild(Base):
    __tablename__ = "home_inbox_builds"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    built_at: Mapped[datetime]
