"""All SQL of the home feed. Pages: the feed composes the posts module's page statement (its
liveness and visibility policy) with the social graph's and topics' id subqueries, so every
page is filtered in SQL by the same rules as every other read of posts; it names no posts
table. The feed's own tables are the home inbox (``models.py``), the embedded feed store.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    CompoundSelect,
    Integer,
    Select,
    Table,
    Uuid,
    and_,
    bindparam,
    delete,
    func,
    insert,
    not_,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.models import utcnow
from townsquare.kit.sql import dialect_name, insert_for
from townsquare.modules.comments import repository as comments
from townsquare.modules.feed.models import HomeInboxBuild, HomeInboxEntry
from townsquare.modules.posts import repository as posts
from townsquare.modules.posts.policy import ViewerRef
from townsquare.modules.posts.repository import FeedPostRow, PostClause, TimelineKey
from townsquare.modules.reactions import repository as reactions
from townsquare.modules.social import repository as social
from townsquare.modules.topics import repository as topics


def _sources(
    viewer_id: ViewerRef,
    post_id: ColumnElement[uuid.UUID],
    author_id: ColumnElement[uuid.UUID],
    *,
    keyed: bool,
) -> ColumnElement[bool]:
    """The post comes from one of the viewer's home sources: the viewer, a friend, an account
    the viewer follows (approved), or a topic the viewer follows.

    ``keyed``: the page already has its candidates (a feed store's ids), so friendship and
    follow are checked per candidate (correlated EXISTS, one index probe each) rather than as
    id lists; the planner then drives the page by the candidates' keys instead of walking
    every post of every source (which is what the fan-out-on-read form is for)."""
    if keyed:
        friend = social.are_friends_clause(viewer_id, author_id)
        followed = social.follows_clause(viewer_id, author_id)
    else:
        friend = author_id.in_(social.friend_ids_statement(viewer_id))
        followed = author_id.in_(social.followee_ids_statement(viewer_id))
    return or_(
        author_id == viewer_id,
        friend,
        followed,
        post_id.in_(topics.followed_topic_post_ids_statement(viewer_id)),
    )


def _read_time_sources(
    viewer_id: ViewerRef,
    audience_limit: ColumnElement[int],
    post_id: ColumnElement[uuid.UUID],
    author_id: ColumnElement[uuid.UUID],
) -> ColumnElement[bool]:
    """What fan-out on write does not push, merged when the feed is read: followed accounts
    with an audience over the fan-out limit, and followed topics."""
    return or_(
        author_id.in_(social.followee_ids_statement(viewer_id, min_followers=audience_limit)),
        post_id.in_(topics.followed_topic_post_ids_statement(viewer_id)),
    )


def _home_clause(viewer_id: ViewerRef, *, candidates: bool, since: bool) -> PostClause:
    """Membership and the viewer's mutes (the posts module adds liveness and its visibility
    policy), checked again for every page, whatever produced the candidates; with
    ``candidates``, only the store's ids (``post_ids``) and the read-time sources."""

    def clause(
        post_id: ColumnElement[uuid.UUID], author_id: ColumnElement[uuid.UUID]
    ) -> ColumnElement[bool]:
        conditions = [
            _sources(viewer_id, post_id, author_id, keyed=candidates),
            not_(social.muted_clause(viewer_id, author_id)),
        ]
        if candidates:
            conditions.append(
                or_(
                    post_id.in_(bindparam("post_ids", expanding=True)),
                    _read_time_sources(viewer_id, bindparam("audience_limit"), post_id, author_id),
                )
            )
        if since:
            conditions.append(posts.published_since_clause(bindparam("not_before")))
        return and_(*conditions)

    return clause


@functools.cache
def _home_page_statement(
    *, candidates: bool, after: bool, not_before: bool
) -> posts.FeedPageStatement:
    """The page query of one shape, built once: building this expression costs more than
    running it, and a reused statement also hits SQLAlchemy's compiled cache."""
    viewer = bindparam("viewer_id", type_=Uuid)
    where = _home_clause(viewer, candidates=candidates, since=not_before)
    return posts.feed_page_statement(viewer, bindparam("now"), where, after=after)


@dataclass(frozen=True)
class Candidates:
    """Where a feed store says to look: the ids it holds, plus the read-time sources."""

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
) -> list[FeedPostRow]:
    """A page of the viewer's home feed (Core rows, no ORM), newest published first.

    ``candidates`` narrows the search (the post ids a feed store holds, plus read-time
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
    # Live posts: published_at is set.
    return [FeedPostRow._make(row) for row in await session.execute(statement, params)]


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
    return await posts.count_by_author(session, touched, author_ids)


async def home_post_keys(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    now: datetime,
    limit: int,
    since: datetime | None = None,
) -> list[tuple[uuid.UUID, datetime]]:
    """(id, published_at) of the newest ``limit`` posts of the home feed (published at or
    after ``since``, if given): a rebuild's content."""
    rows = await list_home_posts(session, viewer_id, now, limit, None, not_before=since)
    return [(row.id, row.published_at) for row in rows]


# --- the home inbox (the embedded mode's feed store; see ``models``)

_INBOX = cast(Table, HomeInboxEntry.__table__)
_BUILDS = cast(Table, HomeInboxBuild.__table__)
#: Above every score: a window read from the top of the inbox.
TOP_SCORE = 1 << 62


