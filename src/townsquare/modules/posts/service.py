"""Use cases of posts. Services flush; the edge commits.

A post's life: ``draft`` → (``scheduled`` →) ``published``, then optionally archived (and back)
and finally soft-deleted. ``posts_count`` on the author's stats counts published, not archived,
not deleted posts: every transition that enters or leaves that set changes it by one, on a row
locked for the transition, so concurrent requests cannot count a change twice.

For other modules: ``get_visible_post_or_404`` (gate before touching a post),
``forget_presented`` (a change to what a presented post shows: its cached body is stale),
``adjust_comment_count`` and ``may_comment``-style facts are on the returned ``Post``
(``comment_permission``, ``allow_reactions``, ``author_id``).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.cache import invalidate_after_commit
from townsquare.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from townsquare.kit.events import record_event
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    malformed_cursor,
    paginate_by_id,
)
from townsquare.kit.platform import Platform
from townsquare.kit.text import extract_hashtags, extract_mentions
from townsquare.modules.posts import events, policy, repository
from townsquare.modules.posts.models import (
    MediaType,
    Poll,
    PollOption,
    Post,
    PostMedia,
    PostRevision,
    PostStatus,
    PostType,
    Visibility,
)
from townsquare.modules.posts.schemas import (
    MediaIn,
    PollIn,
    PollOptionOut,
    PollOut,
    PostCreate,
    RevisionOut,
    ShareCreate,
)
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.social import policy as people
from townsquare.modules.social import service as social

#: Mentions beyond the first 50 distinct usernames of a post are not linked.
MAX_LINKED_MENTIONS = 50
#: Scheduled posts published per transaction by the scheduler.
PUBLISH_BATCH_SIZE = 100

# --- errors a client may meet (stable codes)


class PostNotFound(NotFound):
    code = "post_not_found"


class AuthorNotFound(NotFound):
    code = "profile_not_found"


class PollNotFound(NotFound):
    code = "poll_not_found"


class NotAuthor(Forbidden):
    code = "not_author"


class PollClosed(Conflict):
    code = "poll_closed"


class PostNotPublished(Conflict):
    code = "post_not_published"


class AlreadyPublished(Conflict):
    code = "already_published"


class ContentTooLong(ValidationFailed):
    code = "content_too_long"


# --- reading one post (other modules gate on this)


async def get_visible_post_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> Post:
    """The post, if the viewer may see it; otherwise 404, the same as a missing post.

    Comments, reactions, shares and bookmarks call this before touching a post: they inherit
    its visibility.
    """
    post = await repository.get_visible_post(session, viewer_id, post_id, utcnow())
    if post is None:
        raise PostNotFound()
    return post


async def adjust_comment_count(session: AsyncSession, post_id: uuid.UUID, delta: int) -> None:
    await repository.add_to_counts(session, post_id, comment_count=delta)
    forget_presented(session, post_id)


async def _own_post_for_update(
    session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID, now: datetime
) -> Post:
    """The viewer's own post, locked for a change. Someone else's post answers 404 if the
    viewer may not see it and 403 ``not_author`` if they may; a deleted post is gone (404)."""
    post = await repository.get_visible_post_for_update(session, viewer_id, post_id, now)
    if post is None or (post.author_id == viewer_id and post.deleted_at is not None):
        raise PostNotFound()
    if post.author_id != viewer_id:
        raise NotAuthor("Only the author may change this post.")
    return post


# --- the shape of a post: rules shared by creation, edits and shares

#: For each media post type: the kinds of item at least one of which it needs, and the kinds
#: it may carry (a video may come with stills, an audio post with cover art).
FITTING_MEDIA: dict[PostType, tuple[frozenset[MediaType], frozenset[MediaType]]] = {
    PostType.PHOTO: (
        frozenset({MediaType.IMAGE, MediaType.GIF}),
        frozenset({MediaType.IMAGE, MediaType.GIF}),
    ),
    PostType.VIDEO: (
        frozenset({MediaType.VIDEO}),
        frozenset({MediaType.VIDEO, MediaType.IMAGE, MediaType.GIF}),
    ),
    PostType.AUDIO: (frozenset({MediaType.AUDIO}), frozenset({MediaType.AUDIO, MediaType.IMAGE})),
}


def check_content(content: str, *, max_length: int, may_be_empty: bool) -> None:
    if len(content) > max_length:
        raise ContentTooLong.on("body.content", f"At most {max_length} characters.", "too_long")
    if not content.strip() and not may_be_empty:
        raise ValidationFailed.on(
            "body.content", "Write something, or attach media or a poll.", "empty"
        )


def check_media(post_type: PostType, kinds: Sequence[MediaType]) -> None:
    fitting = FITTING_MEDIA.get(post_type)
    if fitting is None:
        if kinds:
            raise ValidationFailed.on(
                "body.media", f"A {post_type.value} post carries no media.", "media_not_allowed"
            )
        return
    needed, allowed = fitting
    if not needed & set(kinds) or not set(kinds) <= allowed:
        names = ", ".join(sorted(kind.value for kind in needed))
        raise ValidationFailed.on(
            "body.media",
            f"A {post_type.value} post needs media of a fitting type ({names}).",
            "media_mismatch",
        )


def check_poll(post_type: PostType, poll: PollIn | None) -> None:
    if (post_type is PostType.POLL) != (poll is not None):
        raise ValidationFailed.on(
            "body.poll", "A poll post needs a poll, and only a poll post has one.", "poll_mismatch"
        )


def check_link(post_type: PostType, link_url: str | None) -> None:
    if post_type is PostType.LINK and not link_url:
        raise ValidationFailed.on("body.link_url", "A link post needs a link.", "missing")


def check_location(name: str | None, latitude: float | None, longitude: float | None) -> None:
    if (latitude is None) != (longitude is None):
        raise ValidationFailed.on(
            "body.latitude", "Give both coordinates or neither.", "coordinates"
        )
    if latitude is not None and name is None:
        raise ValidationFailed.on(
            "body.location_name", "Coordinates need a location name.", "missing"
        )


def check_future(field_path: str, moment: datetime, now: datetime) -> None:
    if moment <= now:
        raise ValidationFailed.on(field_path, "Must be in the future.", "not_future")


async def resolve_audience(
    session: AsyncSession,
    author_id: uuid.UUID,
    visibility: Visibility,
    refs: Sequence[str] | None,
) -> set[uuid.UUID] | None:
    """The user ids of a custom audience (ids or usernames); None for other visibilities.

    Unknown (or hidden) users are refused, so a typo does not silently narrow the audience.
    """
    if visibility is not Visibility.CUSTOM:
        if refs is not None:
            raise ValidationFailed.on(
                "body.audience", "An audience goes with `custom` visibility only.", "not_custom"
            )
        return None
    if not refs:
        raise ValidationFailed.on(
            "body.audience", "A custom post needs the list of who may see it.", "missing"
        )
    ids: dict[str, uuid.UUID] = {}
    names: list[str] = []
    for ref in refs:
        try:
            ids[ref] = uuid.UUID(ref)
        except ValueError:
            names.append(ref)
    by_id = await profiles.get_profiles(session, ids.values())
    by_name = await profiles.user_ids_for_usernames(session, names)
    resolved: set[uuid.UUID] = set()
    unknown: list[str] = []
    for ref in refs:
        if ref in ids:
            profile = by_id.get(ids[ref])
            findable = profile is not None and people.may_find_person(
                author_id, profile.user_id, is_hidden=profile.is_hidden
            )
            user_id = profile.user_id if profile is not None and findable else None
        else:
            user_id = by_name.get(ref.lower())
        if user_id is None:
            unknown.append(ref)
        else:
            resolved.add(user_id)
    if unknown:
        shown = ", ".join(unknown[:5])
        raise ValidationFailed.on("body.audience", f"Unknown users: {shown}.", "unknown_user")
    resolved.discard(author_id)
    if not resolved:
        raise ValidationFailed.on(
            "body.audience", "List at least one user besides yourself.", "missing"
        )
    return resolved


# --- creating


async def create_post(
    session: AsyncSession, author_id: uuid.UUID, body: PostCreate, *, max_length: int
) -> Post:
    now = utcnow()
    check_content(body.content, max_length=max_length, may_be_empty=bool(body.media or body.poll))
    check_media(body.type, [item.media_type for item in body.media])
    check_poll(body.type, body.poll)
    link_url = str(body.link_url) if body.link_url else None
    check_link(body.type, link_url)
    check_location(body.location_name, body.latitude, body.longitude)
    status = _initial_status(body, now)
    audience = await resolve_audience(session, author_id, body.visibility, body.audience)
    post = Post(
        author_id=author_id,
        type=body.type,
        content=body.content,
        visibility=body.visibility,
        status=status,
        published_at=now if status is PostStatus.PUBLISHED else body.publish_at,
        location_name=body.location_name,
        latitude=body.latitude,
        longitude=body.longitude,
        link_url=link_url,
        allow_reactions=body.allow_reactions,
        comment_permission=body.comment_permission,
    )
    if body.poll is not None:
        check_poll_closing(body.poll.closes_at, post.published_at or now, "body.poll.closes_at")
    repository.add_post(session, post)
    await session.flush()
    await _add_parts(session, post, body.media, body.poll, audience)
    if status is PostStatus.PUBLISHED:
        await _went_live(session, post, now)
    return post


def _initial_status(body: PostCreate, now: datetime) -> PostStatus:
    if body.draft:
        if body.publish_at is not None:
            raise ValidationFailed.on(
                "body.publish_at", "A draft has no publication time; schedule it later.", "draft"
            )
        return PostStatus.DRAFT
    if body.publish_at is not None:
        check_future("body.publish_at", body.publish_at, now)
        return PostStatus.SCHEDULED
    return PostStatus.PUBLISHED


def check_poll_closing(closes_at: datetime | None, opens_at: datetime, field_path: str) -> None:
    if closes_at is not None and closes_at <= opens_at:
        raise ValidationFailed.on(
            field_path, "The poll must close after the post is published.", "not_future"
        )


async def _add_parts(
    session: AsyncSession,
    post: Post,
    media: Sequence[MediaIn],
    poll: PollIn | None,
    audience: set[uuid.UUID] | None,
) -> None:
    repository.add_media(
        session,
        (
            PostMedia(
                post_id=post.id,
                position=position,
                media_type=item.media_type,
                url=str(item.url),
                thumbnail_url=str(item.thumbnail_url) if item.thumbnail_url else None,
                size_bytes=item.size_bytes,
                width=item.width,
                height=item.height,
                duration_seconds=item.duration_seconds,
                alt_text=item.alt_text,
            )
            for position, item in enumerate(media)
        ),
    )
    if poll is not None:
        repository.add_poll(
            session,
            Poll(post_id=post.id, allows_multiple=poll.allows_multiple, closes_at=poll.closes_at),
            (
                PollOption(post_id=post.id, position=position, text=text)
                for position, text in enumerate(poll.options)
            ),
        )
    if audience is not None:
        await repository.replace_audience(session, post.id, audience)
    await session.flush()


async def _went_live(session: AsyncSession, post: Post, now: datetime) -> None:
    """A post was just published: count it, tag it, link its mentions, tell the others."""
    await social.adjust_posts_count(session, post.author_id, +1)
    for listener in events.hashtag_listeners():
        await listener.attach_post_topics(session, post.id, extract_hashtags(post.content))
    await _link_mentions(session, post, now)
    record_event(session, events.POST_PUBLISHED, events.published(post))


# --- mentions


async def _link_mentions(session: AsyncSession, post: Post, now: datetime) -> None:
    """Link the @mentions of users who may see the post; ``post.mentioned`` for the new ones.

    Only live posts link mentions (a draft notifies nobody); an archived post keeps the links
    it had, hidden with it.
    """
    if not policy.is_live(post, now):
        return
    before = await repository.mentioned_user_ids(session, post.id)
    names = extract_mentions(post.content)[:MAX_LINKED_MENTIONS]
    ids = await profiles.user_ids_for_usernames(session, names)
    linked = await users_who_may_see_post(session, post, set(ids.values()) - {post.author_id}, now)
    if linked != before:
        await repository.replace_mentions(session, post.id, linked)
    for user_id in sorted(linked - before):
        record_event(session, events.POST_MENTIONED, events.mentioned(post, user_id))


async def users_who_may_see_post(
    session: AsyncSession, post: Post, user_ids: Iterable[uuid.UUID], now: datetime
) -> set[uuid.UUID]:
    """Which of ``user_ids`` the visibility policy lets see ``post`` (constant queries: the
    author's profile, the users' relations towards the author, a custom audience). Callers
    keep ``user_ids`` short (mentions)."""
    candidates = sorted(set(user_ids))
    if not candidates:
        return set()
    author = await profiles.get_profile(session, post.author_id)
    if author is None:
        return set()
    facts = policy.AuthorFacts(is_hidden=author.is_hidden, is_private=author.is_private)
    relations = await repository.relations_towards(session, post.author_id, candidates)
    audience = (
        await repository.audience_of(session, post.id)
        if post.visibility is Visibility.CUSTOM
        else set()
    )
    return {
        user_id
        for user_id in candidates
        if policy.may_see_post(user_id, post, facts, relations[user_id], user_id in audience, now)
    }


# --- editing

_TEXT_FIELDS = ("content", "location_name", "latitude", "longitude", "link_url")


async def edit_post(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    changes: dict[str, Any],
    *,
    max_length: int,
) -> Post:
    """Change the author's post. A published post keeps its previous text as a revision."""
    now = utcnow()
    post = await _own_post_for_update(session, viewer_id, post_id, now)
    refs = changes.pop("audience", None)
    merged = {name: changes.get(name, getattr(post, name)) for name in _TEXT_FIELDS}
    if "location_name" in changes and changes["location_name"] is None:
        if changes.get("latitude") is not None or changes.get("longitude") is not None:
            raise ValidationFailed.on(
                "body.location_name", "Coordinates need a location name.", "missing"
            )
        merged["latitude"] = merged["longitude"] = None
    _check_edited_shape(post, merged, max_length)
    visibility = changes.get("visibility", post.visibility)
    audience = await _edited_audience(session, post, visibility, refs)
    text_changed = any(merged[name] != getattr(post, name) for name in _TEXT_FIELDS)
    audience_changed = visibility is not post.visibility or audience is not None
    if text_changed and post.status is PostStatus.PUBLISHED:
        _keep_revision(session, post, now)
    content_changed = merged["content"] != post.content
    for name, value in {**merged, **changes}.items():
        setattr(post, name, value)
    if audience is not None or visibility is not Visibility.CUSTOM:
        await repository.replace_audience(session, post.id, audience or ())
    await session.flush()
    if policy.is_live(post, now):
        await _after_live_edit(session, post, now, content_changed, audience_changed)
    forget_presented(session, post.id)
    return post


