"""All SQL of reactions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType


async def counts_for(
    session: AsyncSession, target_type: TargetType, target_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Reaction counts per type for each target, in one query (types with 0 left out)."""
    ids = list(set(target_ids))
    counts: dict[uuid.UUID, dict[str, int]] = {target_id: {} for target_id in ids}
    if not ids:
        return counts
    rows = await session.execute(
        select(ReactionCount.target_id, ReactionCount.type, ReactionCount.count).where(
            ReactionCount.target_type == target_type,
            ReactionCount.target_id.in_(ids),
            ReactionCount.count > 0,
        )
    )
    for target_id, reaction_type, count in rows.tuples():
        counts[target_id][reaction_type] = count
    return counts


async def reactions_by(
    session: AsyncSession,
    user_id: uuid.UUID,
    target_type: TargetType,
    target_ids: Iterable[uuid.UUID],
) -> dict[uuid.UUID, str]:
    """The user's own reaction type on each of the targets that has one, in one query."""
    ids = list(set(target_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Reaction.target_id, Reaction.type).where(
            Reaction.user_id == user_id,
            Reaction.target_type == target_type,
            Reaction.target_id.in_(ids),
        )
    )
    return dict(rows.tuples().all())
