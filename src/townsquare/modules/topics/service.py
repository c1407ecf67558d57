"""Use cases of topics. Services flush; the edge commits.

The posts module calls ``attach_post_topics`` / ``detach_post_topics`` (or
``replace_post_topics`` on an edit) in the same transaction as the post itself, so a topic's
``post_count`` and daily usage change exactly when the post's links do.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.errors import NotFound
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import (
    PageRequest,
    decode_cursor,
    decode_id_cursor,
    encode_cursor,
    malformed_cursor,
)
from townsquare.kit.text import MAX_TAG_LENGTH

# Posts calls attach/replace/detach through its hashtag listeners (registered by wiring): posts
# does not import topics.
from townsquare.modules.posts import service as posts
from townsquare.modules.topics import repository
from townsquare.modules.topics.models import Topic

#: A post links to at most this many topics (the first ones written); the rest stay plain text.
MAX_TOPICS_PER_POST = 30


class TopicNotFound(NotFound):
    code = "topic_not_found"


def topic_key(tag: str) -> str:
    """The topic name of a hashtag: case-folded, compatibility-normalized (so "#PyCon",
    "#pycon" and its full-width spelling are one topic), at most 100 characters."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", tag).casefold())[
        :MAX_TAG_LENGTH
    ]


def _keys_of(tags: Sequence[str]) -> dict[str, str]:
    """Distinct topic names in order of first use, with the spelling first used."""
    keys: dict[str, str] = {}
    for tag in tags:
        key = topic_key(tag)
        if key and key not in keys:
            keys[key] = tag[:MAX_TAG_LENGTH]
        if len(keys) == MAX_TOPICS_PER_POST:
            break
    return keys


# --- the posts module's entry points ----------------------------------------------------------


async def attach_post_topics(session: AsyncSession, post_id: uuid.UUID, tags: list[str]) -> None:
    """Link the post to the topics of ``tags`` (as written), creating missing topics.

    Idempotent: tags already linked change nothing. Newly linked topics get ``post_count + 1``
    and one more use today. Writes go in a fixed order (names, then ids, sorted) so
    concurrent posts with the same tags cannot deadlock.
    """
    keys = _keys_of(tags)
    if not keys:
        return
    for name in sorted(keys):
        await repository.insert_topic_if_missing(session, name, keys[name])
    ids = await repository.topic_ids_by_name(session, keys)
    await repository.lock_topics(session, sorted(ids.values()))
    now = utcnow()
    linked = [
        topic_id
        for topic_id in sorted(ids.values())
        if await repository.attach_post_topic(session, post_id, topic_id, now)
    ]
    await repository.add_to_post_counts(session, linked, +1)
    for topic_id in linked:
        await repository.add_usage(session, topic_id, now.date(), +1)


async def detach_post_topics(session: AsyncSession, post_id: uuid.UUID) -> None:
    """Unlink the post from all its topics (the post was deleted)."""
    await _detach(session, post_id, keep=())


async def replace_post_topics(session: AsyncSession, post_id: uuid.UUID, tags: list[str]) -> None:
    """After an edit: links kept stay as they were (no new use counted), dropped tags are
    unlinked, new tags linked. Prefer this to detach + attach, which would count the kept tags
    again as today's use."""
    keys = _keys_of(tags)
    existing = await repository.topic_ids_by_name(session, keys)
    await _detach(session, post_id, keep=existing.values())
    await attach_post_topics(session, post_id, list(keys.values()))


async def _detach(session: AsyncSession, post_id: uuid.UUID, keep: Iterable[uuid.UUID]) -> None:
    removed = await repository.detach_post_topics(session, post_id, keep)
    if not removed:
        return
    await repository.add_to_post_counts(session, sorted({t for t, _ in removed}), -1)
    # The use is taken back from the day it was counted, so a deleted post stops counting
    # towards trending. Days older than the trending window no longer matter (and may be pruned).
    oldest_relevant = utcnow().date() - timedelta(days=USAGE_WINDOW_DAYS)
    for topic_id, linked_at in sorted(removed):
        day = linked_at.astimezone(UTC).date()
        if day >= oldest_relevant:
            await repository.add_usage(session, topic_id, day, -1)


# --- reading topics ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TopicView:
    topic: Topic
    following: bool


def _name_from_path(name: str) -> str:
    # "#name" is accepted too: it reaches a topic whose name is also a route ("trending").
    return topic_key(name.removeprefix("#"))


async def get_topic_or_404(session: AsyncSession, name: str) -> Topic:
    topic = await repository.get_topic_by_name(session, _name_from_path(name))
    if topic is None:
        raise TopicNotFound()
    return topic


async def view_topic(session: AsyncSession, viewer_id: uuid.UUID | None, name: str) -> TopicView:
    topic = await get_topic_or_404(session, name)
    return (await _views(session, viewer_id, [topic]))[0]


async def _views(
    session: AsyncSession, viewer_id: uuid.UUID | None, topics: Sequence[Topic]
) -> list[TopicView]:
    """Topics with the viewer's follow flag, in one query whatever their number."""
    followed = (
        await repository.followed_topic_ids(session, viewer_id, (t.id for t in topics))
        if viewer_id is not None
        else set()
    )
    return [TopicView(topic, topic.id in followed) for topic in topics]


async def follow_topic(session: AsyncSession, user_id: uuid.UUID, name: str) -> TopicView:
    topic = await get_topic_or_404(session, name)
    if await repository.insert_follow(session, user_id, topic.id):
        await repository.add_to_follower_count(session, topic.id, +1)
        await session.refresh(topic)
    return TopicView(topic, following=True)


