"""The ranked feed's formula by itself (pure functions, no database)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from townsquare.modules.feed import ranking
from townsquare.modules.feed.ranking import Affinity, Candidate

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def candidate(
    hours_old: float, reactions: int = 0, comments: int = 0, shares: int = 0
) -> Candidate:
    return Candidate(
        post_id=uuid.uuid4(),
        author_id=uuid.uuid4(),
        published_at=NOW - timedelta(hours=hours_old),
        reactions=reactions,
        comments=comments,
        shares=shares,
    )


def test_recency_halves_every_twelve_hours() -> None:
    assert ranking.recency(NOW, NOW) == 1.0
    assert ranking.recency(NOW - timedelta(hours=12), NOW) == pytest.approx(0.5)
    assert ranking.recency(NOW - timedelta(hours=36), NOW) == pytest.approx(0.125)
    # A post "from the future" (clock skew) is not boosted beyond fresh.
    assert ranking.recency(NOW + timedelta(hours=1), NOW) == 1.0


def test_engagement_weighs_effort_with_diminishing_returns() -> None:
    assert ranking.engagement(candidate(0)) == 0.0
    assert ranking.engagement(candidate(0, reactions=1, comments=1, shares=1)) == pytest.approx(
        math.log(7)
    )
    ten, thousand = candidate(0, reactions=10), candidate(0, reactions=1000)
    assert ranking.engagement(thousand) < 3 * ranking.engagement(ten)


def test_affinity_boosts() -> None:
    assert Affinity().weight == 1.0
    assert Affinity(is_friend=True).weight == pytest.approx(1.5)
    assert Affinity(is_friend=True, is_close_friend=True).weight == pytest.approx(2.25)
    assert Affinity(interactions=math.e - 1).weight == pytest.approx(1.25)


def test_score_is_the_product() -> None:
    c = candidate(12, reactions=2)
    affinity = Affinity(is_friend=True)
    assert ranking.score(c, affinity, NOW) == pytest.approx(0.5 * (1 + math.log(3)) * 1.5)


def test_rank_orders_best_first_and_breaks_ties_by_newest_id() -> None:
    fresh_plain = candidate(0)
    old_popular = candidate(6, reactions=50, comments=10)
    stale = candidate(72, reactions=50)
    close = candidate(1)
    affinities = {close.author_id: Affinity(is_close_friend=True, interactions=20)}
    ranked = [c for _, c in ranking.rank([stale, fresh_plain, close, old_popular], affinities, NOW)]
    assert ranked == [old_popular, close, fresh_plain, stale]
    twin_a = Candidate(uuid.UUID(int=1), uuid.uuid4(), NOW, 0, 0, 0)
    twin_b = Candidate(uuid.UUID(int=2), uuid.uuid4(), NOW, 0, 0, 0)
    assert [c for _, c in ranking.rank([twin_a, twin_b], {}, NOW)] == [twin_b, twin_a]
