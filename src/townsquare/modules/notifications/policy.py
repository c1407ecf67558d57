"""Who is notified, and which notifications a viewer sees. The one place for both.

Creating (``may_notify``, Python, run by each handler in its own transaction): the recipient is
not the actor, has not muted the actor, no block stands either way, the actor's account is not
hidden, the recipient may see the target (the post, for reactions, comments, replies, mentions
and shares: ``posts.policy``), has not already read the chat message it is about (the job may
run after they read it), and the recipient's in-app preference for the type is on.

Reading (``visible_notifications_clause``, SQL, every list, group and count): only the viewer's
own notifications; not those whose actor is now blocked either way or hidden; not those about a
post that was deleted or that the viewer may no longer see (audience narrowed, archived), a
share's notification going with the share or with the original. So a block or a deleted post
takes effect on the next read, whatever was created before it. (Deleted comments and posts then
take their notifications along: see ``service.remove_about_target`` / ``remove_about_post``.)
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import ColumnElement, and_, or_

from townsquare.modules.notifications.models import Channel, Notification, NotificationType
from townsquare.modules.posts import policy as posts_policy
from townsquare.modules.social import policy as people

#: Email is on by default for what asks for an answer or is addressed to you; off for the rest.
EMAIL_BY_DEFAULT = frozenset(
    {
        NotificationType.FRIEND_REQUEST,
        NotificationType.FOLLOW_REQUEST,
        NotificationType.MENTION,
        NotificationType.MESSAGE,
        NotificationType.SYSTEM,
    }
)


#: Chat: an instant email waits a little (``message_email_delay_seconds``) and then covers
#: every message of the conversation the person has not read by then, in one mail.
BATCHED_EMAIL_TYPES = frozenset({NotificationType.MESSAGE})


def default_enabled(type_: NotificationType, channel: Channel) -> bool:
    """A preference nobody stored: in-app and push on for every type, email per the list."""
    if channel is Channel.EMAIL:
        return type_ in EMAIL_BY_DEFAULT
    return True


@dataclass(frozen=True)
class RecipientFacts:
    """How the recipient stands towards the actor and the target, read in the handler."""

    muted_actor: bool
    blocked_either_way: bool
    actor_hidden: bool
    #: None when the notification has no post to see (follows, friend requests, messages).
    may_see_post: bool | None
    in_app_enabled: bool
    #: A chat message the recipient has read in the conversation already.
    message_read: bool


def may_notify(recipient_id: uuid.UUID, actor_id: uuid.UUID | None, facts: RecipientFacts) -> bool:
    if actor_id is not None:
        if recipient_id == actor_id:
            return False
        if facts.muted_actor or not people.may_see_person(
            recipient_id,
            actor_id,
            is_hidden=facts.actor_hidden,
            blocked_either_way=facts.blocked_either_way,
        ):
            return False
    if facts.may_see_post is False or facts.message_read:
        return False
    return facts.in_app_enabled


def visible_notifications_clause(viewer_id: uuid.UUID, now: datetime) -> ColumnElement[bool]:
    """The read rule as a WHERE clause over ``Notification``."""
    # Where the actor is NULL the first branch decides; the clauses only see real ids.
    actor = cast("ColumnElement[uuid.UUID]", Notification.actor_id)
    post_id = cast("ColumnElement[uuid.UUID]", Notification.post_id)
    target_id = cast("ColumnElement[uuid.UUID]", Notification.target_id)
    return and_(
        Notification.recipient_id == viewer_id,
        or_(
            actor.is_(None),
            people.visible_person_clause(viewer_id, actor),
        ),
        or_(
            Notification.post_id.is_(None),
            # Authors see their own deleted posts; their notifications about them go.
            posts_policy.undeleted_visible_post_clause(viewer_id, now, post_id),
        ),
        # A share's notification is governed by the share (``post_id``) and is about the
        # original (the target): it goes with either.
        or_(
            Notification.type != NotificationType.SHARE,
            posts_policy.undeleted_visible_post_clause(viewer_id, now, target_id),
        ),
    )
