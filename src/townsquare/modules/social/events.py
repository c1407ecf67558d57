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
