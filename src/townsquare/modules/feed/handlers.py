"""Event handlers of the feed (production only: the embedded default reads from the database).

Publishing fans a post out; an edit fans it out again (its audience may have widened; pushing
is idempotent). A change in the graph drops the Redis feeds it touches, so their next read
rebuilds them with the new sources; what must disappear has already disappeared, because every
page is filtered again in SQL.
"""

from __future__ import annotations

import uuid

from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, EventHandlers
from townsquare.kit.platform import Platform
from townsquare.modules.feed import service
from townsquare.modules.posts import events as posts_events
from townsquare.modules.social import events as social_events

#: Graph events and the payload fields naming the users whose feeds they change.
_GRAPH_CHANGES: dict[str, tuple[str, ...]] = {
    social_events.FOLLOWED: ("follower_id",),
    social_events.FOLLOW_APPROVED: ("follower_id",),
    social_events.FRIEND_REQUEST_ACCEPTED: ("requester_id", "addressee_id"),
    social_events.UNFRIENDED: ("user_id", "other_id"),
    social_events.UNFOLLOWED: ("user_id",),
    social_events.MUTED: ("user_id",),
    social_events.UNMUTED: ("user_id",),
    social_events.BLOCKED: ("blocker_id", "blocked_id"),
    social_events.UNBLOCKED: ("user_id", "other_id"),
    social_events.CLOSE_FRIEND_ADDED: ("other_id",),
}


def register_handlers(handlers: EventHandlers, platform: Platform) -> None:
    if service.feed_store(platform) is None:
        return

    async def fan_out(event: Event, uow: UnitOfWork) -> None:
        await service.fan_out_post(uow.session, platform, uuid.UUID(event.payload["post_id"]))

    async def drop_changed_feeds(event: Event, uow: UnitOfWork) -> None:
        fields = _GRAPH_CHANGES[event.name]
        await service.drop_feeds(platform, [uuid.UUID(event.payload[name]) for name in fields])

    handlers.on(posts_events.POST_PUBLISHED, fan_out)
    handlers.on(posts_events.POST_EDITED, fan_out)
    for name in _GRAPH_CHANGES:
        handlers.on(name, drop_changed_feeds)
