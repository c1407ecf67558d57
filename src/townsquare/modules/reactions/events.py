"""Domain events the reactions module publishes (through the outbox)."""

from __future__ import annotations

import uuid
from typing import Any

from townsquare.modules.reactions.models import TargetType

#: A user reacted to a post or comment they had not reacted to (notifications, analytics).
REACTION_ADDED = "reaction.added"
#: A user changed the type of their reaction (analytics: counts per type moved).
REACTION_CHANGED = "reaction.changed"
REACTION_REMOVED = "reaction.removed"


def reaction(
    *,
    user_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    post_id: uuid.UUID,
    target_author_id: uuid.UUID,
    type: str,
    previous_type: str | None = None,
) -> dict[str, Any]:
    return {
        "user_id": str(user_id),
        "target_type": target_type.value,
        "target_id": str(target_id),
        "post_id": str(post_id),
        "target_author_id": str(target_author_id),
        "type": type,
        "previous_type": previous_type,
    }
