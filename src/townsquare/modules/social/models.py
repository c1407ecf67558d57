"""The social graph: friend requests, friendships, follows, close friends, mutes, blocks, counts.

Friendships are stored as two symmetric rows (A→B and B→A) so "friends of X" is one index range.
A friend request holds its unordered pair in ``pair_low_id``/``pair_high_id`` under a unique
constraint, so requests between the same two people, in either direction, make one row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.models import Base, IdMixin, StrEnumType, utcnow


class FollowStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"  # waiting for a private account's approval


def _user_fk(**kwargs: object) -> Mapped[uuid.UUID]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), **kwargs)  # type: ignore[arg-type]


class FriendRequest(IdMixin, Base):
    __tablename__ = "friend_requests"

    requester_id: Mapped[uuid.UUID] = _user_fk()
    addressee_id: Mapped[uuid.UUID] = _user_fk()
    pair_low_id: Mapped[uuid.UUID]
    pair_high_id: Mapped[uuid.UUID]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("pair_low_id", "pair_high_id"),
        CheckConstraint("requester_id <> addressee_id", name="not_self"),
        Index("ix_friend_requests_addressee_id_id", "addressee_id", "id"),
        Index("ix_friend_requests_requester_id_id", "requester_id", "id"),
    )


class Friendship(IdMixin, Base):
    __tablename__ = "friendships"

    user_id: Mapped[uuid.UUID] = _user_fk()
    friend_id: Mapped[uuid.UUID] = _user_fk()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("user_id", "friend_id"),
        CheckConstraint("user_id <> friend_id", name="not_self"),
        Index("ix_friendships_user_id_id", "user_id", "id"),
        # "Is the viewer a friend of this author?" looks the pair up from the friend's side.
        Index("ix_friendships_friend_id_user_id", "friend_id", "user_id"),
    )


class Follow(IdMixin, Base):
    __tablename__ = "follows"

    follower_id: Mapped[uuid.UUID] = _user_fk()
    followee_id: Mapped[uuid.UUID] = _user_fk()
    status: Mapped[FollowStatus] = mapped_column(StrEnumType(FollowStatus, 10))
    notify_on_post: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("follower_id", "followee_id"),
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        CheckConstraint("status IN ('active', 'pending')", name="status"),
        Index("ix_follows_followee_id_status_id", "followee_id", "status", "id"),
        Index("ix_follows_follower_id_status_id", "follower_id", "status", "id"),
    )


class CloseFriend(IdMixin, Base):
    """``member_id`` is on ``owner_id``'s close-friends list (one-way, private to the owner)."""

    __tablename__ = "close_friends"

    owner_id: Mapped[uuid.UUID] = _user_fk()
    member_id: Mapped[uuid.UUID] = _user_fk()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("owner_id", "member_id"),
        CheckConstraint("owner_id <> member_id", name="not_self"),
        Index("ix_close_friends_owner_id_id", "owner_id", "id"),
    )


class Mute(IdMixin, Base):
    """``muted_id`` vanishes from ``owner_id``'s feeds and notifications, without knowing."""

    __tablename__ = "mutes"

    owner_id: Mapped[uuid.UUID] = _user_fk()
    muted_id: Mapped[uuid.UUID] = _user_fk()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("owner_id", "muted_id"),
        CheckConstraint("owner_id <> muted_id", name="not_self"),
        Index("ix_mutes_owner_id_id", "owner_id", "id"),
    )


class Block(IdMixin, Base):
    """A block hides each user from the other everywhere, in both directions."""

    __tablename__ = "blocks"

    blocker_id: Mapped[uuid.UUID] = _user_fk()
    blocked_id: Mapped[uuid.UUID] = _user_fk()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("blocker_id", "blocked_id"),
        CheckConstraint("blocker_id <> blocked_id", name="not_self"),
        Index("ix_blocks_blocker_id_id", "blocker_id", "id"),
        Index("ix_blocks_blocked_id", "blocked_id"),
    )


class UserStats(Base):
    """Exact counters, changed in SQL in the same transaction as the rows they count."""

    __tablename__ = "user_stats"

    user_id: Mapped[uuid.UUID] = _user_fk(primary_key=True)
    followers_count: Mapped[int] = mapped_column(default=0, server_default="0")
    following_count: Mapped[int] = mapped_column(default=0, server_default="0")
    friends_count: Mapped[int] = mapped_column(default=0, server_default="0")
    posts_count: Mapped[int] = mapped_column(default=0, server_default="0")

    __table_args__ = tuple(
        CheckConstraint(f"{column} >= 0", name=f"{column}_non_negative")
        for column in ("followers_count", "following_count", "friends_count", "posts_count")
    )
