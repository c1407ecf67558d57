"""Editing posts: history (revisions), who may edit, re-checked rules, audiences."""

from __future__ import annotations

from tests.fixtures import graph
from tests.fixtures.users import signed_in_user
from tests.modules.posts.helpers import (
    API,
    assert_422_on,
    assert_problem,
    edit,
    get_post,
    new_post,
)


async def _revisions(client, post_id, viewer=None):
    return await client.get(
        f"{API}/posts/{post_id}/revisions", headers=viewer.headers if viewer else None
    )


async def test_edits_keep_previous_versions(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice, content="First", location_name="Porto")
    first = await edit(client, post["id"], alice, content="Second")
    assert first.status_code == 200, first.text
    assert first.json()["content"] == "Second"
    assert first.json()["is_edited"] is True
    assert first.json()["edited_at"] is not None
    second = await edit(client, post["id"], alice, location_name="Braga")
    assert second.json()["location"]["name"] == "Braga"

    for viewer in (None, bob, alice):
        response = await _revisions(client, post["id"], viewer)
        assert response.status_code == 200, response.text
        versions = response.json()["items"]
        assert [(v["content"], v["location_name"]) for v in versions] == [
            ("Second", "Porto"),
            ("First", "Porto"),
        ]
    older, newer = versions[1], versions[0]
    assert older["replaced_at"] <= newer["written_at"]

    page = (await client.get(f"{API}/posts/{post['id']}/revisions?limit=1")).json()
    assert len(page["items"]) == 1
    rest = await client.get(f"{API}/posts/{post['id']}/revisions?cursor={page['next_cursor']}")
    assert [v["content"] for v in rest.json()["items"]] == ["First"]


async def test_revisions_follow_the_posts_visibility(client, app):
    alice = await signed_in_user(client)
    friend = await signed_in_user(client)
    stranger = await signed_in_user(client)
    await graph.befriend(app, alice.user_id, friend.user_id)
    post = await new_post(client, alice, content="v1", visibility="friends")
    await edit(client, post["id"], alice, content="v2")
    assert (await _revisions(client, post["id"], friend)).status_code == 200
    for viewer in (None, stranger):
        assert_problem(await _revisions(client, post["id"], viewer), 404, "post_not_found")


async def test_switches_and_drafts_write_no_revision(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice)
    response = await edit(
        client, post["id"], alice, allow_reactions=False, comment_permission="nobody"
    )
    assert response.json()["allow_reactions"] is False
    assert response.json()["comment_permission"] == "nobody"
    assert response.json()["is_edited"] is False
    draft = await new_post(client, alice, content="rough", draft=True)
    response = await edit(client, draft["id"], alice, content="polished")
    assert response.json()["is_edited"] is False
    for post_id in (post["id"], draft["id"]):
        assert (await _revisions(client, post_id, alice)).json()["items"] == []


async def test_someone_elses_post_cannot_be_edited(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    public = await new_post(client, alice, content="mine")
    private = await new_post(client, alice, content="mine too", visibility="only_me")
    assert_problem(await edit(client, public["id"], bob, content="hacked"), 403, "not_author")
    assert_problem(await edit(client, private["id"], bob, content="hacked"), 404, "post_not_found")
    anonymous = await client.patch(f"{API}/posts/{public['id']}", json={"content": "x"})
    assert anonymous.status_code == 401
    assert (await get_post(client, public["id"], alice)).json()["content"] == "mine"
    assert (await get_post(client, private["id"], alice)).json()["content"] == "mine too"
    assert (await _revisions(client, public["id"], alice)).json()["items"] == []


async def test_bad_edits_are_refused_and_change_nothing(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, content="Stay", location_name="Here")
    link = await new_post(client, alice, type="link", link_url="https://example.org/")
    cases = [
        (post["id"], {"content": "x" * 5001}, "body.content", "content_too_long"),
        (post["id"], {"content": " "}, "body.content", "validation_failed"),
        (post["id"], {"content": None}, "body.content", "validation_failed"),
        (post["id"], {"visibility": None}, "body.visibility", "validation_failed"),
        (post["id"], {"latitude": 10.0}, "body.latitude", "validation_failed"),
        (post["id"], {"latitude": -91.0, "longitude": 0.0}, "body.latitude", "validation_failed"),
        (
            post["id"],
            {"location_name": None, "latitude": 1.0, "longitude": 1.0},
            "body.location_name",
            "validation_failed",
        ),
        (post["id"], {"visibility": "custom"}, "body.audience", "validation_failed"),
        (post["id"], {"audience": ["someone"]}, "body.audience", "validation_failed"),
        (post["id"], {"type": "photo"}, "body.type", "validation_failed"),
        (link["id"], {"link_url": None}, "body.link_url", "validation_failed"),
    ]
    for post_id, body, field, code in cases:
        assert_422_on(await edit(client, post_id, alice, **body), field, code)
    seen = (await get_post(client, post["id"], alice)).json()
    assert seen["content"] == "Stay"
    assert seen["location"]["name"] == "Here"
    assert seen["is_edited"] is False
    assert seen["visibility"] == "public"
    assert (await get_post(client, link["id"], alice)).json()["link_url"] == "https://example.org/"


async def test_visibility_and_audience_changes(client):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    post = await new_post(client, alice)
    response = await edit(client, post["id"], alice, visibility="custom", audience=[bob.username])
    assert response.status_code == 200, response.text
    assert [u["username"] for u in response.json()["audience"]] == [bob.username]
    assert (await get_post(client, post["id"], bob)).status_code == 200
    assert (await get_post(client, post["id"], carol)).status_code == 404
    # A new list replaces the old one; the visibility may be left out.
    await edit(client, post["id"], alice, audience=[carol.user_id])
    assert (await get_post(client, post["id"], bob)).status_code == 404
    assert (await get_post(client, post["id"], carol)).status_code == 200
    # Leaving custom drops the list.
    response = await edit(client, post["id"], alice, visibility="only_me")
    assert response.json()["audience"] is None
    assert (await get_post(client, post["id"], carol)).status_code == 404
    response = await edit(client, post["id"], alice, visibility="custom")
    assert_422_on(response, "body.audience")
    # Visibility changes are not text changes: no revision.
    assert (await _revisions(client, post["id"], alice)).json()["items"] == []


async def test_clearing_the_location(client):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, location_name="Faro", latitude=37.0, longitude=-7.9)
    response = await edit(client, post["id"], alice, location_name=None)
    assert response.json()["location"] is None
    versions = (await _revisions(client, post["id"], alice)).json()["items"]
    assert [v["location_name"] for v in versions] == ["Faro"]
