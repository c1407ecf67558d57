"""All SQL of topics.

The topic page joins ``post_topics`` to posts' viewer-filtered base statement
(``posts.repository.visible_posts_statement``): the visibility policy, the one rule every read
path shares, and no naming of the posts tables here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from townsquare.kit.models import new_id, utcnow
from townsquare.kit.pagination import PageRequest
from townsquare.kit.sql import insert_or_ignore, upsert_add
from townsquare.modules.posts import repository as posts
from townsquare.modules.topics.models import PostTopic, Topic, TopicDailyUsage, TopicFollow

# --- topics -----------------------------------------------------------------------------------


async def insert_topic_if_missing(session: AsyncSession, name: str, display_name: str) -> bool:
    """Create the topic unless one with this name exists (race-free); True if created."""
    now = utcnow()
    return await insert_or_ignore(
        session,
        Topic,
        {
            "id": new_id(),
            "name": name,
            "display_name": display_name,
            "created_at": now,
            "updated_at": now,
        },
        ["name"],
    )


async def topic_ids_by_name(session: AsyncSession, names: Iterable[str]) -> dict[str, uuid.UUID]:
    wanted = list(set(names))
    if not wanted:
        return {}
    rows = await session.execute(select(Topic.name, Topic.id).where(Topic.name.in_(wanted)))
    return {name: topic_id for name, topic_id in rows}


async def get_topic_by_name(session: AsyncSession, name: str) -> Topic | None:
    return await session.scalar(select(Topic).where(Topic.name == name))


async def get_topics(
    session: AsyncSession, topic_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Topic]:
    ids = list(set(topic_ids))
    if not ids:
        return {}
    return {
        topic.id: topic for topic in await session.scalars(select(Topic).where(Topic.id.in_(ids)))
    }


def _locked_in_id_order(
    condition: Callable[[type[Topic]], ColumnElement[bool]],
) -> Select[uuid.UUID]:
    """Ids of the topics matching ``condition``, locked in id order (PostgreSQL; SQLite's
    writer lock already serializes). Every multi-row write to ``topics`` goes through this, so
    concurrent writers (posts attaching topics, the trending refresh) take row locks in the
    same order and cannot deadlock. ``FOR NO KEY UPDATE`` (``key_share``), like a plain
    UPDATE of non-key columns, does not conflict with the key-share locks that inserting
    ``post_topics`` rows (foreign keys) takes on their topics."""
    locked = aliased(Topic)
    return (
        select(locked.id)
        .where(condition(locked))
        .order_by(locked.id)
        .with_for_update(key_share=True)
    )


async def lock_topics(session: AsyncSession, topic_ids: Sequence[uuid.UUID]) -> None:
    """Take the topics' row locks (id order) before anything else touches them, so a writer
    never upgrades the key-share lock a ``post_topics`` insert takes into an update lock: with
    other writers queued on the same row, that upgrade is how PostgreSQL deadlocks."""
    if topic_ids:
        ids = list(topic_ids)
        await session.execute(_locked_in_id_order(lambda t: t.id.in_(ids)))


async def add_to_post_counts(
    session: AsyncSession, topic_ids: Sequence[uuid.UUID], delta: int
) -> None:
    """``post_count += delta`` in SQL for each topic (once per id given)."""
    if not topic_ids:
        return
    ids = list(topic_ids)
    await session.execute(
        update(Topic)
        .where(Topic.id.in_(_locked_in_id_order(lambda t: t.id.in_(ids))))
        .values(post_count=Topic.post_count + delta)
        .execution_options(synchronize_session=False)
    )


async def add_to_follower_count(session: AsyncSession, topic_id: uuid.UUID, delta: int) -> None:
    await session.execute(
        update(Topic)
        .where(Topic.id == topic_id)
        .values(follower_count=Topic.follower_count + delta)
        .execution_options(synchronize_session=False)
    )


# --- posts of a topic -------------------------------------------------------------------------


async def attach_post_topic(
    session: AsyncSession, post_id: uuid.UUID, topic_id: uuid.UUID, now: datetime
) -> bool:
    """Link a post to a topic unless already linked (race-free); True if linked now."""
    return await insert_or_ignore(
        session,
        PostTopic,
        {"post_id": post_id, "topic_id": topic_id, "created_at": now},
        ["post_id", "topic_id"],
    )


async def detach_post_topics(
    session: AsyncSession, post_id: uuid.UUID, keep: Iterable[uuid.UUID] = ()
) -> list[tuple[uuid.UUID, datetime]]:
    """Unlink the post from its topics (except ``keep``); the (topic, linked at) really removed."""
    statement = delete(PostTopic).where(PostTopic.post_id == post_id)
    kept = list(keep)
    if kept:
        statement = statement.where(PostTopic.topic_id.not_in(kept))
    result = await session.execute(
        statement.returning(PostTopic.topic_id, PostTopic.created_at).execution_options(
            synchronize_session=False
        )
    )
    return [(topic_id, linked_at) for topic_id, linked_at in result]


async def list_visible_topic_posts(
    session: AsyncSession,
    topic_id: uuid.UUID,
    viewer_id: uuid.UUID | None,
    now: datetime,
    page: PageRequest,
    after: posts.TimelineKey | None,
) -> list[Any]:
    """(id, published_at) of the topic's live posts the viewer may see, newest published
    first; ``limit + 1`` rows. Posts' base statement applies the visibility policy."""
    visible = posts.visible_posts_statement(viewer_id, now).subquery("visible")
    statement = (
        select(visible.c.id, visible.c.published_at)
        .join(PostTopic, PostTopic.post_id == visible.c.id)
        .where(PostTopic.topic_id == topic_id)
    )
    if after is not None:
        statement = statement.where(posts.published_before(visible, after))
    statement = statement.order_by(visible.c.published_at.desc(), visible.c.id.desc()).limit(
        page.limit + 1
    )
    return list(await session.execute(statement))


