"""HTTP endpoints of posts: writing, the life cycle, shares, polls, views and timelines."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Response

from townsquare.kit.auth import (
    OPTIONAL_AUTH_OPENAPI,
    CurrentAuthor,
    CurrentViewer,
    OptionalViewer,
    Viewer,
)
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.responses import json_response
from townsquare.kit.validation import NoNul
from townsquare.kit.web import (
    ClientDep,
    PlatformDep,
    SessionDep,
    UnitOfWorkRoute,
    limit_per_account,
)
from townsquare.modules.posts import service
from townsquare.modules.posts.schemas import (
    PollOut,
    PostCreate,
    PostOut,
    PostUpdate,
    PublishRequest,
    RevisionOut,
    ShareCreate,
    VoteRequest,
)
from townsquare.modules.timeline import service as timeline

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["posts"], responses=problem_responses(401, 404, 422)
)

PostId = Annotated[uuid.UUID, Path(description="The post's id.")]
Username = Annotated[str, Path(min_length=1, max_length=64), NoNul]
PageDep = Annotated[PageRequest, Depends(page_request)]


def _viewer_id(viewer: Viewer | None) -> uuid.UUID | None:
    return viewer.user_id if viewer is not None else None


@router.post(
    "/posts",
    response_model=PostOut,
    status_code=201,
    summary="Write a post (published now, scheduled, or kept as a draft)",
    responses=problem_responses(400, 403),
    dependencies=[limit_per_account("posts", "rate_limit_posts")],
)
async def create_post(
    body: PostCreate, viewer: CurrentAuthor, session: SessionDep, platform: PlatformDep
) -> object:
    post = await service.create_post(
        session, viewer.user_id, body, max_length=platform.settings.post_max_length
    )
    return json_response(await timeline.present_post(session, viewer.user_id, post), 201)


@router.get(
    "/posts/{post_id}",
    response_model=PostOut,
    summary="A post, if I may see it",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def get_post(post_id: PostId, viewer: OptionalViewer, session: SessionDep) -> object:
    return json_response(await timeline.get_post_or_404(session, _viewer_id(viewer), post_id))


@router.patch(
    "/posts/{post_id}",
    response_model=PostOut,
    summary="Edit my post (a published post keeps its previous version)",
    responses=problem_responses(400, 403),
)
async def edit_post(
    post_id: PostId,
    body: PostUpdate,
    viewer: CurrentViewer,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    post = await service.edit_post(
        session,
        viewer.user_id,
        post_id,
        body.changes(),
        max_length=platform.settings.post_max_length,
    )
    return json_response(await timeline.present_post(session, viewer.user_id, post))


@router.delete(
    "/posts/{post_id}",
    status_code=204,
    response_class=Response,
    summary="Delete my post",
    responses=problem_responses(403),
)
async def delete_post(post_id: PostId, viewer: CurrentViewer, session: SessionDep) -> Response:
    await service.delete_post(session, viewer.user_id, post_id)
    return Response(status_code=204)


@router.post(
    "/posts/{post_id}/publish",
    response_model=PostOut,
    summary="Publish my draft or scheduled post now, or schedule it",
    responses=problem_responses(400, 403, 409),
)
async def publish_post(
    post_id: PostId,
    viewer: CurrentAuthor,
    session: SessionDep,
    body: Annotated[PublishRequest | None, Body()] = None,
) -> object:
    publish_at = body.publish_at if body is not None else None
    post = await service.publish_post(session, viewer.user_id, post_id, publish_at)
    return json_response(await timeline.present_post(session, viewer.user_id, post))


@router.post(
    "/posts/{post_id}/archive",
    response_model=PostOut,
    summary="Archive my post: only I see it until I unarchive it",
    responses=problem_responses(403, 409),
)
async def archive_post(post_id: PostId, viewer: CurrentViewer, session: SessionDep) -> object:
    post = await service.archive_post(session, viewer.user_id, post_id)
    return json_response(await timeline.present_post(session, viewer.user_id, post))


@router.post(
    "/posts/{post_id}/unarchive",
    response_model=PostOut,
    summary="Bring my archived post back",
    responses=problem_responses(403),
)
async def unarchive_post(post_id: PostId, viewer: CurrentViewer, session: SessionDep) -> object:
    post = await service.unarchive_post(session, viewer.user_id, post_id)
    return json_response(await timeline.present_post(session, viewer.user_id, post))


@router.get(
    "/posts/{post_id}/revisions",
    response_model=Page[RevisionOut],
    summary="Previous versions of a post I may see, newest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_revisions(
    post_id: PostId, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_revisions(session, _viewer_id(viewer), post_id, page)


@router.post(
    "/posts/{post_id}/share",
    response_model=PostOut,
    status_code=201,
    summary="Share a post I may see, with optional text of my own",
    responses=problem_responses(400, 403, 409),
    dependencies=[limit_per_account("shares", "rate_limit_shares")],
)
async def share_post(
    post_id: PostId,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
    body: Annotated[ShareCreate | None, Body()] = None,
) -> object:
    share = await service.share_post(
        session,
        viewer.user_id,
        post_id,
        body or ShareCreate(),
        max_length=platform.settings.post_max_length,
    )
    return json_response(await timeline.present_post(session, viewer.user_id, share), 201)


@router.get(
    "/posts/{post_id}/poll",
    response_model=PollOut,
    summary="A poll's results",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def get_poll(post_id: PostId, viewer: OptionalViewer, session: SessionDep) -> object:
    return await service.get_poll_results(session, _viewer_id(viewer), post_id)


@router.post(
    "/posts/{post_id}/poll/votes",
    response_model=PollOut,
    summary="Vote in a poll (voting again replaces my vote while the poll is open)",
    responses=problem_responses(400, 409),
)
async def vote(
    post_id: PostId, body: VoteRequest, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.vote_in_poll(session, viewer.user_id, post_id, body.option_ids)


@router.post(
    "/posts/{post_id}/views",
    status_code=204,
    response_class=Response,
    summary=(
        "Count a view of a post: once per viewer per window; repeats and the author's own "
        "views answer the same and do not count"
    ),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def record_view(
    post_id: PostId,
    viewer: OptionalViewer,
    session: SessionDep,
    platform: PlatformDep,
    client: ClientDep,
) -> Response:
    await service.record_view(session, platform, _viewer_id(viewer), post_id, client.ip)
    return Response(status_code=204)


@router.get(
    "/users/{username}/posts",
    response_model=Page[PostOut],
    summary="A profile's timeline: the posts I may see, newest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_user_posts(
    username: Username, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return json_response(
        await timeline.list_author_posts(session, _viewer_id(viewer), username, page)
    )


@router.get("/me/drafts", response_model=Page[PostOut], summary="My drafts, newest first")
async def list_my_drafts(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return json_response(await timeline.list_own_posts(session, viewer.user_id, "draft", page))


@router.get(
    "/me/scheduled", response_model=Page[PostOut], summary="My scheduled posts, newest first"
)
async def list_my_scheduled(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return json_response(await timeline.list_own_posts(session, viewer.user_id, "scheduled", page))


@router.get("/me/archive", response_model=Page[PostOut], summary="My archived posts")
async def list_my_archive(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    return json_response(await timeline.list_own_posts(session, viewer.user_id, "archived", page))
