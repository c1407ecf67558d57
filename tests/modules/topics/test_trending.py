"""Trending: recent use against each topic's own baseline, recomputed by a periodic task."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest

from tests.fixtures.content import create_post
from tests.fixtures.content_topics import attach, create_tagged_post, set_usage, usage_of
from tests.fixtures.users import signed_in_user
from tests.modules.topics.helpers import all_pages, get_ok
from townsquare.modules.topics.tasks import refresh_trending

TODAY = datetime.now(UTC).date()
NOON = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)


@pytest.fixture(autouse=True)
def _dates_of_this_test() -> None:
    """Take "today" when each test starts, not when the module is imported: the suite runs for
    twenty minutes and may cross midnight, and writes made through the service (attaching a
    post) use the real date. On CI one did: its attachments counted for "tomorrow"."""
    global TODAY, NOON
    TODAY = datetime.now(UTC).date()
    NOON = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=12)


def day(offset: int) -> date:
    return TODAY - timedelta(days=offset)


def baseline(per_day: int) -> dict[date, int]:
    """``per_day`` uses on each of the 14 days before yesterday."""
    return {day(offset): per_day for offset in range(2, 16)}


async def _trending(client, headers=None):
    return {
        t["name"]: t["trending_score"] for t in await all_pages(client, "/topics/trending", headers)
    }


async def test_scores_compare_recent_use_with_each_topics_own_baseline(app, client):
    await set_usage(app, "surge", {**baseline(2), day(1): 2, day(0): 20})
    await set_usage(app, "steady", {**baseline(50), day(1): 50, day(0): 25})
    await set_usage(app, "newbie", {day(0): 4})
    await set_usage(app, "tiny", {day(0): 2})  # under the minimum volume
    await set_usage(app, "old", {**baseline(30)})  # nothing recent
    # Days outside the window count for nothing.
    await set_usage(app, "ancient", {day(16): 1000, day(0): 3})

    assert await refresh_trending(app.state.platform, NOON) >= 5
    scores = await _trending(client)
    # recent = today + yesterday x 1/2 (noon); score = recent / (baseline mean + 2).
    assert scores == {
        "surge": pytest.approx(21 / 4),
        "newbie": pytest.approx(4 / 2),
        "ancient": pytest.approx(3 / 2),
        "steady": pytest.approx(50 / 52),
    }
    ranked = await all_pages(client, "/topics/trending", limit=1)
    assert [t["name"] for t in ranked] == ["surge", "newbie", "ancient", "steady"]
    assert ranked[0]["display_name"] == "surge"
    assert ranked[0]["following"] is False

    # Idempotent: the same usage gives the same scores.
    await refresh_trending(app.state.platform, NOON)
    assert await _trending(client) == scores


async def test_yesterday_fades_over_the_day(app, client):
    await set_usage(app, "fading", {day(1): 20})
    midnight = NOON - timedelta(hours=12)
    await refresh_trending(app.state.platform, midnight)
    assert (await _trending(client))["fading"] == pytest.approx(20 / 2)
    await refresh_trending(app.state.platform, NOON + timedelta(hours=6))
    assert (await _trending(client))["fading"] == pytest.approx(5 / 2)
    # Late in the day yesterday's share falls under the minimum volume: no longer trending.
    await refresh_trending(app.state.platform, NOON + timedelta(hours=11))
    assert "fading" not in await _trending(client)


async def test_topics_stop_trending_and_old_usage_is_pruned(app, client):
    await set_usage(app, "flash", {day(0): 9, day(40): 5})
    await refresh_trending(app.state.platform, NOON)
    assert "flash" in await _trending(client)
    assert day(40) not in await usage_of(app, "flash")  # older than 30 days: pruned

    await set_usage(app, "flash", {})
    await refresh_trending(app.state.platform, NOON)
    assert await _trending(client) == {}
    assert (await get_ok(client, "/topics/flash"))["post_count"] == 0


async def test_posts_feed_trending(app, client):
    author = await signed_in_user(client)
    viewer = await signed_in_user(client)
    for i in range(3):
        await create_tagged_post(app, author.user_id, f"#Breaking news {i}")
    await create_tagged_post(app, author.user_id, "#quiet")
    await client.post("/api/v1/topics/breaking/follow", headers=viewer.headers)
    await refresh_trending(app.state.platform)
    page = await get_ok(client, "/topics/trending", viewer.headers)
    assert [t["name"] for t in page["items"]] == ["breaking"]
    assert page["items"][0]["display_name"] == "Breaking"
    assert page["items"][0]["following"] is True
    assert page["items"][0]["trending_score"] > 0


async def test_bad_trending_cursor(client):
    response = await client.get("/api/v1/topics/trending", params={"cursor": "eyJzY29yZSI6IngifQ"})
    assert response.status_code == 422


async def test_refresh_runs_safely_in_several_processes_at_once(app, client, backend):
    if backend.name != "postgres":
        pytest.skip("SQLite serializes writers; the race needs PostgreSQL")
    author = await signed_in_user(client)
    for name in ("aa", "bb", "cc"):
        await set_usage(app, name, {**baseline(1), day(0): 6})
    posts = [await create_post(app, author.user_id, content="#aa #bb #cc") for _ in range(6)]
    await asyncio.gather(
        *(refresh_trending(app.state.platform, NOON) for _ in range(4)),
        *(attach(app, p, ["cc", "bb", "aa"]) for p in posts),
    )
    await refresh_trending(app.state.platform, NOON)
    assert await _trending(client) == {name: pytest.approx(12 / 3) for name in ("aa", "bb", "cc")}
