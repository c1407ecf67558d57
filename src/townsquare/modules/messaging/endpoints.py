"""HTTP endpoints of messaging: direct messages, groups, members, reading, messages."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from townsquare.kit.auth import CurrentAuthor, CurrentViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute, limit_per_account
from townsquare.modules.messaging import service
from townsquare.modules.messaging.schemas import (
    ConversationOut,
    ConversationPatch,
    ConversationSummaryOut,
    GroupIn,
    MembersIn,
    MessageEdit,
    MessageIn,
    MessageOut,
    ReadIn,
    ReadReceiptOut,
)

router = APIRouter(
    route_class=UnitOfWorkRoute,
    tags=["messaging"],
    # 400: a body that is not JSON at all.
    responses=problem_responses(400, 401, 404, 422),
)
PageDep = Annotated[PageRequest, Depends(page_request)]
NO_CONTENT = status.HTTP_204_NO_CONTENT
#: Sending, starting a group and adding people to one share one budget per account.
MESSAGES = limit_per_account("messages", "rate_limit_messages")


@router.post(
    "/users/{username}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    summary="Send a direct message (the conversation is created by the first one)",
    responses=problem_responses(403),
    dependencies=[MESSAGES],
)
async def send_direct_message(
    username: str,
    body: MessageIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.send_direct_message(
        session, platform.settings, viewer.user_id, username, body
    )


@router.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationOut,
    summary="Start a group conversation",
    responses=problem_responses(403, 409),
    dependencies=[MESSAGES],
)
async def create_group(
    body: GroupIn, viewer: CurrentAuthor, session: SessionDep, platform: PlatformDep
) -> object:
    return await service.create_group(session, platform.settings, viewer.user_id, body)


@router.get(
    "/conversations",
    response_model=Page[ConversationSummaryOut],
    summary="My conversations, most recent message first",
)
async def list_conversations(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_conversations(session, viewer.user_id, page)


@router.get(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    summary="A conversation: members, read receipts, my settings",
)
async def get_conversation(
    conversation_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.get_conversation(session, viewer.user_id, conversation_id)


@router.patch(
    "/conversations/{conversation_id}",
    response_model=ConversationOut,
    summary="Change a group's title, description, picture, or the disappearing-message timer",
    responses=problem_responses(403),
)
async def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationPatch,
    viewer: CurrentAuthor,
    session: SessionDep,
) -> object:
    return await service.update_conversation(session, viewer.user_id, conversation_id, body)


@router.post(
    "/conversations/{conversation_id}/members",
    response_model=ConversationOut,
    summary="Add people to a group (admins)",
    responses=problem_responses(403, 409),
    dependencies=[MESSAGES],
)
async def add_members(
    conversation_id: uuid.UUID,
    body: MembersIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.add_members(
        session, platform.settings, viewer.user_id, conversation_id, body.usernames
    )


@router.delete(
    "/conversations/{conversation_id}/members/{username}",
    status_code=NO_CONTENT,
    summary="Remove someone from a group (admins; yourself: leave)",
    responses=problem_responses(403, 409),
)
async def remove_member(
    conversation_id: uuid.UUID, username: str, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.remove_member(session, viewer.user_id, conversation_id, username)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/conversations/{conversation_id}/leave",
    status_code=NO_CONTENT,
    summary="Leave a group",
    responses=problem_responses(403, 409),
)
async def leave(conversation_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep) -> Response:
    await service.leave(session, viewer.user_id, conversation_id)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/conversations/{conversation_id}/mute",
    status_code=NO_CONTENT,
    summary="Mute a conversation (no notifications)",
    responses=problem_responses(403),
)
async def mute(conversation_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep) -> Response:
    await service.set_muted(session, viewer.user_id, conversation_id, True)
    return Response(status_code=NO_CONTENT)


@router.delete(
    "/conversations/{conversation_id}/mute",
    status_code=NO_CONTENT,
    summary="Unmute a conversation",
    responses=problem_responses(403),
)
async def unmute(
    conversation_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.set_muted(session, viewer.user_id, conversation_id, False)
    return Response(status_code=NO_CONTENT)


@router.post(
    "/conversations/{conversation_id}/read",
    response_model=ReadReceiptOut,
    summary="Mark read up to a message (or the latest)",
    responses=problem_responses(403),
)
async def mark_read(
    conversation_id: uuid.UUID,
    viewer: CurrentViewer,
    session: SessionDep,
    body: ReadIn | None = None,
) -> object:
    message_id = body.message_id if body is not None else None
    return await service.mark_read(session, viewer.user_id, conversation_id, message_id)


@router.get(
    "/conversations/{conversation_id}/messages",
    response_model=Page[MessageOut],
    summary="A conversation's messages, newest first",
)
async def list_messages(
    conversation_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_messages(session, viewer.user_id, conversation_id, page)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageOut,
    summary="Send a message to a conversation",
    responses=problem_responses(403),
    dependencies=[MESSAGES],
)
async def send_message(
    conversation_id: uuid.UUID,
    body: MessageIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.send_message(
        session, platform.settings, viewer.user_id, conversation_id, body
    )


@router.patch(
    "/messages/{message_id}",
    response_model=MessageOut,
    summary="Edit my text message",
    responses=problem_responses(403, 409),
)
async def edit_message(
    message_id: uuid.UUID,
    body: MessageEdit,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.edit_message(
        session, platform.settings, viewer.user_id, message_id, body.content
    )


@router.delete(
    "/messages/{message_id}",
    status_code=NO_CONTENT,
    summary="Delete my message for everyone",
    responses=problem_responses(403),
)
async def delete_message(
    message_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.delete_message(session, viewer.user_id, message_id)
    return Response(status_code=NO_CONTENT)