# --- usage and trending -----------------------------------------------------------------------


async def add_usage(session: AsyncSession, topic_id: uuid.UUID, day: date, delta: int) -> None:
    """Count ``delta`` uses of the topic on ``day`` (a decrease of a pruned day is a no-op)."""
    await upsert_add(session, TopicDailyUsage, {"topic_id": topic_id, "day": day}, {"count": delta})


def _usage_between(first: date, last: date) -> ColumnElement[float]:
    """The topic's (outer ``Topic`` row) total usage over ``first..last``, as a float."""
    return (
        select(func.coalesce(func.sum(TopicDailyUsage.count), 0) * literal(1.0))
        .where(TopicDailyUsage.topic_id == Topic.id, TopicDailyUsage.day.between(first, last))
        .scalar_subquery()
    )


async def store_trending_scores(
    session: AsyncSession,
    *,
    today: date,
    yesterday_weight: float,
    baseline_days: int,
    smoothing: float,
    min_recent: float,
    now: datetime,
) -> int:
    """Recompute every topic's ``trending_score`` from its usage rows in ONE statement.

    One ``UPDATE`` (no read-modify-write in Python) makes the refresh idempotent and safe when
    several processes run it at once: each run writes the same values, row by row.
    """
    yesterday = date.fromordinal(today.toordinal() - 1)
    first_baseline = date.fromordinal(today.toordinal() - 1 - baseline_days)
    last_baseline = date.fromordinal(today.toordinal() - 2)
    recent = _usage_between(today, today) + _usage_between(yesterday, yesterday) * literal(
        yesterday_weight
    )
    baseline = _usage_between(first_baseline, last_baseline) / literal(float(baseline_days))
    score = case(
        (recent >= literal(min_recent), recent / (baseline + literal(smoothing))), else_=0.0
    )
    recently_used = select(TopicDailyUsage.topic_id).where(
        TopicDailyUsage.day >= yesterday, TopicDailyUsage.count > 0
    )
    result = await session.execute(
        update(Topic)
        .where(
            Topic.id.in_(
                _locked_in_id_order(lambda t: or_(t.trending_score != 0, t.id.in_(recently_used)))
            )
        )
        .values(trending_score=score, trending_updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def prune_usage_before(session: AsyncSession, day: date) -> None:
    await session.execute(
        delete(TopicDailyUsage)
        .where(TopicDailyUsage.day < day)
        .execution_options(synchronize_session=False)
    )


# --- follows ----------------------------------------------------------------------------------


async def insert_follow(session: AsyncSession, user_id: uuid.UUID, topic_id: uuid.UUID) -> bool:
    return await insert_or_ignore(
        session,
        TopicFollow,
        {"id": new_id(), "user_id": user_id, "topic_id": topic_id, "created_at": utcnow()},
        ["user_id", "topic_id"],
    )


async def delete_follow(session: AsyncSession, user_id: uuid.UUID, topic_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(TopicFollow)
        .where(TopicFollow.user_id == user_id, TopicFollow.topic_id == topic_id)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def followed_topic_ids(
    session: AsyncSession, user_id: uuid.UUID, topic_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    ids = list(set(topic_ids))
    if not ids:
        return set()
    rows = await session.scalars(
        select(TopicFollow.topic_id).where(
            TopicFollow.user_id == user_id, TopicFollow.topic_id.in_(ids)
        )
    )
    return set(rows)


async def list_follows(
    session: AsyncSession, user_id: uuid.UUID, page: PageRequest, before: uuid.UUID | None
) -> list[TopicFollow]:
    """The user's topic follows, newest first by follow id; ``limit + 1`` rows."""
    statement = select(TopicFollow).where(TopicFollow.user_id == user_id)
    if before is not None:
        statement = statement.where(TopicFollow.id < before)
    statement = statement.order_by(TopicFollow.id.desc()).limit(page.limit + 1)
    return list((await session.scalars(statement)).all())


# --- listings ---------------------------------------------------------------------------------


async def list_featured(
    session: AsyncSession, page: PageRequest, after_name: str | None
) -> list[Topic]:
    """Featured topics by name; ``limit + 1`` rows."""
    statement = select(Topic).where(Topic.is_featured.is_(True))
    if after_name is not None:
        statement = statement.where(Topic.name > after_name)
    statement = statement.order_by(Topic.name).limit(page.limit + 1)
    return list((await session.scalars(statement)).all())


async def list_trending(
    session: AsyncSession, page: PageRequest, after: tuple[float, uuid.UUID] | None
) -> list[Topic]:
    """Topics with a positive trending score, highest first; ``limit + 1`` rows."""
    statement = select(Topic).where(Topic.trending_score > 0)
    if after is not None:
        score, topic_id = after
        statement = statement.where(
            or_(
                Topic.trending_score < score,
                and_(Topic.trending_score == score, Topic.id < topic_id),
            )
        )
    statement = statement.order_by(Topic.trending_score.desc(), Topic.id.desc()).limit(
        page.limit + 1
    )
    return list((await session.scalars(statement)).all())


def followed_topic_post_ids_statement(
    user_id: uuid.UUID | ColumnElement[uuid.UUID],
) -> Select[uuid.UUID]:
    """Ids of the posts tagged with a topic ``user_id`` follows (a subquery for feeds)."""
    return select(PostTopic.post_id).where(
        PostTopic.topic_id.in_(select(TopicFollow.topic_id).where(TopicFollow.user_id == user_id))
    )
