"""All SQL of bookmarks."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.bookmarks.models import Bookmark


async def bookmarked_post_ids(
    session: AsyncSession, owner_id: uuid.UUID, post_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of ``post_ids`` the owner bookmarked, in one query."""
    ids = list(set(post_ids))
    if not ids:
        return set()
    rows = await session.scalars(
        select(Bookmark.post_id).where(Bookmark.owner_id == owner_id, Bookmark.post_id.in_(ids))
    )
    return set(rows)
