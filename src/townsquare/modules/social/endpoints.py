"""HTTP endpoints of social: friends, follows, close friends, mutes, blocks and their lists."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, status

from townsquare.kit.auth import OPTIONAL_AUTH_OPENAPI, CurrentViewer, OptionalViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.validation import NoNul
from townsquare.kit.web import SessionDep, UnitOfWorkRoute, limit_per_account
from townsquare.modules.profiles.schemas import PersonCard
from townsquare.modules.social import service
from townsquare.modules.social.schemas import (
    ConnectionOut,
    FollowOptions,
    FollowRequestOut,
    FollowUpdate,
    FriendRequestOut,
)

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["social"], responses=problem_responses(401, 404, 422)
)
Username = Annotated[str, Path(min_length=1, max_length=64), NoNul]
PageDep = Annotated[PageRequest, Depends(page_request)]
NO_CONTENT = status.HTTP_204_NO_CONTENT


def _viewer_id(viewer: OptionalViewer) -> uuid.UUID | None:
    return viewer.user_id if viewer is not None else None


# --- my connection to someone


@router.get(
    "/users/{username}/connection",
    response_model=ConnectionOut,
    summary="How I stand towards this user: friendship, follow, close friend, mute, block",
)
async def get_connection(username: Username, viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_connection(session, viewer.user_id, username)


# --- friend requests and friends


@router.post(
    "/users/{username}/friend-request",
    response_model=ConnectionOut,
    summary="Ask to be friends (accepts their request if they already asked me)",
    responses=problem_responses(403),
    dependencies=[limit_per_account("friend-requests", "rate_limit_friend_requests")],
)
async def send_friend_request(
    username: Username, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.send_friend_request(session, viewer.user_id, username)


@router.delete(
    "/users/{username}/friend-request",
    status_code=NO_CONTENT,
    summary="Withdraw my pending friend request",
)
async def cancel_friend_request(
    username: Username, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.cancel_friend_request(session, viewer.user_id, username)


@router.get(
    "/me/friend-requests/incoming",
    response_model=Page[FriendRequestOut],
    summary="Friend requests waiting for my answer, newest first",
)
async def list_incoming_friend_requests(
    viewer: CurrentViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_incoming_friend_requests(session, viewer.user_id, page)


@router.get(
    "/me/friend-requests/outgoing",
    response_model=Page[FriendRequestOut],
    summary="My friend requests still pending, newest first",
)
async def list_outgoing_friend_requests(
    viewer: CurrentViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_outgoing_friend_requests(session, viewer.user_id, page)


@router.post(
    "/me/friend-requests/{request_id}/accept",
    status_code=NO_CONTENT,
    summary="Accept a friend request sent to me",
)
async def accept_friend_request(
    request_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.accept_friend_request(session, viewer.user_id, request_id)


@router.post(
    "/me/friend-requests/{request_id}/decline",
    status_code=NO_CONTENT,
    summary="Decline a friend request sent to me (the requester is not told)",
)
async def decline_friend_request(
    request_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.decline_friend_request(session, viewer.user_id, request_id)


@router.delete("/me/friends/{username}", status_code=NO_CONTENT, summary="Unfriend")
async def unfriend(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.unfriend(session, viewer.user_id, username)


@router.get(
    "/users/{username}/friends",
    response_model=Page[PersonCard],
    summary="A user's friends, if their connections are visible to me",
    responses=problem_responses(403),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_friends(
    username: Username, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_friends(session, _viewer_id(viewer), username, page)


@router.get(
    "/users/{username}/mutual-friends",
    response_model=Page[PersonCard],
    summary="Friends this user and I have in common",
    responses=problem_responses(403),
)
async def list_mutual_friends(
    username: Username, viewer: CurrentViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_mutual_friends(session, viewer.user_id, username, page)


# --- follows


@router.post(
    "/users/{username}/follow",
    response_model=ConnectionOut,
    summary="Follow (a private account must approve: the follow stays pending until then)",
    responses=problem_responses(400, 403),
    dependencies=[limit_per_account("follows", "rate_limit_follows")],
)
async def follow(
    username: Username,
    viewer: CurrentViewer,
    session: SessionDep,
    body: Annotated[FollowOptions | None, Body()] = None,
) -> object:
    notify = body.notify_on_post if body is not None and body.model_fields_set else None
    return await service.follow(session, viewer.user_id, username, notify)


@router.patch(
    "/users/{username}/follow",
    response_model=ConnectionOut,
    summary="Change a follow's options (notify on post)",
    responses=problem_responses(400),
)
async def update_follow(
    username: Username, body: FollowUpdate, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.update_follow(session, viewer.user_id, username, body.notify_on_post)


@router.delete(
    "/users/{username}/follow",
    status_code=NO_CONTENT,
    summary="Unfollow, or withdraw a pending follow request",
)
async def unfollow(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.unfollow(session, viewer.user_id, username)


@router.get(
    "/users/{username}/followers",
    response_model=Page[PersonCard],
    summary="A user's followers, if their connections are visible to me",
    responses=problem_responses(403),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_followers(
    username: Username, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_followers(session, _viewer_id(viewer), username, page)


@router.get(
    "/users/{username}/following",
    response_model=Page[PersonCard],
    summary="Whom a user follows, if their connections are visible to me",
    responses=problem_responses(403),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_following(
    username: Username, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_following(session, _viewer_id(viewer), username, page)


@router.get(
    "/me/follow-requests",
    response_model=Page[FollowRequestOut],
    summary="Who asks to follow my private account, newest first",
)
async def list_follow_requests(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_follow_requests(session, viewer.user_id, page)


@router.post(
    "/me/follow-requests/{follow_id}/approve",
    status_code=NO_CONTENT,
    summary="Let this user follow me",
)
async def approve_follow_request(
    follow_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.approve_follow_request(session, viewer.user_id, follow_id)


@router.post(
    "/me/follow-requests/{follow_id}/decline",
    status_code=NO_CONTENT,
    summary="Refuse a follow request (the requester is not told)",
)
async def decline_follow_request(
    follow_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.decline_follow_request(session, viewer.user_id, follow_id)


# --- close friends


@router.get(
    "/me/close-friends",
    response_model=Page[PersonCard],
    summary="My close friends (only I see this list)",
)
async def list_close_friends(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_close_friends(session, viewer.user_id, page)


@router.put(
    "/me/close-friends/{username}",
    status_code=NO_CONTENT,
    summary="Add to my close friends",
    responses=problem_responses(403),
)
async def add_close_friend(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.add_close_friend(session, viewer.user_id, username)


@router.delete(
    "/me/close-friends/{username}", status_code=NO_CONTENT, summary="Remove from my close friends"
)
async def remove_close_friend(
    username: Username, viewer: CurrentViewer, session: SessionDep
) -> None:
    await service.remove_close_friend(session, viewer.user_id, username)


# --- mutes


@router.get(
    "/me/mutes", response_model=Page[PersonCard], summary="Users I muted (only I see this list)"
)
async def list_mutes(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_mutes(session, viewer.user_id, page)


@router.put(
    "/me/mutes/{username}",
    status_code=NO_CONTENT,
    summary="Mute: their posts leave my feeds and they never notify me; they are not told",
)
async def mute(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.mute(session, viewer.user_id, username)


@router.delete("/me/mutes/{username}", status_code=NO_CONTENT, summary="Unmute")
async def unmute(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.unmute(session, viewer.user_id, username)


# --- blocks


@router.get("/me/blocks", response_model=Page[PersonCard], summary="Users I blocked")
async def list_blocks(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return await service.list_blocks(session, viewer.user_id, page)


@router.put(
    "/me/blocks/{username}",
    status_code=NO_CONTENT,
    summary="Block: ends friendship, follows and requests both ways; each vanishes for the other",
)
async def block(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.block(session, viewer.user_id, username)


@router.delete("/me/blocks/{username}", status_code=NO_CONTENT, summary="Unblock")
async def unblock(username: Username, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.unblock(session, viewer.user_id, username)
