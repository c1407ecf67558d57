"""Event handlers of notifications: one per kind of domain event that tells somebody something.

Each kind of event has a builder of one ``Notice`` per recipient; one batch handler (a relay
claim's events in one job and one transaction) hands them to ``service.notify_events``, which
applies the policy and inserts at most once per (recipient, event, type): a redelivered event
changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, EventHandlers
from townsquare.kit.platform import Platform
from townsquare.modules.comments import events as comments_events
from townsquare.modules.messaging import events as messaging_events
from townsquare.modules.notifications import events, service, tasks
from townsquare.modules.notifications.models import NotificationType, Priority, TargetType
from townsquare.modules.notifications.repository import unread_cache_key
from townsquare.modules.notifications.service import Notice
from townsquare.modules.posts import events as posts_events
from townsquare.modules.reactions import events as reactions_events
from townsquare.modules.social import events as social_events

T = NotificationType


def _id(payload: dict[str, Any], name: str) -> uuid.UUID:
    return uuid.UUID(payload[name])


def _optional_id(payload: dict[str, Any], name: str) -> uuid.UUID | None:
    value = payload.get(name)
    return uuid.UUID(value) if value else None


def _post_url(post_id: uuid.UUID, comment_id: uuid.UUID | None = None) -> str:
    return f"/posts/{post_id}" + (f"?comment={comment_id}" if comment_id else "")


# --- the social graph


def _friend_request(event: Event) -> list[Notice]:
    p = event.payload
    requester = _id(p, "requester_id")
    return [
        Notice(
            recipient_id=_id(p, "addressee_id"),
            actor_id=requester,
            type=T.FRIEND_REQUEST,
            verb="sent you a friend request",
            target_type=TargetType.USER,
            target_id=requester,
            data={"request_id": p["request_id"]},
            action_url="/friend-requests",
            group="friend_request",
        )
    ]


def _friend_accept(event: Event) -> list[Notice]:
    p = event.payload
    addressee = _id(p, "addressee_id")
    return [
        Notice(
            recipient_id=_id(p, "requester_id"),
            actor_id=addressee,
            type=T.FRIEND_ACCEPT,
            verb="accepted your friend request",
            target_type=TargetType.USER,
            target_id=addressee,
            action_url=f"/users/{addressee}",
            group="friend_accept",
        )
    ]


def _follow(type_: NotificationType, verb: str, *, to_follower: bool = False) -> Any:
    def build(event: Event) -> list[Notice]:
        p = event.payload
        follower, followee = _id(p, "follower_id"), _id(p, "followee_id")
        recipient, actor = (follower, followee) if to_follower else (followee, follower)
        return [
            Notice(
                recipient_id=recipient,
                actor_id=actor,
                type=type_,
                verb=verb,
                target_type=TargetType.USER,
                target_id=actor,
                data={"follow_id": p["follow_id"]},
                action_url="/follow-requests" if type_ is T.FOLLOW_REQUEST else f"/users/{actor}",
                group=type_.value,
            )
        ]

    return build


# --- content


def _reaction(event: Event) -> list[Notice]:
    p = event.payload
    post_id, target_id = _id(p, "post_id"), _id(p, "target_id")
    on_comment = p["target_type"] == "comment"
    return [
        Notice(
            recipient_id=_id(p, "target_author_id"),
            actor_id=_id(p, "user_id"),
            type=T.REACTION,
            verb=f"reacted to your {'comment' if on_comment else 'post'}",
            target_type=TargetType.COMMENT if on_comment else TargetType.POST,
            target_id=target_id,
            post_id=post_id,
            data={"reaction": p["type"], "post_id": str(post_id)},
            action_url=_post_url(post_id, target_id if on_comment else None),
            priority=Priority.LOW,
            group=f"reaction:{p['target_type']}:{target_id}",
        )
    ]


def _comment(event: Event) -> list[Notice]:
    """The replied-to comment's author gets ``reply``; the post's author gets ``comment``
    (unless they are the one replied to: one notification is enough)."""
    p = event.payload
    post_id, comment_id, author = _id(p, "post_id"), _id(p, "comment_id"), _id(p, "author_id")
    replied_to_author = _optional_id(p, "in_reply_to_author_id")
    post_author = _id(p, "post_author_id")
    data = {"post_id": str(post_id), "comment_id": str(comment_id)}
    notices = []
    if replied_to_author is not None:
        replied_to = _id(p, "in_reply_to_id")
        notices.append(
            Notice(
                recipient_id=replied_to_author,
                actor_id=author,
                type=T.REPLY,
                verb="replied to your comment",
                target_type=TargetType.COMMENT,
                target_id=comment_id,
                post_id=post_id,
                data={**data, "in_reply_to_id": str(replied_to)},
                action_url=_post_url(post_id, comment_id),
                group=f"reply:comment:{replied_to}",
            )
        )
    if post_author != replied_to_author:
        notices.append(
            Notice(
                recipient_id=post_author,
                actor_id=author,
                type=T.COMMENT,
                verb="commented on your post",
                target_type=TargetType.COMMENT,
                target_id=comment_id,
                post_id=post_id,
                data=data,
                action_url=_post_url(post_id, comment_id),
                group=f"comment:post:{post_id}",
            )
        )
    return notices


def _comment_mention(event: Event) -> list[Notice]:
    p = event.payload
    post_id, comment_id = _id(p, "post_id"), _id(p, "comment_id")
    return [
        Notice(
            recipient_id=uuid.UUID(user_id),
            actor_id=_id(p, "author_id"),
            type=T.MENTION,
            verb="mentioned you in a comment",
            target_type=TargetType.COMMENT,
            target_id=comment_id,
            post_id=post_id,
            data={"post_id": str(post_id), "comment_id": str(comment_id)},
            action_url=_post_url(post_id, comment_id),
        )
        for user_id in p["mentioned_user_ids"]
    ]


def _post_mention(event: Event) -> list[Notice]:
    p = event.payload
    post_id = _id(p, "post_id")
    return [
        Notice(
            recipient_id=_id(p, "user_id"),
            actor_id=_id(p, "author_id"),
            type=T.MENTION,
            verb="mentioned you in a post",
            target_type=TargetType.POST,
            target_id=post_id,
            post_id=post_id,
            data={"post_id": str(post_id)},
            action_url=_post_url(post_id),
        )
    ]


def _share(event: Event) -> list[Notice]:
    """The original's author hears of the share if they may see the share itself."""
    p = event.payload
    share_id, original_id = _id(p, "post_id"), _id(p, "shared_post_id")
    return [
        Notice(
            recipient_id=_id(p, "original_author_id"),
            actor_id=_id(p, "author_id"),
            type=T.SHARE,
            verb="shared your post",
            target_type=TargetType.POST,
            target_id=original_id,
            post_id=share_id,
            data={"post_id": str(original_id), "share_id": str(share_id)},
            action_url=_post_url(share_id),
            group=f"share:post:{original_id}",
        )
    ]


