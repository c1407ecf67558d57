"""May viewer V see person P? The one people policy, written twice: as a Python predicate for a
single person and as a SQL clause for lists. Every module that lists people or their content
(followers, reactions, comments, mentions, notifications, authors, members) asks here instead
of combining "hidden" and "blocked" by hand.

The rule:
- The viewer always sees themselves.
- Nobody else sees a person whose profile is hidden (account deactivated, deleted or
  suspended: ``Profile.is_hidden`` covers all three).
- A signed-in viewer does not see a person when either of them has blocked the other (blocks
  hide both ways, everywhere).
- An anonymous viewer (None) is only subject to the hidden part.

Content rules (may V see this post, this message) build on this one: ``posts.policy`` for posts
and what inherits their visibility; messaging keeps a hidden sender's messages but not a
blocked one's, so it takes ``blocked_either_way_clause`` alone.

The clauses are correlated ``EXISTS`` over the outer query's person column. The viewer is a
value or, for statements built once, a bound parameter (``bindparam("viewer_id")``); the only
shape that varies is anonymous or not, so callers cache at most two statements.
"""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement, and_, exists, not_, or_
from sqlalchemy.orm import InstrumentedAttribute

from townsquare.modules.profiles import repository as profiles
from townsquare.modules.social.models import Block

#: The viewer: a value, or a bound parameter of a statement built once and reused.
ViewerRef = uuid.UUID | ColumnElement[uuid.UUID]
#: The person: a column of the outer query (or a bound parameter).
PersonColumn = ColumnElement[uuid.UUID] | InstrumentedAttribute[uuid.UUID]


def may_find_person(viewer_id: uuid.UUID | None, person_id: uuid.UUID, *, is_hidden: bool) -> bool:
    """The hidden part alone: for the target of an action whose block has an answer of its
    own (unblocking must reach the person blocked; a follow is refused as ``blocked``, not as
    a missing user) and for lists that show blocked people (my blocks)."""
    return not is_hidden or (viewer_id is not None and viewer_id == person_id)


def may_see_person(
    viewer_id: uuid.UUID | None,
    person_id: uuid.UUID,
    *,
    is_hidden: bool,
    blocked_either_way: bool,
) -> bool:
    """The predicate, from the facts it needs (``blocked_either_way`` does not apply to an
    anonymous viewer, who is in no block, nor to oneself)."""
    if viewer_id is None or viewer_id == person_id:
        return may_find_person(viewer_id, person_id, is_hidden=is_hidden)
    return not is_hidden and not blocked_either_way


def findable_person_clause(
    viewer_id: ViewerRef | None, person: PersonColumn
) -> ColumnElement[bool]:
    """``may_find_person`` as a WHERE clause over the ``person`` column."""
    shown = not_(profiles.hidden_clause(person))
    if viewer_id is None:
        return shown
    return or_(person == viewer_id, shown)


def visible_person_clause(viewer_id: ViewerRef | None, person: PersonColumn) -> ColumnElement[bool]:
    """``may_see_person`` as a WHERE clause over the ``person`` column."""
    findable = findable_person_clause(viewer_id, person)
    if viewer_id is None:
        return findable
    return and_(findable, not_(blocked_either_way_clause(viewer_id, person)))


def blocked_either_way_clause(a: ViewerRef, b: PersonColumn | uuid.UUID) -> ColumnElement[bool]:
    """Either of the two has blocked the other: the block part alone, for rules that keep a
    hidden person's content (messaging keeps a deactivated member's messages)."""
    return exists().where(
        or_(
            and_(Block.blocker_id == a, Block.blocked_id == b),
            and_(Block.blocker_id == b, Block.blocked_id == a),
        )
    )
