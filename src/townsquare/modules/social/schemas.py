"""Request and response models of the social graph (the API contract)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, StrictBool

from townsquare.modules.profiles.schemas import PersonCard


class FriendRequestOut(BaseModel):
    """A pending friend request; ``user`` is the other person (requester or addressee)."""

    id: uuid.UUID
    user: PersonCard
    created_at: datetime


class FollowRequestOut(BaseModel):
    """A follow waiting for my approval (my account is private); ``user`` wants to follow me."""

    id: uuid.UUID
    user: PersonCard
    created_at: datetime


class FriendshipState(StrEnum):
    NONE = "none"
    REQUEST_SENT = "request_sent"
    REQUEST_RECEIVED = "request_received"
    FRIENDS = "friends"


class FollowState(StrEnum):
    NONE = "none"
    PENDING = "pending"  # waiting for the private account's approval
    ACTIVE = "active"


class ConnectionOut(BaseModel):
    """How I stand towards ``user``, as I may know it (what they did to me stays theirs)."""

    user: PersonCard
    friendship: FriendshipState
    friend_request_id: uuid.UUID | None = Field(
        description="The pending request between us, in either direction (to accept, decline)."
    )
    follow: FollowState = Field(description="Whether I follow them.")
    notify_on_post: bool = Field(description="I asked to be told of their new posts.")
    follows_you: bool = Field(description="They follow me (approved).")
    close_friend: bool = Field(description="They are on my close-friends list.")
    muted: bool = Field(description="I muted them (they are not told).")
    blocked: bool = Field(description="I blocked them.")


class FollowOptions(BaseModel):
    """Optional body of a follow."""

    model_config = ConfigDict(extra="forbid")

    notify_on_post: StrictBool = False


class FollowUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notify_on_post: StrictBool
