"""Use cases of the home feed: read a page (chronological or ranked), fan a post out, rebuild.

Hybrid fan-out on write, in both modes, into a feed store that configuration picks
(``feed_store``): Redis feeds when Redis is configured (production), the home inbox tables
otherwise (the embedded default; ``store.DatabaseFeedStore``). Publishing pushes the post id
into the existing feeds of the author's audience; accounts followed by more than
``feed_fanout_audience_limit`` people and followed topics are merged in when the feed is read;
a missing feed is rebuilt from the database at its next read. Pages are ids first
(``home_page_ids``: ids in order and the next cursor), presented after.

Correctness does not depend on the store: every page is filtered again in SQL, the store's
window only naming the candidates. Each candidate is checked by key (``repository._home_clause``
with ``keyed`` sources: the viewer still has the source, the post is live, the visibility policy
lets the viewer see it, the author is not muted), so unfollow, unfriend, block, mute, delete,
archive, audience changes and topic unfollows take effect on the very next page, whatever the
store still holds; the cost stays a handful of index probes per candidate, not a scan of posts
in time order. What must *appear* after a graph change (unmute, follow...) comes from dropping
the touched feeds right after the commit (``drop_feeds_now``). If Redis fails, pages are read
from the database and the failure is logged and counted.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.errors import ValidationFailed
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import (
    PageRequest,
    decode_cursor,
    encode_cursor,
    malformed_cursor,
)
from townsquare.kit.platform import Platform
from townsquare.kit.redis import REDIS_ERRORS
from townsquare.modules.feed import ranking, repository
from townsquare.modules.feed.schemas import FeedOrder
from townsquare.modules.feed.store import (
    STORE_ERRORS,
    DatabaseFeedStore,
    FeedStore,
    FeedWindow,
    RedisFeedStore,
    moment_of,
    score_of,
)
from townsquare.modules.posts import repository as posts_repository
from townsquare.modules.posts import service as posts
from townsquare.modules.posts.models import Visibility
from townsquare.modules.posts.repository import FeedPostRow, TimelineKey
from townsquare.modules.profiles import service as profiles
from townsquare.modules.reactions import repository as reactions
from townsquare.modules.reactions.models import TargetType
from townsquare.modules.social import repository as social_repository
from townsquare.modules.social import service as social

log = structlog.get_logger(__name__)

#: How many Redis windows a page may try (each 4x larger) before reading from the database.
_WINDOW_ATTEMPTS = 3
_LAST_ID = uuid.UUID(int=(1 << 128) - 1)
#: How far back a rebuild looks again for posts published while it ran.
_REBUILD_OVERLAP = timedelta(seconds=5)
_COMPONENT = "feed"


def feed_store(platform: Platform) -> FeedStore:
    """The store configuration picks: Redis feeds when Redis is configured (production), the
    home inbox tables otherwise (the embedded default). Both are filled on write."""
    settings = platform.settings
    if platform.redis is None:
        return DatabaseFeedStore(max_items=settings.feed_max_items)
    return RedisFeedStore(
        platform.redis,
        settings.redis_key_prefix,
        max_items=settings.feed_max_items,
        ttl_seconds=settings.feed_ttl_seconds,
    )


@asynccontextmanager
async def _store_writes(platform: Platform) -> AsyncIterator[AsyncSession]:
    """A writing transaction of its own for store writes made while serving a read (a rebuild)
    or after a commit (``drop_feeds_now``): the request's own transaction is read-only. The
    Redis store ignores the session (it is never used, so it costs no connection)."""
    async with platform.database.unit_of_work() as uow:
        yield uow.session
        await uow.commit()


def _degraded(operation: str, exc: Exception) -> None:
    REDIS_ERRORS.labels("feed").inc()
    log.warning("feed_store_unavailable", operation=operation, error=str(exc))


def _lost_writes(platform: Platform, operation: str, exc: Exception) -> None:
    """A push or drop failed: the feeds it should have changed are stale from now on."""
    _degraded(operation, exc)
    platform.redis_outages.failed(_COMPONENT)


async def _report_recovery(platform: Platform, session: AsyncSession, store: FeedStore) -> None:
    """After lost writes, the first success marks every older feed for rebuilding."""
    if platform.redis_outages.take_recovery(_COMPONENT):
        try:
            await store.mark_stale(session, utcnow())
        except STORE_ERRORS:
            platform.redis_outages.failed(_COMPONENT)
            raise
        log.info("feed_store_recovered")


# --- reading


@dataclass(frozen=True)
class HomePageIds:
    """A page of the home feed as post ids, in order, and the cursor of the next page."""

    post_ids: list[uuid.UUID]
    next_cursor: str | None


async def home_feed(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    order: FeedOrder,
    page: PageRequest,
) -> HomePageIds:
    """A page of the viewer's home feed as ids (``timeline`` presents them). Calm mode always
    gets the chronological order."""
    return await home_page_ids(session, platform, viewer_id, order, page, utcnow())


async def home_page_ids(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    order: FeedOrder,
    page: PageRequest,
    now: datetime,
) -> HomePageIds:
    """The page's post ids in order and the next cursor: what a presenter needs. Every id has
    passed membership, liveness, the visibility policy and the viewer's mutes as of ``now``."""
    cursor = _decode(page.cursor)
    if isinstance(cursor, _RankedKey) and order is not FeedOrder.RANKED:
        raise ValidationFailed.on(
            "query.cursor", "This cursor continues a ranked feed.", "invalid_cursor"
        )
    ranked = order is FeedOrder.RANKED and not await profiles.prefers_calm(session, viewer_id)
    if ranked and not isinstance(cursor, tuple):
        return await _ranked_page(session, platform, viewer_id, now, page.limit, cursor)
    after = cursor if isinstance(cursor, tuple) else None
    rows = await chronological_posts(session, platform, viewer_id, now, page.limit + 1, after)
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        next_cursor = _timeline_cursor(rows[-1])
    return HomePageIds(post_ids=[row.id for row in rows], next_cursor=next_cursor)


