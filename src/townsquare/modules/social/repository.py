"""All SQL of the social graph.

The ``*_clause`` functions are the graph's building blocks for other modules' visibility
filters: each is a correlated ``EXISTS`` usable inside their queries, so visibility stays part
of the query (never a Python loop over rows).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Result,
    Select,
    bindparam,
    delete,
    exists,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from townsquare.kit.cache import invalidate_after_commit
from townsquare.kit.models import new_id, utcnow
from townsquare.kit.pagination import PageRequest, paginate_by_id
from townsquare.kit.sql import insert_or_ignore, upsert_add
from townsquare.modules.social import policy
from townsquare.modules.social.models import (
    Block,
    CloseFriend,
    Follow,
    FollowStatus,
    FriendRequest,
    Friendship,
    Mute,
    UserStats,
)

#: A user id: a column of the outer query, or a value.
UserRef = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID] | uuid.UUID


def are_friends_clause(user: UserRef, other: UserRef) -> ColumnElement[bool]:
    return exists().where(Friendship.user_id == user, Friendship.friend_id == other)


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


# --- id lists for feeds (subqueries usable in other modules' statements, and fan-out lists)


def friend_ids_statement(user_id: UserRef) -> Select[uuid.UUID]:
    return select(Friendship.friend_id).where(Friendship.user_id == user_id)


def followee_ids_statement(
    follower_id: UserRef, *, min_followers: int | ColumnElement[int] | None = None
) -> Select[uuid.UUID]:
    """Whom ``follower_id`` follows (approved); with ``min_followers``, only the accounts with
    at least that many followers."""
    statement = select(Follow.followee_id).where(
        Follow.follower_id == follower_id, Follow.status == FollowStatus.ACTIVE
    )
    if min_followers is not None:
        statement = statement.join(UserStats, UserStats.user_id == Follow.followee_id).where(
            UserStats.followers_count >= min_followers
        )
    return statement


async def friend_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    return list(await session.scalars(friend_ids_statement(user_id)))


async def follower_ids(session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
    """Approved followers (one query; the index on (followee_id, status, id) covers it)."""
    return list(
        await session.scalars(
            select(Follow.follower_id).where(
                Follow.followee_id == user_id, Follow.status == FollowStatus.ACTIVE
            )
        )
    )


async def close_friend_ids(session: AsyncSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    return list(
        await session.scalars(select(CloseFriend.member_id).where(CloseFriend.owner_id == owner_id))
    )


async def followers_count(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(UserStats.followers_count).where(UserStats.user_id == user_id)
    )
    return int(count or 0)


def friends_cache_key(user_id: uuid.UUID) -> str:
    return f"user:{user_id}:friends"


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


def _relations_statement() -> CompoundSelect[uuid.UUID, str]:
    """The tagged UNION ALL behind ``relations_of``, over ``:viewer_id`` and ``:ids``."""
    viewer: BindParameter[uuid.UUID] = bindparam("viewer_id")
    ids: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
    return union_all(
        select(Friendship.friend_id, literal("friend")).where(
            Friendship.user_id == viewer, Friendship.friend_id.in_(ids)
        ),
        select(CloseFriend.owner_id, literal("close")).where(
            CloseFriend.member_id == viewer, CloseFriend.owner_id.in_(ids)
        ),
        select(Follow.followee_id, literal("follows")).where(
            Follow.follower_id == viewer,
            Follow.followee_id.in_(ids),
            Follow.status == FollowStatus.ACTIVE,
        ),
        select(Block.blocked_id, literal("blocked")).where(
            Block.blocker_id == viewer, Block.blocked_id.in_(ids)
        ),
        select(Block.blocker_id, literal("blocked")).where(
            Block.blocked_id == viewer, Block.blocker_id.in_(ids)
        ),
        select(Mute.muted_id, literal("muted")).where(
            Mute.owner_id == viewer, Mute.muted_id.in_(ids)
        ),
    )


#: Built once: one of the hottest reads (every message sent, every profile and list shown),
#: and building and cache-keying six selects cost more than running them.
_RELATIONS = _relations_statement()


async def relations_of(
    session: AsyncSession, viewer_id: uuid.UUID, others: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Relation]:
    """The viewer's relation to each of ``others``, in one query (a tagged UNION ALL)."""
    ids = list(set(others) - {viewer_id})
    if not ids:
        return {}
    tagged = await session.execute(_RELATIONS, {"viewer_id": viewer_id, "ids": ids})
    kinds: dict[str, set[uuid.UUID]] = defaultdict(set)
    for other, kind in tagged.all():
        kinds[kind].add(other)
    friends, close, follows = kinds["friend"], kinds["close"], kinds["follows"]
    blocked, muted = kinds["blocked"], kinds["muted"]
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
    """Change counters in SQL (``followers_count=+1``...), creating the row when missing.

    A zero change still upserts (and so locks) the row: ``lock_pair`` relies on it.
    """
    increases = {column: delta for column, delta in deltas.items() if delta >= 0}
    decreases = {column: delta for column, delta in deltas.items() if delta < 0}
    for changes in (increases, decreases):
        if changes:
            await upsert_add(session, UserStats, {"user_id": user_id}, changes)


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


