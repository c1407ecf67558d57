"""Profile timelines and my lists: keyset pages, what each item shows, and a constant number
of queries per page whatever its size."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from fastapi import FastAPI

from tests.fixtures import graph
from tests.fixtures.cache import empty_cache
from tests.fixtures.queries import count_queries
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.posts.helpers import (
    API,
    IMAGE,
    act,
    assert_422_on,
    assert_problem,
    get_post,
    my_list,
    new_post,
    timeline,
)
from townsquare.modules.bookmarks.models import Bookmark
from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType


async def _pages(client, username: str, viewer: SignedIn | None, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await timeline(client, username, viewer, **params)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([item["id"] for item in body["items"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_timeline_pages_newest_first(client):
    alice = await signed_in_user(client)
    ids = [(await new_post(client, alice, content=f"post {i}"))["id"] for i in range(5)]
    await new_post(client, alice, draft=True)
    pages = await _pages(client, alice.username, None, 2)
    assert pages == [ids[4:2:-1], ids[2:0:-1], ids[:1]]
    assert await _pages(client, alice.username.upper(), alice, 10) == [ids[::-1]]


async def test_timeline_refuses_bad_cursors_and_unknown_people(client):
    alice = await signed_in_user(client)
    await new_post(client, alice)
    for cursor in (
        "%%%",
        base64.urlsafe_b64encode(b'{"id": "x"}').decode(),
        base64.urlsafe_b64encode(b'{"published_at": "yesterday", "id": "x"}').decode(),
        base64.urlsafe_b64encode(b'{"published_at": "2030-01-01T00:00:00", "id": "x"}').decode(),
        base64.urlsafe_b64encode(b"[1]").decode(),
    ):
        response = await timeline(client, alice.username, None, cursor=cursor)
        assert_422_on(response, "query.cursor")
    assert_problem(await timeline(client, "no_such_user"), 404, "profile_not_found")
    assert (await timeline(client, alice.username, None, limit=0)).status_code == 422
    assert (await timeline(client, alice.username, None, limit=101)).status_code == 422


async def test_my_lists_page_by_newest(client):
    alice = await signed_in_user(client)
    drafts = [(await new_post(client, alice, draft=True))["id"] for _ in range(3)]
    response = await client.get(f"{API}/me/drafts?limit=2", headers=alice.headers)
    first = response.json()
    assert [p["id"] for p in first["items"]] == drafts[:0:-1]
    second = await client.get(
        f"{API}/me/drafts", params={"cursor": first["next_cursor"]}, headers=alice.headers
    )
    assert [p["id"] for p in second.json()["items"]] == drafts[:1]
    for which in ("drafts", "scheduled", "archive"):
        assert (await client.get(f"{API}/me/{which}")).status_code == 401


async def _react(app: FastAPI, user: SignedIn, post_id: str, kind: str = "like") -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        target = uuid.UUID(post_id)
        uow.session.add_all(
            [
                Reaction(
                    user_id=uuid.UUID(user.user_id),
                    target_type=TargetType.POST,
                    target_id=target,
                    type=kind,
                ),
                ReactionCount(target_type=TargetType.POST, target_id=target, type=kind, count=1),
            ]
        )
        await uow.commit()


async def _bookmark(app: FastAPI, user: SignedIn, post_id: str) -> None:
    async with app.state.platform.database.unit_of_work() as uow:
        uow.session.add(Bookmark(owner_id=uuid.UUID(user.user_id), post_id=uuid.UUID(post_id)))
        await uow.commit()


async def test_items_show_the_viewers_reaction_bookmark_and_counts(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    await _react(app, bob, post["id"], "love")
    await _bookmark(app, bob, post["id"])
    seen = (await get_post(client, post["id"], bob)).json()
    assert seen["reaction_counts"] == {"love": 1}
    assert seen["viewer_reaction"] == "love"
    assert seen["bookmarked"] is True
    assert seen["comment_count"] == 0
    assert seen["share_count"] == 0
    anonymous = (await get_post(client, post["id"])).json()
    assert anonymous["viewer_reaction"] is None
    assert anonymous["bookmarked"] is False
    # hide_metrics: no counts at all, for the author too.
    response = await client.patch(
        f"{API}/me/settings", json={"hide_metrics": True}, headers=bob.headers
    )
    assert response.status_code == 200, response.text
    await graph.set_hide_metrics(app, alice.user_id)
    for viewer in (bob, alice):
        seen = (await get_post(client, post["id"], viewer)).json()
        for key in ("reaction_counts", "comment_count", "share_count", "view_count"):
            assert seen[key] is None, (viewer.username, key)
    assert (await get_post(client, post["id"], bob)).json()["viewer_reaction"] == "love"


async def test_views_are_counted_for_the_author_only(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    for viewer in (bob, bob, None, alice):
        assert (await act(client, post["id"], "views", viewer)).status_code == 204
    # bob once (a repeat within the window does not count), the anonymous source once.
    assert (await get_post(client, post["id"], alice)).json()["view_count"] == 2
    assert (await get_post(client, post["id"], bob)).json()["view_count"] is None
    draft = await new_post(client, alice, draft=True)
    assert_problem(await act(client, draft["id"], "views", bob), 404, "post_not_found")
    assert (await act(client, draft["id"], "views", alice)).status_code == 204
    assert (await get_post(client, draft["id"], alice)).json()["view_count"] == 0
    missing = str(uuid.uuid4())
    assert_problem(await act(client, missing, "views", bob), 404, "post_not_found")


async def _varied_timeline(client, app: FastAPI, alice: SignedIn, bob: SignedIn) -> None:
    """22 posts of every kind: media, polls bob voted in, mentions, custom audiences, shares
    (some of originals bob may no longer see), reactions and bookmarks by bob."""
    carol = await signed_in_user(client)
    originals = [(await new_post(client, carol, content=f"orig {i}"))["id"] for i in range(4)]
    for i in range(22):
        match i % 5:
            case 0:
                post = await new_post(client, alice, type="photo", content="", media=[IMAGE])
            case 1:
                post = await new_post(
                    client, alice, type="poll", content="?", poll={"options": ["a", "b"]}
                )
                await act(
                    client,
                    post["id"],
                    "poll/votes",
                    bob,
                    option_ids=[post["poll"]["options"][0]["id"]],
                )
            case 2:
                post = await new_post(client, alice, content=f"hi @{bob.username} #tag{i}")
            case 3:
                post = await new_post(
                    client, alice, visibility="custom", audience=[bob.username, carol.username]
                )
            case _:
                post = (await act(client, originals[(i // 5) % 4], "share", alice)).json()
        if i % 3 == 0:
            await _react(app, bob, post["id"])
            await _bookmark(app, bob, post["id"])
    # The first share's original disappears: its share shows a placeholder.
    await client.delete(f"{API}/posts/{originals[0]}", headers=carol.headers)


@pytest.mark.parametrize("viewer_name", ["bob", "author", "anonymous"])
async def test_a_page_costs_the_same_queries_whatever_its_size(client, app, viewer_name):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    await _varied_timeline(client, app, alice, bob)
    viewer = {"bob": bob, "author": alice, "anonymous": None}[viewer_name]
    counts = {}
    # Background outbox drains would run their own queries during the measurement.
    await app.state.platform.outbox.wait_idle()
    for limit in (2, 20):
        await empty_cache(app)
        with count_queries(app) as statements:
            response = await timeline(client, alice.username, viewer, limit=limit)
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        # Anonymous viewers do not see the custom-audience posts: 18 of 22.
        assert len(items) == limit if viewer is not None or limit == 2 else len(items) == 18
        counts[limit] = len(statements)
    assert counts[2] == counts[20], counts
    # The large page shows every kind of item, hydrated.
    await empty_cache(app)
    with count_queries(app) as statements:
        response = await timeline(client, alice.username, viewer, limit=20)
    items = response.json()["items"]
    assert any(item["media"] for item in items)
    assert any(item["poll"] for item in items)
    assert any(item["shared_post"] == {"unavailable": True} for item in items)
    assert any(item["shared_post"] and "id" in item["shared_post"] for item in items)
    assert any(item["mentions"] for item in items)
    assert any(item["reaction_counts"] for item in items)
    if viewer is bob:
        assert any(item["bookmarked"] for item in items)
        assert any(item["viewer_reaction"] == "like" for item in items)
        assert any(item["poll"] and item["poll"]["viewer_choices"] for item in items)
    if viewer is alice:
        assert any(item["audience"] for item in items)
        assert all(item["view_count"] == 0 for item in items)
    await empty_cache(app)
    with count_queries(app) as drafts:
        await my_list(client, "drafts", alice)
    assert drafts  # the listener sees queries (the test would be vacuous otherwise)