def _check_edited_shape(post: Post, merged: dict[str, Any], max_length: int) -> None:
    has_parts = post.type in FITTING_MEDIA or post.type is PostType.POLL
    check_content(
        merged["content"],
        max_length=max_length,
        may_be_empty=has_parts or post.shared_post_id is not None,
    )
    check_link(post.type, merged["link_url"])
    check_location(merged["location_name"], merged["latitude"], merged["longitude"])


async def _edited_audience(
    session: AsyncSession, post: Post, visibility: Visibility, refs: list[str] | None
) -> set[uuid.UUID] | None:
    """The new custom audience, or None to keep it (or to clear it for other visibilities)."""
    if visibility is Visibility.CUSTOM and refs is None:
        if post.visibility is Visibility.CUSTOM:
            return None  # the same list
        raise ValidationFailed.on(
            "body.audience", "A custom post needs the list of who may see it.", "missing"
        )
    return await resolve_audience(session, post.author_id, visibility, refs)


def _keep_revision(session: AsyncSession, post: Post, now: datetime) -> None:
    repository.add_revision(
        session,
        PostRevision(
            post_id=post.id,
            content=post.content,
            location_name=post.location_name,
            link_url=post.link_url,
            written_at=post.edited_at or post.published_at or post.created_at,
            replaced_at=now,
        ),
    )
    post.is_edited = True
    post.edited_at = now