# --- messages


def _message(event: Event) -> list[Notice]:
    """Members who did not mute the conversation get ``message``; people mentioned in a group
    get ``mention`` (high priority) instead."""
    p = event.payload
    conversation_id, sender = _id(p, "conversation_id"), _id(p, "sender_id")
    title = p.get("conversation_title")
    in_group = p.get("kind") == "group"
    mentioned = {uuid.UUID(user_id) for user_id in p.get("mentioned_user_ids", [])}
    data = {"conversation_id": str(conversation_id), "message_id": p["message_id"]}
    url = f"/messages/{conversation_id}"
    notices = []
    for user_id in dict.fromkeys(uuid.UUID(u) for u in p.get("notify_user_ids", [])):
        if user_id in mentioned and in_group:
            continue
        notices.append(
            Notice(
                recipient_id=user_id,
                actor_id=sender,
                type=T.MESSAGE,
                verb=f"sent a message in {title}" if in_group and title else "sent you a message",
                target_type=TargetType.CONVERSATION,
                target_id=conversation_id,
                message=p.get("preview"),
                data=data,
                action_url=url,
                group=f"message:conversation:{conversation_id}",
            )
        )
    if in_group:
        notices.extend(
            Notice(
                recipient_id=user_id,
                actor_id=sender,
                type=T.MENTION,
                verb=f"mentioned you in {title}" if title else "mentioned you in a conversation",
                target_type=TargetType.CONVERSATION,
                target_id=conversation_id,
                message=p.get("preview"),
                data=data,
                action_url=url,
                priority=Priority.HIGH,
            )
            for user_id in sorted(mentioned)
        )
    return notices