def _timeline_cursor(last: FeedPostRow) -> str:
    """The chronological cursor after ``last`` (the format ``posts.decode_timeline_cursor``
    reads)."""
    return encode_cursor({"published_at": last.published_at.isoformat(), "id": str(last.id)})


async def chronological_posts(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    now: datetime,
    want: int,
    after: TimelineKey | None,
) -> list[FeedPostRow]:
    """Up to ``want`` posts of the home feed after ``after``, newest published first."""
    store = feed_store(platform)
    try:
        found = await _from_store(session, platform, store, viewer_id, now, want, after)
    except STORE_ERRORS as exc:
        _degraded("read", exc)
    else:
        if found is not None:
            return found
    return await repository.list_home_posts(session, viewer_id, now, want, after)


async def _from_store(
    session: AsyncSession,
    platform: Platform,
    store: FeedStore,
    viewer_id: uuid.UUID,
    now: datetime,
    want: int,
    after: TimelineKey | None,
) -> list[FeedPostRow] | None:
    """The page from the feed store merged with the read-time sources; None when the page
    lies beyond what the store holds (the caller reads it from the database)."""
    await _report_recovery(platform, session, store)
    max_score = score_of(after[0]) if after else None
    count = 2 * want + 10
    rebuilt: list[tuple[uuid.UUID, int]] | None = None
    for _ in range(_WINDOW_ATTEMPTS):
        window = (
            None if rebuilt is not None else await store.read(session, viewer_id, max_score, count)
        )
        if window is None:
            if rebuilt is None:
                async with _store_writes(platform) as writer:
                    rebuilt = await _rebuild(session, writer, store, viewer_id, now)
            # What the rebuild stored, without reading it back (the request's own read
            # transaction may not see a write committed after it began).
            window = _window_of(rebuilt, max_score, count)
        if not window.is_full and window.size >= store.max_items:
            return None  # older posts were trimmed from the feed: past its horizon
        candidates = repository.Candidates(
            post_ids=[post_id for post_id, _ in window.entries],
            audience_limit=platform.settings.feed_fanout_audience_limit,
        )
        # A full window covers only down to its last score; below it the feed may hold more.
        not_before = moment_of(window.entries[-1][1]) if window.is_full else None
        rows = await repository.list_home_posts(
            session, viewer_id, now, want, after, candidates=candidates, not_before=not_before
        )
        if len(rows) >= want or not window.is_full:
            return rows
        count *= 4  # many candidates were filtered out: look deeper
    return None


