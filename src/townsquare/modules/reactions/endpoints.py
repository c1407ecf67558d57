"""HTTP endpoints of reactions: my reaction on a post or comment, counts, and who reacted."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from townsquare.kit.auth import OPTIONAL_AUTH_OPENAPI, CurrentViewer, OptionalViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute, limit_per_account
from townsquare.modules.reactions import service
from townsquare.modules.reactions.schemas import (
    ReactionIn,
    ReactionSummaryOut,
    ReactionType,
    ReactorOut,
)

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["reactions"], responses=problem_responses(401, 404, 422)
)
PageDep = Annotated[PageRequest, Depends(page_request)]
TypeFilter = Annotated[ReactionType | None, Query(description="Only reactions of this type.")]


def _viewer_id(viewer: OptionalViewer) -> uuid.UUID | None:
    return viewer.user_id if viewer else None


@router.put(
    "/posts/{post_id}/reaction",
    response_model=ReactionSummaryOut,
    summary="React to a post (replaces my previous reaction on it)",
    responses=problem_responses(400, 403, 409),
    dependencies=[limit_per_account("reactions", "rate_limit_reactions")],
)
async def react_to_post(
    post_id: uuid.UUID,
    body: ReactionIn,
    viewer: CurrentViewer,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.react_to_post(
        session, platform.settings, viewer.user_id, post_id, body.type
    )


@router.delete(
    "/posts/{post_id}/reaction",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove my reaction from a post",
)
async def unreact_to_post(
    post_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.unreact_to_post(session, viewer.user_id, post_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/posts/{post_id}/reactions/summary",
    response_model=ReactionSummaryOut,
    summary="Reaction counts per type on a post, and mine",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def post_reaction_summary(
    post_id: uuid.UUID, viewer: OptionalViewer, session: SessionDep
) -> object:
    return await service.post_summary(session, _viewer_id(viewer), post_id)


@router.get(
    "/posts/{post_id}/reactions",
    response_model=Page[ReactorOut],
    summary="Who reacted to a post, newest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_post_reactions(
    post_id: uuid.UUID,
    viewer: OptionalViewer,
    session: SessionDep,
    platform: PlatformDep,
    page: PageDep,
    type: TypeFilter = None,
) -> object:
    return await service.list_post_reactions(
        session, platform.settings, _viewer_id(viewer), post_id, type, page
    )


@router.put(
    "/comments/{comment_id}/reaction",
    response_model=ReactionSummaryOut,
    summary="React to a comment (replaces my previous reaction on it)",
    responses=problem_responses(400, 403, 409),
    dependencies=[limit_per_account("reactions", "rate_limit_reactions")],
)
async def react_to_comment(
    comment_id: uuid.UUID,
    body: ReactionIn,
    viewer: CurrentViewer,
    session: SessionDep,
    platform: PlatformDep,
) -> object:
    return await service.react_to_comment(
        session, platform.settings, viewer.user_id, comment_id, body.type
    )


@router.delete(
    "/comments/{comment_id}/reaction",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Remove my reaction from a comment",
)
async def unreact_to_comment(
    comment_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.unreact_to_comment(session, viewer.user_id, comment_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/comments/{comment_id}/reactions/summary",
    response_model=ReactionSummaryOut,
    summary="Reaction counts per type on a comment, and mine",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def comment_reaction_summary(
    comment_id: uuid.UUID, viewer: OptionalViewer, session: SessionDep
) -> object:
    return await service.comment_summary(session, _viewer_id(viewer), comment_id)


@router.get(
    "/comments/{comment_id}/reactions",
    response_model=Page[ReactorOut],
    summary="Who reacted to a comment, newest first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_comment_reactions(
    comment_id: uuid.UUID,
    viewer: OptionalViewer,
    session: SessionDep,
    platform: PlatformDep,
    page: PageDep,
    type: TypeFilter = None,
) -> object:
    return await service.list_comment_reactions(
        session, platform.settings, _viewer_id(viewer), comment_id, type, page
    )
