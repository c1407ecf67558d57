"""All SQL of the home feed. The feed owns no tables: it composes the posts module's visibility
policy with the social graph's and topics' id subqueries, so every page is filtered in SQL by
the same rules as every other read of posts.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Uuid,
    and_,
    bindparam,
    func,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.comments import repository as comments
from townsquare.modules.posts import policy
from townsquare.modules.posts.models import Post
from townsquare.modules.posts.policy import MomentRef, ViewerRef
from townsquare.modules.posts.repository import TimelineKey
from townsquare.modules.reactions import repository as reactions
from townsquare.modules.social import repository as social
from townsquare.modules.topics import repository as topics


def home_sources_clause(viewer_id: ViewerRef) -> ColumnElement[bool]:
    """The post comes from one of the viewer's home sources: the viewer, a friend, an account
    the viewer follows (approved), or a topic the viewer follows."""
    return or_(
        Post.author_id == viewer_id,
        Post.author_id.in_(social.friend_ids_statement(viewer_id)),
        Post.author_id.in_(social.followee_ids_statement(viewer_id)),
        Post.id.in_(topics.followed_topic_post_ids_statement(viewer_id)),
    )


def read_time_sources_clause(
    viewer_id: ViewerRef, audience_limit: int | ColumnElement[int]
) -> ColumnElement[bool]:
    """What fan-out on write does not push, merged when the feed is read: followed accounts
    with an audience over the fan-out limit, and followed topics."""
    return or_(
        Post.author_id.in_(social.followee_ids_statement(viewer_id, min_followers=audience_limit)),
        Post.id.in_(topics.followed_topic_post_ids_statement(viewer_id)),
    )


def home_page_clause(viewer_id: ViewerRef, now: MomentRef) -> ColumnElement[bool]:
    """Membership, liveness, the visibility policy and the viewer's mutes, all checked again
    for every page (whatever produced the candidates)."""
    return and_(
        home_sources_clause(viewer_id),
        policy.live_clause(now),
        policy.visible_posts_clause(viewer_id, now),
        not_(social.muted_clause(viewer_id, Post.author_id)),
    )


@functools.cache
def _home_page_statement(*, candidates: bool, after: bool, not_before: bool) -> Select[Post]:
    """The page query of one shape, built once: building this expression costs more than
    running it, and a reused statement also hits SQLAlchemy's compiled cache."""
    viewer = bindparam("viewer_id", type_=Uuid)
    statement = select(Post).where(home_page_clause(viewer, bindparam("now")))
    if candidates:
        statement = statement.where(
            or_(
                Post.id.in_(bindparam("post_ids", expanding=True)),
                read_time_sources_clause(viewer, bindparam("audience_limit")),
            )
        )
    if after:
        after_at: BindParameter[datetime] = bindparam("after_at")
        statement = statement.where(
            or_(
                Post.published_at < after_at,
                and_(Post.published_at == after_at, Post.id < bindparam("after_id")),
            )
        )
    if not_before:
        statement = statement.where(Post.published_at >= bindparam("not_before"))
    return statement.order_by(Post.published_at.desc(), Post.id.desc()).limit(
        bindparam("limit", type_=Integer)
    )


@dataclass(frozen=True)
class Candidates:
    """Where a Redis feed says to look: the ids it holds, plus the read-time sources."""

    post_ids: Sequence[uuid.UUID]
    audience_limit: int


async def list_home_posts(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    limit: int,
    after: TimelineKey | None,
    *,
    candidates: Candidates | None = None,
    not_before: datetime | None = None,
) -> list[Post]:
    """A page of the viewer's home feed, newest published first.

    ``candidates`` narrows the search (the post ids a Redis feed holds, plus read-time
    sources); without it the page is read from the database alone (fan-out on read).
    ``not_before`` bounds the page to the span the candidates are known to cover.
    """
    statement = _home_page_statement(
        candidates=candidates is not None,
        after=after is not None,
        not_before=not_before is not None,
    )
    params: dict[str, Any] = {"viewer_id": viewer_id, "now": now, "limit": limit}
    if candidates is not None:
        params.update(post_ids=list(candidates.post_ids), audience_limit=candidates.audience_limit)
    if after is not None:
        params.update(after_at=after[0], after_id=after[1])
    if not_before is not None:
        params["not_before"] = not_before
    return list((await session.scalars(statement, params)).all())


async def get_live_post(session: AsyncSession, post_id: uuid.UUID, now: datetime) -> Post | None:
    return await session.scalar(select(Post).where(Post.id == post_id, policy.live_clause(now)))


async def interactions_with_authors(
    session: AsyncSession, viewer_id: uuid.UUID, author_ids: Sequence[uuid.UUID], since: datetime
) -> dict[uuid.UUID, int]:
    """How many times the viewer reacted to or commented on each author's posts since
    ``since`` (one query)."""
    if not author_ids:
        return {}
    touched = union_all(
        reactions.reacted_post_ids_statement(viewer_id, since),
        comments.commented_post_ids_statement(viewer_id, since),
    ).subquery()
    rows = await session.execute(
        select(Post.author_id, func.count())
        .select_from(touched)
        .join(Post, Post.id == touched.c.post_id)
        .where(Post.author_id.in_(list(author_ids)))
        .group_by(Post.author_id)
    )
    return {author_id: int(count) for author_id, count in rows}


async def home_post_keys(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    limit: int,
    since: datetime | None = None,
) -> list[tuple[uuid.UUID, datetime]]:
    """(id, published_at) of the newest ``limit`` posts of the home feed (published at or
    after ``since``, if given): a rebuild's content."""
    statement = select(Post.id, Post.published_at).where(home_page_clause(viewer_id, now))
    if since is not None:
        statement = statement.where(Post.published_at >= since)
    rows = await session.execute(
        statement.order_by(Post.published_at.desc(), Post.id.desc()).limit(limit)
    )
    return [(post_id, published_at) for post_id, published_at in rows if published_at]
