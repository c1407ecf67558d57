"""HTTP endpoints of topics: a topic, its page of posts, follows, featured and trending."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response, status

from townsquare.kit.auth import (
    OPTIONAL_AUTH_OPENAPI,
    CurrentViewer,
    OptionalViewer,
    Viewer,
    current_staff,
)
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.responses import json_response
from townsquare.kit.validation import NoNul
from townsquare.kit.web import SessionDep, UnitOfWorkRoute
from townsquare.modules.posts.schemas import PostOut
from townsquare.modules.timeline import service as timeline
from townsquare.modules.topics import service
from townsquare.modules.topics.schemas import TopicOut, TopicUpdate, TrendingTopicOut

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["topics"], responses=problem_responses(401, 422)
)

TopicName = Annotated[
    str,
    Path(
        min_length=1,
        max_length=101,
        description="The hashtag, any case, with or without `#` (URL-encoded as `%23`).",
    ),
    NoNul,
]
PageDep = Annotated[PageRequest, Depends(page_request)]
StaffViewer = Annotated[Viewer, Depends(current_staff)]


# Fixed paths come before /topics/{name}: a topic named "trending" is reached as "%23trending".
@router.get(
    "/topics/trending",
    response_model=Page[TrendingTopicOut],
    summary="Trending topics, highest score first",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_trending_topics(
    viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    views, cursor = await service.list_trending_topics(
        session, viewer.user_id if viewer else None, page
    )
    return Page(items=[TrendingTopicOut.of(v) for v in views], next_cursor=cursor)


@router.get(
    "/topics/featured",
    response_model=Page[TopicOut],
    summary="Featured topics, by name",
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_featured_topics(
    viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    views, cursor = await service.list_featured_topics(
        session, viewer.user_id if viewer else None, page
    )
    return Page(items=[TopicOut.of(v) for v in views], next_cursor=cursor)


@router.get(
    "/me/topics",
    response_model=Page[TopicOut],
    summary="Topics I follow, most recently followed first",
)
async def list_my_topics(viewer: CurrentViewer, session: SessionDep, page: PageDep) -> object:
    views, cursor = await service.list_followed_topics(session, viewer.user_id, page)
    return Page(items=[TopicOut.of(v) for v in views], next_cursor=cursor)


@router.get(
    "/topics/{name}",
    response_model=TopicOut,
    summary="A topic",
    responses=problem_responses(404),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def get_topic(name: TopicName, viewer: OptionalViewer, session: SessionDep) -> object:
    return TopicOut.of(await service.view_topic(session, viewer.user_id if viewer else None, name))


@router.patch(
    "/topics/{name}",
    response_model=TopicOut,
    summary="Change a topic's description, color, icon or featured flag (staff)",
    responses=problem_responses(400, 403, 404),
)
async def update_topic(
    name: TopicName, body: TopicUpdate, viewer: StaffViewer, session: SessionDep
) -> object:
    return TopicOut.of(await service.update_topic(session, viewer.user_id, name, body.changes()))


@router.get(
    "/topics/{name}/posts",
    response_model=Page[PostOut],
    summary="The topic's page: its posts I may see, newest first",
    responses=problem_responses(404),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def list_topic_posts(
    name: TopicName, viewer: OptionalViewer, session: SessionDep, page: PageDep
) -> object:
    viewer_id = viewer.user_id if viewer else None
    ids, next_cursor = await service.list_visible_topic_posts(session, viewer_id, name, page)
    items = await timeline.present_posts(session, viewer_id, ids)
    return json_response(timeline.page_of(items, next_cursor))


@router.post(
    "/topics/{name}/follow",
    response_model=TopicOut,
    summary="Follow a topic (again: no change)",
    responses=problem_responses(404),
)
async def follow_topic(name: TopicName, viewer: CurrentViewer, session: SessionDep) -> object:
    return TopicOut.of(await service.follow_topic(session, viewer.user_id, name))


@router.delete(
    "/topics/{name}/follow",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Stop following a topic (not following: no change)",
    responses=problem_responses(404),
)
async def unfollow_topic(name: TopicName, viewer: CurrentViewer, session: SessionDep) -> Response:
    await service.unfollow_topic(session, viewer.user_id, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
