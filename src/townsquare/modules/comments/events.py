"""Domain events the comments module publishes (through the outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from townsquare.modules.comments.models import Comment

COMMENT_CREATED = "comment.created"
COMMENT_MENTIONED = "comment.mentioned"
COMMENT_DELETED = "comment.deleted"


def _str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def created(
    comment: Comment,
    post_author_id: uuid.UUID,
    parent: Comment | None,
    replied_to: Comment | None,
) -> dict[str, Any]:
    """``parent`` is where the reply was attached; ``replied_to`` the comment answered (they
    differ when answering a depth-3 comment). Notifications tell ``replied_to``'s author."""
    return {
        "comment_id": str(comment.id),
        "post_id": str(comment.post_id),
        "post_author_id": str(post_author_id),
        "author_id": str(comment.author_id),
        "depth": comment.depth,
        "parent_id": _str(parent.id if parent else None),
        "parent_author_id": _str(parent.author_id if parent else None),
        "in_reply_to_id": _str(replied_to.id if replied_to else None),
        "in_reply_to_author_id": _str(replied_to.author_id if replied_to else None),
    }


def mentioned(comment: Comment, user_ids: Iterable[uuid.UUID]) -> dict[str, Any]:
    return {
        "comment_id": str(comment.id),
        "post_id": str(comment.post_id),
        "author_id": str(comment.author_id),
        "mentioned_user_ids": sorted(str(user_id) for user_id in user_ids),
    }


def deleted(comment: Comment, by: uuid.UUID) -> dict[str, Any]:
    return {
        "comment_id": str(comment.id),
        "post_id": str(comment.post_id),
        "author_id": str(comment.author_id),
        "by": str(by),
    }
