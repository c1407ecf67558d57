"""What messaging publishes: the ``message.sent`` domain event (outbox, for notifications) and
the live event types members receive on their streams."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from townsquare.modules.messaging.models import Conversation, Message, MessageType

#: Outbox event, one per message a person sent (not for system messages).
MESSAGE_SENT = "message.sent"
#: Outbox event: a member's read watermark moved (their notifications about it follow).
MESSAGES_READ = "conversation.messages_read"

# Live stream event types (``kit.realtime.publish_to_users``).
LIVE_MESSAGE_CREATED = "message.created"
LIVE_MESSAGE_EDITED = "message.edited"
LIVE_MESSAGE_DELETED = "message.deleted"
LIVE_CONVERSATION_READ = "conversation.read"
LIVE_CONVERSATION_UPDATED = "conversation.updated"

PREVIEW_LENGTH = 140
_PLACEHOLDERS = {
    MessageType.IMAGE: "[photo]",
    MessageType.VIDEO: "[video]",
    MessageType.AUDIO: "[audio]",
    MessageType.VOICE: "[voice message]",
    MessageType.FILE: "[file]",
    MessageType.SHARED_POST: "[shared post]",
}


def preview_of(message: Message) -> str:
    """A short text for lists and notifications: the first 140 characters, or a placeholder
    such as ``[photo]`` for a message without text."""
    if message.deleted_at is not None:
        return "[deleted]"
    if message.content:
        return message.content[:PREVIEW_LENGTH]
    return _PLACEHOLDERS.get(message.type, "")


def sent(
    message: Message,
    conversation: Conversation,
    notify_user_ids: Iterable[uuid.UUID],
    mentioned_user_ids: Iterable[uuid.UUID],
) -> dict[str, Any]:
    assert message.sender_id is not None
    return {
        "message_id": str(message.id),
        "conversation_id": str(conversation.id),
        "sender_id": str(message.sender_id),
        "kind": conversation.kind.value,
        "conversation_title": conversation.title,
        "preview": preview_of(message),
        "notify_user_ids": sorted(str(user_id) for user_id in notify_user_ids),
        "mentioned_user_ids": sorted(str(user_id) for user_id in mentioned_user_ids),
    }


def read(member_id: uuid.UUID, conversation_id: uuid.UUID, up_to: uuid.UUID) -> dict[str, Any]:
    return {
        "user_id": str(member_id),
        "conversation_id": str(conversation_id),
        "up_to_message_id": str(up_to),
    }
