"""HTTP endpoints of comments: write, reply, edit, remove, and read threads level by level."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from townsquare.kit.auth import OPTIONAL_AUTH_OPENAPI, CurrentAuthor, CurrentViewer, OptionalViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute, limit_per_account
from townsquare.modules.comments import service
from townsquare.modules.comments.schemas import CommentIn, CommentOut

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["comments"], responses=problem_responses(401, 404, 422)
)
PageDep = Annotated[PageRequest, Depends(page_request)]


def _viewer_id(viewer: OptionalViewer) -> uuid.UUID | None:
    return viewer.user_id if viewer else None


@router.post(
    "/posts/{post_id}/comments",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentOut,
    summary="Comment on a post",
    responses=problem_responses(400, 403),
    dependencies=[limit_per_account("comments", "rate_limit_comments")],
)
async def add_comment(
    post_id: uuid.UUID,
    body: CommentIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.add_comment(
        session, platform.settings, viewer.user_id, post_id, body.content
    )


@router.get(
    "/posts/{post_id}/comments",
    response_model=Page[CommentOut],
    summary="A post's top-level comments, oldest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_post_comments(
    post_id: uuid.UUID, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_post_comments(session, _viewer_id(viewer), post_id, page)


@router.get(
    "/comments/{comment_id}",
    response_model=CommentOut,
    summary="One comment",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def get_comment(comment_id: uuid.UUID, viewer: OptionalViewer, session: SessionDep) -> object:
    return await service.view_comment(session, _viewer_id(viewer), comment_id)


@router.patch(
    "/comments/{comment_id}",
    response_model=CommentOut,
    summary="Edit my comment",
    responses=problem_responses(400, 403, 409),
)
async def edit_comment(
    comment_id: uuid.UUID,
    body: CommentIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.edit_comment(
        session, platform.settings, viewer.user_id, comment_id, body.content
    )


@router.delete(
    "/comments/{comment_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove a comment (mine, or any on my post)",
    responses=problem_responses(403),
)
async def remove_comment(
    comment_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.remove_comment(session, viewer.user_id, comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/comments/{comment_id}/replies",
    status_code=status.HTTP_201_CREATED,
    response_model=CommentOut,
    summary="Reply to a comment",
    responses=problem_responses(400, 403, 409),
    dependencies=[limit_per_account("comments", "rate_limit_comments")],
)
async def reply_to_comment(
    comment_id: uuid.UUID,
    body: CommentIn,
    viewer: CurrentAuthor,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.reply_to_comment(
        session, platform.settings, viewer.user_id, comment_id, body.content
    )


@router.get(
    "/comments/{comment_id}/replies",
    response_model=Page[CommentOut],
    summary="Replies to a comment, oldest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_replies(
    comment_id: uuid.UUID, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    return await service.list_replies(session, _viewer_id(viewer), comment_id, page)
