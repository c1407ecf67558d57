"""Writing posts through HTTP: every type, media, polls, location, links, and refused input."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fixtures import graph
from tests.fixtures.users import signed_in_user
from tests.modules.posts.helpers import (
    API,
    AUDIO,
    IMAGE,
    VIDEO,
    assert_422_on,
    assert_problem,
    create,
    get_post,
    my_list,
    new_post,
    timeline_ids,
)


def _in(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def test_text_post_round_trip(client, app):
    alice = await signed_in_user(client)
    post = await new_post(
        client,
        alice,
        content="Morning in #Lisbon with #coffee",
        location_name="Lisbon",
        latitude=38.7223,
        longitude=-9.1393,
        allow_reactions=False,
        comment_permission="friends",
    )
    assert post["type"] == "text"
    assert post["status"] == "published"
    assert post["visibility"] == "public"
    assert post["author"]["username"] == alice.username
    assert post["hashtags"] == ["Lisbon", "coffee"]
    assert post["location"] == {"name": "Lisbon", "latitude": 38.7223, "longitude": -9.1393}
    assert post["allow_reactions"] is False
    assert post["comment_permission"] == "friends"
    assert post["is_edited"] is False
    assert post["published_at"] is not None
    assert post["view_count"] == 0  # the author sees it
    assert post["audience"] is None
    assert post["shared_post"] is None

    seen = (await get_post(client, post["id"])).json()
    assert seen["content"] == post["content"]
    assert seen["view_count"] is None  # author-facing only
    assert await graph.posts_count(app, alice.user_id) == 1


async def test_location_name_without_coordinates(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, location_name="  Home  ")
    assert post["location"] == {"name": "Home", "latitude": None, "longitude": None}


@pytest.mark.parametrize(
    ("post_type", "media"),
    [
        ("photo", [IMAGE, {**IMAGE, "media_type": "gif", "url": "https://cdn.example.org/g.gif"}]),
        ("video", [VIDEO, IMAGE]),
        ("audio", [AUDIO]),
    ],
)
async def test_media_posts_keep_their_items_in_order(client, post_type, media):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, type=post_type, content="", media=media)
    assert post["type"] == post_type
    assert [item["position"] for item in post["media"]] == list(range(len(media)))
    for sent, stored in zip(media, post["media"], strict=True):
        for key, value in sent.items():
            assert stored[key] == value, key
    assert post["content"] == ""


async def test_link_post(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, type="link", link_url="https://example.org/article")
    assert post["link_url"] == "https://example.org/article"


async def test_poll_post(client):
    alice = await signed_in_user(client)
    closes = _in(days=1)
    post = await new_post(
        client,
        alice,
        type="poll",
        content="",
        poll={"options": ["Tea", "Coffee", "Water"], "allows_multiple": True, "closes_at": closes},
    )
    poll = post["poll"]
    assert [o["text"] for o in poll["options"]] == ["Tea", "Coffee", "Water"]
    assert all(o["votes_count"] == 0 for o in poll["options"])
    assert poll["allows_multiple"] is True
    assert poll["is_closed"] is False
    assert poll["total_votes"] == 0
    assert poll["viewer_choices"] == []


async def test_anonymous_cannot_post(client):
    response = await client.post(f"{API}/posts", json={"content": "hi"})
    assert_problem(response, 401, "unauthorized")


LONG = "x" * 5001


#: (request body, offending field, problem code): each refused with 422 and nothing written.
BAD_INPUT: list[tuple[dict[str, Any], str, str]] = [
    ({"content": LONG}, "body.content", "content_too_long"),
    ({"content": "   "}, "body.content", "validation_failed"),
    ({"content": "a\x00b"}, "body.content", "validation_failed"),
    ({"type": "link"}, "body.link_url", "validation_failed"),
    ({"type": "photo", "content": ""}, "body.content", "validation_failed"),
    ({"type": "photo", "media": [AUDIO]}, "body.media", "validation_failed"),
    ({"type": "video", "media": [IMAGE]}, "body.media", "validation_failed"),
    ({"type": "text", "media": [IMAGE]}, "body.media", "validation_failed"),
    ({"type": "photo", "media": [IMAGE] * 11}, "body.media", "validation_failed"),
    ({"type": "poll"}, "body.poll", "validation_failed"),
    ({"type": "text", "poll": {"options": ["a", "b"]}}, "body.poll", "validation_failed"),
    ({"type": "poll", "poll": {"options": ["a"]}}, "body.poll.options", "validation_failed"),
    (
        {"type": "poll", "poll": {"options": [str(i) for i in range(11)]}},
        "body.poll.options",
        "validation_failed",
    ),
    ({"type": "poll", "poll": {"options": ["a", "A"]}}, "body.poll.options", "validation_failed"),
    (
        {"type": "poll", "poll": {"options": ["a", "b"], "closes_at": _in(hours=-1)}},
        "body.poll.closes_at",
        "validation_failed",
    ),
    ({"latitude": 10.0, "location_name": "x"}, "body.latitude", "validation_failed"),
    (
        {"latitude": 91.0, "longitude": 0.0, "location_name": "x"},
        "body.latitude",
        "validation_failed",
    ),
    (
        {"latitude": 0.0, "longitude": 181.0, "location_name": "x"},
        "body.longitude",
        "validation_failed",
    ),
    ({"latitude": 1.0, "longitude": 2.0}, "body.location_name", "validation_failed"),
    ({"visibility": "custom"}, "body.audience", "validation_failed"),
    ({"visibility": "friends", "audience": ["someone"]}, "body.audience", "validation_failed"),
    ({"visibility": "custom", "audience": ["nobody_here"]}, "body.audience", "validation_failed"),
    ({"visibility": "secret"}, "body.visibility", "validation_failed"),
    ({"type": "story"}, "body.type", "validation_failed"),
    ({"draft": True, "publish_at": _in(days=1)}, "body.publish_at", "validation_failed"),
    ({"publish_at": _in(minutes=-1)}, "body.publish_at", "validation_failed"),
    ({"publish_at": 4102444800}, "body.publish_at", "validation_failed"),
    ({"publish_at": "2031-01-01T00:00:00"}, "body.publish_at", "validation_failed"),
    ({"allow_reactions": "yes"}, "body.allow_reactions", "validation_failed"),
    ({"comment_permission": "strangers"}, "body.comment_permission", "validation_failed"),
    ({"unknown_field": 1}, "body.unknown_field", "validation_failed"),
    (
        {"type": "photo", "media": [{**IMAGE, "width": "100"}]},
        "body.media.0.width",
        "validation_failed",
    ),
    (
        {"type": "photo", "media": [{**IMAGE, "url": "not a url"}]},
        "body.media.0.url",
        "validation_failed",
    ),
]


async def test_bad_input_is_refused_and_changes_nothing(client, app):
    alice = await signed_in_user(client)
    for body, field, code in BAD_INPUT:
        response = await create(client, alice, **body)
        assert_422_on(response, field, code)
    assert await timeline_ids(client, alice.username, alice) == []
    assert await my_list(client, "drafts", alice) == []
    assert await my_list(client, "scheduled", alice) == []
    assert await graph.posts_count(app, alice.user_id) == 0


async def test_content_limit_is_a_setting(app_factory):
    app = await app_factory(post_max_length=10)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        alice = await signed_in_user(client)
        assert (await create(client, alice, content="x" * 10)).status_code == 201
        response = await create(client, alice, content="x" * 11)
        assert_422_on(response, "body.content", "content_too_long")


async def test_custom_audience_by_id_or_username(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    post = await new_post(
        client, alice, visibility="custom", audience=[bob.user_id, carol.username.upper()]
    )
    assert {u["username"] for u in post["audience"]} == {bob.username, carol.username}
    # Only the author sees who is in the audience.
    seen = (await get_post(client, post["id"], bob)).json()
    assert seen["audience"] is None


async def test_custom_audience_refuses_hidden_users_and_self_only(client, app):
    alice = await signed_in_user(client)
    ghost = await signed_in_user(client)
    await graph.set_hidden(app, ghost.user_id)
    for audience in ([ghost.username], [ghost.user_id], [alice.username]):
        response = await create(client, alice, visibility="custom", audience=audience)
        assert_422_on(response, "body.audience")
    assert await timeline_ids(client, alice.username, alice) == []
