"""All SQL of posts."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.posts import policy
from townsquare.modules.posts.models import Post


async def get_visible_post(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID, now: datetime
) -> Post | None:
    """The post if the viewer may see it (the visibility policy's SQL filter), else None."""
    return await session.scalar(
        select(Post).where(Post.id == post_id, policy.visible_posts_clause(viewer_id, now))
    )


async def add_to_counts(session: AsyncSession, post_id: uuid.UUID, **deltas: int) -> None:
    """Change a post's counters in SQL (``comment_count=+1``...), race-free."""
    values = {name: getattr(Post, name) + delta for name, delta in deltas.items()}
    await session.execute(update(Post).where(Post.id == post_id).values(**values))
