"""All SQL of the social graph.

The ``*_clause`` functions are the graph's building blocks for other modules' visibility
filters: each is a correlated ``EXISTS`` usable inside their queries, so visibility stays part
of the query (never a Python loop over rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from townsquare.kit.sql import upsert_add
from townsquare.modules.social.models import (
    Block,
    CloseFriend,
    Follow,
    FollowStatus,
    Friendship,
    Mute,
    UserStats,
)

#: A user id: a column of the outer query, or a value.
UserRef = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID] | uuid.UUID


def are_friends_clause(user: UserRef, other: UserRef) -> ColumnElement[bool]:
    return exists().where(Friendship.user_id == user, Friendship.friend_id == other)


def blocked_either_way_clause(a: UserRef, b: UserRef) -> ColumnElement[bool]:
    return exists().where(
        or_(
            and_(Block.blocker_id == a, Block.blocked_id == b),
            and_(Block.blocker_id == b, Block.blocked_id == a),
        )
    )


def is_close_friend_clause(owner: UserRef, member: UserRef) -> ColumnElement[bool]:
    """``member`` is on ``owner``'s close-friends list."""
    return exists().where(CloseFriend.owner_id == owner, CloseFriend.member_id == member)


def follows_clause(follower: UserRef, followee: UserRef) -> ColumnElement[bool]:
    """An approved (active) follow."""
    return exists().where(
        Follow.follower_id == follower,
        Follow.followee_id == followee,
        Follow.status == FollowStatus.ACTIVE,
    )


def muted_clause(owner: UserRef, muted: UserRef) -> ColumnElement[bool]:
    return exists().where(Mute.owner_id == owner, Mute.muted_id == muted)


@dataclass(frozen=True)
class Relation:
    """How a viewer stands towards another user (facts only; policies decide what they mean)."""

    is_friend: bool = False
    #: The other user put the viewer on their close-friends list.
    is_close_friend: bool = False
    #: The viewer follows the other user (approved).
    follows: bool = False
    #: Either of them blocked the other.
    blocked: bool = False
    #: The viewer muted the other user.
    muted: bool = False


async def relations_of(
    session: AsyncSession, viewer_id: uuid.UUID, others: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Relation]:
    """The viewer's relation to each of ``others``, in a constant number of queries."""
    ids = list(set(others) - {viewer_id})
    if not ids:
        return {}
    friends = set(
        await session.scalars(
            select(Friendship.friend_id).where(
                Friendship.user_id == viewer_id, Friendship.friend_id.in_(ids)
            )
        )
    )
    close = set(
        await session.scalars(
            select(CloseFriend.owner_id).where(
                CloseFriend.member_id == viewer_id, CloseFriend.owner_id.in_(ids)
            )
        )
    )
    follows = set(
        await session.scalars(
            select(Follow.followee_id).where(
                Follow.follower_id == viewer_id,
                Follow.followee_id.in_(ids),
                Follow.status == FollowStatus.ACTIVE,
            )
        )
    )
    blocked_rows = await session.execute(
        select(Block.blocker_id, Block.blocked_id).where(
            or_(
                and_(Block.blocker_id == viewer_id, Block.blocked_id.in_(ids)),
                and_(Block.blocked_id == viewer_id, Block.blocker_id.in_(ids)),
            )
        )
    )
    blocked = {b if a == viewer_id else a for a, b in blocked_rows.tuples()}
    muted = set(
        await session.scalars(
            select(Mute.muted_id).where(Mute.owner_id == viewer_id, Mute.muted_id.in_(ids))
        )
    )
    return {
        other: Relation(
            is_friend=other in friends,
            is_close_friend=other in close,
            follows=other in follows,
            blocked=other in blocked,
            muted=other in muted,
        )
        for other in ids
    }


async def add_to_stats(session: AsyncSession, user_id: uuid.UUID, **deltas: int) -> None:
    """Change counters in SQL (``followers_count=+1``...), creating the row when missing."""
    await upsert_add(session, UserStats, {"user_id": user_id}, deltas)


async def stats_of(
    session: AsyncSession, user_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, UserStats]:
    """Counters by user id in one query; users without a row have all zeros."""
    ids = list(set(user_ids))
    rows = (
        {
            s.user_id: s
            for s in await session.scalars(select(UserStats).where(UserStats.user_id.in_(ids)))
        }
        if ids
        else {}
    )
    return {
        user_id: rows.get(user_id)
        or UserStats(
            user_id=user_id, followers_count=0, following_count=0, friends_count=0, posts_count=0
        )
        for user_id in ids
    }
