"""All SQL of posts.

Batch readers (``*_for``) take the ids of a whole page and answer in one query each, so a page
costs the same number of queries whatever its size.
"""

from __future__ import annotations

import functools
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    Subquery,
    Uuid,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.models import new_id, utcnow
from townsquare.kit.sql import insert_or_ignore
from townsquare.modules.posts import policy
from townsquare.modules.posts.models import (
    Poll,
    PollOption,
    PollVote,
    Post,
    PostAudience,
    PostMedia,
    PostMention,
    PostRevision,
    PostStatus,
    Visibility,
)
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.social import policy as people
from townsquare.modules.social import repository as social
from townsquare.modules.social.repository import Relation

#: (published_at, id) of the last post of a timeline page.
TimelineKey = tuple[datetime, uuid.UUID]


# --- single posts


async def get_visible_post(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID, now: datetime
) -> Post | None:
    """The post if the viewer may see it (the visibility policy's SQL filter), else None."""
    return await session.scalar(
        select(Post).where(Post.id == post_id, policy.visible_posts_clause(viewer_id, now))
    )


async def viewers_who_may_see(
    session: AsyncSession, post_id: uuid.UUID, viewer_ids: Iterable[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Those of ``viewer_ids`` the visibility policy lets see the post; one query for all."""
    ids = sorted(set(viewer_ids))
    if not ids:
        return set()
    viewer = profiles.user_id_column()
    rows = await session.scalars(
        select(viewer).where(
            viewer.in_(ids),
            exists().where(Post.id == post_id, policy.visible_posts_clause(viewer, now)),
        )
    )
    return set(rows)


async def get_visible_post_for_update(
    session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID, now: datetime
) -> Post | None:
    """Like ``get_visible_post``, with the row locked until commit (PostgreSQL; SQLite's
    writers are serialized anyway) and fresh from the database, so concurrent state changes
    of one post queue instead of both acting on the state they read."""
    return await session.scalar(
        select(Post)
        .where(Post.id == post_id, policy.visible_posts_clause(viewer_id, now))
        .with_for_update(of=Post)
        .execution_options(populate_existing=True)
    )


async def add_to_counts(session: AsyncSession, post_id: uuid.UUID, **deltas: int) -> None:
    """Change a post's counters in SQL (``comment_count=+1``...), race-free."""
    values = {name: getattr(Post, name) + delta for name, delta in deltas.items()}
    await session.execute(update(Post).where(Post.id == post_id).values(**values))


def add_post(session: AsyncSession, post: Post) -> None:
    session.add(post)


def add_media(session: AsyncSession, items: Iterable[PostMedia]) -> None:
    session.add_all(items)


def add_poll(session: AsyncSession, poll: Poll, options: Iterable[PollOption]) -> None:
    session.add(poll)
    session.add_all(options)


def add_revision(session: AsyncSession, revision: PostRevision) -> None:
    session.add(revision)


# --- custom audiences


async def replace_audience(
    session: AsyncSession, post_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> None:
    await session.execute(
        delete(PostAudience)
        .where(PostAudience.post_id == post_id)
        .execution_options(synchronize_session=False)
    )
    session.add_all(PostAudience(post_id=post_id, user_id=user_id) for user_id in set(user_ids))
    await session.flush()


async def audience_of(session: AsyncSession, post_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(
        select(PostAudience.user_id).where(PostAudience.post_id == post_id)
    )
    return set(rows)


async def audiences_for(
    session: AsyncSession, post_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The custom audience of each post (one query, even for no ids)."""
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    rows = await session.execute(
        select(PostAudience.post_id, PostAudience.user_id)
        .where(PostAudience.post_id.in_(list(post_ids)))
        .order_by(PostAudience.post_id, PostAudience.user_id)
    )
    for post_id, user_id in rows:
        found[post_id].append(user_id)
    return found


# --- what a page of posts shows (one query each)


async def media_for(
    session: AsyncSession, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PostMedia]]:
    found: dict[uuid.UUID, list[PostMedia]] = defaultdict(list)
    rows = await session.scalars(
        select(PostMedia)
        .where(PostMedia.post_id.in_(post_ids))
        .order_by(PostMedia.post_id, PostMedia.position)
    )
    for item in rows:
        found[item.post_id].append(item)
    return found


async def polls_for(
    session: AsyncSession, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, tuple[Poll, list[PollOption]]]:
    """Each poll of the posts with its options in order, in one query."""
    found: dict[uuid.UUID, tuple[Poll, list[PollOption]]] = {}
    rows = await session.execute(
        select(Poll, PollOption)
        .join(PollOption, PollOption.post_id == Poll.post_id)
        .where(Poll.post_id.in_(post_ids))
        .order_by(Poll.post_id, PollOption.position)
        .execution_options(populate_existing=True)
    )
    for poll, option in rows:
        found.setdefault(poll.post_id, (poll, []))[1].append(option)
    return found


async def votes_by(
    session: AsyncSession, user_id: uuid.UUID, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The options the user chose in each of the polls."""
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    rows = await session.execute(
        select(PollVote.post_id, PollVote.option_id)
        .where(PollVote.user_id == user_id, PollVote.post_id.in_(post_ids))
        .order_by(PollVote.post_id, PollVote.slot)
    )
    for post_id, option_id in rows:
        found[post_id].append(option_id)
    return found


async def mentions_for(
    session: AsyncSession, post_ids: Sequence[uuid.UUID], viewer_id: uuid.UUID | None
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Linked mentions of the posts, leaving out the users the viewer may not see (the people
    policy: hidden, or in a block with the viewer)."""
    statement = _mentions_statement(anonymous=viewer_id is None)
    params = {"post_ids": list(post_ids), "viewer_id": viewer_id}
    found: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for post_id, user_id in await session.execute(statement, params):
        found[post_id].append(user_id)
    return found


@functools.cache
def _mentions_statement(*, anonymous: bool) -> Select[uuid.UUID, uuid.UUID]:
    """Built once per shape (every page of posts runs it)."""
    viewer = None if anonymous else bindparam("viewer_id", type_=Uuid)
    return (
        select(PostMention.post_id, PostMention.user_id)
        .where(
            PostMention.post_id.in_(bindparam("post_ids", expanding=True)),
            people.visible_person_clause(viewer, PostMention.user_id),
        )
        .order_by(PostMention.post_id, PostMention.user_id)
    )


async def get_live_visible_posts(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    post_ids: Iterable[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, Post]:
    """Those of the posts that are live and that the viewer may see, by id (one query, even
    for no ids: a page costs the same queries whether or not it holds shares)."""
    statement = _live_visible_posts_statement(anonymous=viewer_id is None)
    params = {"post_ids": list(set(post_ids)), "now": now, "viewer_id": viewer_id}
    rows = await session.scalars(statement, params)
    return {post.id: post for post in rows}


@functools.cache
def _live_visible_posts_statement(*, anonymous: bool) -> Select[Post]:
    """Built once per shape (every page of posts runs it; see ``feed.repository``)."""
    viewer = None if anonymous else bindparam("viewer_id", type_=Uuid)
    now: BindParameter[datetime] = bindparam("now")
    return (
        select(Post)
        .where(
            Post.id.in_(bindparam("post_ids", expanding=True)),
            policy.live_clause(now),
            policy.visible_posts_clause(viewer, now),
        )
        .execution_options(populate_existing=True)
    )


# --- mentions


async def mentioned_user_ids(session: AsyncSession, post_id: uuid.UUID) -> set[uuid.UUID]:
    rows = await session.scalars(select(PostMention.user_id).where(PostMention.post_id == post_id))
    return set(rows)


async def replace_mentions(
    session: AsyncSession, post_id: uuid.UUID, user_ids: Iterable[uuid.UUID]
) -> None:
    await session.execute(
        delete(PostMention)
        .where(PostMention.post_id == post_id)
        .execution_options(synchronize_session=False)
    )
    session.add_all(PostMention(post_id=post_id, user_id=user_id) for user_id in set(user_ids))
    await session.flush()


async def relations_towards(
    session: AsyncSession, owner_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Relation]:
    """How each user stands towards ``owner_id`` (each user as the viewer), in one query.

    ``social.relations_of`` answers the other direction (one viewer towards many users); here
    many viewers look at one author, so the graph's clauses are evaluated per user in a
    ``UNION ALL`` of one-row selects. Callers keep ``user_ids`` short (SQLite allows 500
    compound terms).
    """
    if not user_ids:
        return {}
    parts = [
        select(
            literal(user_id, Uuid).label("user_id"),
            social.are_friends_clause(user_id, owner_id).label("is_friend"),
            social.is_close_friend_clause(owner_id, user_id).label("is_close_friend"),
            social.follows_clause(user_id, owner_id).label("follows"),
            people.blocked_either_way_clause(user_id, owner_id).label("blocked"),
        )
        for user_id in user_ids
    ]
    rows = await session.execute(union_all(*parts))
    return {
        row.user_id: Relation(
            is_friend=bool(row.is_friend),
            is_close_friend=bool(row.is_close_friend),
            follows=bool(row.follows),
            blocked=bool(row.blocked),
        )
        for row in rows
    }


# --- lists


def published_before_clause(key: TimelineKey) -> ColumnElement[bool]:
    """Posts after ``key`` in newest-published-first order (keyset on published_at, id)."""
    published_at, post_id = key
    return or_(
        Post.published_at < published_at,
        and_(Post.published_at == published_at, Post.id < post_id),
    )


def _after(key: TimelineKey | None) -> Select[Post]:
    statement = select(Post)
    if key is not None:
        statement = statement.where(published_before_clause(key))
    return statement


async def list_visible_author_posts(
    session: AsyncSession,
    author_id: uuid.UUID,
    viewer_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    after: TimelineKey | None,
) -> list[Post]:
    """The author's live posts the viewer may see, newest published first; ``limit`` rows."""
    statement = (
        _after(after)
        .where(
            Post.author_id == author_id,
            policy.live_clause(now),
            policy.visible_posts_clause(viewer_id, now),
        )
        .order_by(Post.published_at.desc(), Post.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(statement)).all())


def own_posts_statement(author_id: uuid.UUID, state: str) -> Select[Post]:
    """The author's (not deleted) drafts, scheduled or archived posts."""
    statement = select(Post).where(Post.author_id == author_id, Post.deleted_at.is_(None))
    if state == "archived":
        return statement.where(Post.archived_at.is_not(None))
    return statement.where(Post.status == PostStatus(state))


async def due_scheduled_post_ids(
    session: AsyncSession, now: datetime, limit: int
) -> list[uuid.UUID]:
    """Scheduled posts whose time has come, oldest first (the partial index's query)."""
    rows = await session.scalars(
        select(Post.id)
        .where(
            Post.status == PostStatus.SCHEDULED,
            Post.published_at <= now,
            Post.deleted_at.is_(None),
        )
        .order_by(Post.published_at, Post.id)
        .limit(limit)
    )
    return list(rows)


async def lock_due_scheduled_post(
    session: AsyncSession, post_id: uuid.UUID, now: datetime
) -> Post | None:
    """The post, locked, if it is still scheduled and due; None if not, or if another
    process holds its row (PostgreSQL ``SKIP LOCKED``; SQLite runs one writer at a time)."""
    return await session.scalar(
        select(Post)
        .where(
            Post.id == post_id,
            Post.status == PostStatus.SCHEDULED,
            Post.published_at <= now,
            Post.deleted_at.is_(None),
        )
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def revisions_statement(post_id: uuid.UUID) -> Select[PostRevision]:
    return select(PostRevision).where(PostRevision.post_id == post_id)


# --- polls


async def get_poll(
    session: AsyncSession, post_id: uuid.UUID
) -> tuple[Poll, list[PollOption]] | None:
    return (await polls_for(session, [post_id])).get(post_id)


async def delete_votes(
    session: AsyncSession, post_id: uuid.UUID, user_id: uuid.UUID
) -> list[uuid.UUID]:
    """Remove the user's votes in the poll; the options whose votes were really removed."""
    result = await session.execute(
        delete(PollVote)
        .where(PollVote.post_id == post_id, PollVote.user_id == user_id)
        .returning(PollVote.option_id)
        .execution_options(synchronize_session=False)
    )
    return list(result.scalars())


async def insert_vote(
    session: AsyncSession, post_id: uuid.UUID, option_id: uuid.UUID, user_id: uuid.UUID, slot: int
) -> bool:
    """One vote unless the user already holds ``slot`` in the poll (race-free); True if made."""
    return await insert_or_ignore(
        session,
        PollVote,
        {
            "id": new_id(),
            "post_id": post_id,
            "option_id": option_id,
            "user_id": user_id,
            "slot": slot,
            "created_at": utcnow(),
        },
        ["post_id", "user_id", "slot"],
    )


async def add_to_votes_count(session: AsyncSession, option_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(PollOption)
        .where(PollOption.id == option_id)
        .values(votes_count=PollOption.votes_count + delta)
        .execution_options(synchronize_session=False)
    )


# --- for the home feed
#
# The feed names no posts table: it composes these with its sources (the social graph's and
# topics' id subqueries), written as a ``PostClause`` over a post's id and author id.

#: A condition on a post, given its id and author id columns.
PostClause = Callable[[ColumnElement[uuid.UUID], ColumnElement[uuid.UUID]], ColumnElement[bool]]


class FeedPostRow(NamedTuple):
    """What a page of the home feed needs of a post: its key, and what ranking weighs."""

    id: uuid.UUID
    author_id: uuid.UUID
    published_at: datetime
    comment_count: int
    share_count: int


#: The statement of ``FeedPostRow``s.
FeedPageStatement = Select[uuid.UUID, uuid.UUID, datetime | None, int, int]


def feed_page_statement(
    viewer_id: policy.ViewerRef, now: policy.MomentRef, where: PostClause, *, after: bool
) -> FeedPageStatement:
    """``FeedPostRow``s of the live posts the viewer may see for which ``where`` holds, newest
    published first, at most ``limit`` (a bound parameter); with ``after``, only those after
    the key (``after_at``, ``after_id``). Callers build it once per shape (bound parameters)."""
    statement = select(
        Post.id, Post.author_id, Post.published_at, Post.comment_count, Post.share_count
    ).where(
        where(Post.id.expression, Post.author_id.expression),
        policy.live_clause(now),
        policy.visible_posts_clause(viewer_id, now),
    )
    if after:
        statement = statement.where(
            published_before_clause((bindparam("after_at"), bindparam("after_id", type_=Uuid)))  # type: ignore[arg-type]
        )
    return statement.order_by(Post.published_at.desc(), Post.id.desc()).limit(
        bindparam("limit", type_=Integer)
    )


def published_since_clause(moment: policy.MomentRef) -> ColumnElement[bool]:
    return Post.published_at >= moment


class FanOutFacts(NamedTuple):
    id: uuid.UUID
    author_id: uuid.UUID
    visibility: Visibility
    published_at: datetime


async def get_live_post_facts(
    session: AsyncSession, post_id: uuid.UUID, now: datetime
) -> FanOutFacts | None:
    """What fan-out needs of a live post (None if it is not live)."""
    row = (
        await session.execute(
            select(Post.id, Post.author_id, Post.visibility, Post.published_at).where(
                Post.id == post_id, policy.live_clause(now)
            )
        )
    ).first()
    if row is None or row.published_at is None:
        return None
    return FanOutFacts(row.id, row.author_id, row.visibility, row.published_at)


async def count_by_author(
    session: AsyncSession, post_ids: Subquery, author_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many of the posts ``post_ids`` (a subquery with a ``post_id`` column, duplicates
    counted) each of ``author_ids`` wrote (one query)."""
    rows = await session.execute(
        select(Post.author_id, func.count())
        .select_from(post_ids)
        .join(Post, Post.id == post_ids.c.post_id)
        .where(Post.author_id.in_(list(author_ids)))
        .group_by(Post.author_id)
    )
    return {author_id: int(count) for author_id, count in rows}
