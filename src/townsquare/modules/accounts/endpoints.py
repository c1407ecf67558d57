"""HTTP endpoints of accounts: authentication, sessions, my account, staff actions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Response, status

from townsquare.kit.auth import CurrentViewer, Viewer, current_staff
from townsquare.kit.errors import problem_responses
from townsquare.kit.pagination import Page, PageRequest, page_request
from townsquare.kit.web import (
    ClientDep,
    PlatformDep,
    SessionDep,
    UnitOfWorkRoute,
    limit_per_ip,
)
from townsquare.modules.accounts import service
from townsquare.modules.accounts.schemas import (
    Accepted,
    AccountOut,
    AccountStatusChange,
    AccountUpdate,
    ChangePasswordRequest,
    DataExport,
    DeletionScheduled,
    ForgotPasswordRequest,
    LoginRequest,
    PasswordConfirmation,
    RefreshRequest,
    RegisterRequest,
    ResetPasswordRequest,
    RevokedSessions,
    SessionOut,
    TokenPair,
    VerifyEmailRequest,
)

auth_router = APIRouter(
    prefix="/auth",
    route_class=UnitOfWorkRoute,
    tags=["auth"],
    responses=problem_responses(422, 429),
)
me_router = APIRouter(
    route_class=UnitOfWorkRoute, tags=["account"], responses=problem_responses(401, 422, 429)
)
admin_router = APIRouter(
    prefix="/admin",
    route_class=UnitOfWorkRoute,
    tags=["admin"],
    responses=problem_responses(401, 403, 404, 422),
)
StaffViewer = Annotated[Viewer, Depends(current_staff)]


@auth_router.post(
    "/register",
    status_code=status.HTTP_201_CREATED,
    response_model=AccountOut,
    summary="Create an account; a verification email follows",
    responses=problem_responses(400, 409),
    dependencies=[limit_per_ip("register", "rate_limit_register_per_ip")],
)
async def register(body: RegisterRequest, session: SessionDep, platform: PlatformDep) -> object:
    user = await service.register(session, platform, body)
    return AccountOut(
        id=user.id,
        email=user.email,
        email_verified=False,
        status=user.status,
        role=user.role,
        username=body.username,
        display_name=body.display_name,
        created_at=user.created_at,
        last_login_at=None,
        login_count=0,
    )


@auth_router.post(
    "/verify-email",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Confirm an email address with the emailed token",
    responses=problem_responses(400),
    dependencies=[limit_per_ip("verify", "rate_limit_password_per_ip")],
)
async def verify_email(body: VerifyEmailRequest, session: SessionDep) -> None:
    await service.verify_email(session, body.token)


@auth_router.post(
    "/verify-email/resend",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Send the verification email again",
    responses=problem_responses(401, 409),
)
async def resend_verification(
    viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> object:
    await service.request_verification_email(session, platform, viewer)
    return Accepted(detail="A verification email is on its way.")


@auth_router.post(
    "/login",
    response_model=TokenPair,
    summary="Sign in with email or username and password",
    responses=problem_responses(400, 401, 403),
    dependencies=[limit_per_ip("login", "rate_limit_login_per_ip")],
)
async def login(
    body: LoginRequest, session: SessionDep, platform: PlatformDep, client: ClientDep
) -> object:
    return await service.login(session, platform, body.identifier, body.password, client)


@auth_router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Exchange a refresh token for new tokens (rotation)",
    responses=problem_responses(400, 401),
    dependencies=[limit_per_ip("refresh", "rate_limit_login_per_ip")],
)
async def refresh(
    body: RefreshRequest, session: SessionDep, platform: PlatformDep, client: ClientDep
) -> object:
    return await service.refresh(session, platform, body.refresh_token, client)


@auth_router.post(
    "/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the current session",
    responses=problem_responses(401),
)
async def logout(viewer: CurrentViewer, session: SessionDep) -> None:
    await service.logout(session, viewer)


@auth_router.post(
    "/password/forgot",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Accepted,
    summary="Email a password reset link (same answer whether or not the account exists)",
    responses=problem_responses(400),
    dependencies=[limit_per_ip("password", "rate_limit_password_per_ip")],
)
async def forgot_password(
    body: ForgotPasswordRequest, session: SessionDep, platform: PlatformDep, client: ClientDep
) -> object:
    await service.request_password_reset(session, platform, body.email, client)
    return Accepted(detail="If an account uses this address, a reset link is on its way.")


@auth_router.post(
    "/password/reset",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with the emailed token; ends every session",
    responses=problem_responses(400),
    dependencies=[limit_per_ip("password", "rate_limit_password_per_ip")],
)
async def reset_password(
    body: ResetPasswordRequest, session: SessionDep, platform: PlatformDep
) -> None:
    await service.reset_password(session, platform, body.token, body.new_password)


@auth_router.post(
    "/password/change",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Change my password; ends my other sessions",
    responses=problem_responses(400, 401),
    dependencies=[limit_per_ip("password", "rate_limit_password_per_ip")],
)
async def change_password(
    body: ChangePasswordRequest, viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> None:
    await service.change_password(
        session, platform, viewer, body.current_password, body.new_password
    )


@auth_router.get(
    "/sessions",
    response_model=Page[SessionOut],
    summary="My signed-in sessions, newest first",
    responses=problem_responses(401),
)
async def list_sessions(
    viewer: CurrentViewer,
    session: SessionDep,
    page: Annotated[PageRequest, Depends(page_request)],
) -> object:
    sessions, next_cursor = await service.list_sessions(session, viewer, page)
    items = [
        SessionOut.model_validate(s).model_copy(update={"current": s.id == viewer.session_id})
        for s in sessions
    ]
    return Page[SessionOut](items=items, next_cursor=next_cursor)


@auth_router.delete(
    "/sessions",
    response_model=RevokedSessions,
    summary="End all my sessions except this one",
    responses=problem_responses(401),
)
async def revoke_other_sessions(viewer: CurrentViewer, session: SessionDep) -> object:
    return RevokedSessions(revoked=await service.revoke_other_sessions(session, viewer))


@auth_router.delete(
    "/sessions/{session_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End one of my sessions",
    responses=problem_responses(401, 404),
)
async def revoke_session(session_id: uuid.UUID, viewer: CurrentViewer, session: SessionDep) -> None:
    await service.revoke_session(session, viewer, session_id)


@me_router.get("/me", response_model=AccountOut, summary="My account")
async def get_me(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.get_account(session, viewer)


@me_router.get(
    "/me/export",
    response_model=DataExport,
    summary="Download everything Townsquare holds about me",
)
async def export_my_data(viewer: CurrentViewer, session: SessionDep) -> object:
    return await service.export_data(session, viewer)


@me_router.patch(
    "/me",
    response_model=AccountOut,
    summary="Change my email address (needs my password; the new one must be verified)",
    responses=problem_responses(400, 409),
)
async def update_me(
    body: AccountUpdate, viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> object:
    return await service.change_email(session, platform, viewer, body.email, body.current_password)


@me_router.post(
    "/me/deactivate",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Deactivate my account: hidden at once, undone by logging in",
    responses=problem_responses(400),
)
async def deactivate_me(
    body: PasswordConfirmation, viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> None:
    await service.deactivate(session, platform, viewer, body.password)


@me_router.delete(
    "/me",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeletionScheduled,
    summary="Delete my account: hidden at once, personal data purged after the grace period",
    responses=problem_responses(400),
)
async def delete_me(
    body: PasswordConfirmation, viewer: CurrentViewer, session: SessionDep, platform: PlatformDep
) -> object:
    user = await service.schedule_deletion(session, platform, viewer, body.password)
    assert user.purge_after is not None
    return DeletionScheduled(status=user.status, purge_after=user.purge_after)


@admin_router.post(
    "/users/{user_id}/status",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Suspend or reinstate an account (moderators and admins)",
    responses=problem_responses(400),
)
async def set_account_status(
    user_id: uuid.UUID, body: AccountStatusChange, staff: StaffViewer, session: SessionDep
) -> Response:
    await service.set_status(session, staff, user_id, body.status, body.reason)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
