"""Use cases of the social graph. Services flush; the edge commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.social import repository


async def adjust_posts_count(session: AsyncSession, author_id: uuid.UUID, delta: int) -> None:
    """Called by posts when a post becomes visible to others (+1) or stops being so (-1)."""
    await repository.add_to_stats(session, author_id, posts_count=delta)