def _window_of(
    entries: list[tuple[uuid.UUID, int]], max_score: float | None, count: int
) -> FeedWindow:
    """The window a store read would answer, from a feed's whole content."""
    below = [
        (post_id, float(score))
        for post_id, score in sorted(entries, key=lambda e: (e[1], e[0]), reverse=True)
        if max_score is None or score <= max_score
    ]
    return FeedWindow(entries=below[:count], asked=count, size=len(entries))


async def rebuild_home_feed(session: AsyncSession, platform: Platform, user_id: uuid.UUID) -> int:
    """Build the user's feed (Redis or home inbox) from the database, writing with
    ``session``; returns its size."""
    rebuilt = await _rebuild(session, session, feed_store(platform), user_id, utcnow())
    return len(rebuilt)


async def _rebuild(
    session: AsyncSession,
    writer: AsyncSession,
    store: FeedStore,
    user_id: uuid.UUID,
    now: datetime,
) -> list[tuple[uuid.UUID, int]]:
    """Rebuild the feed from the database (reading with ``session``, storing with ``writer``);
    returns what it stored."""
    keys = await repository.home_post_keys(session, user_id, now, store.max_items)
    entries = [(post_id, score_of(moment)) for post_id, moment in keys][: store.max_items]
    await store.replace(writer, user_id, entries)
    # A post committed after the query above may have been fanned out before the feed existed
    # (fan-out skips missing feeds): read what was published since, now that it exists.
    since = now - _REBUILD_OVERLAP
    caught_up = await repository.home_post_keys(
        writer, user_id, utcnow(), store.max_items, since=since
    )
    added = [(post_id, score_of(moment)) for post_id, moment in caught_up]
    await store.add(writer, user_id, added)
    return list(dict(entries + added).items())


# --- ranked


@dataclass(frozen=True)
class _RankedKey:
    as_of: datetime
    score: float
    post_id: uuid.UUID


async def _ranked_page(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    now: datetime,
    limit: int,
    cursor: _RankedKey | None,
) -> HomePageIds:
    """Rank the newest ``feed_ranked_window`` posts as of the first page; page through them by
    (score, id); past the window, continue chronologically so no post is ever skipped."""
    as_of = cursor.as_of if cursor else now
    window_size = platform.settings.feed_ranked_window
    window = await chronological_posts(
        session, platform, viewer_id, now, window_size, (as_of, _LAST_ID)
    )
    scored = await _score(session, viewer_id, window, as_of)
    if cursor is not None:
        scored = [pair for pair in scored if (pair[0], pair[1]) < (cursor.score, cursor.post_id)]
    chosen = scored[:limit]
    next_cursor = None
    if len(scored) > limit:
        last_score, last_id = chosen[-1]
        next_cursor = encode_cursor(
            {"as_of": as_of.isoformat(), "score": last_score, "id": str(last_id)}
        )
    elif len(window) == window_size:
        next_cursor = _timeline_cursor(window[-1])  # the ranked window is done
    return HomePageIds(post_ids=[post_id for _, post_id in chosen], next_cursor=next_cursor)


async def _score(
    session: AsyncSession, viewer_id: uuid.UUID, window: list[FeedPostRow], as_of: datetime
) -> list[tuple[float, uuid.UUID]]:
    """The window's post ids with their scores, best first (constant queries)."""
    if not window:
        return []
    ids = [post.id for post in window]
    authors = list({post.author_id for post in window})
    counts = await reactions.counts_for(session, TargetType.POST, ids)
    friends = set(await social.friend_ids(session, viewer_id)) | {viewer_id}
    close = set(await social_repository.close_friend_ids(session, viewer_id))
    since = as_of - timedelta(days=ranking.INTERACTION_DAYS)
    touched = await repository.interactions_with_authors(session, viewer_id, authors, since)
    affinities = {
        author: ranking.Affinity(
            is_friend=author in friends,
            is_close_friend=author in close,
            interactions=touched.get(author, 0),
        )
        for author in authors
    }
    candidates = [
        ranking.Candidate(
            post_id=post.id,
            author_id=post.author_id,
            published_at=post.published_at or as_of,
            reactions=sum(counts.get(post.id, {}).values()),
            comments=post.comment_count,
            shares=post.share_count,
        )
        for post in window
    ]
    return [(value, c.post_id) for value, c in ranking.rank(candidates, affinities, as_of)]


