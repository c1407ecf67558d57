"""All SQL of comments."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.pagination import PageRequest, decode_id_cursor, encode_cursor
from townsquare.modules.comments.models import Comment, CommentMention
from townsquare.modules.social import policy as people


def add_comment(
    session: AsyncSession,
    *,
    post_id: uuid.UUID,
    author_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    depth: int,
    content: str,
) -> Comment:
    comment = Comment(
        post_id=post_id,
        author_id=author_id,
        parent_id=parent_id,
        depth=depth,
        content=content,
        replies_count=0,
        is_edited=False,
    )
    session.add(comment)
    return comment


async def get_comment(session: AsyncSession, comment_id: uuid.UUID) -> Comment | None:
    """Any comment, whoever wrote it (callers check the post's visibility and blocks)."""
    return await session.get(Comment, comment_id)


def shown_to_clause(viewer_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Comments whose author the viewer may see (the people policy: not hidden, and for a
    signed-in viewer not blocked either way). The post's visibility is checked separately."""
    return people.visible_person_clause(viewer_id, Comment.author_id)


async def get_comment_shown_to(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID
) -> Comment | None:
    return await session.scalar(
        select(Comment).where(Comment.id == comment_id, shown_to_clause(viewer_id))
    )


async def add_to_replies_count(session: AsyncSession, comment_id: uuid.UUID, delta: int) -> None:
    """In SQL, so concurrent replies all count."""
    await session.execute(
        update(Comment)
        .where(Comment.id == comment_id)
        .values(replies_count=Comment.replies_count + delta)
    )


async def mark_deleted(session: AsyncSession, comment_id: uuid.UUID, now: datetime) -> bool:
    """Soft delete; True only for the request that actually deleted it (so it counts once)."""
    result = await session.execute(
        update(Comment)
        .where(Comment.id == comment_id, Comment.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_thread_level(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    post_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    page: PageRequest,
) -> tuple[Sequence[Comment], str | None]:
    """One level of a thread (a post's top-level comments, or a comment's replies), OLDEST
    first, so a conversation reads in order; one query, ``limit + 1`` rows to know if more
    remain. Deleted comments stay as placeholders; authors the viewer may not see are left out.
    """
    level = Comment.parent_id.is_(None) if parent_id is None else Comment.parent_id == parent_id
    statement = select(Comment).where(Comment.post_id == post_id, level, shown_to_clause(viewer_id))
    if page.cursor is not None:
        statement = statement.where(Comment.id > decode_id_cursor(page.cursor))
    statement = statement.order_by(Comment.id.asc()).limit(page.limit + 1)
    items = list((await session.scalars(statement)).all())
    if len(items) <= page.limit:
        return items, None
    items = items[: page.limit]
    return items, encode_cursor({"id": str(items[-1].id)})


async def replace_mentions(
    session: AsyncSession, comment_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Make the comment's mentions exactly ``user_ids``; the users newly mentioned."""
    wanted = set(user_ids)
    existing = set(
        await session.scalars(
            select(CommentMention.user_id).where(CommentMention.comment_id == comment_id)
        )
    )
    gone = existing - wanted
    if gone:
        await session.execute(
            delete(CommentMention).where(
                CommentMention.comment_id == comment_id, CommentMention.user_id.in_(gone)
            )
        )
    added = wanted - existing
    session.add_all(CommentMention(comment_id=comment_id, user_id=user_id) for user_id in added)
    return added


def commented_post_ids_statement(user_id: uuid.UUID, since: datetime) -> Select[uuid.UUID]:
    """The posts ``user_id`` commented on since ``since``, one row per comment (for affinity)."""
    return select(Comment.post_id.label("post_id")).where(
        Comment.author_id == user_id,
        Comment.created_at >= since,
        Comment.deleted_at.is_(None),
    )
