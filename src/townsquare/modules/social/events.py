"""Domain events the social graph publishes (through the outbox), for notifications and feeds."""

from __future__ import annotations

import uuid
from typing import Any

FRIEND_REQUEST_SENT = "social.friend_request_sent"
FRIEND_REQUEST_ACCEPTED = "social.friend_request_accepted"
FOLLOWED = "social.followed"
FOLLOW_REQUESTED = "social.follow_requested"
FOLLOW_APPROVED = "social.follow_approved"
BLOCKED = "social.blocked"
#: The graph lost an edge (feeds drop what it brought): payload ``pair(user_id, other_id)``.
UNFRIENDED = "social.unfriended"
UNFOLLOWED = "social.unfollowed"
MUTED = "social.muted"
UNMUTED = "social.unmuted"
UNBLOCKED = "social.unblocked"
#: ``other_id`` joined ``user_id``'s close-friends list (internal: the list is private).
CLOSE_FRIEND_ADDED = "social.close_friend_added"


def friend_request(
    request_id: uuid.UUID, requester_id: uuid.UUID, addressee_id: uuid.UUID
) -> dict[str, Any]:
    return {
        "request_id": str(request_id),
        "requester_id": str(requester_id),
        "addressee_id": str(addressee_id),
    }


def follow(follow_id: uuid.UUID, follower_id: uuid.UUID, followee_id: uuid.UUID) -> dict[str, Any]:
    return {
        "follow_id": str(follow_id),
        "follower_id": str(follower_id),
        "followee_id": str(followee_id),
    }


def block(blocker_id: uuid.UUID, blocked_id: uuid.UUID) -> dict[str, Any]:
    return {"blocker_id": str(blocker_id), "blocked_id": str(blocked_id)}


def pair(user_id: uuid.UUID, other_id: uuid.UUID) -> dict[str, Any]:
    """``user_id`` acted on ``other_id`` (unfriended, unfollowed, muted, unmuted, unblocked)."""
    return {"user_id": str(user_id), "other_id": str(other_id)}
