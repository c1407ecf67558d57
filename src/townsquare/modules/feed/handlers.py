"""Event handlers of the feed, for either feed store (Redis feeds or the embedded home inbox).

Publishing fans a post out; an edit fans it out again (its audience may have widened; pushing
is idempotent). A change in the graph drops the feeds it touches, so their next read
rebuilds them with the new sources; what must disappear has already disappeared, because every
page is filtered again in SQL. What must *appear* (an unmute, a follow approved, a friendship,
a close-friends list) cannot wait for a worker: the feeds are dropped right after the commit, in
the process that made the change, before it answers (a commit handler), so the very next read
rebuilds them. The outbox handler drops them once more: it covers a failed drop, and a rebuild
that read the graph before the change committed and stored its feed after the first drop.
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
    async def fan_out(event: Event, uow: UnitOfWork) -> None:
        await service.fan_out_post(uow.session, platform, uuid.UUID(event.payload["post_id"]))

    async def drop_changed_feeds(event: Event, uow: UnitOfWork) -> None:
        await service.drop_feeds(uow.session, platform, _changed(event))

    async def drop_changed_feeds_now(event: Event) -> None:
        await service.drop_feeds_now(platform, _changed(event))

    handlers.on(posts_events.POST_PUBLISHED, fan_out)
    handlers.on(posts_events.POST_EDITED, fan_out)
    for name in _GRAPH_CHANGES:
        handlers.on(name, drop_changed_feeds)
        handlers.on_commit(name, drop_changed_feeds_now)


def _changed(event: Event) -> list[uuid.UUID]:
    """The users whose feeds a graph event changes."""
    return [uuid.UUID(event.payload[name]) for name in _GRAPH_CHANGES[event.name]]