BUILDERS = {
    social_events.FRIEND_REQUEST_SENT: _friend_request,
    social_events.FRIEND_REQUEST_ACCEPTED: _friend_accept,
    social_events.FOLLOWED: _follow(T.FOLLOW, "started following you"),
    social_events.FOLLOW_REQUESTED: _follow(T.FOLLOW_REQUEST, "asked to follow you"),
    social_events.FOLLOW_APPROVED: _follow(
        T.FOLLOW_ACCEPT, "approved your follow request", to_follower=True
    ),
    reactions_events.REACTION_ADDED: _reaction,
    comments_events.COMMENT_CREATED: _comment,
    comments_events.COMMENT_MENTIONED: _comment_mention,
    posts_events.POST_MENTIONED: _post_mention,
    posts_events.POST_SHARED: _share,
    messaging_events.MESSAGE_SENT: _message,
}


def register_handlers(handlers: EventHandlers, platform: Platform) -> None:
    batched_email_delay = timedelta(seconds=platform.settings.message_email_delay_seconds)

    async def handle(events: Sequence[Event], uow: UnitOfWork) -> None:
        """Notify each recipient the events name (the policy may refuse some), all at once:
        under load one job carries every such event one relay claim took (a batch handler)."""
        sourced = [(event.id, notice) for event in events for notice in BUILDERS[event.name](event)]
        await service.notify_events(uow.session, sourced, batched_email_delay=batched_email_delay)

    async def email(event: Event, uow: UnitOfWork) -> None:
        await tasks.send_instant_email(platform, uow, _id(event.payload, "notification_id"))

    async def comment_deleted(event: Event, uow: UnitOfWork) -> None:
        await service.remove_about_target(uow.session, _id(event.payload, "comment_id"))

    async def post_deleted(event: Event, uow: UnitOfWork) -> None:
        await service.remove_about_post(uow.session, _id(event.payload, "post_id"))

    async def post_deleted_now(event: Event) -> None:
        """The author's unread count at once (the list hides the notifications already: the
        read rule); the job above deletes them and recounts everybody's."""
        await platform.cache.invalidate(unread_cache_key(_id(event.payload, "author_id")))

    async def conversation_read(event: Event, uow: UnitOfWork) -> None:
        p = event.payload
        await service.conversation_read(
            uow.session,
            _id(p, "user_id"),
            _id(p, "conversation_id"),
            _id(p, "up_to_message_id"),
        )

    async def blocked(event: Event, uow: UnitOfWork) -> None:
        p = event.payload
        service.forget_unread_counts(uow.session, [_id(p, "blocker_id"), _id(p, "blocked_id")])

    for name in BUILDERS:
        # The key it had as a module-level function: deliveries already queued keep working.
        handlers.on_batch(name, handle, key=f"{__name__}.handle")
    handlers.on(events.EMAIL_REQUESTED, email)
    handlers.on(comments_events.COMMENT_DELETED, comment_deleted)
    handlers.on(posts_events.POST_DELETED, post_deleted)
    handlers.on_commit(posts_events.POST_DELETED, post_deleted_now)
    handlers.on(social_events.BLOCKED, blocked)
    handlers.on(messaging_events.MESSAGES_READ, conversation_read)
