"""HTTP endpoints of profiles: my profile, privacy and settings; someone's profile."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path

from townsquare.kit.auth import OPTIONAL_AUTH_OPENAPI, CurrentViewer, OptionalViewer
from townsquare.kit.errors import problem_responses
from townsquare.kit.validation import NoNul
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute
from townsquare.modules.accounts import repository as accounts_repository
from townsquare.modules.profiles import service
from townsquare.modules.profiles.policy import Relationship
from townsquare.modules.profiles.schemas import (
    PrivacyOut,
    PrivacyUpdate,
    ProfileOut,
    ProfileStats,
    ProfileUpdate,
    SettingsOut,
    SettingsUpdate,
    UserProfileOut,
)
from townsquare.modules.social import service as social

router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["profiles"], responses=problem_responses(401, 422)
)


@router.get("/me/profile", response_model=ProfileOut, summary="My profile, every field")
async def get_my_profile(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_own_profile(session, viewer.user_id)


@router.patch(
    "/me/profile",
    response_model=ProfileOut,
    summary="Update my profile",
    responses=problem_responses(400, 409),
)
async def update_my_profile(
    body: ProfileUpdate, viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> object:
    return await service.update_own_profile(
        session, viewer.user_id, body.changes(), platform.settings
    )


@router.get("/me/privacy", response_model=PrivacyOut, summary="Who may see what of my profile")
async def get_my_privacy(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_privacy(session, viewer.user_id)


@router.patch(
    "/me/privacy",
    response_model=PrivacyOut,
    summary="Change who may see what",
    responses=problem_responses(400),
)
async def update_my_privacy(
    body: PrivacyUpdate, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.update_privacy(
        session, viewer.user_id, body.model_dump(exclude_unset=True)
    )


@router.get("/me/settings", response_model=SettingsOut, summary="My settings")
async def get_my_settings(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_settings(session, viewer.user_id)


@router.patch(
    "/me/settings",
    response_model=SettingsOut,
    summary="Change my settings",
    responses=problem_responses(400),
)
async def update_my_settings(
    body: SettingsUpdate, viewer: CurrentViewer, session: SessionDep
) -> object:
    return await service.update_settings(
        session, viewer.user_id, body.model_dump(exclude_unset=True)
    )


@router.get(
    "/users/{username}",
    response_model=UserProfileOut,
    summary="Someone's profile, as far as I may see it",
    responses=problem_responses(404),
    openapi_extra=OPTIONAL_AUTH_OPENAPI,
)
async def get_user_profile(
    username: Annotated[str, Path(min_length=1, max_length=64), NoNul],
    viewer: OptionalViewer,
    session: SessionDep,
) -> object:
    async def load_email(user_id: uuid.UUID) -> str | None:
        return await accounts_repository.get_email(session, user_id)

    async def relationship_of(viewer_id: uuid.UUID | None, owner_id: uuid.UUID) -> Relationship:
        return await social.profile_relationship(session, viewer_id, owner_id)

    async def load_stats(user_id: uuid.UUID) -> ProfileStats:
        return await social.profile_stats(session, user_id)

    return await service.view_profile(
        session,
        viewer.user_id if viewer else None,
        username,
        load_email=load_email,
        relationship_of=relationship_of,
        load_stats=load_stats,
    )
