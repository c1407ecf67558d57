"""Use cases of comments. Services flush; the edge commits.

Comments inherit their post's visibility: every use case first finds the post through
``posts.service.get_visible_post_or_404``, and a viewer who may not see the post gets the same
404 as for a comment that does not exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.config import Settings
from townsquare.kit.errors import Conflict, Forbidden, NotFound, ValidationFailed
from townsquare.kit.events import record_event
from townsquare.kit.models import utcnow
from townsquare.kit.pagination import Page, PageRequest
from townsquare.kit.text import extract_mentions
from townsquare.modules.comments import events, policy, repository
from townsquare.modules.comments.models import Comment
from townsquare.modules.comments.schemas import CommentOut
from townsquare.modules.posts import service as posts
from townsquare.modules.posts.models import CommentPermission, Post
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.profiles import service as profiles_service
from townsquare.modules.profiles.schemas import PersonCard
from townsquare.modules.reactions import repository as reactions
from townsquare.modules.reactions.models import TargetType
from townsquare.modules.social import repository as social

#: Mentions linked per comment at most (the rest stay plain text).
MAX_MENTIONS = 20


class CommentNotFound(NotFound):
    code = "comment_not_found"


class CommentsNotAllowed(Forbidden):
    code = "comments_not_allowed"


class CommentDeleted(Conflict):
    code = "comment_deleted"


class NotCommentAuthor(Forbidden):
    code = "not_comment_author"


class CommentRemovalForbidden(Forbidden):
    code = "comment_removal_forbidden"


@dataclass(frozen=True)
class VisibleComment:
    comment: Comment
    post: Post


def _check_length(content: str, settings: Settings) -> None:
    if len(content) > settings.comment_max_length:
        raise ValidationFailed.on(
            "body.content",
            f"At most {settings.comment_max_length} characters.",
            "string_too_long",
        )


async def _visible_post_or_comment_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID
) -> Post:
    try:
        return await posts.get_visible_post_or_404(session, viewer_id, post_id)
    except NotFound as exc:  # a hidden post hides its comments: same answer as a missing one
        raise CommentNotFound() from exc


async def get_visible_comment_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID
) -> VisibleComment:
    """The comment and its post, if the viewer may see the post and the comment's author."""
    comment = await repository.get_comment_shown_to(session, viewer_id, comment_id)
    if comment is None:
        raise CommentNotFound()
    post = await _visible_post_or_comment_404(session, viewer_id, comment.post_id)
    return VisibleComment(comment, post)


async def get_live_comment_or_404(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID
) -> VisibleComment:
    """A visible comment that is not deleted (to reply or react to); 409 if deleted."""
    found = await get_visible_comment_or_404(session, viewer_id, comment_id)
    if found.comment.deleted_at is not None:
        raise CommentDeleted("This comment was deleted.")
    return found


async def _check_may_comment(session: AsyncSession, viewer_id: uuid.UUID, post: Post) -> None:
    is_friend = (
        post.comment_permission is CommentPermission.FRIENDS
        and viewer_id != post.author_id
        and await social.are_friends(session, viewer_id, post.author_id)
    )
    if not policy.may_comment(viewer_id, post.author_id, post.comment_permission, is_friend):
        raise CommentsNotAllowed("The author does not take comments from you on this post.")


async def add_comment(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    post_id: uuid.UUID,
    content: str,
) -> CommentOut:
    """A top-level comment (depth 0) on a post."""
    _check_length(content, settings)
    post = await posts.get_visible_post_or_404(session, viewer_id, post_id)
    await _check_may_comment(session, viewer_id, post)
    return await _publish(session, viewer_id, post, content, parent=None, replied_to=None)


async def reply_to_comment(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    comment_id: uuid.UUID,
    content: str,
) -> CommentOut:
    """A reply, placed by ``policy.place_reply``; the post's comment permission applies."""
    _check_length(content, settings)
    found = await get_live_comment_or_404(session, viewer_id, comment_id)
    await _check_may_comment(session, viewer_id, found.post)
    placement = policy.place_reply(found.comment)
    parent: Comment | None = found.comment
    if placement.parent_id != found.comment.id:  # answering a depth-3 comment
        parent = await repository.get_comment(session, placement.parent_id)
    if parent is None:  # cannot happen: a comment's parent is deleted only with it
        raise CommentNotFound()
    return await _publish(
        session,
        viewer_id,
        found.post,
        content,
        parent=parent,
        replied_to=found.comment,
        depth=placement.depth,
    )


async def _publish(
    session: AsyncSession,
    viewer_id: uuid.UUID,
    post: Post,
    content: str,
    *,
    parent: Comment | None,
    replied_to: Comment | None,
    depth: int = 0,
) -> CommentOut:
    comment = repository.add_comment(
        session,
        post_id=post.id,
        author_id=viewer_id,
        parent_id=parent.id if parent else None,
        depth=depth,
        content=content,
    )
    await session.flush()
    # Counters in SQL, in this transaction: exact under concurrent comments.
    if parent is not None:
        await repository.add_to_replies_count(session, parent.id, 1)
    await posts.adjust_comment_count(session, post.id, 1)
    record_event(
        session, events.COMMENT_CREATED, events.created(comment, post.author_id, parent, replied_to)
    )
    await _link_mentions(session, comment, post, new=True)
    # Just created: no reactions yet, none of them the viewer's; no need to ask the database
    # (this runs while a SQLite writer holds the write lock).
    hide_metrics = await profiles_service.hides_metrics(session, viewer_id)
    author = (await profiles_service.get_cards(session, {viewer_id})).get(viewer_id)
    return _view(comment, author, {}, None, hide_metrics)