async def unfollow_topic(session: AsyncSession, user_id: uuid.UUID, name: str) -> None:
    topic = await get_topic_or_404(session, name)
    if await repository.delete_follow(session, user_id, topic.id):
        await repository.add_to_follower_count(session, topic.id, -1)


async def update_topic(
    session: AsyncSession, viewer_id: uuid.UUID, name: str, changes: dict[str, Any]
) -> TopicView:
    """Staff edit how a topic is presented: description, color, icon, featured."""
    topic = await get_topic_or_404(session, name)
    for field, value in changes.items():
        setattr(topic, field, value)
    await session.flush()
    return (await _views(session, viewer_id, [topic]))[0]


# --- lists ------------------------------------------------------------------------------------


def _cursor_value(cursor: str, key: str) -> Any:
    try:
        return decode_cursor(cursor)[key]
    except KeyError as exc:
        raise malformed_cursor() from exc


async def list_followed_topics(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest
) -> tuple[list[TopicView], str | None]:
    before = decode_id_cursor(page.cursor) if page.cursor else None
    follows = await repository.list_follows(session, user_id, page, before)
    more = len(follows) > page.limit
    follows = follows[: page.limit]
    topics = await repository.get_topics(session, (f.topic_id for f in follows))
    views = [TopicView(topics[f.topic_id], True) for f in follows if f.topic_id in topics]
    return views, _next(more, follows, lambda f: {"id": str(f.id)})


async def list_featured_topics(
    session: AsyncSession, viewer_id: uuid.UUID | None, page: PageRequest
) -> tuple[list[TopicView], str | None]:
    after = _name_cursor(page.cursor) if page.cursor else None
    topics = await repository.list_featured(session, page, after)
    more = len(topics) > page.limit
    topics = topics[: page.limit]
    return await _views(session, viewer_id, topics), _next(more, topics, lambda t: {"name": t.name})


async def list_trending_topics(
    session: AsyncSession, viewer_id: uuid.UUID | None, page: PageRequest
) -> tuple[list[TopicView], str | None]:
    after = None
    if page.cursor:
        score = _cursor_value(page.cursor, "score")
        if not isinstance(score, (int, float)) or isinstance(score, bool):
            raise malformed_cursor()
        after = (float(score), decode_id_cursor(page.cursor))
    topics = await repository.list_trending(session, page, after)
    more = len(topics) > page.limit
    topics = topics[: page.limit]
    return await _views(session, viewer_id, topics), _next(
        more, topics, lambda t: {"score": t.trending_score, "id": str(t.id)}
    )


async def list_visible_topic_posts(
    session: AsyncSession, viewer_id: uuid.UUID | None, name: str, page: PageRequest
) -> tuple[list[uuid.UUID], str | None]:
    """The topic page: the ids of live posts with this tag that the viewer may see, newest
    published first, and the next cursor (``timeline`` presents them)."""
    topic = await get_topic_or_404(session, name)
    after = posts.decode_timeline_cursor(page.cursor) if page.cursor else None
    now = utcnow()
    rows = await repository.list_visible_topic_posts(session, topic.id, viewer_id, now, page, after)
    more = len(rows) > page.limit
    rows = rows[: page.limit]
    cursor = posts.timeline_cursor(rows[-1]) if more and rows else None
    return [row.id for row in rows], cursor


def _name_cursor(cursor: str) -> str:
    name = _cursor_value(cursor, "name")
    # Checked like any input: PostgreSQL cannot compare text holding NUL (a 500).
    if not isinstance(name, str) or len(name) > MAX_TAG_LENGTH or "\x00" in name:
        raise malformed_cursor()
    return name


def _next(more: bool, items: Sequence[Any], key: Any) -> str | None:
    return encode_cursor(key(items[-1])) if more and items else None


# --- trending ---------------------------------------------------------------------------------

#: The baseline: mean daily use over the 14 whole days before yesterday.
BASELINE_DAYS = 14
#: Added to the baseline so a brand-new topic's score stays finite and a handful of uses
#: cannot outrank a big topic's real surge.
SMOOTHING = 2.0
#: Topics used fewer times than this in the last 24 hours do not trend.
MIN_RECENT_USES = 3.0
#: Days of usage the trending window reads (today, yesterday and the baseline).
USAGE_WINDOW_DAYS = BASELINE_DAYS + 1
#: Usage rows older than this are pruned by the refresh.
USAGE_RETENTION_DAYS = 30


async def refresh_trending_scores(session: AsyncSession, now: datetime) -> int:
    """Recompute every trending score from the usage rows; returns how many topics changed.

    recent(t) = uses today + uses yesterday x (share of today still to come), i.e. the
    last 24 hours with yesterday's uses spread evenly over the day;
    baseline(t) = mean daily uses over the 14 days before yesterday;
    score(t) = recent / (baseline + SMOOTHING) if recent >= MIN_RECENT_USES, else 0.
    """
    now = now.astimezone(UTC)
    today = now.date()
    midnight = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
    elapsed = (now - midnight).total_seconds() / 86400
    changed = await repository.store_trending_scores(
        session,
        today=today,
        yesterday_weight=1.0 - elapsed,
        baseline_days=BASELINE_DAYS,
        smoothing=SMOOTHING,
        min_recent=MIN_RECENT_USES,
        now=now,
    )
    await repository.prune_usage_before(session, today - timedelta(days=USAGE_RETENTION_DAYS))
    return changed
