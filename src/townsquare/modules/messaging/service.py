"""Use cases of messaging. Services flush; the edge commits.

Every read and write first finds the viewer's membership (``_access``): no membership at all
answers 404 ``conversation_not_found`` (the same as a missing conversation), a membership that
ended answers 403 ``not_a_member`` to writes and reads history up to when it ended
(``policy``). Members see changes live: each write calls ``kit.realtime.publish_to_users`` in
the same transaction, so a rolled-back write publishes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config import Settings
from townsquare.kit.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    ValidationFailed,
)
from townsquare.kit.events import record_event
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import Page, PageRequest
from townsquare.kit.realtime import publish_to_users
from townsquare.kit.text import extract_mentions
from townsquare.modules.messaging import events, policy, repository
from townsquare.modules.messaging.models import (
    Conversation,
    ConversationKind,
    ConversationMember,
    MemberRole,
    Message,
    MessageType,
    SystemAction,
)
from townsquare.modules.messaging.schemas import (
    ConversationOut,
    ConversationPatch,
    ConversationSummaryOut,
    GroupIn,
    LastMessageOut,
    MemberOut,
    MessageIn,
    MessageOut,
    ReadReceiptOut,
    ReplyOut,
    SharedPostOut,
)
from townsquare.modules.posts import service as posts
from townsquare.modules.posts.models import Post
from townsquare.modules.posts.schemas import PostOut
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.profiles import service as profiles_service
from townsquare.modules.profiles.models import MessagePermission
from townsquare.modules.social import policy as people
from townsquare.modules.social import repository as social
from townsquare.modules.timeline import presenter as timeline

#: Mentions linked per message at most (the rest stay plain text).
MAX_MENTIONS = 20
#: Other members shown on a row of the conversation list.
LIST_MEMBER_PREVIEW = 5
MEDIA_TYPES = frozenset(
    {MessageType.IMAGE, MessageType.VIDEO, MessageType.AUDIO, MessageType.VOICE, MessageType.FILE}
)

# --- errors a client may meet (stable codes)


class ConversationNotFound(NotFound):
    code = "conversation_not_found"


class MessageNotFound(NotFound):
    code = "message_not_found"


class UserNotFound(NotFound):
    code = "user_not_found"


class MemberNotFound(NotFound):
    code = "member_not_found"


class NotAMember(Forbidden):
    """A member who left (or was removed) may read the history but not write."""

    code = "not_a_member"


class MessagingNotAllowed(Forbidden):
    """The recipient's ``allow_messages_from`` does not include the sender."""

    code = "messaging_not_allowed"


class Blocked(Forbidden):
    code = "blocked"


class NotConversationAdmin(Forbidden):
    code = "not_conversation_admin"


class NotMessageSender(Forbidden):
    code = "not_message_sender"


class MessageDeleted(Conflict):
    code = "message_deleted"


class MessageNotEditable(Conflict):
    code = "message_not_editable"


class ConversationFull(Conflict):
    code = "conversation_full"


class DirectConversation(Conflict):
    """What only groups do (members, leaving, titles) asked of a direct conversation."""

    code = "direct_conversation"


class MessageTooLong(ValidationFailed):
    code = "message_too_long"


class CannotMessageSelf(ValidationFailed):
    code = "cannot_target_self"


# --- access


@dataclass
class Access:
    conversation: Conversation
    member: ConversationMember

    @property
    def active(self) -> bool:
        return self.member.left_at is None


async def _access(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    write: bool = False,
    for_update: bool = False,
) -> Access:
    conversation = await repository.get_conversation(
        session, conversation_id, for_update=for_update
    )
    member = (
        await repository.get_member(session, conversation_id, viewer_id) if conversation else None
    )
    return _checked_access(conversation, member, write=write)


def _checked_access(
    conversation: Conversation | None, member: ConversationMember | None, *, write: bool
) -> Access:
    if conversation is None or member is None or not policy.may_read(member):
        raise ConversationNotFound()
    if write and not policy.is_active(member):
        raise NotAMember("You are no longer a member of this conversation.")
    return Access(conversation, member)


@dataclass
class _Sending:
    """What a new message needs: the sender's write access and who it reaches."""

    access: Access
    #: Active members, oldest first (the sender too).
    members: list[ConversationMember]
    #: Members, past or present, blocked either way with the sender.
    blocked: set[uuid.UUID]


