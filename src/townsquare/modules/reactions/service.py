"""Use cases of reactions. Services flush; the edge commits.

A reaction's target is a post or a comment; either way the post decides: the viewer must be
able to see it (``posts.service.get_visible_post_or_404``; a comment through its post), and its
``allow_reactions`` switch applies to the post and to its comments alike.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config import Settings
from townsquare.kit.errors import Conflict, Forbidden, ValidationFailed
from townsquare.kit.events import record_event
from townsquare.kit.pagination import Page, PageRequest
from townsquare.modules.comments import service as comments
from townsquare.modules.posts import service as posts
from townsquare.modules.posts.models import Post
from townsquare.modules.profiles import service as profiles_service
from townsquare.modules.reactions import events, repository
from townsquare.modules.reactions.models import Reaction, TargetType
from townsquare.modules.reactions.schemas import ReactionSummaryOut, ReactorOut


class ReactionsDisabled(Forbidden):
    code = "reactions_disabled"


class ReactionBusy(Conflict):
    code = "reaction_conflict"


@dataclass(frozen=True)
class Target:
    type: TargetType
    id: uuid.UUID
    author_id: uuid.UUID
    post: Post


def check_reaction_type(reaction_type: str, settings: Settings, field: str = "body.type") -> None:
    if reaction_type not in settings.reaction_types:
        raise ValidationFailed.on(
            field,
            "Unknown reaction type; one of: " + ", ".join(settings.reaction_types) + ".",
            "unknown_reaction_type",
        )


async def _post_target(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> Target:
    post = await posts.get_visible_post_or_404(session, viewer_id, post_id)
    return Target(TargetType.POST, post.id, post.author_id, post)


async def _comment_target(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID, *, live: bool
) -> Target:
    """``live``: the comment must not be deleted (to react to it)."""
    get = comments.get_live_comment_or_404 if live else comments.get_visible_comment_or_404
    found = await get(session, viewer_id, comment_id)
    return Target(TargetType.COMMENT, found.comment.id, found.comment.author_id, found.post)


async def react_to_post(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    reaction_type: str,
) -> ReactionSummaryOut:
    check_reaction_type(reaction_type, settings)
    return await _react(
        session, viewer_id, await _post_target(session, viewer_id, post_id), reaction_type
    )


async def react_to_comment(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    comment_id: uuid.UUID,
    reaction_type: str,
) -> ReactionSummaryOut:
    check_reaction_type(reaction_type, settings)
    target = await _comment_target(session, viewer_id, comment_id, live=True)
    return await _react(session, viewer_id, target, reaction_type)


async def _react(
    session: AsyncSession, viewer_id: uuid.UUID, target: Target, reaction_type: str
) -> ReactionSummaryOut:
    if not target.post.allow_reactions:
        raise ReactionsDisabled("The author turned reactions off for this post.")
    change = await repository.set_reaction(
        session, viewer_id, target.type, target.id, reaction_type
    )
    if change is None:
        raise ReactionBusy("Your reaction changed meanwhile; try again.")
    if change.added or change.changed:
        _counts_changed(session, target)
        name = events.REACTION_ADDED if change.added else events.REACTION_CHANGED
        record_event(session, name, _payload(viewer_id, target, reaction_type, change.previous))
    # The viewer's reaction is the one just set: no need to read it back under the write lock.
    return await _summary(session, viewer_id, target, mine=reaction_type)


async def unreact_to_post(session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID) -> None:
    await _unreact(session, viewer_id, await _post_target(session, viewer_id, post_id))


async def unreact_to_comment(
    session: AsyncSession, viewer_id: uuid.UUID, comment_id: uuid.UUID
) -> None:
    await _unreact(
        session, viewer_id, await _comment_target(session, viewer_id, comment_id, live=False)
    )


def _counts_changed(session: AsyncSession, target: Target) -> None:
    """A post's reaction counts are part of its presented body: stale from this commit on."""
    if target.type is TargetType.POST:
        posts.forget_presented(session, target.id)


async def _unreact(session: AsyncSession, viewer_id: uuid.UUID, target: Target) -> None:
    """Idempotent; works even where reactions were turned off since (it is the user's own)."""
    removed = await repository.remove_reaction(session, viewer_id, target.type, target.id)
    if removed is not None:
        _counts_changed(session, target)
        record_event(session, events.REACTION_REMOVED, _payload(viewer_id, target, removed, None))


def _payload(
    viewer_id: uuid.UUID, target: Target, reaction_type: str, previous: str | None
) -> dict[str, object]:
    return events.reaction(
        user_id=viewer_id,
        target_type=target.type,
        target_id=target.id,
        post_id=target.post.id,
        target_author_id=target.author_id,
        type=reaction_type,
        previous_type=previous,
    )


async def post_summary(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> ReactionSummaryOut:
    return await _summary(session, viewer_id, await _post_target(session, viewer_id, post_id))


async def comment_summary(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID
) -> ReactionSummaryOut:
    target = await _comment_target(session, viewer_id, comment_id, live=False)
    return await _summary(session, viewer_id, target)


async def _summary(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    target: Target,
    *,
    mine: str | None = None,
) -> ReactionSummaryOut:
    """``mine``: the viewer's reaction when the caller knows it (it just set it)."""
    if mine is None and viewer_id is not None:
        mine = (await repository.reactions_by(session, viewer_id, target.type, [target.id])).get(
            target.id
        )
    counts: dict[str, int] | None = None
    if not await profiles_service.hides_metrics(session, viewer_id):
        counts = (await repository.counts_for(session, target.type, [target.id]))[target.id]
    return ReactionSummaryOut(
        target_type=target.type,
        target_id=target.id,
        counts=counts,
        total=None if counts is None else sum(counts.values()),
        my_reaction=mine,
    )


async def list_post_reactions(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID | None,
    post_id: uuid.UUID,
    reaction_type: str | None,
    page: PageRequest,
) -> Page[ReactorOut]:
    """Who reacted to the post, newest first, optionally of one type."""
    if reaction_type is not None:
        check_reaction_type(reaction_type, settings, "query.type")
    target = await _post_target(session, viewer_id, post_id)
    return await _reactors(session, viewer_id, target, reaction_type, page)


async def list_comment_reactions(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID | None,
    comment_id: uuid.UUID,
    reaction_type: str | None,
    page: PageRequest,
) -> Page[ReactorOut]:
    if reaction_type is not None:
        check_reaction_type(reaction_type, settings, "query.type")
    target = await _comment_target(session, viewer_id, comment_id, live=False)
    return await _reactors(session, viewer_id, target, reaction_type, page)


async def _reactors(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    target: Target,
    reaction_type: str | None,
    page: PageRequest,
) -> Page[ReactorOut]:
    """One page in a constant number of queries: the reactions, then their users' cards."""
    rows, cursor = await repository.list_reactions(
        session, viewer_id, target.type, target.id, reaction_type, page
    )
    return Page(items=await _with_cards(session, rows), next_cursor=cursor)


async def _with_cards(session: AsyncSession, rows: Sequence[Reaction]) -> list[ReactorOut]:
    cards = await profiles_service.get_cards(session, {row.user_id for row in rows})
    return [
        ReactorOut(
            user=cards[row.user_id],
            type=row.type,
            reacted_at=row.created_at,
        )
        for row in rows
        if row.user_id in cards
    ]
