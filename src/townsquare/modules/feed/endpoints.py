"""HTTP routes of the home feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from townsquare.kit.auth import CurrentViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.responses import json_response
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute
from townsquare.modules.feed import service
from townsquare.modules.feed.schemas import FeedOrder
from townsquare.modules.posts.schemas import PostOut
from townsquare.modules.timeline import service as timeline

router = APIRouter(tags=["feed"], route_class=UnitOfWorkRoute)


@router.get(
    "/feed",
    response_model=Page[PostOut],
    summary="My home feed",
    description=(
        "Posts I may see from myself, my friends, the accounts I follow and the topics I "
        "follow, without muted or blocked users. `chronological` (default): newest first. "
        "`ranked`: by a score of recency, engagement and affinity (see the API guide); calm "
        "mode always gets the chronological order. Counts are left out (null) for viewers "
        "with `hide_metrics` or calm mode."
    ),
    responses=problem_responses(401, 422),
)
async def home_feed(
    viewer: CurrentViewer,
    session: SessionDep,
    platform: PlatformDep,
    page: Annotated[PageRequest, Depends(page_request)],
    order: Annotated[FeedOrder, Query(description="Order of the feed.")] = FeedOrder.CHRONOLOGICAL,
) -> Response:
    found = await service.home_feed(session, platform, viewer.user_id, order, page)
    items = await timeline.present_posts(session, viewer.user_id, found.post_ids)
    return json_response(timeline.page_of(items, found.next_cursor))