async def _after_live_edit(
    session: AsyncSession,
    post: Post,
    now: datetime,
    content_changed: bool,
    audience_changed: bool,
) -> None:
    if content_changed:
        for listener in events.hashtag_listeners():
            await listener.replace_post_topics(session, post.id, extract_hashtags(post.content))
    if content_changed or audience_changed:
        await _link_mentions(session, post, now)
    record_event(session, events.POST_EDITED, events.about(post))


async def list_revisions(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID, page: PageRequest
) -> Page[RevisionOut]:
    """Previous versions of a post, newest first, for whoever may see the post."""
    post = await get_visible_post_or_404(session, viewer_id, post_id)
    statement = repository.revisions_statement(post.id)
    rows, cursor = await paginate_by_id(session, statement, PostRevision.id, page)
    return Page(
        items=[
            RevisionOut(
                id=row.id,
                content=row.content,
                location_name=row.location_name,
                link_url=row.link_url,
                written_at=row.written_at,
                replaced_at=row.replaced_at,
            )
            for row in rows
        ],
        next_cursor=cursor,
    )


# --- life cycle: publish, schedule, archive, delete


def counts_as_post(post: Post) -> bool:
    """Whether ``posts_count`` includes the post: published, not archived, not deleted."""
    return (
        post.status is PostStatus.PUBLISHED and post.archived_at is None and post.deleted_at is None
    )


