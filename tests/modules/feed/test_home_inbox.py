"""The embedded feed store (no Redis): the home inbox tables, filled on write.

Publishing fans the post out into the inboxes that exist (each capped at ``feed_max_items``);
a missing inbox is rebuilt at its next read; a page reads its candidates with one range scan
of the inbox's primary key and checks each candidate by key (no walk of the posts table in
time order). Skipped on PostgreSQL + Redis, whose feeds live in Redis (``test_fan_out.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from tests.conftest import Backend
from tests.fixtures.content import create_post
from tests.fixtures.users import signed_in_user
from tests.modules.feed.test_home_feed import all_pages, feed_ids, follow, settle
from tests.modules.posts.helpers import new_post
from townsquare.kit.models import utcnow
from townsquare.modules.feed.models import HomeInboxBuild, HomeInboxEntry


@pytest.fixture(autouse=True)
def embedded_only(backend: Backend) -> None:
    if backend.redis_url is not None:
        pytest.skip("with Redis the feeds live in Redis")


async def start(app_factory: Any, **overrides: Any) -> tuple[FastAPI, httpx.AsyncClient]:
    app = await app_factory(**overrides)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 50000))
    return app, httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def inbox(app: FastAPI, user_id: uuid.UUID | str) -> list[str] | None:
    """The user's inbox, newest first; None when it does not exist (never read, or dropped)."""
    user = uuid.UUID(str(user_id))
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        built = await uow.session.scalar(
            select(HomeInboxBuild.user_id).where(HomeInboxBuild.user_id == user)
        )
        rows = await uow.session.scalars(
            select(HomeInboxEntry.post_id)
            .where(HomeInboxEntry.user_id == user)
            .order_by(HomeInboxEntry.score.desc(), HomeInboxEntry.post_id.desc())
        )
        ids = [str(post_id) for post_id in rows]
    return None if built is None else ids


async def test_publishing_fills_existing_inboxes_only(app_factory) -> None:
    app, client = await start(app_factory)
    async with client:
        author, active, inactive = [await signed_in_user(client) for _ in range(3)]
        await follow(client, active, author)
        await follow(client, inactive, author)
        await settle(app)
        assert await feed_ids(client, active) == []  # reading builds the (empty) inbox
        assert await inbox(app, active.user_id) == []
        post = await new_post(client, author, content="hello followers")
        await settle(app)
        assert await inbox(app, active.user_id) == [post["id"]]
        assert await inbox(app, inactive.user_id) is None
        # The first read of a missing inbox rebuilds it from the database.
        assert await feed_ids(client, inactive) == [post["id"]]
        assert await inbox(app, inactive.user_id) == [post["id"]]
        # A graph change drops the inboxes it touches, before the request answers.
        response = await client.delete(
            f"/api/v1/users/{author.username}/follow", headers=active.headers
        )
        assert response.status_code < 300, response.text
        assert await inbox(app, active.user_id) is None
        assert await feed_ids(client, active) == []


async def test_inboxes_are_capped_and_deep_pages_come_from_the_database(app_factory) -> None:
    app, client = await start(app_factory, feed_max_items=50)
    async with client:
        author, reader = await signed_in_user(client), await signed_in_user(client)
        await follow(client, reader, author)
        await settle(app)
        start_at = utcnow() - timedelta(hours=2)
        ids = [
            await create_post(app, author.user_id, published_at=start_at + timedelta(minutes=i))
            for i in range(60)
        ]
        expected = list(reversed(ids))
        assert await feed_ids(client, reader) == expected[:100]
        assert await inbox(app, reader.user_id) == expected[:50]  # rebuilt, capped
        assert await all_pages(client, reader, 7) == expected  # past the cap: the database
        # New posts push the oldest out: the cap holds.
        fresh = [await new_post(client, author, content=f"new {i}") for i in range(3)]
        await settle(app)
        newest = [post["id"] for post in reversed(fresh)]
        assert await inbox(app, reader.user_id) == newest + expected[:47]
        assert await all_pages(client, reader, 20) == newest + expected


@contextmanager
def query_plans(app: FastAPI) -> Iterator[list[tuple[str, list[str]]]]:
    """Each statement sent while the block runs, with SQLite's EXPLAIN QUERY PLAN of it."""
    plans: list[tuple[str, list[str]]] = []

    def explain(_conn: Any, cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", parameters)
            plans.append((statement, [str(row[3]) for row in cursor.fetchall()]))

    engine = app.state.platform.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", explain)
    try:
        yield plans
    finally:
        event.remove(engine, "before_cursor_execute", explain)


async def test_a_page_is_an_inbox_range_scan_and_keyed_lookups(app_factory) -> None:
    app, client = await start(app_factory)
    async with client:
        author, friendless, reader = [await signed_in_user(client) for _ in range(3)]
        await follow(client, reader, author)
        await settle(app)
        await feed_ids(client, reader)  # builds the inbox
        posts = [await new_post(client, author, content=f"p{i}") for i in range(3)]
        await new_post(client, friendless, content="not a source")
        await settle(app)
        with query_plans(app) as plans:
            assert await feed_ids(client, reader, limit=2) == [posts[2]["id"], posts[1]["id"]]
    inbox_plans = [plan for sql, plan in plans if "home_inbox" in sql]
    assert len(inbox_plans) == 1  # the window, the inbox's existence and size: one statement
    assert any(
        "SEARCH home_inbox USING COVERING INDEX" in step and "(user_id=? AND score<?)" in step
        for step in inbox_plans[0]
    ), inbox_plans[0]
    [page] = [plan for sql, plan in plans if "ORDER BY posts.published_at DESC" in sql]
    # Driven by the candidates' primary keys, never a walk of the posts in time order.
    assert any("SEARCH posts USING INDEX sqlite_autoindex_posts_1 (id=?)" in s for s in page), page
    assert not any(step.startswith("SCAN posts") for step in page), page
    assert not any("ix_posts_published_at_id" in step for step in page), page