# --- serialising changes to a pair of users


async def lock_pair(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    """Serialise every change between ``a`` and ``b``: lock both counter rows, in id order.

    Each write of the graph (request, follow, block...) takes this lock first, so a block and a
    concurrent follow between the same two people cannot both pass their checks. The rows are
    the ones the change will update anyway; the fixed order keeps two pairs from deadlocking.
    (On SQLite writers are already serialised; the statement runs the same way.)
    """
    for user_id in sorted((a, b)):
        await add_to_stats(session, user_id, followers_count=0)


# --- friend requests and friendships


async def add_friend_request(
    session: AsyncSession, requester_id: uuid.UUID, addressee_id: uuid.UUID
) -> uuid.UUID | None:
    """A new pending request, or None when one already exists for the pair (either way)."""
    low, high = sorted((requester_id, addressee_id))
    request_id = new_id()
    inserted = await insert_or_ignore(
        session,
        FriendRequest,
        {
            "id": request_id,
            "requester_id": requester_id,
            "addressee_id": addressee_id,
            "pair_low_id": low,
            "pair_high_id": high,
            "created_at": utcnow(),
        },
        ["pair_low_id", "pair_high_id"],
    )
    return request_id if inserted else None


async def get_friend_request_between(
    session: AsyncSession, a: uuid.UUID, b: uuid.UUID
) -> FriendRequest | None:
    low, high = sorted((a, b))
    return await session.scalar(
        select(FriendRequest).where(
            FriendRequest.pair_low_id == low, FriendRequest.pair_high_id == high
        )
    )


async def get_friend_request_to(
    session: AsyncSession, request_id: uuid.UUID, addressee_id: uuid.UUID
) -> FriendRequest | None:
    return await session.scalar(
        select(FriendRequest).where(
            FriendRequest.id == request_id, FriendRequest.addressee_id == addressee_id
        )
    )


async def delete_friend_request(session: AsyncSession, request_id: uuid.UUID) -> bool:
    """True if this transaction removed it (a concurrent accept or decline did not)."""
    result = await session.execute(delete(FriendRequest).where(FriendRequest.id == request_id))
    return _rowcount(result) > 0


async def delete_friend_request_from(
    session: AsyncSession, requester_id: uuid.UUID, addressee_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(FriendRequest).where(
            FriendRequest.requester_id == requester_id, FriendRequest.addressee_id == addressee_id
        )
    )
    return _rowcount(result) > 0


async def delete_friend_request_between(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> None:
    low, high = sorted((a, b))
    await session.execute(
        delete(FriendRequest).where(
            FriendRequest.pair_low_id == low, FriendRequest.pair_high_id == high
        )
    )


async def add_friendship(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> list[uuid.UUID]:
    """Both symmetric rows; returns the users whose row was really inserted (to count)."""
    inserted = []
    for user_id, friend_id in ((a, b), (b, a)):
        values = {
            "id": new_id(),
            "user_id": user_id,
            "friend_id": friend_id,
            "created_at": utcnow(),
        }
        if await insert_or_ignore(session, Friendship, values, ["user_id", "friend_id"]):
            inserted.append(user_id)
    invalidate_after_commit(session, friends_cache_key(a), friends_cache_key(b))
    return inserted


async def delete_friendship(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> list[uuid.UUID]:
    """Both rows; returns the users whose row was really deleted (to count)."""
    deleted = []
    for user_id, friend_id in ((a, b), (b, a)):
        result = await session.execute(
            delete(Friendship).where(
                Friendship.user_id == user_id, Friendship.friend_id == friend_id
            )
        )
        if _rowcount(result):
            deleted.append(user_id)
    invalidate_after_commit(session, friends_cache_key(a), friends_cache_key(b))
    return deleted


# --- follows


async def add_follow(
    session: AsyncSession,
    follower_id: uuid.UUID,
    followee_id: uuid.UUID,
    status: FollowStatus,
    notify_on_post: bool,
) -> uuid.UUID | None:
    """A new follow (active or pending), or None when the follower already has one."""
    now = utcnow()
    follow_id = new_id()
    inserted = await insert_or_ignore(
        session,
        Follow,
        {
            "id": follow_id,
            "follower_id": follower_id,
            "followee_id": followee_id,
            "status": status,
            "notify_on_post": notify_on_post,
            "created_at": now,
            "approved_at": now if status is FollowStatus.ACTIVE else None,
        },
        ["follower_id", "followee_id"],
    )
    return follow_id if inserted else None


async def get_follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> Follow | None:
    return await session.scalar(
        select(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
    )


async def set_notify_on_post(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID, notify: bool
) -> bool:
    """False when there is no follow (active or pending) to change."""
    result = await session.execute(
        update(Follow)
        .where(Follow.follower_id == follower_id, Follow.followee_id == followee_id)
        .values(notify_on_post=notify)
    )
    return _rowcount(result) > 0


async def delete_follow(
    session: AsyncSession, follower_id: uuid.UUID, followee_id: uuid.UUID
) -> FollowStatus | None:
    """Remove the follow; returns the status the removed row had (None: there was none).

    Deleting by status, in two statements, tells which counters to change without a read
    that a concurrent approval could make stale.
    """
    for status in (FollowStatus.ACTIVE, FollowStatus.PENDING):
        result = await session.execute(
            delete(Follow).where(
                Follow.follower_id == follower_id,
                Follow.followee_id == followee_id,
                Follow.status == status,
            )
        )
        if _rowcount(result):
            return status
    return None


async def get_pending_follow_to(
    session: AsyncSession, follow_id: uuid.UUID, followee_id: uuid.UUID
) -> Follow | None:
    return await session.scalar(
        select(Follow).where(
            Follow.id == follow_id,
            Follow.followee_id == followee_id,
            Follow.status == FollowStatus.PENDING,
        )
    )


async def approve_follow(session: AsyncSession, follow_id: uuid.UUID) -> bool:
    """Pending → active; False if it was no longer pending (approved, declined, withdrawn)."""
    result = await session.execute(
        update(Follow)
        .where(Follow.id == follow_id, Follow.status == FollowStatus.PENDING)
        .values(status=FollowStatus.ACTIVE, approved_at=utcnow())
    )
    return _rowcount(result) > 0


async def delete_pending_follow(
    session: AsyncSession, follow_id: uuid.UUID, followee_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(Follow).where(
            Follow.id == follow_id,
            Follow.followee_id == followee_id,
            Follow.status == FollowStatus.PENDING,
        )
    )
    return _rowcount(result) > 0


# --- close friends, mutes, blocks: one-way lists owned by one user


async def add_close_friend(
    session: AsyncSession, owner_id: uuid.UUID, member_id: uuid.UUID
) -> bool:
    values = {"id": new_id(), "owner_id": owner_id, "member_id": member_id, "created_at": utcnow()}
    return await insert_or_ignore(session, CloseFriend, values, ["owner_id", "member_id"])


async def delete_close_friend(
    session: AsyncSession, owner_id: uuid.UUID, member_id: uuid.UUID
) -> bool:
    result = await session.execute(
        delete(CloseFriend).where(
            CloseFriend.owner_id == owner_id, CloseFriend.member_id == member_id
        )
    )
    return _rowcount(result) > 0


async def add_mute(session: AsyncSession, owner_id: uuid.UUID, muted_id: uuid.UUID) -> bool:
    values = {"id": new_id(), "owner_id": owner_id, "muted_id": muted_id, "created_at": utcnow()}
    return await insert_or_ignore(session, Mute, values, ["owner_id", "muted_id"])


async def delete_mute(session: AsyncSession, owner_id: uuid.UUID, muted_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Mute).where(Mute.owner_id == owner_id, Mute.muted_id == muted_id)
    )
    return _rowcount(result) > 0


async def add_block(session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> bool:
    values = {
        "id": new_id(),
        "blocker_id": blocker_id,
        "blocked_id": blocked_id,
        "created_at": utcnow(),
    }
    return await insert_or_ignore(session, Block, values, ["blocker_id", "blocked_id"])


async def delete_block(session: AsyncSession, blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(Block).where(Block.blocker_id == blocker_id, Block.blocked_id == blocked_id)
    )
    return _rowcount(result) > 0


async def is_blocked_either_way(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return bool(await session.scalar(select(policy.blocked_either_way_clause(a, b))))


def _muting_or_blocked_statement() -> CompoundSelect[uuid.UUID, str]:
    """The tagged UNION ALL behind ``muting_or_blocked_with``, over ``:user_id`` and ``:ids``."""
    user: BindParameter[uuid.UUID] = bindparam("user_id")
    ids: BindParameter[list[uuid.UUID]] = bindparam("ids", expanding=True)
    return union_all(
        select(Mute.owner_id, literal("mute")).where(Mute.muted_id == user, Mute.owner_id.in_(ids)),
        select(Block.blocker_id, literal("block")).where(
            Block.blocked_id == user, Block.blocker_id.in_(ids)
        ),
        select(Block.blocked_id, literal("block")).where(
            Block.blocker_id == user, Block.blocked_id.in_(ids)
        ),
    )


#: Built once, like ``_RELATIONS``: every notification job runs it.
_MUTING_OR_BLOCKED = _muting_or_blocked_statement()


async def muting_or_blocked_with(
    session: AsyncSession, user_id: uuid.UUID, others: Iterable[uuid.UUID]
) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """Of ``others``: (those who muted ``user_id``, those in a block with them either way).

    One query however many ``others`` (a message to a large group notifies all members)."""
    ids = sorted(set(others))
    if not ids:
        return set(), set()
    rows = (await session.execute(_MUTING_OR_BLOCKED, {"user_id": user_id, "ids": ids})).all()
    return (
        {other for other, kind in rows if kind == "mute"},
        {other for other, kind in rows if kind == "block"},
    )


async def are_friends(session: AsyncSession, a: uuid.UUID, b: uuid.UUID) -> bool:
    return bool(await session.scalar(select(are_friends_clause(a, b))))


@dataclass(frozen=True)
class ConnectionFacts:
    """Everything about how ``viewer`` stands towards ``other``, from the viewer's side."""

    is_friend: bool
    follows_you: bool
    close_friend: bool
    muted: bool
    blocked: bool
    request: FriendRequest | None
    follow: Follow | None


async def connection_facts(
    session: AsyncSession, viewer_id: uuid.UUID, other_id: uuid.UUID
) -> ConnectionFacts:
    """Three queries: the one-way facts as ``EXISTS`` columns, the request, the follow."""
    row = (
        await session.execute(
            select(
                are_friends_clause(viewer_id, other_id),
                follows_clause(other_id, viewer_id),
                is_close_friend_clause(viewer_id, other_id),
                muted_clause(viewer_id, other_id),
                exists().where(Block.blocker_id == viewer_id, Block.blocked_id == other_id),
            )
        )
    ).one()
    return ConnectionFacts(
        is_friend=bool(row[0]),
        follows_you=bool(row[1]),
        close_friend=bool(row[2]),
        muted=bool(row[3]),
        blocked=bool(row[4]),
        request=await get_friend_request_between(session, viewer_id, other_id),
        follow=await get_follow(session, viewer_id, other_id),
    )


# --- lists: keyset pages of relation rows, newest first by the row's id


async def list_friends(
    session: AsyncSession, owner_id: uuid.UUID, viewer_id: uuid.UUID | None, page: PageRequest
) -> tuple[Sequence[Friendship], str | None]:
    statement = select(Friendship).where(
        Friendship.user_id == owner_id,
        policy.visible_person_clause(viewer_id, Friendship.friend_id),
    )
    return await paginate_by_id(session, statement, Friendship.id, page)


async def list_mutual_friends(
    session: AsyncSession, owner_id: uuid.UUID, viewer_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[Friendship], str | None]:
    """``owner_id``'s friendship rows whose friend is also the viewer's friend."""
    # An alias: the EXISTS over friendships must not correlate with the outer friendships.
    owners = aliased(Friendship)
    statement = select(owners).where(
        owners.user_id == owner_id,
        are_friends_clause(viewer_id, owners.friend_id),
        policy.visible_person_clause(viewer_id, owners.friend_id),
    )
    return await paginate_by_id(session, statement, owners.id, page)


async def list_followers(
    session: AsyncSession, owner_id: uuid.UUID, viewer_id: uuid.UUID | None, page: PageRequest
) -> tuple[Sequence[Follow], str | None]:
    statement = select(Follow).where(
        Follow.followee_id == owner_id,
        Follow.status == FollowStatus.ACTIVE,
        policy.visible_person_clause(viewer_id, Follow.follower_id),
    )
    return await paginate_by_id(session, statement, Follow.id, page)


async def list_following(
    session: AsyncSession, owner_id: uuid.UUID, viewer_id: uuid.UUID | None, page: PageRequest
) -> tuple[Sequence[Follow], str | None]:
    statement = select(Follow).where(
        Follow.follower_id == owner_id,
        Follow.status == FollowStatus.ACTIVE,
        policy.visible_person_clause(viewer_id, Follow.followee_id),
    )
    return await paginate_by_id(session, statement, Follow.id, page)


async def list_follow_requests(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[Follow], str | None]:
    statement = select(Follow).where(
        Follow.followee_id == owner_id,
        Follow.status == FollowStatus.PENDING,
        policy.visible_person_clause(owner_id, Follow.follower_id),
    )
    return await paginate_by_id(session, statement, Follow.id, page)


async def list_incoming_friend_requests(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[FriendRequest], str | None]:
    statement = select(FriendRequest).where(
        FriendRequest.addressee_id == owner_id,
        policy.visible_person_clause(owner_id, FriendRequest.requester_id),
    )
    return await paginate_by_id(session, statement, FriendRequest.id, page)


async def list_outgoing_friend_requests(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[FriendRequest], str | None]:
    statement = select(FriendRequest).where(
        FriendRequest.requester_id == owner_id,
        policy.visible_person_clause(owner_id, FriendRequest.addressee_id),
    )
    return await paginate_by_id(session, statement, FriendRequest.id, page)


async def list_close_friends(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[CloseFriend], str | None]:
    statement = select(CloseFriend).where(
        CloseFriend.owner_id == owner_id,
        policy.visible_person_clause(owner_id, CloseFriend.member_id),
    )
    return await paginate_by_id(session, statement, CloseFriend.id, page)


async def list_mutes(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[Mute], str | None]:
    statement = select(Mute).where(
        Mute.owner_id == owner_id, policy.visible_person_clause(owner_id, Mute.muted_id)
    )
    return await paginate_by_id(session, statement, Mute.id, page)


async def list_blocks(
    session: AsyncSession, owner_id: uuid.UUID, page: PageRequest
) -> tuple[Sequence[Block], str | None]:
    """Users I blocked (the block itself does not hide them here; being hidden does)."""
    statement = select(Block).where(
        Block.blocker_id == owner_id,
        policy.findable_person_clause(owner_id, Block.blocked_id),
    )
    return await paginate_by_id(session, statement, Block.id, page)


def _rowcount(result: Result[Any]) -> int:
    return int(result.rowcount)  # type: ignore[attr-defined]