@functools.cache
def _inbox_window_statement() -> CompoundSelect[Any]:
    """The newest ``count`` entries scored at most ``max_score`` (one index range scan of the
    primary key), followed by one marker row (post_id NULL, the inbox's size) when the inbox
    exists: one round trip answers "is it built", "how big" and "what is in the window"."""
    user_id = bindparam("user_id", type_=Uuid)
    window = (
        select(_INBOX.c.post_id, _INBOX.c.score)
        .where(_INBOX.c.user_id == user_id, _INBOX.c.score <= bindparam("max_score"))
        .order_by(_INBOX.c.score.desc(), _INBOX.c.post_id.desc())
        .limit(bindparam("count", type_=Integer))
        .subquery()
    )
    size = select(func.count()).where(_INBOX.c.user_id == user_id).scalar_subquery()
    marker = select(null().label("post_id"), size).where(_BUILDS.c.user_id == user_id)
    return union_all(select(window.c.post_id, window.c.score), marker)


async def read_inbox(
    session: AsyncSession, user_id: uuid.UUID, max_score: int, count: int
) -> tuple[list[tuple[uuid.UUID, int]], int] | None:
    """The window (newest first) and the inbox's size; None when the inbox does not exist."""
    params = {"user_id": user_id, "max_score": max_score, "count": count}
    entries: list[tuple[uuid.UUID, int]] = []
    size: int | None = None
    for post_id, score in await session.execute(_inbox_window_statement(), params):
        if post_id is None:
            size = int(score)
        else:
            entries.append((post_id, int(score)))
    if size is None:
        return None
    entries.sort(key=lambda entry: (entry[1], entry[0]), reverse=True)
    return entries, size


@functools.cache
def _inbox_insert_statement(dialect: str) -> Any:
    return insert_for(dialect, _INBOX).on_conflict_do_nothing(
        index_elements=["user_id", "score", "post_id"]
    )


async def replace_inbox(
    session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
) -> None:
    """Store a rebuilt inbox in place of the old one (in the caller's transaction)."""
    await drop_inboxes(session, [user_id])
    await session.execute(insert(_BUILDS), [{"user_id": user_id, "built_at": utcnow()}])
    await add_to_inbox(session, user_id, entries)


async def add_to_inbox(
    session: AsyncSession, user_id: uuid.UUID, entries: Sequence[tuple[uuid.UUID, int]]
) -> None:
    if entries:
        rows = [{"user_id": user_id, "score": score, "post_id": pid} for pid, score in entries]
        await session.execute(_inbox_insert_statement(dialect_name(session)), rows)


@functools.cache
def _push_statement(dialect: str) -> Any:
    """Insert the post into each existing inbox among ``user_ids`` (one statement)."""
    built = select(
        _BUILDS.c.user_id,
        bindparam("score", type_=BigInteger),
        bindparam("post_id", type_=Uuid),
    ).where(_BUILDS.c.user_id.in_(bindparam("user_ids", expanding=True)))
    return (
        insert_for(dialect, _INBOX)
        .from_select(["user_id", "score", "post_id"], built)
        .on_conflict_do_nothing(index_elements=["user_id", "score", "post_id"])
    )


@functools.cache
def _overflow_statement() -> Select[Any]:
    """Each existing inbox among ``user_ids`` with the score of its first entry past the cap
    (NULL when it holds at most ``cap`` entries)."""
    inner = _INBOX.alias("inner")
    first_dropped = (
        select(inner.c.score)
        .where(inner.c.user_id == _BUILDS.c.user_id)
        .order_by(inner.c.score.desc(), inner.c.post_id.desc())
        .offset(bindparam("cap", type_=Integer))
        .limit(1)
        .scalar_subquery()
    )
    return select(_BUILDS.c.user_id, first_dropped).where(
        _BUILDS.c.user_id.in_(bindparam("user_ids", expanding=True))
    )


@functools.cache
def _trim_statement() -> Any:
    """Delete the user's entries past the newest ``cap`` (those scored at most ``score``, the
    first entry past the cap, that are not among the newest ``cap``)."""
    inner = _INBOX.alias("inner")
    user_id = bindparam("user_id", type_=Uuid)
    kept = (
        select(inner.c.post_id)
        .where(inner.c.user_id == user_id)
        .order_by(inner.c.score.desc(), inner.c.post_id.desc())
        .limit(bindparam("cap", type_=Integer))
    )
    return delete(_INBOX).where(
        _INBOX.c.user_id == user_id,
        _INBOX.c.score <= bindparam("score", type_=BigInteger),
        _INBOX.c.post_id.not_in(kept),
    )


async def push_to_inboxes(
    session: AsyncSession, post_id: uuid.UUID, score: int, user_ids: Sequence[uuid.UUID], cap: int
) -> int:
    """Add the post to the existing inboxes of ``user_ids``, trimming each to ``cap`` entries;
    returns how many inboxes exist among them (as the Redis push does)."""
    await session.execute(
        _push_statement(dialect_name(session)),
        {"score": score, "post_id": post_id, "user_ids": list(user_ids)},
    )
    rows = (
        await session.execute(_overflow_statement(), {"user_ids": list(user_ids), "cap": cap})
    ).all()
    over = [{"user_id": user_id, "score": s, "cap": cap} for user_id, s in rows if s is not None]
    if over:
        await session.execute(_trim_statement(), over)
    return len(rows)


async def drop_inboxes(session: AsyncSession, user_ids: Sequence[uuid.UUID]) -> None:
    """Forget these inboxes; their next read rebuilds them."""
    ids = list(user_ids)
    await session.execute(delete(_BUILDS).where(_BUILDS.c.user_id.in_(ids)))
    await session.execute(delete(_INBOX).where(_INBOX.c.user_id.in_(ids)))


async def drop_inboxes_built_before(session: AsyncSession, moment: datetime) -> None:
    await session.execute(delete(_BUILDS).where(_BUILDS.c.built_at < moment))
