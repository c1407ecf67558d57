"""All SQL of reactions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    cast,
    delete,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.models import utcnow
from townsquare.kit.pagination import PageRequest, paginate_by_id
from townsquare.kit.sql import insert_or_ignore, upsert_add
from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType
from townsquare.modules.social import policy as people


async def counts_for(
    session: AsyncSession, target_type: TargetType, target_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Reaction counts per type for each target, in one query (types with 0 left out)."""
    ids = list(set(target_ids))
    counts: dict[uuid.UUID, dict[str, int]] = {target_id: {} for target_id in ids}
    if not ids:
        return counts
    rows = await session.execute(_COUNTS, {"target_type": target_type, "ids": ids})
    for target_id, reaction_type, count in rows:
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
    return {target_id: reaction_type for target_id, reaction_type in rows}


@dataclass(frozen=True)
class ReactionChange:
    """What setting a reaction did: ``previous`` is None for a new reaction."""

    previous: str | None
    current: str

    @property
    def added(self) -> bool:
        return self.previous is None

    @property
    def changed(self) -> bool:
        return self.previous is not None and self.previous != self.current


#: Compare-and-set attempts before giving up on a reaction that keeps changing under us.
MAX_ATTEMPTS = 5


def _target(target_type: TargetType, target_id: uuid.UUID) -> ColumnElement[bool]:
    return and_(Reaction.target_type == target_type, Reaction.target_id == target_id)


async def _add_counts(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID, deltas: dict[str, int]
) -> None:
    # Always in the same (sorted) order, so two transactions moving counts between the same
    # two types lock the counter rows in the same order and cannot deadlock.
    for reaction_type in sorted(deltas):
        key = {"target_type": target_type, "target_id": target_id, "type": reaction_type}
        await upsert_add(session, ReactionCount, key, {"count": deltas[reaction_type]})


# The write path's statements, built once over bind parameters (every reaction runs them).
_MY_REACTION = select(Reaction.id, Reaction.type).where(
    Reaction.target_type == bindparam("target_type"),
    Reaction.target_id == bindparam("target_id"),
    Reaction.user_id == bindparam("user_id"),
)
#: Compare-and-set of the type: only from the type read just before.
_SWAP_TYPE = (
    update(Reaction)
    .where(Reaction.id == bindparam("reaction_id"), Reaction.type == bindparam("previous"))
    .values(type=bindparam("new_type"), updated_at=bindparam("now"))
)
_COUNTS = select(ReactionCount.target_id, ReactionCount.type, ReactionCount.count).where(
    ReactionCount.target_type == bindparam("target_type"),
    ReactionCount.target_id.in_(bindparam("ids", expanding=True)),
    ReactionCount.count > 0,
)


async def set_reaction(
    session: AsyncSession,
    user_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    reaction_type: str,
) -> ReactionChange | None:
    """Make the user's one reaction on the target ``reaction_type``, moving the counts with it.

    Race-free: the insert ignores an existing row (so a double click makes one row), and a
    change of type is a compare-and-set on the old type, so counts move exactly once. None if
    the row kept changing under concurrent requests of the same user (the caller gives up).
    """
    for _ in range(MAX_ATTEMPTS):
        now = utcnow()
        values = {
            "user_id": user_id,
            "target_type": target_type,
            "target_id": target_id,
            "type": reaction_type,
            "created_at": now,
            "updated_at": now,
        }
        if await insert_or_ignore(
            session, Reaction, values, ["target_type", "target_id", "user_id"]
        ):
            await _add_counts(session, target_type, target_id, {reaction_type: 1})
            return ReactionChange(previous=None, current=reaction_type)
        mine = {"target_type": target_type, "target_id": target_id, "user_id": user_id}
        existing = (await session.execute(_MY_REACTION, mine)).first()
        if existing is None:
            continue  # removed meanwhile: insert again
        reaction_id, previous = existing
        if previous == reaction_type:
            return ReactionChange(previous=previous, current=reaction_type)
        swap = {"reaction_id": reaction_id, "previous": previous, "new_type": reaction_type}
        swapped = await session.execute(_SWAP_TYPE, {**swap, "now": now})
        if swapped.rowcount:  # type: ignore[attr-defined]
            await _add_counts(session, target_type, target_id, {previous: -1, reaction_type: 1})
            return ReactionChange(previous=previous, current=reaction_type)
    return None


async def remove_reaction(
    session: AsyncSession, user_id: uuid.UUID, target_type: TargetType, target_id: uuid.UUID
) -> str | None:
    """Delete the user's reaction on the target; its type if there was one (counted down)."""
    removed = await session.scalar(
        delete(Reaction)
        .where(_target(target_type, target_id), Reaction.user_id == user_id)
        .returning(Reaction.type)
    )
    if removed is not None:
        await _add_counts(session, target_type, target_id, {removed: -1})
    return removed


async def list_reactions(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    target_type: TargetType,
    target_id: uuid.UUID,
    reaction_type: str | None,
    page: PageRequest,
) -> tuple[Sequence[Reaction], str | None]:
    """Who reacted, newest first, of the people the viewer may see (the people policy leaves
    out the hidden and those blocked either way with the viewer)."""
    statement = select(Reaction).where(
        _target(target_type, target_id), people.visible_person_clause(viewer_id, Reaction.user_id)
    )
    if reaction_type is not None:
        statement = statement.where(Reaction.type == reaction_type)
    return await paginate_by_id(session, statement, Reaction.id, page)


def reacted_post_ids_statement(user_id: uuid.UUID, since: datetime) -> Select[uuid.UUID]:
    """The posts ``user_id`` reacted to since ``since``, one row per reaction (for affinity)."""
    return select(Reaction.target_id.label("post_id")).where(
        Reaction.user_id == user_id,
        Reaction.target_type == TargetType.POST,
        Reaction.created_at >= since,
    )


# --- what presented posts show (registered with ``timeline.providers`` at start-up) -----------


def viewer_reaction_state(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Viewer state ``reaction``: the viewer's own reaction on each post (key: its type)."""
    return select(
        Reaction.target_id,
        literal_column("'reaction'", String),
        Reaction.type,
        cast(null(), String),
    ).where(
        Reaction.user_id == params.viewer_id,
        Reaction.target_type == TargetType.POST,
        Reaction.target_id.in_(params.post_ids),
    )


def reaction_counts_part(params: Any) -> Select[uuid.UUID, str, str, str]:
    """Body part ``reaction_count``: the posts' counts per type (key: type; 0 left out)."""
    return select(
        ReactionCount.target_id,
        literal_column("'reaction_count'", String),
        ReactionCount.type,
        cast(ReactionCount.count, String),
    ).where(
        ReactionCount.target_type == TargetType.POST,
        ReactionCount.target_id.in_(params.post_ids),
        ReactionCount.count > 0,
    )
