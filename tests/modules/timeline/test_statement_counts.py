"""Every page of posts costs the same statements for 2 and for 100 items, cold and warm.

The number of each page is written here: a change that adds a statement per page shows up as a
failing number, and one that adds a statement per item as 2 != 100. "Cold" empties the caches
(post bodies, cards, preferences) first; "warm" is the same request again.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import FastAPI

from tests.fixtures.cache import empty_cache
from tests.fixtures.graph import follow
from tests.fixtures.queries import count_queries
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.posts.helpers import API, IMAGE, act, new_post
from townsquare.modules.bookmarks.models import Bookmark
from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType

#: (cold, warm) statements of each page, whatever its size. Warm: the page's ids (and what
#: the page itself needs: the author's profile and blocks, the topic) and the viewer's state,
#: one statement each. Cold adds the session, the post bodies (posts, media, polls, reaction
#: counts), the cards and the viewer's preferences. SQLite counts its ``BEGIN`` as a
#: statement; the Redis home feed (PostgreSQL + Redis) reads one more on a cold start.
EXPECTED = {
    # Reads run without BEGIN/COMMIT (read-only units of work in autocommit) on both databases;
    # SQLite's feed reads its home inbox window (PostgreSQL's comes from Redis).
    "sqlite": {
        "feed": (10, 3),
        "author timeline": (11, 4),
        "topic": (10, 3),
        "bookmarks": (9, 2),
        "single post": (8, 1),
    },
    "postgresql": {
        "feed": (11, 2),
        "author timeline": (11, 4),
        "topic": (10, 3),
        "bookmarks": (9, 2),
        "single post": (8, 1),
    },
}
ITEMS = 100


async def _world(client: httpx.AsyncClient, app: FastAPI) -> tuple[SignedIn, SignedIn, str]:
    """Alice wrote 100 posts of every kind tagged #town; Bob follows her, reacted to and
    bookmarked every post, and voted in the polls."""
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    await follow(app, bob.user_id, alice.user_id)
    original = (await new_post(client, alice, content="the original #town"))["id"]
    ids = []
    for i in range(ITEMS - 1):
        match i % 4:
            case 0:
                post = await new_post(client, alice, type="photo", content="#town", media=[IMAGE])
            case 1:
                post = await new_post(
                    client, alice, type="poll", content="#town?", poll={"options": ["a", "b"]}
                )
                option = post["poll"]["options"][0]["id"]
                await act(client, post["id"], "poll/votes", bob, option_ids=[option])
            case 2:
                post = await new_post(client, alice, content=f"hi @{bob.username} #town")
            case _:
                post = (await act(client, original, "share", alice, content="#town")).json()
        ids.append(post["id"])
    ids.append(original)
    async with app.state.platform.database.unit_of_work() as uow:
        for post_id in map(uuid.UUID, ids):
            uow.session.add_all(
                [
                    Reaction(
                        user_id=uuid.UUID(bob.user_id),
                        target_type=TargetType.POST,
                        target_id=post_id,
                        type="like",
                    ),
                    ReactionCount(
                        target_type=TargetType.POST, target_id=post_id, type="like", count=1
                    ),
                    Bookmark(owner_id=uuid.UUID(bob.user_id), post_id=post_id),
                ]
            )
        await uow.commit()
    await app.state.platform.outbox.wait_idle()
    return alice, bob, ids[0]


async def _count(app: FastAPI, client: httpx.AsyncClient, path: str, viewer: SignedIn) -> int:
    with count_queries(app) as statements:
        response = await client.get(f"{API}{path}", headers=viewer.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    if "items" in body:
        assert body["items"], body
    return len(statements)


async def test_each_page_costs_constant_statements(client, app):
    alice, bob, post_id = await _world(client, app)
    pages = {
        "feed": "/feed?limit={limit}",
        "author timeline": f"/users/{alice.username}/posts?limit={{limit}}",
        "topic": "/topics/town/posts?limit={limit}",
        "bookmarks": "/me/bookmarks?limit={limit}",
    }
    await client.get(f"{API}/feed?limit=2", headers=bob.headers)  # production builds the feed
    await app.state.platform.outbox.wait_idle()
    measured: dict[str, tuple[int, int]] = {}
    for name, path in pages.items():
        counts: dict[int, tuple[int, int]] = {}
        for limit in (2, ITEMS):
            await empty_cache(app)
            cold = await _count(app, client, path.format(limit=limit), bob)
            warm = await _count(app, client, path.format(limit=limit), bob)
            counts[limit] = (cold, warm)
        assert counts[2] == counts[ITEMS], (name, counts)
        measured[name] = counts[2]
    await empty_cache(app)
    cold = await _count(app, client, f"/posts/{post_id}", bob)
    measured["single post"] = (cold, await _count(app, client, f"/posts/{post_id}", bob))
    dialect = app.state.platform.database.engine.dialect.name
    assert measured == EXPECTED[dialect]
    assert measured["feed"][1] <= 4
