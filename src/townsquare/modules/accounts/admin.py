"""Account operations run from the command line, outside any HTTP request."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import ValidationError

from townsquare.config import Settings
from townsquare.kit.auth import Role
from townsquare.kit.errors import AppError
from townsquare.kit.platform import Platform
from townsquare.modules.accounts import service
from townsquare.modules.accounts.schemas import RegisterRequest
from townsquare.modules.accounts.tasks import purge_deleted_accounts


async def create_admin(
    settings: Settings, email: str, username: str, password: str, display_name: str
) -> uuid.UUID:
    """An admin with a verified email. Raises ``ValueError`` with a readable reason."""
    try:
        body = RegisterRequest(
            email=email, username=username, password=password, display_name=display_name
        )
    except ValidationError as exc:
        raise ValueError(str(exc)) from exc
    platform = Platform.build(settings)
    try:
        async with platform.database.unit_of_work() as uow:
            user = await service.register(uow.session, platform, body, role=Role.ADMIN)
            user.email_verified_at = datetime.now(UTC)
            await uow.commit()
            return user.id
    except AppError as exc:
        raise ValueError(exc.detail or exc.code) from exc
    finally:
        await platform.close()


async def purge_now(settings: Settings) -> int:
    platform = Platform.build(settings)
    try:
        return await purge_deleted_accounts(platform)
    finally:
        await platform.close()
