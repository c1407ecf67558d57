"""Who may comment, edit and remove comments, and where a reply lands in the thread.

Seeing comments is not decided here: comments inherit their post's visibility
(``posts.policy``), and blocks or hidden accounts hide their authors' comments.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from townsquare.modules.comments.models import MAX_DEPTH, Comment
from townsquare.modules.posts.models import CommentPermission


def may_comment(
    viewer_id: uuid.UUID,
    post_author_id: uuid.UUID,
    permission: CommentPermission,
    is_friend_of_author: bool,
) -> bool:
    """On a post the viewer may see. The author may always comment on their own post, even
    when it says ``nobody`` (the switch closes the conversation to others)."""
    if viewer_id == post_author_id:
        return True
    match permission:
        case CommentPermission.EVERYONE:
            return True
        case CommentPermission.FRIENDS:
            return is_friend_of_author
        case _:
            return False


def may_edit(viewer_id: uuid.UUID, comment: Comment) -> bool:
    return viewer_id == comment.author_id


def may_remove(viewer_id: uuid.UUID, comment: Comment, post_author_id: uuid.UUID) -> bool:
    """The comment's author, or the author of the post it is on."""
    return viewer_id in (comment.author_id, post_author_id)


@dataclass(frozen=True)
class Placement:
    parent_id: uuid.UUID
    depth: int


def place_reply(replied_to: Comment) -> Placement:
    """A reply goes one level below the comment it answers, down to depth 3; a reply to a
    depth-3 comment becomes its sibling (attached to the same parent, at depth 3)."""
    if replied_to.depth < MAX_DEPTH:
        return Placement(parent_id=replied_to.id, depth=replied_to.depth + 1)
    assert replied_to.parent_id is not None  # depth > 0 always has a parent
    return Placement(parent_id=replied_to.parent_id, depth=MAX_DEPTH)
