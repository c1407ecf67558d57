"""Pages of posts and single posts, presented for a viewer (see ``presenter``).

Each page chooses its ids through the owner's viewer-filtered statement (posts' author
timeline, the feed's, topics', bookmarks') and presents them here; answers are JSON-ready dicts
in the API's shapes (``PostOut``, ``Page[PostOut]``) for the endpoint to encode once.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.models import utcnow
from townsquare.kit.pagination import PageRequest
from townsquare.modules.posts import repository as posts_repository
from townsquare.modules.posts import service as posts
from townsquare.modules.timeline.presenter import (
    HasId,
    present_post_if_visible,
    present_posts,
    present_visible_posts,
)

__all__ = [
    "get_post_or_404",
    "list_author_posts",
    "list_own_posts",
    "page_of",
    "present_post",
    "present_posts",
    "present_visible_posts",
]

JsonPage = dict[str, Any]


def page_of(items: list[dict[str, Any]], next_cursor: str | None) -> JsonPage:
    """A ``Page`` as JSON (``items``, ``next_cursor``)."""
    return {"items": items, "next_cursor": next_cursor}


async def get_post_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> dict[str, Any]:
    """The post as the viewer sees it; 404 ``post_not_found`` if the policy says no."""
    presented = await present_post_if_visible(session, viewer_id, post_id)
    if presented is None:
        raise posts.PostNotFound()
    return presented


async def present_post(session: AsyncSession, viewer_id: uuid.UUID, post: HasId) -> dict[str, Any]:
    """A post the viewer just wrote or changed (the write endpoints' answer)."""
    return (await present_posts(session, viewer_id, [post]))[0]


async def list_author_posts(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str, page: PageRequest
) -> JsonPage:
    """A profile's timeline: the author's live posts the viewer may see, newest first."""
    now = utcnow()
    author_id = await posts.get_author_id_or_404(session, viewer_id, username)
    after = posts.decode_timeline_cursor(page.cursor) if page.cursor else None
    rows = await posts_repository.list_visible_author_post_keys(
        session, author_id, viewer_id, now, page.limit + 1, after
    )
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = posts.timeline_cursor(rows[-1])
    return page_of(await present_posts(session, viewer_id, rows, now), next_cursor)


async def list_own_posts(
    session: AsyncSession, viewer_id: uuid.UUID, state: str, page: PageRequest
) -> JsonPage:
    """The viewer's drafts, scheduled or archived posts, newest first."""
    rows, cursor = await posts.list_own_posts(session, viewer_id, state, page)
    return page_of(await present_posts(session, viewer_id, rows), cursor)