async def _link_mentions(
    session: AsyncSession, comment: Comment, post: Post, *, new: bool = False
) -> None:
    """Link the @usernames of users who may see the post (others stay plain text).

    ``new``: the comment was just created, so it has no mentions to keep or drop yet."""
    usernames = extract_mentions(comment.content)[:MAX_MENTIONS]
    if new and not usernames:
        return
    user_ids = await profiles.user_ids_for_usernames(session, usernames) if usernames else {}
    candidates = set(user_ids.values()) - {comment.author_id}
    allowed = await posts.users_who_may_see_post(session, post, candidates, utcnow())
    added = await repository.replace_mentions(session, comment.id, allowed)
    if added:
        record_event(session, events.COMMENT_MENTIONED, events.mentioned(comment, added))


async def edit_comment(
    session: AsyncSession,
    settings: Settings,
    viewer_id: uuid.UUID,
    comment_id: uuid.UUID,
    content: str,
) -> CommentOut:
    _check_length(content, settings)
    found = await get_visible_comment_or_404(session, viewer_id, comment_id)
    comment = found.comment
    if not policy.may_edit(viewer_id, comment):
        raise NotCommentAuthor("Only the comment's author may edit it.")
    if comment.deleted_at is not None:
        raise CommentDeleted("This comment was deleted.")
    if content != comment.content:
        comment.content = content
        comment.is_edited = True
        comment.edited_at = utcnow()
        await session.flush()
        await _link_mentions(session, comment, found.post)
    return (await _views(session, viewer_id, [comment]))[0]


async def remove_comment(
    session: AsyncSession, viewer_id: uuid.UUID, comment_id: uuid.UUID
) -> None:
    """Soft delete by the comment's author or the post's author; idempotent.

    The row stays so the thread keeps its shape (replies remain; the parent's
    ``replies_count`` is unchanged); the post's ``comment_count`` drops once.
    """
    found = await _comment_for_removal(session, viewer_id, comment_id)
    if not policy.may_remove(viewer_id, found.comment, found.post.author_id):
        raise CommentRemovalForbidden("Only the comment's or the post's author may remove it.")
    if await repository.mark_deleted(session, found.comment.id, utcnow()):
        await posts.adjust_comment_count(session, found.post.id, -1)
        record_event(session, events.COMMENT_DELETED, events.deleted(found.comment, viewer_id))


async def _comment_for_removal(
    session: AsyncSession, viewer_id: uuid.UUID, comment_id: uuid.UUID
) -> VisibleComment:
    # The post's author may remove any comment on their post, even from someone they blocked
    # (whose comments they no longer see, but others still do).
    comment = await repository.get_comment(session, comment_id)
    if comment is None:
        raise CommentNotFound()
    post = await _visible_post_or_comment_404(session, viewer_id, comment.post_id)
    if viewer_id == post.author_id:
        return VisibleComment(comment, post)
    return await get_visible_comment_or_404(session, viewer_id, comment_id)


async def view_comment(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID
) -> CommentOut:
    found = await get_visible_comment_or_404(session, viewer_id, comment_id)
    return (await _views(session, viewer_id, [found.comment]))[0]


async def list_post_comments(
    session: AsyncSession, viewer_id: uuid.UUID | None, post_id: uuid.UUID, page: PageRequest
) -> Page[CommentOut]:
    """The post's top-level comments, oldest first."""
    post = await posts.get_visible_post_or_404(session, viewer_id, post_id)
    items, cursor = await repository.list_thread_level(session, viewer_id, post.id, None, page)
    return Page(items=await _views(session, viewer_id, items), next_cursor=cursor)


async def list_replies(
    session: AsyncSession, viewer_id: uuid.UUID | None, comment_id: uuid.UUID, page: PageRequest
) -> Page[CommentOut]:
    """Replies attached to a comment, oldest first (a deleted comment's replies too)."""
    found = await get_visible_comment_or_404(session, viewer_id, comment_id)
    items, cursor = await repository.list_thread_level(
        session, viewer_id, found.post.id, found.comment.id, page
    )
    return Page(items=await _views(session, viewer_id, items), next_cursor=cursor)


async def _views(
    session: AsyncSession, viewer_id: uuid.UUID | None, comments: Sequence[Comment]
) -> list[CommentOut]:
    """The comments as the viewer sees them, in a constant number of queries."""
    live = [c for c in comments if c.deleted_at is None]
    cards = await profiles_service.get_cards(session, {c.author_id for c in live})
    ids = [c.id for c in live]
    counts = await reactions.counts_for(session, TargetType.COMMENT, ids)
    mine = (
        await reactions.reactions_by(session, viewer_id, TargetType.COMMENT, ids)
        if viewer_id
        else {}
    )
    hide_metrics = await profiles_service.hides_metrics(session, viewer_id)
    return [
        _view(c, cards.get(c.author_id), counts.get(c.id, {}), mine.get(c.id), hide_metrics)
        for c in comments
    ]


def _view(
    comment: Comment,
    author: PersonCard | None,
    counts: dict[str, int],
    my_reaction: str | None,
    hide_metrics: bool,
) -> CommentOut:
    """A deleted comment keeps only its place: no text, no author, no reactions."""
    deleted = comment.deleted_at is not None
    return CommentOut(
        id=comment.id,
        post_id=comment.post_id,
        parent_id=comment.parent_id,
        depth=comment.depth,
        author=None if deleted else author,
        content="" if deleted else comment.content,
        deleted=deleted,
        is_edited=comment.is_edited and not deleted,
        edited_at=None if deleted else comment.edited_at,
        created_at=comment.created_at,
        replies_count=comment.replies_count,
        reactions=None if hide_metrics else ({} if deleted else counts),
        my_reaction=None if deleted else my_reaction,
    )