async def publish_post(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    publish_at: datetime | None,
) -> Post:
    """Publish a draft or scheduled post now, or (re)schedule it for ``publish_at``."""
    now = utcnow()
    post = await _own_post_for_update(session, viewer_id, post_id, now)
    if post.status is PostStatus.PUBLISHED:
        raise AlreadyPublished("This post is already published.")
    if publish_at is not None:
        check_future("body.publish_at", publish_at, now)
    poll = await repository.get_poll(session, post.id)
    if poll is not None:
        check_poll_closing(poll[0].closes_at, publish_at or now, "body.publish_at")
    if publish_at is not None:
        post.status, post.published_at = PostStatus.SCHEDULED, publish_at
        await session.flush()
    else:
        await _publish(session, post, now)
    forget_presented(session, post.id)
    return post


async def _publish(session: AsyncSession, post: Post, now: datetime) -> None:
    post.status, post.published_at = PostStatus.PUBLISHED, now
    await session.flush()
    forget_presented(session, post.id)
    await _went_live(session, post, now)


async def due_post_ids(session: AsyncSession, now: datetime) -> list[uuid.UUID]:
    """A batch of scheduled posts whose time has come (for the scheduler)."""
    return await repository.due_scheduled_post_ids(session, now, PUBLISH_BATCH_SIZE)


