"""@mentions are linked only for users who may see the post; #hashtags feed topics."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from tests.fixtures import graph
from tests.fixtures.users import signed_in_user
from tests.modules.posts.helpers import API, act, edit, get_post, new_post
from townsquare.kit.events import OutboxEvent
from townsquare.modules.topics.models import Topic


async def _mentioned(app: FastAPI) -> list[tuple[str, str]]:
    """(post id, user id) of every ``post.mentioned`` event, in order."""
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(OutboxEvent.payload)
            .where(OutboxEvent.name == "post.mentioned")
            .order_by(OutboxEvent.id)
        )
        return [(p["post_id"], p["user_id"]) for p in rows]


async def _topics(app: FastAPI) -> dict[str, int]:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(select(Topic.name, Topic.post_count))
        return {name: count for name, count in rows}


def _linked(post: dict) -> set[str]:
    return {m["username"] for m in post["mentions"]}


async def test_mentions_link_only_users_who_may_see_the_post(client, app):
    alice = await signed_in_user(client)
    friend = await signed_in_user(client)
    stranger = await signed_in_user(client)
    blocked = await signed_in_user(client)
    hidden = await signed_in_user(client)
    await graph.befriend(app, alice.user_id, friend.user_id)
    await graph.befriend(app, alice.user_id, blocked.user_id)
    await graph.block(app, blocked.user_id, alice.user_id)
    await graph.set_hidden(app, hidden.user_id)
    names = [friend, stranger, blocked, hidden, alice]
    text = " ".join(f"@{u.username}" for u in names) + " @nobody_at_all"

    public = await new_post(client, alice, content=text)
    assert _linked(public) == {friend.username, stranger.username}
    friends_only = await new_post(client, alice, content=text, visibility="friends")
    assert _linked(friends_only) == {friend.username}
    custom = await new_post(
        client, alice, content=text, visibility="custom", audience=[stranger.username]
    )
    assert _linked(custom) == {stranger.username}
    only_me = await new_post(client, alice, content=text, visibility="only_me")
    assert _linked(only_me) == set()

    assert sorted(await _mentioned(app)) == sorted(
        [
            (public["id"], friend.user_id),
            (public["id"], stranger.user_id),
            (friends_only["id"], friend.user_id),
            (custom["id"], stranger.user_id),
        ]
    )
    # The mention's user id comes with the username.
    by_name = {m["username"]: m["user_id"] for m in public["mentions"]}
    assert by_name[friend.username] == friend.user_id


async def test_drafts_link_mentions_when_published(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    draft = await new_post(client, alice, content=f"hi @{bob.username}", draft=True)
    assert draft["mentions"] == []
    assert await _mentioned(app) == []
    published = (await act(client, draft["id"], "publish", alice)).json()
    assert _linked(published) == {bob.username}
    assert await _mentioned(app) == [(draft["id"], bob.user_id)]


async def test_edits_relink_mentions_and_notify_only_new_ones(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    post = await new_post(client, alice, content=f"hi @{bob.username}")
    edited = await edit(client, post["id"], alice, content=f"hi @{bob.username} @{carol.username}")
    assert _linked(edited.json()) == {bob.username, carol.username}
    edited = await edit(client, post["id"], alice, content=f"just @{carol.username}")
    assert _linked(edited.json()) == {carol.username}
    # Narrowing the audience unlinks who can no longer see the post.
    edited = await edit(client, post["id"], alice, visibility="custom", audience=[bob.username])
    assert _linked(edited.json()) == set()
    assert await _mentioned(app) == [(post["id"], bob.user_id), (post["id"], carol.user_id)]


async def test_a_blocked_mention_is_not_shown_to_the_blocker(client, app):
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    viewer = await signed_in_user(client)
    post = await new_post(client, alice, content=f"with @{bob.username}")
    await graph.block(app, viewer.user_id, bob.user_id)
    assert (await get_post(client, post["id"], viewer)).json()["mentions"] == []
    assert _linked((await get_post(client, post["id"])).json()) == {bob.username}


async def test_hashtags_make_topics_while_the_post_is_published(client, app):
    alice = await signed_in_user(client)
    post = await new_post(client, alice, content="#Python and #python and #Rust")
    assert post["hashtags"] == ["Python", "Rust"]
    assert await _topics(app) == {"python": 1, "rust": 1}
    await new_post(client, alice, content="#python again")
    draft = await new_post(client, alice, content="#draft_only", draft=True)
    assert await _topics(app) == {"python": 2, "rust": 1}

    await edit(client, post["id"], alice, content="now #Go and #rust")
    topics = await _topics(app)
    assert topics["python"] == 1
    assert topics["rust"] == 1
    assert topics["go"] == 1

    await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
    topics = await _topics(app)
    assert (topics["go"], topics["rust"], topics["python"]) == (0, 0, 1)
    await act(client, draft["id"], "publish", alice)
    assert (await _topics(app))["draft_only"] == 1
