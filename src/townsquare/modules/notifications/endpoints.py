"""HTTP endpoints of notifications: list (flat or grouped), unread count, mark read, the
preferences, and system notifications from admins."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response, status

from townsquare.kit.auth import CurrentViewer, Viewer, current_staff
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute
from townsquare.modules.notifications import service
from townsquare.modules.notifications.models import NotificationType
from townsquare.modules.notifications.repository import ListFilter
from townsquare.modules.notifications.schemas import (
    NotificationGroupOut,
    NotificationOut,
    PreferencesIn,
    PreferencesOut,
    ReadAllOut,
    SystemNotificationIn,
    UnreadCountOut,
)

router = APIRouter(
    prefix="/notifications",
    route_class=UnitOfWorkRoute,
    tags=["notifications"],
    responses=problem_responses(400, 401, 422),
)
me_router = APIRouter(
    route_class=UnitOfWorkRoute,
    tags=["notifications"],
    responses=problem_responses(400, 401, 422),
)
admin_router = APIRouter(
    prefix="/admin",
    route_class=UnitOfWorkRoute,
    tags=["admin"],
    responses=problem_responses(400, 401, 403, 422),
)
PageDep = Annotated[PageRequest, Depends(page_request)]
StaffViewer = Annotated[Viewer, Depends(current_staff)]


async def list_filter(  # async: FastAPI runs a plain def in a thread
    types: Annotated[
        list[NotificationType] | None,
        Query(description="Only these types (repeat the parameter for several)."),
    ] = None,
    exclude_types: Annotated[
        list[NotificationType] | None, Query(description="Leave these types out.")
    ] = None,
    unread_only: Annotated[bool, Query(description="Only unread notifications.")] = False,
) -> ListFilter:
    return ListFilter(
        types=frozenset(types or ()),
        exclude_types=frozenset(exclude_types or ()),
        unread_only=unread_only,
    )


FilterDep = Annotated[ListFilter, Depends(list_filter)]


@router.get("", response_model=Page[NotificationOut], summary="My notifications, newest first")
async def list_notifications(
    viewer: CurrentViewer, session: SessionDep, page: PageDep, only: FilterDep
) -> object:
    return await service.list_notifications(session, viewer.user_id, page, only)


@router.get(
    "/grouped",
    response_model=Page[NotificationGroupOut],
    summary='My notifications grouped ("Ann and 5 others reacted to your post")',
)
async def list_groups(
    viewer: CurrentViewer, session: SessionDep, page: PageDep, only: FilterDep
) -> object:
    return await service.list_groups(session, viewer.user_id, page, only)


@router.get("/unread-count", response_model=UnreadCountOut, summary="How many are unread")
async def unread_count(viewer: CurrentViewer, session: SessionDep, platform: PlatformDep) -> object:
    return await service.unread_count(
        session, viewer.user_id, platform.settings.cache_unread_ttl_seconds
    )


@router.post(
    "/read-all",
    response_model=ReadAllOut,
    summary="Mark all (or one group's) notifications read",
)
async def mark_all_read(
    viewer: CurrentViewer,
    session: SessionDep,
    group_key: Annotated[
        str | None, Query(max_length=200, description="Only this group (`group_key`).")
    ] = None,
) -> object:
    return await service.mark_all_read(session, viewer.user_id, group_key)


@router.post(
    "/{notification_id}/read",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Mark one notification read",
    responses=problem_responses(404),
)
async def mark_read(
    notification_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep
) -> Response:
    await service.mark_read(session, viewer.user_id, notification_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.get(
    "/me/notification-preferences",
    response_model=PreferencesOut,
    summary="My notification preferences per type and channel",
)
async def get_preferences(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_preferences(session, viewer.user_id)


@me_router.put(
    "/me/notification-preferences",
    response_model=PreferencesOut,
    summary="Change some of my notification preferences",
)
async def update_preferences(
    body: PreferencesIn, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.update_preferences(session, viewer.user_id, body.preferences)


@admin_router.post(
    "/notifications",
    status_code=status.HTTP_201_CREATED,
    response_model=NotificationOut,
    summary="Send a system notification to a user (admins only)",
    responses=problem_responses(404),
)
async def send_system_notification(
    body: SystemNotificationIn, staff: StaffViewer, session: SessionDep
) -> object:
    return await service.send_system_notification(session, staff, body)
