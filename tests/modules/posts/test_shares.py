"""Shares: of posts one may see, of originals (not of shares), counted, and never leaking."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.fixtures import graph
from tests.fixtures.users import signed_in_user
from tests.modules.posts.helpers import (
    API,
    act,
    assert_422_on,
    assert_problem,
    edit,
    get_post,
    new_post,
    timeline_ids,
)
from townsquare.kit.events import OutboxEvent

SECRET = "The original's words"


async def test_share_with_text(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    original = await new_post(client, alice, content=SECRET)
    response = await act(client, original["id"], "share", bob, content="Look at this #wow")
    assert response.status_code == 201, response.text
    share = response.json()
    assert share["author"]["username"] == bob.username
    assert share["content"] == "Look at this #wow"
    assert share["shared_post"]["id"] == original["id"]
    assert share["shared_post"]["content"] == SECRET
    assert share["shared_post"]["share_count"] == 1
    assert (await get_post(client, original["id"], alice)).json()["share_count"] == 1
    assert await timeline_ids(client, bob.username) == [share["id"]]
    assert await graph.posts_count(app, bob.user_id) == 1
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        payloads = list(
            await uow.session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.name == "post.shared")
            )
        )
    assert payloads == [
        {
            "post_id": share["id"],
            "author_id": bob.user_id,
            "shared_post_id": original["id"],
            "original_author_id": alice.user_id,
        }
    ]


async def test_sharing_a_share_shares_the_original(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    original = await new_post(client, alice)
    first = (await act(client, original["id"], "share", bob)).json()
    assert first["content"] == ""
    second = (await act(client, first["id"], "share", carol)).json()
    assert second["shared_post"]["id"] == original["id"]
    assert (await get_post(client, original["id"])).json()["share_count"] == 2
    assert (await get_post(client, first["id"])).json()["share_count"] == 0


async def test_only_visible_published_posts_are_shared(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    friends_only = await new_post(client, alice, visibility="friends")
    assert_problem(await act(client, friends_only["id"], "share", bob), 404, "post_not_found")
    draft = await new_post(client, alice, draft=True)
    assert_problem(await act(client, draft["id"], "share", alice), 409, "post_not_published")
    public = await new_post(client, alice)
    response = await act(client, public["id"], "share", bob, content="x" * 5001)
    assert_422_on(response, "body.content", "content_too_long")
    response = await act(client, public["id"], "share", bob, visibility="custom")
    assert_422_on(response, "body.audience")
    assert (await client.post(f"{API}/posts/{public['id']}/share")).status_code == 401
    assert (await get_post(client, public["id"])).json()["share_count"] == 0
    assert await timeline_ids(client, bob.username, bob) == []
    assert await graph.posts_count(app, bob.user_id) == 0


@pytest.mark.parametrize("change", ["delete", "archive", "only_me", "block", "hide"])
async def test_a_share_never_reveals_an_original_gone_from_view(client, app, change):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    viewer = await signed_in_user(client)
    original = await new_post(client, alice, content=SECRET)
    share = (await act(client, original["id"], "share", bob, content="mine")).json()
    match change:
        case "delete":
            await client.delete(f"{API}/posts/{original['id']}", headers=alice.headers)
        case "archive":
            await act(client, original["id"], "archive", alice)
        case "only_me":
            await edit(client, original["id"], alice, visibility="only_me")
        case "block":
            await graph.block(app, alice.user_id, viewer.user_id)
        case "hide":
            await graph.set_hidden(app, alice.user_id)
    viewers = [viewer] if change == "block" else [viewer, None, bob]
    for someone in viewers:
        response = await get_post(client, share["id"], someone)
        assert response.status_code == 200, response.text
        assert response.json()["shared_post"] == {"unavailable": True}
        assert SECRET not in response.text
        assert original["id"] not in response.text
        listed = await client.get(
            f"{API}/users/{bob.username}/posts", headers=someone.headers if someone else None
        )
        assert SECRET not in listed.text
        assert listed.json()["items"][0]["shared_post"] == {"unavailable": True}
        # And it cannot be shared on through the share.
        if someone is not None:
            again = await act(client, share["id"], "share", someone)
            assert again.status_code in (404, 409), again.text


async def test_deleting_a_share_gives_back_the_count(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    original = await new_post(client, alice)
    share = (await act(client, original["id"], "share", bob)).json()
    assert (await client.delete(f"{API}/posts/{share['id']}", headers=bob.headers)).is_success
    assert (await get_post(client, original["id"])).json()["share_count"] == 0
    assert await graph.posts_count(app, bob.user_id) == 0


async def test_share_with_its_own_audience(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    dave = await signed_in_user(client)
    original = await new_post(client, alice)
    response = await act(
        client, original["id"], "share", bob, visibility="custom", audience=[carol.username]
    )
    share = response.json()
    assert (await get_post(client, share["id"], carol)).status_code == 200
    assert (await get_post(client, share["id"], dave)).status_code == 404
