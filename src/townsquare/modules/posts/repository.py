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
from typing import Any, NamedTuple

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Subquery,
    Uuid,
    and_,
    bindparam,
    case,
    cast,
    column,
    delete,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
    update,
    values,
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
    statement = _visible_post_statement(anonymous=viewer_id is None, for_update=False)
    return await session.scalar(statement, _visible_post_params(viewer_id, post_id, now))


@functools.cache
def _visible_post_statement(*, anonymous: bool, for_update: bool) -> Select[Post]:
    """Built once per shape (every gate on a post runs it): the policy with bound values."""
    viewer = None if anonymous else bindparam("viewer_id", type_=Uuid)
    now: BindParameter[datetime] = bindparam("now")
    statement = select(Post).where(
        Post.id == bindparam("post_id", type_=Uuid), policy.visible_posts_clause(viewer, now)
    )
    if for_update:
        statement = statement.with_for_update(of=Post).execution_options(populate_existing=True)
    return statement


def _visible_post_params(
    viewer_id: uuid.UUID | None, post_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    params: dict[str, Any] = {"post_id": post_id, "now": now}
    if viewer_id is not None:
        params["viewer_id"] = viewer_id
    return params


async def viewers_who_may_see(
    session: AsyncSession, post_id: uuid.UUID, viewer_ids: Iterable[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Those of ``viewer_ids`` the visibility policy lets see the post; one query for all.

    The candidates are a ``VALUES`` list (a CTE: SQLite takes no column names on a derived
    table) joined to the one post row, and the policy's clauses sit directly in that SELECT's
    WHERE: each of its EXISTS correlates to the SELECT just around it, so both the viewer and
    the post must be FROMs of that SELECT. (With the policy inside a further ``EXISTS`` over
    the post, its own EXISTS saw the viewer's table as a FROM of their own and cross-joined it:
    any friend of the author let every candidate in, any block of the author kept all out.)
    """
    ids = sorted(set(viewer_ids))
    if not ids:
        return set()
    candidates = values(column("user_id", Uuid), name="candidates").data([(i,) for i in ids]).cte()
    viewer = candidates.c.user_id
    rows = await session.scalars(
        select(viewer)
        .select_from(candidates)
        .join(Post, Post.id == post_id)
        .where(policy.visible_posts_clause(viewer, now))
    )
    return set(rows)


async def get_visible_post_for_update(
    session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID, now: datetime
) -> Post | None:
    """Like ``get_visible_post``, with the row locked until commit (PostgreSQL; SQLite's
    writers are serialized anyway) and fresh from the database, so concurrent state changes
    of one post queue instead of both acting on the state they read."""
    statement = _visible_post_statement(anonymous=False, for_update=True)
    return await session.scalar(statement, _visible_post_params(viewer_id, post_id, now))


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


# --- what a page of posts shows (one query each)


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


@functools.cache
def _author_page_statement(*, anonymous: bool, after: bool) -> Select[uuid.UUID, datetime | None]:
    """Built once per shape: (id, published_at) of the author's live posts the viewer may see."""
    viewer = None if anonymous else bindparam("viewer_id", type_=Uuid)
    now: BindParameter[datetime] = bindparam("now")
    statement = select(Post.id, Post.published_at).where(
        Post.author_id == bindparam("author_id", type_=Uuid),
        policy.live_clause(now),
        policy.visible_posts_clause(viewer, now),
    )
    if after:
        published_at: BindParameter[datetime] = bindparam("after_published_at")
        after_id = bindparam("after_id", type_=Uuid)
        statement = statement.where(
            or_(
                Post.published_at < published_at,
                and_(Post.published_at == published_at, Post.id < after_id),
            )
        )
    return statement.order_by(Post.published_at.desc(), Post.id.desc()).limit(bindparam("limit"))


async def list_visible_author_post_keys(
    session: AsyncSession,
    author_id: uuid.UUID,
    viewer_id: uuid.UUID | None,
    now: datetime,
    limit: int,
    after: TimelineKey | None,
) -> list[Any]:
    """(id, published_at) of the author's live posts the viewer may see, newest published
    first; ``limit`` rows (Core rows: the read side presents them by id)."""
    statement = _author_page_statement(anonymous=viewer_id is None, after=after is not None)
    params: dict[str, Any] = {"author_id": author_id, "now": now, "limit": limit}
    if viewer_id is not None:
        params["viewer_id"] = viewer_id
    if after is not None:
        params["after_published_at"], params["after_id"] = after
    return list(await session.execute(statement, params))


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


# --- the read side's statements (presenting posts: ``timeline``) ------------------------------
# Built once (bound parameters), Core columns rather than ORM entities: every page runs them.
# The viewer-state providers answer rows of (post_id, kind, key, value) that ``timeline``
# UNION ALLs with the other modules' into one statement per page (``timeline.providers``).

_POSTS = Post.__table__
_MEDIA = PostMedia.__table__
_POLLS = Poll.__table__
_OPTIONS = PollOption.__table__

#: The columns a presented post shows (``view_count`` is not among them: it changes on every
#: view and only the author sees it; it comes with the viewer's state).
BODY_COLUMNS = (
    "id",
    "author_id",
    "type",
    "content",
    "visibility",
    "status",
    "published_at",
    "created_at",
    "is_edited",
    "edited_at",
    "archived_at",
    "deleted_at",
    "location_name",
    "latitude",
    "longitude",
    "link_url",
    "allow_reactions",
    "comment_permission",
    "comment_count",
    "share_count",
    "shared_post_id",
)
_MEDIA_COLUMNS = (
    "id",
    "post_id",
    "position",
    "media_type",
    "url",
    "thumbnail_url",
    "size_bytes",
    "width",
    "height",
    "duration_seconds",
    "alt_text",
)


@functools.cache
def _bodies_statement() -> Select[tuple[object, ...]]:
    sharing = _POSTS.alias("sharing")
    share_ids = bindparam("share_ids", expanding=True, type_=Uuid)
    return select(*(_POSTS.c[name] for name in BODY_COLUMNS)).where(
        or_(
            _POSTS.c.id.in_(bindparam("ids", expanding=True, type_=Uuid)),
            _POSTS.c.id.in_(select(sharing.c.shared_post_id).where(sharing.c.id.in_(share_ids))),
        )
    )


async def body_rows(session: AsyncSession, post_ids: Sequence[uuid.UUID]) -> list[Any]:
    """The posts and the originals they share (one query), whatever their state: the
    caller has applied the visibility policy to ``post_ids`` and checks the originals'."""
    ids = list(post_ids)
    return list(await session.execute(_bodies_statement(), {"ids": ids, "share_ids": ids}))


@functools.cache
def _media_statement() -> Select[tuple[object, ...]]:
    return (
        select(*(_MEDIA.c[name] for name in _MEDIA_COLUMNS))
        .where(_MEDIA.c.post_id.in_(bindparam("ids", expanding=True, type_=Uuid)))
        .order_by(_MEDIA.c.post_id, _MEDIA.c.position)
    )


async def media_rows(session: AsyncSession, post_ids: Sequence[uuid.UUID]) -> list[Any]:
    return list(await session.execute(_media_statement(), {"ids": list(post_ids)}))


@functools.cache
def _poll_statement() -> Select[tuple[object, ...]]:
    return (
        select(
            _POLLS.c.post_id,
            _POLLS.c.allows_multiple,
            _POLLS.c.closes_at,
            _OPTIONS.c.id.label("option_id"),
            _OPTIONS.c.position,
            _OPTIONS.c.text,
            _OPTIONS.c.votes_count,
        )
        .join(_OPTIONS, _OPTIONS.c.post_id == _POLLS.c.post_id)
        .where(_POLLS.c.post_id.in_(bindparam("ids", expanding=True, type_=Uuid)))
        .order_by(_POLLS.c.post_id, _OPTIONS.c.position)
    )


async def poll_rows(session: AsyncSession, post_ids: Sequence[uuid.UUID]) -> list[Any]:
    return list(await session.execute(_poll_statement(), {"ids": list(post_ids)}))


def _kind(name: str) -> ColumnElement[str]:
    return literal_column(f"'{name}'", String)


def _text(column: Any) -> ColumnElement[str]:
    return cast(column, String)


def _no_text() -> ColumnElement[str]:
    return cast(null(), String)


def poll_choices_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``choice``: the options the viewer chose (key: option id, value: slot)."""
    return select(
        PollVote.post_id, _kind("choice"), _text(PollVote.option_id), _text(PollVote.slot)
    ).where(PollVote.user_id == params.viewer_id, PollVote.post_id.in_(params.post_ids))


def mentions_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``mention``: linked mentions the viewer may see (not hidden, no block
    either way); for anonymous viewers too."""
    statement = select(
        PostMention.post_id, _kind("mention"), _text(PostMention.user_id), _no_text()
    ).where(
        PostMention.post_id.in_(params.post_ids),
        people.visible_person_clause(params.viewer_id, PostMention.user_id),
    )
    return statement


def audience_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``audience``: the custom audience of the viewer's own custom posts."""
    return (
        select(PostAudience.post_id, _kind("audience"), _text(PostAudience.user_id), _no_text())
        .join(Post, Post.id == PostAudience.post_id)
        .where(
            PostAudience.post_id.in_(params.post_ids),
            Post.author_id == params.viewer_id,
            Post.visibility == Visibility.CUSTOM,
        )
    )


def views_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``views``: the view count of the viewer's own posts (read from the row on
    every request: views change on every GET, so they are kept out of the cached body)."""
    return select(Post.id, _kind("views"), _no_text(), _text(Post.view_count)).where(
        Post.id.in_(params.post_ids), Post.author_id == params.viewer_id
    )


def visible_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``visible``: those of ``check_ids`` the visibility policy lets the viewer
    see (value ``1`` when live, ``0`` for the author's own posts that are not)."""
    live = case((policy.live_clause(params.now), "1"), else_="0")
    return select(Post.id, _kind("visible"), _no_text(), _text(live)).where(
        Post.id.in_(params.check_ids), policy.visible_posts_clause(params.viewer_id, params.now)
    )


def visible_posts_statement(
    viewer_id: policy.ViewerRef | None, now: policy.MomentRef
) -> Select[uuid.UUID, datetime | None]:
    """THE base statement of pages of posts other modules keep (topic pages, bookmarks):
    ``(id, published_at)`` of the live posts the viewer may see. Join it as a subquery on
    ``id`` and order by its columns: nobody but posts names the posts tables."""
    return select(Post.id.label("id"), Post.published_at.label("published_at")).where(
        policy.live_clause(now), policy.visible_posts_clause(viewer_id, now)
    )


def published_before(visible: Any, key: TimelineKey) -> ColumnElement[bool]:
    """Rows of ``visible`` (a ``visible_posts_statement`` subquery) after ``key`` in
    newest-published-first order."""
    published_at, post_id = key
    return or_(
        visible.c.published_at < published_at,
        and_(visible.c.published_at == published_at, visible.c.id < post_id),
    )
