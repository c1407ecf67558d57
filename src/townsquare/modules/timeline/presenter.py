"""Presenting posts: a whole page in a constant handful of round trips, as plain dicts.

Three parts, merged per post:
1. the **body**, everything that does not depend on the viewer (fields, media, poll with its
   counts, hashtags, comment/share counts, reaction counts), cached serialized under
   ``post:{id}``: one cache round trip for the page; the misses (and the originals they share)
   loaded in four statements and remembered. Whatever changes a body invalidates its entry in
   the writing transaction (``posts.service.forget_presented``: edits, publish, archive,
   delete, votes, comments, shares, reactions), so the very next read sees the change;
2. the **viewer's state** in ONE statement: the registered providers' rows (``providers``):
   my reaction, bookmark, poll choices, the mentions I may see, my custom audiences and view
   counts, and which shared originals I may see (through the posts visibility policy);
3. the **people** on it (author, mentions, audience) from the profile-card cache ``user:{id}``
   (kept out of the body: a renamed user shows at once without touching their posts).

The caller has applied the visibility policy to the page's posts (except ``check`` ids).
Output is JSON-ready dicts in the API's shapes (``PostOut``), encoded once by the endpoint.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.cache import invalidated_here, reads_only, recall, remember, ttls_of
from townsquare.kit.models import utcnow
from townsquare.kit.text import extract_hashtags
from townsquare.modules.posts import repository as posts
from townsquare.modules.posts.service import post_cache_key
from townsquare.modules.profiles import service as profiles
from townsquare.modules.profiles.schemas import PersonCard
from townsquare.modules.timeline import repository
from townsquare.modules.timeline.schemas import BODY_VERSION, PollBody, PostBody

Body = dict[str, Any]
UNAVAILABLE: dict[str, Any] = {"unavailable": True}


class HasId(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


@dataclass
class _State:
    """The viewer's side of a page, from the one viewer-state statement."""

    reactions: dict[uuid.UUID, str] = field(default_factory=dict)
    bookmarked: set[uuid.UUID] = field(default_factory=set)
    choices: dict[uuid.UUID, list[tuple[int, str]]] = field(default_factory=dict)
    mentions: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    audiences: dict[uuid.UUID, list[uuid.UUID]] = field(default_factory=dict)
    views: dict[uuid.UUID, int] = field(default_factory=dict)
    visible: dict[uuid.UUID, bool] = field(default_factory=dict)


@dataclass
class _Page:
    viewer: str | None
    now: datetime
    bodies: dict[uuid.UUID, Body]
    state: _State
    cards: dict[uuid.UUID, PersonCard]
    metrics: bool


def ids_of(posts: Sequence[uuid.UUID | HasId]) -> list[uuid.UUID]:
    return [post if isinstance(post, uuid.UUID) else post.id for post in posts]


