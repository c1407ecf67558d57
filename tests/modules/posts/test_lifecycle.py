"""Drafts, scheduled publishing, archive, soft delete, and an exact ``posts_count`` throughout."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from sqlalchemy import select, update

from tests.fixtures import graph
from tests.fixtures.users import signed_in_user
from tests.modules.posts.helpers import (
    API,
    act,
    assert_422_on,
    assert_problem,
    get_post,
    my_list,
    new_post,
    timeline_ids,
)
from townsquare.kit.events import OutboxEvent
from townsquare.modules.posts.models import Post
from townsquare.modules.posts.tasks import publish_due_posts


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def _make_due(app: FastAPI, *post_ids: str) -> None:
    """Move scheduled posts' time into the past, as if the clock had moved on."""
    async with app.state.platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(Post)
            .where(Post.id.in_([uuid.UUID(i) for i in post_ids]))
            .values(published_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await uow.commit()


async def _events(app: FastAPI, name: str) -> list[dict[str, object]]:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
        )
        return [dict(payload) for payload in rows]


async def test_draft_then_publish(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    draft = await new_post(client, alice, content="Not yet #soon", draft=True)
    assert draft["status"] == "draft"
    assert draft["published_at"] is None
    assert [p["id"] for p in await my_list(client, "drafts", alice)] == [draft["id"]]
    assert await my_list(client, "drafts", bob) == []
    assert (await get_post(client, draft["id"], bob)).status_code == 404
    assert await graph.posts_count(app, alice.user_id) == 0
    assert await _events(app, "post.published") == []

    published = await act(client, draft["id"], "publish", alice)
    assert published.status_code == 200, published.text
    assert published.json()["status"] == "published"
    assert published.json()["published_at"] is not None
    assert (await get_post(client, draft["id"], bob)).status_code == 200
    assert await my_list(client, "drafts", alice) == []
    assert await timeline_ids(client, alice.username, bob) == [draft["id"]]
    assert await graph.posts_count(app, alice.user_id) == 1
    assert [e["post_id"] for e in await _events(app, "post.published")] == [draft["id"]]

    again = await act(client, draft["id"], "publish", alice)
    assert_problem(again, 409, "already_published")
    assert await graph.posts_count(app, alice.user_id) == 1


async def test_only_the_author_publishes(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    draft = await new_post(client, alice, draft=True)
    assert_problem(await act(client, draft["id"], "publish", bob), 404, "post_not_found")
    published = await new_post(client, alice)
    assert_problem(await act(client, published["id"], "publish", bob), 403, "not_author")
    assert (await get_post(client, draft["id"], bob)).status_code == 404


async def test_scheduled_post_goes_out_when_due(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    later = _in(hours=2)
    post = await new_post(client, alice, content="Launch! #release", publish_at=later)
    assert post["status"] == "scheduled"
    assert datetime.fromisoformat(post["published_at"]) == datetime.fromisoformat(later)
    assert [p["id"] for p in await my_list(client, "scheduled", alice)] == [post["id"]]
    assert (await get_post(client, post["id"], bob)).status_code == 404
    # Not due yet: the scheduler leaves it alone.
    assert await publish_due_posts(app.state.platform) == 0
    assert await graph.posts_count(app, alice.user_id) == 0

    await _make_due(app, post["id"])
    # Due but not yet published by the scheduler: still invisible to others.
    assert (await get_post(client, post["id"], bob)).status_code == 404
    assert await publish_due_posts(app.state.platform) == 1
    seen = await get_post(client, post["id"], bob)
    assert seen.status_code == 200
    assert seen.json()["status"] == "published"
    assert await my_list(client, "scheduled", alice) == []
    assert await graph.posts_count(app, alice.user_id) == 1
    # Idempotent: a second run finds nothing to do.
    assert await publish_due_posts(app.state.platform) == 0
    assert await graph.posts_count(app, alice.user_id) == 1
    assert [e["post_id"] for e in await _events(app, "post.published")] == [post["id"]]


async def test_concurrent_schedulers_publish_each_post_once(client, app):
    alice = await signed_in_user(client)
    ids = [(await new_post(client, alice, publish_at=_in(hours=1)))["id"] for _ in range(6)]
    await _make_due(app, *ids)
    counts = await asyncio.gather(*(publish_due_posts(app.state.platform) for _ in range(3)))
    assert sum(counts) == 6
    assert await graph.posts_count(app, alice.user_id) == 6
    assert sorted(e["post_id"] for e in await _events(app, "post.published")) == sorted(ids)


async def test_publish_now_or_reschedule(client, app):
    alice = await signed_in_user(client)
    draft = await new_post(client, alice, draft=True)
    later = _in(days=1)
    scheduled = await act(client, draft["id"], "publish", alice, publish_at=later)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["status"] == "scheduled"
    assert_422_on(
        await act(client, draft["id"], "publish", alice, publish_at=_in(hours=-1)),
        "body.publish_at",
    )
    now = await act(client, draft["id"], "publish", alice)
    assert now.json()["status"] == "published"
    assert await graph.posts_count(app, alice.user_id) == 1


async def test_draft_poll_cannot_be_published_after_it_closes(client, app):
    alice = await signed_in_user(client)
    poll = {"options": ["a", "b"], "closes_at": _in(hours=1)}
    draft = await new_post(client, alice, type="poll", content="?", poll=poll, draft=True)
    response = await act(client, draft["id"], "publish", alice, publish_at=_in(hours=2))
    assert_422_on(response, "body.publish_at")
    assert (await get_post(client, draft["id"], alice)).json()["status"] == "draft"


async def test_archive_and_unarchive(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    archived = await act(client, post["id"], "archive", alice)
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert await graph.posts_count(app, alice.user_id) == 0
    # Archiving twice changes nothing (and does not count twice).
    assert (await act(client, post["id"], "archive", alice)).status_code == 200
    assert await graph.posts_count(app, alice.user_id) == 0
    assert [p["id"] for p in await my_list(client, "archive", alice)] == [post["id"]]
    assert await timeline_ids(client, alice.username, alice) == []
    assert (await get_post(client, post["id"], bob)).status_code == 404
    assert_problem(await act(client, post["id"], "unarchive", bob), 404, "post_not_found")

    back = await act(client, post["id"], "unarchive", alice)
    assert back.status_code == 200
    assert back.json()["archived_at"] is None
    assert (await act(client, post["id"], "unarchive", alice)).status_code == 200
    assert await graph.posts_count(app, alice.user_id) == 1
    assert await my_list(client, "archive", alice) == []
    assert (await get_post(client, post["id"], bob)).status_code == 200


async def test_only_published_posts_are_archived(client, app):
    alice = await signed_in_user(client)
    draft = await new_post(client, alice, draft=True)
    assert_problem(await act(client, draft["id"], "archive", alice), 409, "post_not_published")
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    assert_problem(await act(client, post["id"], "archive", bob), 403, "not_author")
    assert await graph.posts_count(app, alice.user_id) == 1


async def test_soft_delete(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    assert_problem(
        await client.delete(f"{API}/posts/{post['id']}", headers=bob.headers), 403, "not_author"
    )
    assert await graph.posts_count(app, alice.user_id) == 1
    response = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert response.status_code == 204
    assert (await get_post(client, post["id"], bob)).status_code == 404
    own = await get_post(client, post["id"], alice)
    assert own.json()["deleted_at"] is not None
    assert await graph.posts_count(app, alice.user_id) == 0
    assert [e["post_id"] for e in await _events(app, "post.deleted")] == [post["id"]]
    # Gone: neither deleted again nor changed.
    again = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert_problem(again, 404, "post_not_found")
    for action in ("archive", "unarchive", "publish"):
        assert_problem(await act(client, post["id"], action, alice), 404, "post_not_found")
    assert await graph.posts_count(app, alice.user_id) == 0


async def test_posts_count_stays_exact_across_every_transition(client, app):
    alice = await signed_in_user(client)
    published = [(await new_post(client, alice))["id"] for _ in range(3)]
    draft = (await new_post(client, alice, draft=True))["id"]
    scheduled = (await new_post(client, alice, publish_at=_in(hours=1)))["id"]
    assert await graph.posts_count(app, alice.user_id) == 3

    await act(client, published[0], "archive", alice)  # 2
    await client.delete(f"{API}/posts/{published[0]}", headers=alice.headers)  # archived: 2
    await client.delete(f"{API}/posts/{draft}", headers=alice.headers)  # draft: 2
    await client.delete(f"{API}/posts/{scheduled}", headers=alice.headers)  # scheduled: 2
    assert await graph.posts_count(app, alice.user_id) == 2
    await _make_due(app, scheduled)
    assert await publish_due_posts(app.state.platform) == 0  # deleted: never goes out

    # Concurrent deletes of one post count once.
    target = published[1]
    responses = await asyncio.gather(
        *(client.delete(f"{API}/posts/{target}", headers=alice.headers) for _ in range(4))
    )
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404]
    assert await graph.posts_count(app, alice.user_id) == 1
    # Concurrent archive + unarchive pairs leave a consistent count.
    await asyncio.gather(
        act(client, published[2], "archive", alice), act(client, published[2], "archive", alice)
    )
    assert await graph.posts_count(app, alice.user_id) == 0
    await asyncio.gather(
        act(client, published[2], "unarchive", alice),
        act(client, published[2], "unarchive", alice),
    )
    assert await graph.posts_count(app, alice.user_id) == 1