async def _sending(
    session: AsyncSession, sender_id: uuid.UUID, conversation: Conversation | None
) -> _Sending:
    """``_access(write=True)`` and the audience from one query (the members with their block
    flags), where a send would read the sender's member row and then all of them again."""
    if conversation is None:
        raise ConversationNotFound()
    members, blocked = await repository.members_and_blocks(session, conversation.id, sender_id)
    return _sending_to(conversation, members, blocked, sender_id)


def _sending_to(
    conversation: Conversation,
    members: Sequence[ConversationMember],
    blocked: set[uuid.UUID],
    sender_id: uuid.UUID,
) -> _Sending:
    """``_sending`` from the members (past and present) and blocks read already."""
    sender = next((m for m in members if m.user_id == sender_id), None)
    access = _checked_access(conversation, sender, write=True)
    return _Sending(access, [m for m in members if m.left_at is None], blocked)


async def _admin_access(
    session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID
) -> Access:
    access = await _access(session, viewer_id, conversation_id, write=True, for_update=True)
    if access.conversation.kind is ConversationKind.DIRECT:
        raise DirectConversation("A direct conversation has no members to manage.")
    if not policy.may_administer(access.conversation.kind, access.member):
        raise NotConversationAdmin("Only the group's admins may do this.")
    return access


async def check_may_message(
    session: AsyncSession,
    sender_id: uuid.UUID,
    recipient_ids: Sequence[uuid.UUID],
    field_of: dict[uuid.UUID, str],
    permissions: Mapping[uuid.UUID, MessagePermission] | None = None,
    blocked: set[uuid.UUID] | None = None,
) -> None:
    """Refuse (403) if the sender may not message one of the recipients; constant queries.
    What the caller read already is not read again: ``permissions`` (the recipients'
    ``allow_messages_from``) and ``blocked`` (those of them blocked either way with the
    sender); with both, the graph is read only if a recipient takes messages from friends."""
    if permissions is None:
        permissions = await profiles.message_permissions(session, recipient_ids)
    relations: dict[uuid.UUID, social.Relation] = {}
    if blocked is None or any(
        permissions.get(user_id) is MessagePermission.FRIENDS for user_id in recipient_ids
    ):
        relations = await social.relations_of(session, sender_id, recipient_ids)
    refusals: dict[policy.Refusal, list[uuid.UUID]] = {}
    for user_id in recipient_ids:
        relation = relations.get(user_id, social.Relation())
        refusal = policy.messaging_refusal(
            permissions.get(user_id, MessagePermission.EVERYONE),
            is_friend=relation.is_friend,
            blocked=relation.blocked if blocked is None else user_id in blocked,
        )
        if refusal is not None:
            refusals.setdefault(refusal, []).append(user_id)
    if policy.Refusal.BLOCKED in refusals:
        raise Blocked(
            "One of you has blocked the other.",
            errors=_field_errors(refusals[policy.Refusal.BLOCKED], field_of, "blocked"),
        )
    if policy.Refusal.NOT_ALLOWED in refusals:
        raise MessagingNotAllowed(
            "This person does not take messages from you.",
            errors=_field_errors(
                refusals[policy.Refusal.NOT_ALLOWED], field_of, "messaging_not_allowed"
            ),
        )


def _field_errors(
    user_ids: Iterable[uuid.UUID], field_of: dict[uuid.UUID, str], kind: str
) -> list[FieldError]:
    return [
        FieldError(field=field_of[user_id], message="May not be messaged by you.", type=kind)
        for user_id in user_ids
    ]


# --- validation


def _check_text(content: str, settings: Settings, *, required: bool) -> None:
    if required and not content.strip():
        raise ValidationFailed.on("body.content", "A text message needs text.", "missing")
    if len(content) > settings.message_max_length:
        raise MessageTooLong.on(
            "body.content",
            f"At most {settings.message_max_length} characters.",
            "message_too_long",
        )


def _check_message(body: MessageIn, settings: Settings) -> None:
    kind = MessageType(body.type)
    _check_text(body.content, settings, required=kind is MessageType.TEXT)
    media_fields = ("media_url", "media_type", "file_name", "file_size", "duration_ms")
    if kind in MEDIA_TYPES:
        if body.media_url is None:
            raise ValidationFailed.on(
                "body.media_url", f"A {kind.value} message needs a media_url.", "missing"
            )
        if kind is MessageType.FILE and body.file_name is None:
            raise ValidationFailed.on("body.file_name", "A file needs a name.", "missing")
    else:
        for name in media_fields:
            if getattr(body, name) is not None:
                raise ValidationFailed.on(
                    f"body.{name}", f"Not allowed on a {kind.value} message.", "not_allowed"
                )
    if kind is MessageType.SHARED_POST and body.shared_post_id is None:
        raise ValidationFailed.on("body.shared_post_id", "Which post to share?", "missing")
    if kind is not MessageType.SHARED_POST and body.shared_post_id is not None:
        raise ValidationFailed.on(
            "body.shared_post_id", "Only on a shared_post message.", "not_allowed"
        )