async def present_posts(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    posts: Sequence[uuid.UUID | HasId],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The posts (ids, or rows with an ``id``) as the viewer sees them, in order; the caller
    has applied the visibility policy to them. Shared originals go through it here (a
    placeholder stands in for those the viewer may not see)."""
    ids = ids_of(posts)
    if not ids:
        return []
    page = await _load(session, viewer_id, ids, (), now or utcnow())
    return [_post(page, page.bodies[post_id]) for post_id in ids if post_id in page.bodies]


async def present_visible_posts(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    post_ids: Sequence[uuid.UUID],
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The live posts among ``post_ids`` that the viewer may see, in the given order; the
    others are left out (lists other modules keep: shared posts in messages...)."""
    ids = list(dict.fromkeys(post_ids))
    if not ids:
        return []
    page = await _load(session, viewer_id, ids, ids, now or utcnow())
    return [
        _post(page, page.bodies[post_id])
        for post_id in ids
        if page.state.visible.get(post_id) and post_id in page.bodies
    ]


async def present_post_if_visible(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> dict[str, Any] | None:
    """The post as the viewer sees it, or None if the policy does not let them see it (the
    author sees their own posts in every state). Warm: one statement."""
    page = await _load(session, viewer_id, [post_id], [post_id], utcnow())
    if post_id not in page.state.visible or post_id not in page.bodies:
        return None
    return _post(page, page.bodies[post_id])


# --- loading


async def _load(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    ids: Sequence[uuid.UUID],
    check: Iterable[uuid.UUID],
    now: datetime,
) -> _Page:
    bodies = await _bodies(session, ids)
    originals = {
        uuid.UUID(body["shared_post_id"])
        for post_id in ids
        if (body := bodies.get(post_id)) is not None and body["shared_post_id"] is not None
    }
    every = list(dict.fromkeys([*ids, *originals]))
    rows = await repository.viewer_state_rows(session, viewer_id, every, {*originals, *check}, now)
    state = _state_of(rows)
    people = {uuid.UUID(bodies[post_id]["author_id"]) for post_id in every if post_id in bodies}
    for user_ids in (*state.mentions.values(), *state.audiences.values()):
        people.update(user_ids)
    return _Page(
        viewer=str(viewer_id) if viewer_id is not None else None,
        now=now,
        bodies=bodies,
        state=state,
        cards=await profiles.get_cards(session, people),
        metrics=not await profiles.hides_metrics(session, viewer_id),
    )


async def _bodies(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Body]:
    """The bodies of the posts and of the originals they share: cached ones in one round trip
    (two when cached shares point at originals not asked for), the others loaded together."""
    bodies = await _recall_bodies(session, ids)
    wanted = {
        uuid.UUID(body["shared_post_id"])
        for body in bodies.values()
        if body["shared_post_id"] is not None
    } - set(bodies)
    if wanted:
        bodies.update(await _recall_bodies(session, sorted(wanted)))
    missing = [post_id for post_id in [*ids, *sorted(wanted)] if post_id not in bodies]
    if missing:
        loaded = await _load_bodies(session, missing)
        if reads_only(session):  # a write's answer does not cache: reads fill the cache
            await remember(
                session,
                {post_cache_key(post_id): body for post_id, body in loaded.items()},
                ttls_of(session).post,
            )
        for post_id, body in loaded.items():
            bodies.setdefault(post_id, body)
    return bodies


async def _recall_bodies(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Body]:
    stale = invalidated_here(session)
    keys = {post_cache_key(post_id): post_id for post_id in ids}
    cached = await recall(session, [key for key in keys if key not in stale])
    return {
        keys[key]: body
        for key, body in cached.items()
        if isinstance(body, dict) and body.get("v") == BODY_VERSION
    }


async def _load_bodies(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Body]:
    """The bodies of ``ids`` and of the originals they share, in four statements."""
    rows = await posts.body_rows(session, ids)
    found = [row.id for row in rows]
    media: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for item in await posts.media_rows(session, found):
        media[item.post_id].append(
            {name: getattr(item, name) for name in item._fields if name != "post_id"}
        )
    polls: dict[uuid.UUID, dict[str, Any]] = {}
    for option in await posts.poll_rows(session, found):
        poll = polls.setdefault(
            option.post_id,
            {
                "allows_multiple": option.allows_multiple,
                "closes_at": option.closes_at,
                "options": [],
            },
        )
        poll["options"].append(
            {"id": option.option_id, "text": option.text, "votes_count": option.votes_count}
        )
    counts: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for post_id, kind, key, value in await repository.body_part_rows(session, found):
        if kind == "reaction_count":
            counts[post_id][key] = int(value)
    return {
        row.id: _body(row, media.get(row.id, []), polls.get(row.id), counts.get(row.id, {}))
        for row in rows
    }


def _body(
    row: Any,
    media: list[dict[str, Any]],
    poll: dict[str, Any] | None,
    reaction_counts: dict[str, int],
) -> Body:
    location = (
        {"name": row.location_name, "latitude": row.latitude, "longitude": row.longitude}
        if row.location_name is not None
        else None
    )
    return PostBody(
        id=row.id,
        author_id=row.author_id,
        type=row.type,
        content=row.content,
        hashtags=extract_hashtags(row.content),
        visibility=row.visibility,
        status=row.status,
        published_at=row.published_at,
        created_at=row.created_at,
        is_edited=row.is_edited,
        edited_at=row.edited_at,
        archived_at=row.archived_at,
        deleted_at=row.deleted_at,
        location=location,
        link_url=row.link_url,
        media=media,
        poll=PollBody.model_validate(poll) if poll is not None else None,
        allow_reactions=row.allow_reactions,
        comment_permission=row.comment_permission,
        comment_count=row.comment_count,
        share_count=row.share_count,
        reaction_counts=dict(sorted(reaction_counts.items())),
        shared_post_id=row.shared_post_id,
    ).model_dump(mode="json")


def _state_of(rows: Iterable[Any]) -> _State:
    state = _State()
    for post_id, kind, key, value in rows:
        match kind:
            case "reaction":
                state.reactions[post_id] = key
            case "bookmarked":
                state.bookmarked.add(post_id)
            case "choice":
                state.choices.setdefault(post_id, []).append((int(value), str(uuid.UUID(key))))
            case "mention":
                state.mentions.setdefault(post_id, []).append(uuid.UUID(key))
            case "audience":
                state.audiences.setdefault(post_id, []).append(uuid.UUID(key))
            case "views":
                state.views[post_id] = int(value)
            case "visible":
                state.visible[post_id] = value == "1"
    for user_ids in (*state.mentions.values(), *state.audiences.values()):
        user_ids.sort()
    return state


# --- shaping (the API's ``PostOut`` / ``EmbeddedPostOut`` field order)


def _post(page: _Page, body: Body) -> dict[str, Any]:
    out = _embedded(page, body)
    shared_id = body["shared_post_id"]
    if shared_id is None:
        out["shared_post"] = None
    else:
        original_id = uuid.UUID(shared_id)
        original = page.bodies.get(original_id)
        seen = page.state.visible.get(original_id, False)
        out["shared_post"] = _embedded(page, original) if seen and original else UNAVAILABLE
    return out


def _embedded(page: _Page, body: Body) -> dict[str, Any]:
    post_id = uuid.UUID(body["id"])
    state = page.state
    is_author = body["author_id"] == page.viewer
    metrics = page.metrics
    poll = body["poll"]
    return {
        "id": body["id"],
        "author": _author(page, body["author_id"]),
        "type": body["type"],
        "content": body["content"],
        "hashtags": body["hashtags"],
        "mentions": _refs(page, state.mentions.get(post_id, ())),
        "visibility": body["visibility"],
        "status": body["status"],
        "published_at": body["published_at"],
        "created_at": body["created_at"],
        "is_edited": body["is_edited"],
        "edited_at": body["edited_at"],
        "archived_at": body["archived_at"],
        "deleted_at": body["deleted_at"],
        "location": body["location"],
        "link_url": body["link_url"],
        "media": body["media"],
        "poll": _poll(page, poll, state.choices.get(post_id)) if poll is not None else None,
        "allow_reactions": body["allow_reactions"],
        "comment_permission": body["comment_permission"],
        "comment_count": body["comment_count"] if metrics else None,
        "share_count": body["share_count"] if metrics else None,
        "view_count": state.views.get(post_id, 0) if metrics and is_author else None,
        "reaction_counts": body["reaction_counts"] if metrics else None,
        "viewer_reaction": state.reactions.get(post_id),
        "bookmarked": post_id in state.bookmarked,
        "audience": (
            _refs(page, state.audiences.get(post_id, ()))
            if is_author and body["visibility"] == "custom"
            else None
        ),
    }


def _poll(
    page: _Page, poll: dict[str, Any], choices: list[tuple[int, str]] | None
) -> dict[str, Any]:
    closes_at = poll["closes_at"]
    options = poll["options"]
    return {
        "allows_multiple": poll["allows_multiple"],
        "closes_at": closes_at,
        "is_closed": closes_at is not None and datetime.fromisoformat(closes_at) <= page.now,
        "options": options,
        "total_votes": sum(option["votes_count"] for option in options),
        "viewer_choices": [option_id for _, option_id in sorted(choices)] if choices else [],
    }


def _author(page: _Page, author_id: str) -> dict[str, Any]:
    card = page.cards.get(uuid.UUID(author_id))
    if card is None:  # cannot happen (every user has a profile); never a 500 for it
        return {
            "user_id": author_id,
            "username": "",
            "display_name": "",
            "avatar_url": None,
            "is_verified": False,
        }
    return {
        "user_id": author_id,
        "username": card.username,
        "display_name": card.display_name,
        "avatar_url": card.avatar_url,
        "is_verified": card.is_verified,
    }


def _refs(page: _Page, user_ids: Iterable[uuid.UUID]) -> list[dict[str, Any]]:
    return [
        {"user_id": str(user_id), "username": card.username}
        for user_id in user_ids
        if (card := page.cards.get(user_id)) is not None
    ]
