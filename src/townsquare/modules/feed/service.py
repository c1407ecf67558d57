"""Use cases of the home feed: read a page (chronological or ranked), fan a post out, rebuild.

Production (Redis configured): hybrid fan-out. Publishing pushes the post id into the feeds of
the author's recently active audience (``store.RedisFeedStore``); accounts followed by more than
``feed_fanout_audience_limit`` people and followed topics are merged in when the feed is read;
a feed that expired is rebuilt from the database. Embedded (no Redis): the same pages, read
from the database alone (fan-out on read).

Either way, every page is filtered again in SQL by ``repository.home_page_clause``: the viewer
still follows the source, the post is live, the visibility policy lets the viewer see it, and
the author is not muted. Unfollow, unfriend, block, mute, delete, archive and audience changes
therefore take effect at once, whatever the Redis feed still holds. If Redis fails, pages are
read from the database and the failure is logged and counted.
"""

from __future__ import annotations

import contextlib
import uuid
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
from townsquare.modules.feed.store import STORE_ERRORS, RedisFeedStore, moment_of, score_of
from townsquare.modules.posts import repository as posts_repository
from townsquare.modules.posts import service as posts
from townsquare.modules.posts.models import Post, Visibility
from townsquare.modules.posts.repository import TimelineKey
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


def feed_store(platform: Platform) -> RedisFeedStore | None:
    """The Redis feed store in production; None in the embedded default (fan-out on read)."""
    if platform.redis is None:
        return None
    settings = platform.settings
    return RedisFeedStore(
        platform.redis,
        settings.redis_key_prefix,
        max_items=settings.feed_max_items,
        ttl_seconds=settings.feed_ttl_seconds,
    )


def _degraded(operation: str, exc: Exception) -> None:
    REDIS_ERRORS.labels("feed").inc()
    log.warning("feed_store_unavailable", operation=operation, error=str(exc))


def _lost_writes(platform: Platform, operation: str, exc: Exception) -> None:
    """A push or drop failed: the feeds it should have changed are stale from now on."""
    _degraded(operation, exc)
    platform.redis_outages.failed(_COMPONENT)


async def _report_recovery(platform: Platform, store: RedisFeedStore) -> None:
    """After lost writes, the first success marks every older feed for rebuilding."""
    if platform.redis_outages.take_recovery(_COMPONENT):
        try:
            await store.mark_stale(utcnow())
        except STORE_ERRORS:
            platform.redis_outages.failed(_COMPONENT)
            raise
        log.info("feed_store_recovered")


# --- reading


@dataclass(frozen=True)
class FeedPage:
    """The posts of a page of the feed, in order, and the cursor after it; ``timeline``
    presents them (the feed chooses the posts, the read side shows them)."""

    items: list[Post]
    next_cursor: str | None


async def home_feed(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    order: FeedOrder,
    page: PageRequest,
) -> FeedPage:
    """A page of the viewer's home feed. Calm mode always gets the chronological order."""
    now = utcnow()
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
    return await _page(session, viewer_id, rows, page.limit, now)


async def _page(
    session: AsyncSession, viewer_id: uuid.UUID, rows: list[Post], limit: int, now: datetime
) -> FeedPage:
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = posts.timeline_cursor(rows[-1])
    return FeedPage(items=rows, next_cursor=next_cursor)


async def chronological_posts(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID,
    now: datetime,
    want: int,
    after: TimelineKey | None,
) -> list[Post]:
    """Up to ``want`` posts of the home feed after ``after``, newest published first."""
    store = feed_store(platform)
    if store is not None:
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
    store: RedisFeedStore,
    viewer_id: uuid.UUID,
    now: datetime,
    want: int,
    after: TimelineKey | None,
) -> list[Post] | None:
    """The page from the Redis feed merged with the read-time sources; None when the page lies
    beyond what the feed holds (the caller reads it from the database)."""
    await _report_recovery(platform, store)
    max_score = score_of(after[0]) if after else None
    count = 2 * want + 10
    for _ in range(_WINDOW_ATTEMPTS):
        window = await store.read(viewer_id, max_score, count)
        if window is None:
            await _rebuild(session, store, viewer_id, now)
            window = await store.read(viewer_id, max_score, count)
            if window is None:
                return None
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