# --- sending


async def send_direct_message(
    session: AsyncSession,
    settings: Settings,
    sender_id: uuid.UUID,
    username: str,
    body: MessageIn,
) -> MessageOut:
    """A message to one person; their direct conversation is created by the first one.
    Who may message whom is checked on every message (settings and blocks change)."""
    _check_message(body, settings)
    found = await profiles.get_profile_and_message_permission_by_username(session, username)
    if found is None or not people.may_find_person(
        sender_id, found[0].user_id, is_hidden=found[0].is_hidden
    ):
        raise UserNotFound()
    recipient, permission = found
    if recipient.user_id == sender_id:
        raise CannotMessageSelf.on(
            "path.username", "You cannot message yourself.", "cannot_target_self"
        )
    # Created before the check, which reads the blocks off its members: a refusal rolls the
    # new conversation back with the rest of the request.
    conversation, members, blocked = await repository.get_or_create_direct(
        session, sender_id, recipient.user_id
    )
    sending = _sending_to(conversation, members, blocked, sender_id)
    await check_may_message(
        session,
        sender_id,
        [recipient.user_id],
        {recipient.user_id: "path.username"},
        permissions={recipient.user_id: permission},
        blocked=sending.blocked,
    )
    return await _send(session, sender_id, sending, body, utcnow())


async def send_message(
    session: AsyncSession,
    settings: Settings,
    sender_id: uuid.UUID,
    conversation_id: uuid.UUID,
    body: MessageIn,
) -> MessageOut:
    _check_message(body, settings)
    conversation = await repository.get_conversation(session, conversation_id)
    sending = await _sending(session, sender_id, conversation)
    if sending.access.conversation.kind is ConversationKind.DIRECT:
        other_ids = [m.user_id for m in sending.members if m.user_id != sender_id]
        await check_may_message(
            session,
            sender_id,
            other_ids,
            dict.fromkeys(other_ids, "path.conversation_id"),
            blocked=sending.blocked,
        )
    return await _send(session, sender_id, sending, body, utcnow())


async def _send(
    session: AsyncSession, sender_id: uuid.UUID, sending: _Sending, body: MessageIn, now: datetime
) -> MessageOut:
    access = sending.access
    conversation = access.conversation
    reply_to_id = await _reply_target(session, sender_id, access, body.reply_to_id, now)
    shared_post: Post | None = None
    if body.shared_post_id is not None:
        try:
            shared_post = await posts.get_visible_post_or_404(
                session, sender_id, body.shared_post_id
            )
        except NotFound as exc:
            raise ValidationFailed.on(
                "body.shared_post_id", "No such post, or you may not see it.", "post_not_found"
            ) from exc
    ttl = body.expires_in_seconds or conversation.message_ttl_seconds
    message = repository.add_message(
        session,
        conversation_id=conversation.id,
        sender_id=sender_id,
        type=MessageType(body.type),
        content=body.content,
        media_url=None if body.media_url is None else str(body.media_url),
        media_type=body.media_type,
        file_name=body.file_name,
        file_size=body.file_size,
        duration_ms=body.duration_ms,
        shared_post_id=body.shared_post_id,
        reply_to_id=reply_to_id,
        expires_at=None if ttl is None else now + timedelta(seconds=ttl),
    )
    await session.flush()
    await repository.touch_last_message(session, message)
    # The sender has read up to their own message.
    access.member.last_read_message_id = message.id
    access.member.last_read_at = message.created_at
    members, blocked = sending.members, sending.blocked
    mentioned = await _link_mentions(session, message, members, blocked, is_new=True)
    others = [m for m in members if m.user_id != sender_id and m.user_id not in blocked]
    record_event(
        session,
        events.MESSAGE_SENT,
        events.sent(
            message,
            conversation,
            notify_user_ids=[m.user_id for m in others if not m.muted],
            mentioned_user_ids=mentioned,
        ),
    )
    # What the view would read again is known here: no replied-to message to load, the
    # mentions just linked, the blocks just read (the sender is the viewer).
    known = _Known(
        blocked=blocked,
        mentions={message.id: sorted(mentioned)},
        replies=None if reply_to_id is not None else {},
    )
    view = (await _views(session, sender_id, conversation.id, None, [message], now, known))[0]
    await _publish_message(
        session,
        events.LIVE_MESSAGE_CREATED,
        view,
        [sender_id, *(m.user_id for m in others)],
        shared_post,
        now,
    )
    return view


