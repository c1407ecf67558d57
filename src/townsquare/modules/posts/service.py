"""Use cases of posts. Services flush; the edge commits."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.errors import NotFound
from townsquare.kit.models import utcnow
from townsquare.modules.posts import repository
from townsquare.modules.posts.models import Post


class PostNotFound(NotFound):
    code = "post_not_found"


async def get_visible_post_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> Post:
    """The post, if the viewer may see it; otherwise 404, the same as a missing post.

    Comments, reactions, shares and bookmarks call this before touching a post: they inherit
    its visibility.
    """
    post = await repository.get_visible_post(session, viewer_id, post_id, utcnow())
    if post is None:
        raise PostNotFound()
    return post


async def adjust_comment_count(session: AsyncSession, post_id: uuid.UUID, delta: int) -> None:
    await repository.add_to_counts(session, post_id, comment_count=delta)
