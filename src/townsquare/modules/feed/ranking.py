"""The ranked feed's score: recency, engagement and affinity (documented in docs/api.md).

    score = recency * (1 + engagement) * affinity

- recency    = 0.5 ^ (age in hours / 12): a post loses half its weight every 12 hours; age is
               measured from the moment the first page was asked for (``as_of``), so the pages
               of one scroll agree with each other.
- engagement = ln(1 + reactions + 2 * comments + 3 * shares): effort-weighted, with diminishing
               returns so one viral post cannot bury everything else.
- affinity   = 1 + 0.5 if the author is a friend
                 + 0.75 if the author is on the viewer's close-friends list
                 + 0.25 * ln(1 + the viewer's reactions and comments on the author's posts in
                   the last 30 days)
               (the viewer's own posts count as a friend's).
Ties break by newest id. Pure functions: no I/O, so the formula is tested by itself.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from datetime import datetime

HALF_LIFE_HOURS = 12.0
FRIEND_BOOST = 0.5
CLOSE_FRIEND_BOOST = 0.75
INTERACTION_WEIGHT = 0.25
INTERACTION_DAYS = 30


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    author_id: uuid.UUID
    published_at: datetime
    reactions: int
    comments: int
    shares: int


@dataclass(frozen=True)
class Affinity:
    is_friend: bool = False
    is_close_friend: bool = False
    interactions: int = 0

    @property
    def weight(self) -> float:
        return (
            1.0
            + (FRIEND_BOOST if self.is_friend else 0.0)
            + (CLOSE_FRIEND_BOOST if self.is_close_friend else 0.0)
            + INTERACTION_WEIGHT * math.log1p(self.interactions)
        )


def recency(published_at: datetime, as_of: datetime) -> float:
    age_hours = max((as_of - published_at).total_seconds(), 0.0) / 3600
    return float(0.5 ** (age_hours / HALF_LIFE_HOURS))


def engagement(candidate: Candidate) -> float:
    return math.log1p(candidate.reactions + 2 * candidate.comments + 3 * candidate.shares)


def score(candidate: Candidate, affinity: Affinity, as_of: datetime) -> float:
    return recency(candidate.published_at, as_of) * (1.0 + engagement(candidate)) * affinity.weight


def rank(
    candidates: list[Candidate], affinities: dict[uuid.UUID, Affinity], as_of: datetime
) -> list[tuple[float, Candidate]]:
    """Candidates with their scores, best first (ties: newest id first)."""
    scored = [(score(c, affinities.get(c.author_id, Affinity()), as_of), c) for c in candidates]
    scored.sort(key=lambda pair: (pair[0], pair[1].post_id), reverse=True)
    return scored