async def publish_if_due(session: AsyncSession, post_id: uuid.UUID, now: datetime) -> bool:
    """Publish one scheduled post if it is still scheduled and due; whether it was.

    Idempotent and safe with several schedulers: the row is locked, and a row another
    process holds is skipped (that process is publishing it). One post per transaction keeps
    the locks it takes (the author's counters, then topics in order) the same as a new post's,
    so the scheduler cannot deadlock with authors posting at the same time.
    """
    post = await repository.lock_due_scheduled_post(session, post_id, now)
    if post is None:
        return False
    await _publish(session, post, now)
    return True


async def archive_post(session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    """Hide a published post from everybody but its author (idempotent)."""
    now = utcnow()
    post = await _own_post_for_update(session, viewer_id, post_id, now)
    if post.status is not PostStatus.PUBLISHED:
        raise PostNotPublished("Only published posts can be archived.")
    if post.archived_at is None:
        post.archived_at = now
        await session.flush()
        await social.adjust_posts_count(session, post.author_id, -1)
    forget_presented(session, post.id)
    return post


async def unarchive_post(session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID) -> Post:
    """Show an archived post again (idempotent)."""
    now = utcnow()
    post = await _own_post_for_update(session, viewer_id, post_id, now)
    if post.archived_at is not None:
        post.archived_at = None
        await session.flush()
        await social.adjust_posts_count(session, post.author_id, +1)
    forget_presented(session, post.id)
    return post


async def delete_post(session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID) -> None:
    """Soft-delete the author's post: it disappears for everybody else at once."""
    now = utcnow()
    post = await _own_post_for_update(session, viewer_id, post_id, now)
    counted = counts_as_post(post)
    post.deleted_at = now
    await session.flush()
    # The original's counter first, then the author's: the order a share takes them in.
    forget_presented(session, post.id)
    if post.shared_post_id is not None:
        await repository.add_to_counts(session, post.shared_post_id, share_count=-1)
        forget_presented(session, post.shared_post_id)
    if counted:
        await social.adjust_posts_count(session, post.author_id, -1)
    for listener in events.hashtag_listeners():
        await listener.detach_post_topics(session, post.id)
    record_event(session, events.POST_DELETED, events.about(post))


# --- shares


async def share_post(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    body: ShareCreate,
    *,
    max_length: int,
) -> Post:
    """Share a post the viewer may see (a share of a share shares its original)."""
    now = utcnow()
    original = await _shareable_original(session, viewer_id, post_id, now)
    check_content(body.content, max_length=max_length, may_be_empty=True)
    audience = await resolve_audience(session, viewer_id, body.visibility, body.audience)
    share = Post(
        author_id=viewer_id,
        type=PostType.TEXT,
        content=body.content,
        visibility=body.visibility,
        status=PostStatus.PUBLISHED,
        published_at=now,
        allow_reactions=body.allow_reactions,
        comment_permission=body.comment_permission,
        shared_post_id=original.id,
    )
    repository.add_post(session, share)
    await session.flush()
    await _add_parts(session, share, (), None, audience)
    await repository.add_to_counts(session, original.id, share_count=+1)
    await _went_live(session, share, now)
    record_event(session, events.POST_SHARED, events.shared(share, original))
    forget_presented(session, original.id)
    return share


async def _shareable_original(
    session: AsyncSession, viewer_id: uuid.UUID, post_id: uuid.UUID, now: datetime
) -> Post:
    post = await get_visible_post_or_404(session, viewer_id, post_id)
    if post.shared_post_id is not None:
        original = await repository.get_visible_post(session, viewer_id, post.shared_post_id, now)
        if original is None:
            raise PostNotFound()
        post = original
    if not policy.is_live(post, now):
        raise PostNotPublished("Only published posts can be shared.")
    return post


# --- polls


async def vote_in_poll(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    option_ids: Sequence[uuid.UUID],
) -> PollOut:
    """Vote, or replace the viewer's vote while the poll is open."""
    now = utcnow()
    post = await get_visible_post_or_404(session, viewer_id, post_id)
    if not policy.is_live(post, now):
        raise PostNotPublished("Votes open when the post is published.")
    poll, options = await _poll_or_404(session, post.id)
    if poll.closes_at is not None and poll.closes_at <= now:
        raise PollClosed("This poll is closed.")
    chosen = _check_choice(poll, options, option_ids)
    await _replace_votes(session, poll, viewer_id, chosen)
    return await get_poll_results(session, viewer_id, post.id, now=now, post=post)


async def _replace_votes(
    session: AsyncSession, poll: Poll, user_id: uuid.UUID, chosen: Sequence[PollOption]
) -> None:
    """Swap the user's votes for ``chosen``. Counts move only for rows really deleted or
    inserted (a concurrent vote of the same user loses on the ``slot`` constraint), and rows
    are locked in one fixed order (slots, then options by id) so concurrent voters cannot
    deadlock each other."""
    deltas: dict[uuid.UUID, int] = {}
    for option_id in await repository.delete_votes(session, poll.post_id, user_id):
        deltas[option_id] = deltas.get(option_id, 0) - 1
    for option in sorted(chosen, key=lambda option: option.position):
        slot = option.position if poll.allows_multiple else 0
        if await repository.insert_vote(session, poll.post_id, option.id, user_id, slot):
            deltas[option.id] = deltas.get(option.id, 0) + 1
    for option_id in sorted(deltas):
        if deltas[option_id]:
            await repository.add_to_votes_count(session, option_id, deltas[option_id])
    forget_presented(session, poll.post_id)


def _check_choice(
    poll: Poll, options: Sequence[PollOption], option_ids: Sequence[uuid.UUID]
) -> list[PollOption]:
    by_id = {option.id: option for option in options}
    if len(set(option_ids)) != len(option_ids):
        raise ValidationFailed.on("body.option_ids", "Choose each option once.", "duplicate")
    if any(option_id not in by_id for option_id in option_ids):
        raise ValidationFailed.on(
            "body.option_ids", "Not an option of this poll.", "unknown_option"
        )
    if not poll.allows_multiple and len(option_ids) != 1:
        raise ValidationFailed.on(
            "body.option_ids", "This poll takes exactly one choice.", "single_choice"
        )
    return [by_id[option_id] for option_id in option_ids]


async def _poll_or_404(session: AsyncSession, post_id: uuid.UUID) -> tuple[Poll, list[PollOption]]:
    found = await repository.get_poll(session, post_id)
    if found is None:
        raise PollNotFound("This post has no poll.")
    return found


async def get_poll_results(
    session: AsyncSession,
    viewer_id: uuid.UUID | None,
    post_id: uuid.UUID,
    *,
    now: datetime | None = None,
    post: Post | None = None,
) -> PollOut:
    post = post or await get_visible_post_or_404(session, viewer_id, post_id)
    poll, options = await _poll_or_404(session, post.id)
    choices = (
        (await repository.votes_by(session, viewer_id, [post.id])).get(post.id, [])
        if viewer_id is not None
        else []
    )
    return _poll_out(poll, options, choices, now or utcnow())


def _poll_out(
    poll: Poll, options: Sequence[PollOption], choices: Sequence[uuid.UUID], now: datetime
) -> PollOut:
    return PollOut(
        allows_multiple=poll.allows_multiple,
        closes_at=poll.closes_at,
        is_closed=poll.closes_at is not None and poll.closes_at <= now,
        options=[
            PollOptionOut(id=option.id, text=option.text, votes_count=option.votes_count)
            for option in options
        ],
        total_votes=sum(option.votes_count for option in options),
        viewer_choices=list(choices),
    )


# --- views


async def record_view(
    session: AsyncSession,
    platform: Platform,
    viewer_id: uuid.UUID | None,
    post_id: uuid.UUID,
    client_ip: str,
) -> None:
    """Count a view of a visible post, once per viewer per ``post_view_window_seconds``.

    The viewer is the account when signed in, else the network source (``view_source``). The
    author's own views do not count. Repeats answer the same and change nothing; "seen in this
    window" lives in the limiter's store (Redis or process memory), never in SQL.
    """
    post = await get_visible_post_or_404(session, viewer_id, post_id)
    if viewer_id == post.author_id or not policy.is_live(post, utcnow()):
        return
    settings = platform.settings
    viewer = (
        str(viewer_id) if viewer_id is not None else view_source(settings.secret_key, client_ip)
    )
    window = settings.post_view_window_seconds
    if await platform.limiter.first_in_window("post-view", f"{post.id}:{viewer}", window):
        await repository.add_to_counts(session, post.id, view_count=+1)


def view_source(secret_key: str, ip: str) -> str:
    """An anonymous viewer's key: a keyed hash of the source address, never the address.

    IPv6 counts by its /64 (one subscriber's network); the user agent is left out, as the
    caller chooses it freely and could re-count a view by changing it.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        source = ip
    else:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
            source = str(ipaddress.ip_network(f"{address}/64", strict=False))
        elif isinstance(address, ipaddress.IPv6Address):
            source = str(address.ipv4_mapped)
        else:
            source = str(address)
    digest = hmac.new(secret_key.encode(), b"post-view\0" + source.encode(), hashlib.sha256)
    return "anon:" + digest.hexdigest()[:32]


# --- lists


async def get_author_id_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, username: str
) -> uuid.UUID:
    """The author's id, unless the profile is missing or the viewer may not see its owner."""
    profile = await profiles.get_profile_by_username(session, username)
    if profile is None or not await social.may_see_profile(session, viewer_id, profile):
        raise AuthorNotFound()
    return profile.user_id


def timeline_cursor(last: Any) -> str:
    """The cursor after ``last`` (a ``Post`` or a row with its ``id`` and ``published_at``)
    in a newest-published-first list of live posts."""
    assert last.published_at is not None
    return encode_cursor({"published_at": last.published_at.isoformat(), "id": str(last.id)})


def decode_timeline_cursor(cursor: str) -> repository.TimelineKey:
    """The (published_at, id) key a ``timeline_cursor`` holds; 422 ``invalid_cursor`` if not."""
    values = decode_cursor(cursor)
    try:
        published_at = datetime.fromisoformat(str(values["published_at"]))
        if published_at.tzinfo is None:
            raise ValueError("naive")
        return published_at, uuid.UUID(str(values["id"]))
    except (KeyError, ValueError) as exc:
        raise malformed_cursor() from exc


async def list_own_posts(
    session: AsyncSession, viewer_id: uuid.UUID, state: str, page: PageRequest
) -> tuple[list[Post], str | None]:
    """The viewer's drafts, scheduled or archived posts, newest first, and the next cursor."""
    statement = repository.own_posts_statement(viewer_id, state)
    rows, cursor = await paginate_by_id(session, statement, Post.id, page)
    return list(rows), cursor


# --- the read side's cache of presented posts


def post_cache_key(post_id: uuid.UUID) -> str:
    """Where ``timeline`` keeps the post's presented, viewer-independent body."""
    return f"post:{post_id}"


def forget_presented(session: AsyncSession, *post_ids: uuid.UUID) -> None:
    """The posts' presented bodies are stale once this transaction commits (edits, life
    cycle, counts, votes, reactions): the very next read loads them again."""
    invalidate_after_commit(session, *(post_cache_key(post_id) for post_id in post_ids))
