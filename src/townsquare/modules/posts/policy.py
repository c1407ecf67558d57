"""May viewer V see post P? The one answer, written twice: as a Python predicate for a single
post and as a SQL filter for lists. Every read path of posts (and of what inherits a post's
visibility: comments, reactions, shares, bookmarks, topic pages, mentions) goes through here.

The rules:
- The author always sees their own posts, in every state.
- Anyone else sees a post only if it is published (publication time reached), not deleted, not
  archived, they may see its author (the people policy, ``social.policy``: the author's profile
  is not hidden and neither has blocked the other), and the post's audience includes them:
  - public: everyone, except that a private account's public posts need an approved follow
    (or a friendship);
  - friends: the author's friends;
  - close friends: those on the author's close-friends list;
  - custom: the users listed for that post;
  - only me: nobody else.
- Anonymous viewers see public posts of public accounts only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, not_, or_

from townsquare.modules.posts.models import Post, PostAudience, PostStatus, Visibility
from townsquare.modules.profiles import repository as profiles
from townsquare.modules.social import policy as people
from townsquare.modules.social import repository as social
from townsquare.modules.social.repository import Relation


@dataclass(frozen=True)
class AuthorFacts:
    is_hidden: bool
    is_private: bool


def is_live(post: Post, now: datetime) -> bool:
    """Published, publication time reached, not deleted or archived."""
    return (
        post.status is PostStatus.PUBLISHED
        and post.published_at is not None
        and post.published_at <= now
        and post.deleted_at is None
        and post.archived_at is None
    )


def may_see_post(
    viewer_id: uuid.UUID | None,
    post: Post,
    author: AuthorFacts,
    relation: Relation | None,
    in_custom_audience: bool,
    now: datetime,
) -> bool:
    """The predicate. ``relation`` is the viewer's relation to the author (None: anonymous)."""
    if viewer_id is not None and viewer_id == post.author_id:
        return True
    if not is_live(post, now):
        return False
    blocked = relation is not None and relation.blocked
    if not people.may_see_person(
        viewer_id, post.author_id, is_hidden=author.is_hidden, blocked_either_way=blocked
    ):
        return False
    if viewer_id is None or relation is None:
        return post.visibility is Visibility.PUBLIC and not author.is_private
    match post.visibility:
        case Visibility.PUBLIC:
            return not author.is_private or relation.follows or relation.is_friend
        case Visibility.FRIENDS:
            return relation.is_friend
        case Visibility.CLOSE_FRIENDS:
            return relation.is_close_friend
        case Visibility.CUSTOM:
            return in_custom_audience
        case _:
            return False


#: A viewer id or a moment: a value, or a bound parameter of a statement built once and reused
#: (hot lists build their statement once per shape; see ``feed.repository``).
ViewerRef = uuid.UUID | ColumnElement[uuid.UUID]
MomentRef = datetime | ColumnElement[datetime]


def live_clause(now: MomentRef) -> ColumnElement[bool]:
    return and_(
        Post.status == PostStatus.PUBLISHED,
        Post.published_at <= now,
        Post.deleted_at.is_(None),
        Post.archived_at.is_(None),
    )


def visible_posts_clause(viewer_id: ViewerRef | None, now: MomentRef) -> ColumnElement[bool]:
    """The same rules as ``may_see_post``, as a WHERE clause over ``Post``."""
    author = Post.author_id
    shown = and_(live_clause(now), people.visible_person_clause(viewer_id, author))
    if viewer_id is None:
        return and_(
            shown, Post.visibility == Visibility.PUBLIC, not_(profiles.private_clause(author))
        )
    audience = or_(
        and_(
            Post.visibility == Visibility.PUBLIC,
            or_(
                not_(profiles.private_clause(author)),
                social.follows_clause(viewer_id, author),
                social.are_friends_clause(author, viewer_id),
            ),
        ),
        and_(Post.visibility == Visibility.FRIENDS, social.are_friends_clause(author, viewer_id)),
        and_(
            Post.visibility == Visibility.CLOSE_FRIENDS,
            social.is_close_friend_clause(author, viewer_id),
        ),
        and_(
            Post.visibility == Visibility.CUSTOM,
            exists().where(PostAudience.post_id == Post.id, PostAudience.user_id == viewer_id),
        ),
    )
    return or_(
        author == viewer_id,
        and_(shown, audience),
    )


def undeleted_visible_post_clause(
    viewer_id: ViewerRef | None, now: MomentRef, post_id: ColumnElement[uuid.UUID]
) -> ColumnElement[bool]:
    """The post ``post_id`` (a column of the caller's query) is not deleted and the viewer may
    see it: for other modules' rules that follow a post (notifications about it) without naming
    the posts table. Unlike ``visible_posts_clause``, the author's own deleted post is out too."""
    return exists().where(
        Post.id == post_id, Post.deleted_at.is_(None), visible_posts_clause(viewer_id, now)
    )
