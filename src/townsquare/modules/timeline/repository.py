"""The read side's own SQL: running the registered providers' statements (``providers``).
The posts' columns come from ``posts.repository`` (posts owns its tables)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.timeline import providers


async def viewer_state_rows(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    post_ids: Collection[uuid.UUID],
    check_ids: Collection[uuid.UUID],
    now: datetime,
) -> list[Any]:
    """Every provider's (post_id, kind, key, value) rows for the viewer, in one statement."""
    statement = providers.viewer_state_statement(anonymous=viewer_id is None)
    params: dict[str, Any] = {"post_ids": list(post_ids), "check_ids": list(check_ids), "now": now}
    if viewer_id is not None:
        params["viewer_id"] = viewer_id
    return list(await session.execute(statement, params))


async def body_part_rows(session: AsyncSession, post_ids: Collection[uuid.UUID]) -> list[Any]:
    """Every body part's (post_id, kind, key, value) rows, in one statement."""
    return list(
        await session.execute(providers.body_parts_statement(), {"post_ids": list(post_ids)})
    )