async def rebuild_home_feed(session: AsyncSession, platform: Platform, user_id: uuid.UUID) -> int:
    """Build the user's Redis feed from the database (production only); returns its size."""
    store = feed_store(platform)
    if store is None:
        return 0
    return await _rebuild(session, store, user_id, utcnow())


async def _rebuild(
    session: AsyncSession, store: RedisFeedStore, user_id: uuid.UUID, now: datetime
) -> int:
    keys = await repository.home_post_keys(session, user_id, now, store.max_items)
    await store.replace(user_id, [(post_id, score_of(moment)) for post_id, moment in keys])
    # A post committed after the query above may have been fanned out before the feed existed
    # (fan-out skips missing feeds): read what was published since, now that it exists.
    since = now - _REBUILD_OVERLAP
    caught_up = await repository.home_post_keys(
        session, user_id, utcnow(), store.max_items, since=since
    )
    await store.add(user_id, [(post_id, score_of(moment)) for post_id, moment in caught_up])
    return len(keys)


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
) -> FeedPage:
    """Rank the newest ``feed_ranked_window`` posts as of the first page; page through them by
    (score, id); past the window, continue chronologically so no post is ever skipped."""
    as_of = cursor.as_of if cursor else now
    window_size = platform.settings.feed_ranked_window
    window = await chronological_posts(
        session, platform, viewer_id, now, window_size, (as_of, _LAST_ID)
    )
    scored = await _score(session, viewer_id, window, as_of)
    if cursor is not None:
        scored = [pair for pair in scored if (pair[0], pair[1].id) < (cursor.score, cursor.post_id)]
    chosen = scored[:limit]
    next_cursor = None
    if len(scored) > limit:
        last_score, last = chosen[-1]
        next_cursor = encode_cursor(
            {"as_of": as_of.isoformat(), "score": last_score, "id": str(last.id)}
        )
    elif len(window) == window_size:
        next_cursor = posts.timeline_cursor(window[-1])  # the ranked window is done
    return FeedPage(items=[post for _, post in chosen], next_cursor=next_cursor)


async def _score(
    session: AsyncSession, viewer_id: uuid.UUID, window: list[Post], as_of: datetime
) -> list[tuple[float, Post]]:
    """The window's posts with their scores, best first (constant queries)."""
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
    by_id = {post.id: post for post in window}
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
    return [(value, by_id[c.post_id]) for value, c in ranking.rank(candidates, affinities, as_of)]


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
    many feeds received it. Idempotent (a sorted set holds a post once)."""
    store = feed_store(platform)
    if store is None:
        return 0
    post = await repository.get_live_post(session, post_id, utcnow())
    if post is None or post.published_at is None:
        return 0
    recipients = await _recipients(session, platform, post)
    try:
        await _report_recovery(platform, store)
        return await store.push(
            post.id,
            score_of(post.published_at),
            recipients,
            platform.settings.feed_fanout_batch_size,
        )
    except STORE_ERRORS as exc:
        _lost_writes(platform, "push", exc)
        raise  # the outbox retries the fan-out with backoff


async def _recipients(session: AsyncSession, platform: Platform, post: Post) -> list[uuid.UUID]:
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


async def drop_feeds(platform: Platform, user_ids: list[uuid.UUID]) -> None:
    """Forget these users' Redis feeds: the graph changed, so the next read rebuilds them."""
    store = feed_store(platform)
    if store is None:
        return
    try:
        await store.drop(user_ids)
    except STORE_ERRORS as exc:
        _lost_writes(platform, "drop", exc)
        raise


async def drop_feeds_now(platform: Platform, user_ids: list[uuid.UUID]) -> None:
    """``drop_feeds`` right after the graph change committed, so that its author's next read
    rebuilds with it. Best effort: a failure is logged and counted, and the outbox's
    ``drop_feeds`` (retried until it succeeds) follows anyway. A failure counts as lost
    writes, as the outbox's would: feeds built before it are rebuilt once Redis answers."""
    with contextlib.suppress(*STORE_ERRORS):
        await drop_feeds(platform, user_ids)
