"""Domain events the posts module publishes (through the outbox). Payload ids are strings."""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.posts.models import Post

#: A post went out (created published, a draft published, or a scheduled post that came due).
POST_PUBLISHED = "post.published"
#: A published post's content, location, link or audience changed.
POST_EDITED = "post.edited"
POST_DELETED = "post.deleted"
#: Someone shared a post: ``post_id`` is the share, ``shared_post_id`` the original.
POST_SHARED = "post.shared"
#: A user was linked by an @mention in a published post (only users who may see it).
POST_MENTIONED = "post.mentioned"


def _optional(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def published(post: Post) -> dict[str, Any]:
    return {
        "post_id": str(post.id),
        "author_id": str(post.author_id),
        "visibility": post.visibility.value,
        "shared_post_id": _optional(post.shared_post_id),
        "published_at": post.published_at.isoformat() if post.published_at else None,
    }


def about(post: Post) -> dict[str, Any]:
    """The payload of ``post.edited`` and ``post.deleted``."""
    return {"post_id": str(post.id), "author_id": str(post.author_id)}


def shared(share: Post, original: Post) -> dict[str, Any]:
    return {
        "post_id": str(share.id),
        "author_id": str(share.author_id),
        "shared_post_id": str(original.id),
        "original_author_id": str(original.author_id),
    }


def mentioned(post: Post, user_id: uuid.UUID) -> dict[str, Any]:
    return {"post_id": str(post.id), "author_id": str(post.author_id), "user_id": str(user_id)}


# --- in-transaction listeners: hashtags ----------------------------------------------------
# Topics keep the links between posts and their hashtags, in the same transaction as the post
# (a topic page shows a new post at once, and counts move with the row they count). Posts does
# not import topics: the listener registers at start-up (``townsquare.wiring``).


class HashtagListener(Protocol):
    async def attach_post_topics(
        self, session: AsyncSession, post_id: uuid.UUID, tags: list[str]
    ) -> None: ...

    async def replace_post_topics(
        self, session: AsyncSession, post_id: uuid.UUID, tags: list[str]
    ) -> None: ...

    async def detach_post_topics(self, session: AsyncSession, post_id: uuid.UUID) -> None: ...


_hashtag_listeners: dict[str, HashtagListener] = {}


def listen_to_hashtags(name: str, listener: HashtagListener) -> None:
    """Register (or replace) ``listener`` under ``name``."""
    _hashtag_listeners[name] = listener


def hashtag_listeners() -> list[HashtagListener]:
    return list(_hashtag_listeners.values())