async def _reply_target(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    access: Access,
    reply_to_id: uuid.UUID | None,
    now: datetime,
) -> uuid.UUID | None:
    if reply_to_id is None:
        return None
    target = await repository.get_visible_message(
        session, access.conversation.id, reply_to_id, viewer_id, access.member.left_at, now
    )
    if target is None or target.deleted_at is not None:
        raise ValidationFailed.on(
            "body.reply_to_id",
            "Reply to a message of this conversation that is still there.",
            "reply_not_found",
        )
    return target.id


async def _link_mentions(
    session: AsyncSession,
    message: Message,
    members: Sequence[ConversationMember],
    blocked: set[uuid.UUID],
    *,
    is_new: bool,
) -> set[uuid.UUID]:
    """``@username`` of active members (not the sender, not blocked either way)."""
    usernames = extract_mentions(message.content)[:MAX_MENTIONS]
    if not usernames and is_new:
        return set()  # nothing to link, nothing to unlink
    ids = await profiles.user_ids_for_usernames(session, usernames) if usernames else {}
    eligible = {m.user_id for m in members} - blocked - {message.sender_id}
    wanted = set(ids.values()) & eligible
    await repository.replace_mentions(session, message.id, wanted)
    return wanted


async def _publish_message(
    session: AsyncSession,
    event_type: str,
    view: MessageOut,
    recipient_ids: Sequence[uuid.UUID],
    shared_post: Post | None,
    now: datetime,
) -> None:
    """The message as the API shows it, to its live recipients. A shared post's availability
    differs per reader: the recipients are split by the posts policy (constant queries), and
    the post itself is left out (``post: null``; the reader fetches it)."""
    data = view.model_dump(mode="json")
    if data["shared_post"] is None or shared_post is None:
        await publish_to_users(session, recipient_ids, event_type, data)
        return
    data["shared_post"]["post"] = None
    able = await posts.users_who_may_see_post(session, shared_post, recipient_ids, now)
    for available, group in ((True, able), (False, set(recipient_ids) - able)):
        shaped = {**data, "shared_post": {**data["shared_post"], "unavailable": not available}}
        await publish_to_users(session, group, event_type, shaped)


# --- editing and deleting


async def _own_message(
    session: AsyncSession, viewer_id: uuid.UUID, message_id: uuid.UUID, now: datetime
) -> tuple[Access, Message]:
    message = await repository.get_message(session, message_id)
    if message is None:
        raise MessageNotFound()
    try:
        access = await _access(session, viewer_id, message.conversation_id)
    except ConversationNotFound as exc:
        raise MessageNotFound() from exc
    visible = policy.may_see_message(
        message,
        viewer_id,
        access.member.left_at,
        await repository.blocked_member_ids(session, message.conversation_id, viewer_id),
        now,
    )
    if not visible:
        raise MessageNotFound()
    if message.sender_id != viewer_id or message.type is MessageType.SYSTEM:
        raise NotMessageSender("Only the message's sender may change it.")
    if not access.active:
        raise NotAMember("You are no longer a member of this conversation.")
    return access, message


async def edit_message(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    message_id: uuid.UUID,
    content: str,
) -> MessageOut:
    _check_text(content, settings, required=True)
    now = utcnow()
    _, message = await _own_message(session, viewer_id, message_id, now)
    if message.deleted_at is not None:
        raise MessageDeleted("This message was deleted.")
    if message.type is not MessageType.TEXT:
        raise MessageNotEditable("Only text messages can be edited.")
    if content != message.content:
        message.content = content
        message.edited_at = now
        await session.flush()
        members, blocked = await repository.active_members_and_blocks(
            session, message.conversation_id, viewer_id
        )
        await _link_mentions(session, message, members, blocked, is_new=False)
        known = _Known(blocked=blocked)
        [view] = await _views(
            session, viewer_id, message.conversation_id, None, [message], now, known
        )
        recipients = [m.user_id for m in members if m.user_id not in blocked]
        await _publish_message(session, events.LIVE_MESSAGE_EDITED, view, recipients, None, now)
        return view
    return (await _views(session, viewer_id, message.conversation_id, None, [message], now))[0]