def _decode(cursor: str | None) -> TimelineKey | _RankedKey | None:
    """A chronological key, a ranked key, or None; 422 ``invalid_cursor`` for anything else."""
    if cursor is None:
        return None
    values = decode_cursor(cursor)
    if "score" not in values:
        return posts.decode_timeline_cursor(cursor)
    try:
        as_of = datetime.fromisoformat(str(values["as_of"]))
        score = values["score"]
        if as_of.tzinfo is None or not isinstance(score, int | float):
            raise ValueError("malformed")
        return _RankedKey(as_of=as_of, score=float(score), post_id=uuid.UUID(str(values["id"])))
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc


# --- fan-out on write


async def fan_out_post(session: AsyncSession, platform: Platform, post_id: uuid.UUID) -> int:
    """Push a live post into the existing feeds of everyone it was published to; returns how
    many feeds received it. Idempotent (a feed holds a post once). With the home inbox, the
    push commits with the job that made it."""
    store = feed_store(platform)
    post = await posts_repository.get_live_post_facts(session, post_id, utcnow())
    if post is None:
        return 0
    recipients = await _recipients(session, platform, post)
    try:
        await _report_recovery(platform, session, store)
        return await store.push(
            session,
            post.id,
            score_of(post.published_at),
            recipients,
            platform.settings.feed_fanout_batch_size,
        )
    except STORE_ERRORS as exc:
        _lost_writes(platform, "push", exc)
        raise  # the outbox retries the fan-out with backoff


async def _recipients(
    session: AsyncSession, platform: Platform, post: posts_repository.FanOutFacts
) -> list[uuid.UUID]:
    """The author and the audience the post's visibility names. Followers of an account over
    the audience limit get its public posts at read time instead."""
    author = post.author_id
    audience: set[uuid.UUID] = set()
    match post.visibility:
        case Visibility.PUBLIC:
            audience.update(await social.friend_ids(session, author))
            limit = platform.settings.feed_fanout_audience_limit
            if await social_repository.followers_count(session, author) < limit:
                audience.update(await social_repository.follower_ids(session, author))
        case Visibility.FRIENDS:
            audience.update(await social.friend_ids(session, author))
        case Visibility.CLOSE_FRIENDS:
            audience.update(await social_repository.close_friend_ids(session, author))
        case Visibility.CUSTOM:
            audience.update(await posts_repository.audience_of(session, post.id))
        case _:
            pass
    audience.discard(author)
    return [author, *audience]


async def drop_feeds(session: AsyncSession, platform: Platform, user_ids: list[uuid.UUID]) -> None:
    """Forget these users' feeds: the graph changed, so the next read rebuilds them (the home
    inbox's rows go in ``session``'s transaction)."""
    store = feed_store(platform)
    try:
        await store.drop(session, user_ids)
    except STORE_ERRORS as exc:
        _lost_writes(platform, "drop", exc)
        raise


async def drop_feeds_now(platform: Platform, user_ids: list[uuid.UUID]) -> None:
    """``drop_feeds`` right after the graph change committed, so that its author's next read
    rebuilds with it. Best effort: a failure is logged and counted, and the outbox's
    ``drop_feeds`` (retried until it succeeds) follows anyway. A failure counts as lost
    writes, as the outbox's would: feeds built before it are rebuilt once Redis answers."""
    with contextlib.suppress(*STORE_ERRORS):
        async with _store_writes(platform) as writer:
            await drop_feeds(writer, platform, user_ids)
