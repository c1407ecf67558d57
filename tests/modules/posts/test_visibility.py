"""Who may see a post, through every read path of this module (the post by id, the profile
timeline, its revisions, its poll, views, shares): each visibility level, private and hidden
accounts, blocks in both directions, and states visible only to the author."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures import graph
from tests.fixtures.users import SignedIn, signed_in_user, unique_username
from tests.modules.posts.helpers import act, get_post, new_post, timeline

ANONYMOUS = "anonymous"


@dataclass
class Cast:
    """An author and people in every relation to them."""

    author: SignedIn
    viewers: dict[str, SignedIn]

    def __getitem__(self, name: str) -> SignedIn:
        return self.viewers[name]


async def make_cast(client: httpx.AsyncClient, app: FastAPI) -> Cast:
    author = await signed_in_user(client, unique_username("author"))
    names = (
        "friend",  # a friend, not on the close-friends list
        "close_friend",  # a friend on the author's close-friends list
        "follower",  # follows the author (approved)
        "pending",  # asked to follow, not approved
        "listed",  # a stranger named in custom audiences
        "stranger",  # no relation; the author is on *their* close-friends list
        "blocker",  # a friend who blocked the author
        "blocked",  # a friend the author blocked
    )
    viewers = {name: await signed_in_user(client, unique_username(name)) for name in names}
    a = author.user_id
    for name in ("friend", "close_friend", "blocker", "blocked"):
        await graph.befriend(app, a, viewers[name].user_id)
    await graph.add_close_friend(app, a, viewers["close_friend"].user_id)
    await graph.add_close_friend(app, viewers["stranger"].user_id, a)
    await graph.follow(app, viewers["follower"].user_id, a)
    await graph.follow(app, viewers["pending"].user_id, a, approved=False)
    await graph.block(app, viewers["blocker"].user_id, a)
    await graph.block(app, a, viewers["blocked"].user_id)
    return Cast(author, viewers)


async def _sees_by_id(client: httpx.AsyncClient, post_id: str, viewer: SignedIn | None) -> bool:
    response = await get_post(client, post_id, viewer)
    assert response.status_code in (200, 404), response.text
    if response.status_code == 404:
        assert response.json()["code"] == "post_not_found"
    return response.status_code == 200


async def _sees_on_timeline(
    client: httpx.AsyncClient, author: SignedIn, post_id: str, viewer: SignedIn | None
) -> bool:
    response = await timeline(client, author.username, viewer, limit=100)
    if response.status_code == 404:  # the author's profile is gone for this viewer
        return False
    assert response.status_code == 200, response.text
    return post_id in {item["id"] for item in response.json()["items"]}


async def audience(client: httpx.AsyncClient, cast: Cast, post_id: str) -> set[str]:
    """Who (by cast name) sees the post by id; the timeline must agree for live posts."""
    seen = set()
    for name, viewer in [(ANONYMOUS, None), *cast.viewers.items()]:
        by_id = await _sees_by_id(client, post_id, viewer)
        on_timeline = await _sees_on_timeline(client, cast.author, post_id, viewer)
        assert by_id == on_timeline, (name, by_id, on_timeline)
        if by_id:
            seen.add(name)
    return seen


EVERYONE = {ANONYMOUS, "friend", "close_friend", "follower", "pending", "listed", "stranger"}


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [
        ("public", EVERYONE),
        ("friends", {"friend", "close_friend"}),
        ("close_friends", {"close_friend"}),
        ("custom", {"listed"}),
        ("only_me", set()),
    ],
)
async def test_each_visibility_level(client, app, visibility, expected):
    cast = await make_cast(client, app)
    body: dict[str, Any] = {"visibility": visibility}
    if visibility == "custom":
        # Blocked people may be listed; the block still hides the post from them.
        body["audience"] = [
            cast["listed"].username,
            cast["blocker"].username,
            cast["blocked"].user_id,
        ]
    post = await new_post(client, cast.author, **body)
    assert await audience(client, cast, post["id"]) == expected
    assert (await get_post(client, post["id"], cast.author)).status_code == 200


async def test_private_account_public_posts_need_an_approved_follow_or_friendship(client, app):
    cast = await make_cast(client, app)
    await graph.set_private(app, cast.author.user_id)
    post = await new_post(client, cast.author)
    assert await audience(client, cast, post["id"]) == {"friend", "close_friend", "follower"}


async def test_hidden_author_is_seen_by_nobody_else(client, app):
    cast = await make_cast(client, app)
    post = await new_post(client, cast.author)
    await graph.set_hidden(app, cast.author.user_id)
    assert await audience(client, cast, post["id"]) == set()
    for viewer in (None, cast["friend"]):
        assert (await timeline(client, cast.author.username, viewer)).status_code == 404
    assert (await get_post(client, post["id"], cast.author)).status_code == 200


async def test_blocks_hide_the_author_both_ways(client, app):
    cast = await make_cast(client, app)
    post = await new_post(client, cast.author)
    for name in ("blocker", "blocked"):
        viewer = cast[name]
        assert not await _sees_by_id(client, post["id"], viewer)
        response = await timeline(client, cast.author.username, viewer)
        assert response.status_code == 404, response.text
        assert response.json()["code"] == "profile_not_found"
        # ...and the author cannot see theirs.
        theirs = await new_post(client, viewer)
        assert not await _sees_by_id(client, theirs["id"], cast.author)


@pytest.mark.parametrize("state", ["draft", "scheduled", "archived", "deleted"])
async def test_unpublished_archived_and_deleted_posts_are_the_authors_alone(client, app, state):
    cast = await make_cast(client, app)
    if state == "draft":
        post = await new_post(client, cast.author, draft=True)
    elif state == "scheduled":
        later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        post = await new_post(client, cast.author, publish_at=later)
    else:
        post = await new_post(client, cast.author)
        if state == "archived":
            assert (await act(client, post["id"], "archive", cast.author)).status_code == 200
        else:
            response = await client.delete(
                f"/api/v1/posts/{post['id']}", headers=cast.author.headers
            )
            assert response.status_code == 204
    assert await audience(client, cast, post["id"]) == set()
    # The author still reaches it by id, but it is not on the public timeline.
    assert await _sees_by_id(client, post["id"], cast.author)
    assert not await _sees_on_timeline(client, cast.author, post["id"], cast.author)


async def test_other_read_paths_answer_404_to_those_who_may_not_see(client, app):
    cast = await make_cast(client, app)
    post = await new_post(
        client,
        cast.author,
        visibility="friends",
        type="poll",
        content="",
        poll={"options": ["yes", "no"]},
    )
    post_id = post["id"]
    option = post["poll"]["options"][0]["id"]
    for name in ("stranger", "follower", "blocker", "blocked"):
        viewer = cast[name]
        for response in (
            await client.get(f"/api/v1/posts/{post_id}/revisions", headers=viewer.headers),
            await client.get(f"/api/v1/posts/{post_id}/poll", headers=viewer.headers),
            await act(client, post_id, "poll/votes", viewer, option_ids=[option]),
            await act(client, post_id, "views", viewer),
            await act(client, post_id, "share", viewer),
        ):
            assert response.status_code == 404, (name, response.text)
            assert response.json()["code"] == "post_not_found"
    friend = cast["friend"]
    assert (await client.get(f"/api/v1/posts/{post_id}/poll", headers=friend.headers)).is_success
    assert (await act(client, post_id, "views", friend)).status_code == 204


async def test_relations_made_through_the_social_api(client):
    """The same rules hold with the graph built by the social endpoints, and follow it."""
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    for sender, other in ((alice, bob), (bob, alice)):  # the second request accepts the first
        response = await client.post(
            f"/api/v1/users/{other.username}/friend-request", headers=sender.headers
        )
        assert response.status_code == 200, response.text
    friends_only = await new_post(client, alice, visibility="friends")
    close = await new_post(client, alice, visibility="close_friends")
    assert (await get_post(client, friends_only["id"], bob)).status_code == 200
    assert (await get_post(client, close["id"], bob)).status_code == 404
    response = await client.put(f"/api/v1/me/close-friends/{bob.username}", headers=alice.headers)
    assert response.status_code == 204, response.text
    assert (await get_post(client, close["id"], bob)).status_code == 200
    response = await client.put(f"/api/v1/me/blocks/{alice.username}", headers=bob.headers)
    assert response.status_code == 204, response.text
    for post in (friends_only, close):
        assert (await get_post(client, post["id"], bob)).status_code == 404
    assert (await timeline(client, bob.username, alice)).status_code == 404