async def delete_message(
    session: AsyncSession, viewer_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    """Delete for everyone: the message stays as a placeholder; idempotent."""
    now = utcnow()
    _, message = await _own_message(session, viewer_id, message_id, now)
    if not await repository.mark_deleted(session, message.id, now):
        return
    await session.refresh(message)
    members, blocked = await repository.active_members_and_blocks(
        session, message.conversation_id, viewer_id
    )
    [view] = await _views(
        session, viewer_id, message.conversation_id, None, [message], now, _Known(blocked=blocked)
    )
    recipients = [m.user_id for m in members if m.user_id not in blocked]
    await _publish_message(session, events.LIVE_MESSAGE_DELETED, view, recipients, None, now)


# --- groups


async def _resolve_usernames(
    session: AsyncSession, usernames: Sequence[str], field: str
) -> dict[uuid.UUID, str]:
    """User id -> the field path that named it; unknown or hidden users answer 422."""
    found = await profiles.user_ids_for_usernames(session, usernames)
    missing = [
        FieldError(field=f"{field}.{index}", message="No such user.", type="user_not_found")
        for index, name in enumerate(usernames)
        if name.lower() not in found
    ]
    if missing:
        raise ValidationFailed("Some users do not exist.", errors=missing)
    field_of: dict[uuid.UUID, str] = {}
    for index, name in enumerate(usernames):
        field_of.setdefault(found[name.lower()], f"{field}.{index}")
    return field_of


async def create_group(
    session: AsyncSession, settings: Settings, creator_id: uuid.UUID, body: GroupIn
) -> ConversationOut:
    field_of = await _resolve_usernames(session, body.members, "body.members")
    field_of.pop(creator_id, None)
    member_ids = list(field_of)
    if 1 + len(member_ids) > settings.conversation_max_members:
        raise ConversationFull(
            f"A group has at most {settings.conversation_max_members} members.",
            errors=[FieldError(field="body.members", message="Too many members.", type="too_many")],
        )
    await check_may_message(session, creator_id, member_ids, field_of)
    conversation = repository.add_group(
        session,
        created_by=creator_id,
        title=body.title,
        description=body.description,
        avatar_url=None if body.avatar_url is None else str(body.avatar_url),
        message_ttl_seconds=body.message_ttl_seconds,
    )
    await session.flush()
    now = utcnow()
    await repository.add_or_rejoin_member(session, conversation, creator_id, MemberRole.ADMIN, now)
    for user_id in member_ids:
        await repository.add_or_rejoin_member(
            session, conversation, user_id, MemberRole.MEMBER, now
        )
    await repository.add_to_member_count(session, conversation.id, 1 + len(member_ids))
    message = await _system_message(session, conversation, creator_id, SystemAction.CREATED, None)
    await _announce(session, conversation.id, [message])
    return await get_conversation(session, creator_id, conversation.id)


async def update_conversation(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    patch: ConversationPatch,
) -> ConversationOut:
    access = await _access(session, viewer_id, conversation_id, write=True, for_update=True)
    conversation = access.conversation
    changes = patch.model_dump(exclude_unset=True)
    group_fields = {"title", "description", "avatar_url"} & changes.keys()
    if conversation.kind is ConversationKind.DIRECT and group_fields:
        name = sorted(group_fields)[0]
        raise ValidationFailed.on(
            f"body.{name}", "A direct conversation has no title or picture.", "not_allowed"
        )
    if "title" in changes and changes["title"] is None:
        raise ValidationFailed.on("body.title", "A group needs a title.", "missing")
    allowed = (
        policy.may_administer(conversation.kind, access.member)
        if group_fields
        else policy.may_set_timer(conversation.kind, access.member)
    )
    if not allowed:
        raise NotConversationAdmin("Only the group's admins may change it.")
    if "avatar_url" in changes and changes["avatar_url"] is not None:
        changes["avatar_url"] = str(changes["avatar_url"])
    changed = {k: v for k, v in changes.items() if getattr(conversation, k) != v}
    if changed:
        for name, value in changed.items():
            setattr(conversation, name, value)
        await session.flush()
        action = SystemAction.RENAMED if "title" in changed else SystemAction.UPDATED
        message = await _system_message(session, conversation, viewer_id, action, None)
        await _announce(session, conversation.id, [message])
    return await get_conversation(session, viewer_id, conversation.id)


async def add_members(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    usernames: Sequence[str],
) -> ConversationOut:
    """Admins add people (or re-add people who left); the same "who may message me" and block
    rules apply between the admin and each person added. All or nothing."""
    access = await _admin_access(session, viewer_id, conversation_id)
    field_of = await _resolve_usernames(session, usernames, "body.usernames")
    existing = await repository.members_by_user(session, conversation_id, field_of)
    new_ids = [
        user_id
        for user_id in field_of
        if user_id != viewer_id and not policy.is_active(existing.get(user_id))
    ]
    conversation = access.conversation
    if conversation.member_count + len(new_ids) > settings.conversation_max_members:
        raise ConversationFull(
            f"A group has at most {settings.conversation_max_members} members.",
            errors=[
                FieldError(field="body.usernames", message="Too many members.", type="too_many")
            ],
        )
    await check_may_message(session, viewer_id, new_ids, field_of)
    now = utcnow()
    messages = []
    for user_id in new_ids:
        if await repository.add_or_rejoin_member(
            session, conversation, user_id, MemberRole.MEMBER, now
        ):
            messages.append(
                await _system_message(session, conversation, viewer_id, SystemAction.ADDED, user_id)
            )
    if messages:
        await repository.add_to_member_count(session, conversation.id, len(messages))
        await _announce(session, conversation.id, messages)
    return await get_conversation(session, viewer_id, conversation.id)


async def remove_member(
    session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID, username: str
) -> None:
    """An admin removes a member; removing yourself is leaving. The removed member keeps the
    history up to (and including) the message that records the removal."""
    user_id = await profiles.user_id_for_username(session, username.lower())
    if user_id == viewer_id:
        await leave(session, viewer_id, conversation_id)
        return
    access = await _admin_access(session, viewer_id, conversation_id)
    found = await repository.members_by_user(session, conversation_id, [user_id] if user_id else [])
    if user_id is None or not policy.is_active(found.get(user_id)):
        raise MemberNotFound("No such member in this conversation.")
    message = await _system_message(
        session, access.conversation, viewer_id, SystemAction.REMOVED, user_id
    )
    if await repository.mark_left(session, conversation_id, user_id, message.created_at):
        await repository.add_to_member_count(session, conversation_id, -1)
    await _announce(session, conversation_id, [message], also=[user_id])


async def leave(session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID) -> None:
    """Leave a group; the history stays readable up to the message that records it. The last
    admin to leave hands the role to the longest-standing member."""
    access = await _access(session, viewer_id, conversation_id, write=True, for_update=True)
    if access.conversation.kind is ConversationKind.DIRECT:
        raise DirectConversation("A direct conversation cannot be left; mute it instead.")
    message = await _system_message(
        session, access.conversation, viewer_id, SystemAction.LEFT, None
    )
    if await repository.mark_left(session, conversation_id, viewer_id, message.created_at):
        await repository.add_to_member_count(session, conversation_id, -1)
    if not await repository.has_active_admin(session, conversation_id):
        await repository.promote_oldest_member(session, conversation_id)
    await _announce(session, conversation_id, [message], also=[viewer_id])


async def _system_message(
    session: AsyncSession,
    conversation: Conversation,
    actor_id: uuid.UUID,
    action: SystemAction,
    subject_id: uuid.UUID | None,
) -> Message:
    message = repository.add_message(
        session,
        conversation_id=conversation.id,
        sender_id=actor_id,
        type=MessageType.SYSTEM,
        content="",
        system_action=action,
        subject_id=subject_id,
    )
    await session.flush()
    await repository.touch_last_message(session, message)
    return message


async def _announce(
    session: AsyncSession,
    conversation_id: uuid.UUID,
    messages: Sequence[Message],
    *,
    also: Sequence[uuid.UUID] = (),
) -> None:
    """Publish ``conversation.updated`` and the new system messages to the active members
    (and to ``also``: who just left or was removed)."""
    await session.flush()
    conversation = await repository.get_conversation(session, conversation_id)
    assert conversation is not None
    await session.refresh(conversation)
    members = await repository.active_member_ids(session, conversation_id)
    recipients = list(dict.fromkeys([*members, *also]))
    await publish_to_users(
        session, recipients, events.LIVE_CONVERSATION_UPDATED, _conversation_event(conversation)
    )
    views = await _views(session, None, conversation_id, None, messages, utcnow())
    for view in views:
        await publish_to_users(
            session, recipients, events.LIVE_MESSAGE_CREATED, view.model_dump(mode="json")
        )


def _conversation_event(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": str(conversation.id),
        "kind": conversation.kind.value,
        "title": conversation.title,
        "description": conversation.description,
        "avatar_url": conversation.avatar_url,
        "message_ttl_seconds": conversation.message_ttl_seconds,
        "member_count": conversation.member_count,
    }


# --- member settings: mute, read


async def set_muted(
    session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID, muted: bool
) -> None:
    """Muting is private: no live event, and muted members get no message notifications."""
    access = await _access(session, viewer_id, conversation_id, write=True)
    access.member.muted = muted
    await session.flush()


async def mark_read(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID | None,
) -> ReadReceiptOut:
    """Read up to a message (or the latest); the watermark only moves forwards. The receipt
    goes live to the other members; ``conversation.messages_read`` tells the notifications."""
    access = await _access(session, viewer_id, conversation_id, write=True)
    now = utcnow()
    if message_id is not None:
        target = await repository.get_visible_message(
            session, conversation_id, message_id, viewer_id, None, now
        )
        if target is None:
            raise ValidationFailed.on(
                "body.message_id", "No such message in this conversation.", "message_not_found"
            )
        target_id: uuid.UUID | None = target.id
    else:
        target_id = await repository.latest_visible_message_id(
            session, conversation_id, viewer_id, None, now
        )
    member = access.member
    if target_id is not None and (
        member.last_read_message_id is None or target_id > member.last_read_message_id
    ):
        member.last_read_message_id = target_id
        member.last_read_at = now
        await session.flush()
        record_event(
            session, events.MESSAGES_READ, events.read(viewer_id, conversation_id, target_id)
        )
        receipt = _receipt(member)
        members, blocked = await repository.active_members_and_blocks(
            session, conversation_id, viewer_id
        )
        await publish_to_users(
            session,
            [m.user_id for m in members if m.user_id not in blocked],
            events.LIVE_CONVERSATION_READ,
            receipt.model_dump(mode="json"),
        )
        return receipt
    return _receipt(member)


def _receipt(member: ConversationMember) -> ReadReceiptOut:
    return ReadReceiptOut(
        conversation_id=member.conversation_id,
        user_id=member.user_id,
        last_read_message_id=member.last_read_message_id,
        last_read_at=member.last_read_at,
    )


# --- reading


async def get_conversation(
    session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID
) -> ConversationOut:
    access = await _access(session, viewer_id, conversation_id)
    conversation, me = access.conversation, access.member
    members = await repository.active_members(session, conversation_id)
    cards = await profiles_service.get_cards(session, [m.user_id for m in members])
    unread = await repository.unread_counts(session, viewer_id, [conversation_id], utcnow())
    return ConversationOut(
        id=conversation.id,
        kind=conversation.kind,
        title=conversation.title,
        description=conversation.description,
        avatar_url=conversation.avatar_url,
        created_by=conversation.created_by,
        message_ttl_seconds=conversation.message_ttl_seconds,
        member_count=conversation.member_count,
        members=[
            MemberOut(
                user=cards[m.user_id],
                role=m.role,
                joined_at=m.joined_at,
                muted=m.muted if m.user_id == viewer_id else None,
                last_read_message_id=m.last_read_message_id,
                last_read_at=m.last_read_at,
            )
            for m in members
            if m.user_id in cards
        ],
        my_role=me.role,
        active=me.left_at is None,
        muted=me.muted,
        unread_count=unread.get(conversation_id, 0),
        last_message_at=conversation.last_message_at,
        created_at=conversation.created_at,
    )


async def list_conversations(
    session: AsyncSession, viewer_id: uuid.UUID, page: PageRequest
) -> Page[ConversationSummaryOut]:
    """My conversations, most recent message first; constant queries per page."""
    now = utcnow()
    rows, cursor = await repository.list_conversations(session, viewer_id, now, page)
    ids = [conversation.id for conversation, _, _ in rows]
    last_messages = await repository.messages_by_id(
        session, [last for _, _, last in rows if last is not None]
    )
    unread = await repository.unread_counts(session, viewer_id, ids, now)
    previews = await repository.member_previews(session, ids, viewer_id, LIST_MEMBER_PREVIEW)
    cards = await profiles_service.get_cards(
        session, [u for users in previews.values() for u in users]
    )
    items = []
    for conversation, member, last_id in rows:
        last = last_messages.get(last_id) if last_id is not None else None
        items.append(
            ConversationSummaryOut(
                id=conversation.id,
                kind=conversation.kind,
                title=conversation.title,
                avatar_url=conversation.avatar_url,
                member_count=conversation.member_count,
                members=[cards[u] for u in previews.get(conversation.id, []) if u in cards],
                last_message=None
                if last is None
                else LastMessageOut(
                    id=last.id,
                    sender_id=last.sender_id,
                    type=last.type,
                    preview=events.preview_of(last),
                    created_at=last.created_at,
                ),
                last_message_at=conversation.last_message_at,
                unread_count=unread.get(conversation.id, 0),
                muted=member.muted,
            )
        )
    return Page(items=items, next_cursor=cursor)


async def list_messages(
    session: AsyncSession, viewer_id: uuid.UUID, conversation_id: uuid.UUID, page: PageRequest
) -> Page[MessageOut]:
    """Newest first; a member who left reads up to when they left."""
    access = await _access(session, viewer_id, conversation_id)
    now = utcnow()
    items, cursor = await repository.list_messages(
        session, conversation_id, viewer_id, access.member.left_at, now, page
    )
    views = await _views(session, viewer_id, conversation_id, access.member.left_at, items, now)
    return Page(items=views, next_cursor=cursor)


async def typing_recipients(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[uuid.UUID]:
    """Who sees ``user_id`` typing: the other active members not blocked either way.
    Raises ``ConversationNotFound`` unless ``user_id`` is an active member."""
    member = await repository.get_member(session, conversation_id, user_id)
    if not policy.is_active(member):
        raise ConversationNotFound()
    members, blocked = await repository.active_members_and_blocks(session, conversation_id, user_id)
    return [m.user_id for m in members if m.user_id != user_id and m.user_id not in blocked]


# --- presenting messages


@dataclass(frozen=True)
class _Known:
    """What a caller of ``_views`` has read already (None: read it)."""

    blocked: set[uuid.UUID] | None = None
    mentions: dict[uuid.UUID, list[uuid.UUID]] | None = None
    replies: dict[uuid.UUID, Message] | None = None


async def _views(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    conversation_id: uuid.UUID,
    left_at: datetime | None,
    messages: Sequence[Message],
    now: datetime,
    known: _Known = _Known(),
) -> list[MessageOut]:
    """Messages of one conversation as member ``viewer_id`` (who left at ``left_at``, if
    they did) sees them, in a constant number of queries whatever their number: cards,
    mentions, replied-to messages, blocks, shared posts through the posts policy. Without a
    viewer (system messages for live events) nothing viewer-specific is loaded."""
    people = {m.sender_id for m in messages} | {m.subject_id for m in messages}
    cards = await profiles_service.get_cards(session, [p for p in people if p is not None])
    mentions = known.mentions
    if mentions is None:
        mentions = await repository.mentions_of(session, [m.id for m in messages])
    replies = known.replies
    if replies is None:
        replies = await repository.messages_by_id(
            session, [m.reply_to_id for m in messages if m.reply_to_id is not None]
        )
    blocked = known.blocked
    if blocked is None:
        blocked = (
            await repository.blocked_member_ids(session, conversation_id, viewer_id)
            if viewer_id is not None
            else set()
        )
    shared_ids = [m.shared_post_id for m in messages if m.shared_post_id is not None]
    shared = {
        uuid.UUID(post["id"]): post
        for post in (
            await timeline.present_visible_posts(session, viewer_id, shared_ids)
            if shared_ids
            else []
        )
    }
    out = []
    for message in messages:
        reply = None
        if message.reply_to_id is not None:
            target = replies.get(message.reply_to_id)
            shown = (
                target is not None
                and target.deleted_at is None
                and policy.may_see_message(target, viewer_id, left_at, blocked, now)
            )
            reply = ReplyOut(
                id=message.reply_to_id,
                sender_id=target.sender_id if target is not None and shown else None,
                preview=events.preview_of(target) if target is not None and shown else None,
                unavailable=not shown,
            )
        shared_post = None
        if message.type is MessageType.SHARED_POST and message.deleted_at is None:
            post = shared.get(message.shared_post_id) if message.shared_post_id else None
            shared_post = SharedPostOut(
                id=message.shared_post_id,
                unavailable=post is None,
                post=PostOut.model_validate(post) if post is not None else None,
            )
        deleted = message.deleted_at is not None
        out.append(
            MessageOut(
                id=message.id,
                conversation_id=message.conversation_id,
                type=message.type,
                sender=cards.get(message.sender_id) if message.sender_id else None,
                content="" if deleted else message.content,
                media_url=message.media_url,
                media_type=message.media_type,
                file_name=message.file_name,
                file_size=message.file_size,
                duration_ms=message.duration_ms,
                shared_post=shared_post,
                reply_to=reply,
                mentioned_user_ids=[] if deleted else mentions.get(message.id, []),
                system_action=message.system_action,
                subject=cards.get(message.subject_id) if message.subject_id else None,
                edited_at=message.edited_at,
                deleted=deleted,
                expires_at=message.expires_at,
                created_at=message.created_at,
            )
        )
    return out
