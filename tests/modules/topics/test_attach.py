"""Topics made from #hashtags: what attaching and detaching a post does to topics and counts."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.fixtures.content import create_post
from tests.fixtures.content_topics import (
    attach,
    create_tagged_post,
    detach,
    get_topic,
    replace,
    usage_of,
)
from tests.fixtures.users import signed_in_user
from tests.modules.topics.helpers import API, get_ok
from townsquare.kit.models import utcnow
from townsquare.modules.topics import service as topics


async def test_hashtags_make_case_insensitive_topics(app, client):
    author = await signed_in_user(client)
    await create_tagged_post(app, author.user_id, "Off to #PyCon with #Python3 and #pycon again")
    await create_tagged_post(app, author.user_id, "#PYCON day two")

    topic = await get_ok(client, "/topics/pycon")
    assert topic["name"] == "pycon"
    assert topic["display_name"] == "PyCon"  # the first spelling stays
    assert topic["post_count"] == 2  # the same tag twice in one post counts once
    assert topic["follower_count"] == 0
    assert topic["is_featured"] is False
    assert topic["following"] is False
    # Any case, with or without '#', reaches the same topic.
    for spelling in ("PyCon", "PYCON", "%23pycon", "%23PyCon"):
        assert (await get_ok(client, f"/topics/{spelling}"))["name"] == "pycon"
    assert (await get_ok(client, "/topics/python3"))["post_count"] == 1
    assert (await usage_of(app, "pycon")) == {utcnow().date(): 2}


async def test_unicode_letters_and_digits(app, client):
    author = await signed_in_user(client)
    await create_tagged_post(app, author.user_id, "#Straße #日本語 #Ελλάδα2024 #１２３abc #42")
    assert (await get_ok(client, "/topics/strasse"))["display_name"] == "Straße"
    assert (await get_ok(client, "/topics/STRASSE"))["post_count"] == 1
    assert (await get_ok(client, "/topics/日本語"))["post_count"] == 1
    assert (await get_ok(client, "/topics/ελλάδα2024"))["display_name"] == "Ελλάδα2024"
    # Full-width characters are the same topic as their plain spelling.
    assert (await get_ok(client, "/topics/123ABC"))["display_name"] == "１２３abc"
    # "#42" has no letter: not a hashtag, no topic.
    assert (await client.get(f"{API}/topics/42")).status_code == 404


async def test_attach_is_idempotent_and_detach_gives_counts_back(app, client):
    author = await signed_in_user(client)
    post_id = await create_tagged_post(app, author.user_id, "#alpha #beta")
    other = await create_tagged_post(app, author.user_id, "#alpha")
    await attach(app, post_id, ["Alpha", "beta"])  # again, in another case: nothing changes
    assert (await get_topic(app, "alpha")).post_count == 2
    assert (await get_topic(app, "beta")).post_count == 1
    assert await usage_of(app, "alpha") == {utcnow().date(): 2}

    await detach(app, post_id)
    assert (await get_topic(app, "alpha")).post_count == 1
    assert (await get_topic(app, "beta")).post_count == 0
    assert await usage_of(app, "alpha") == {utcnow().date(): 1}
    assert await usage_of(app, "beta") == {utcnow().date(): 0}
    await detach(app, post_id)  # nothing left to detach: nothing changes
    assert (await get_topic(app, "alpha")).post_count == 1
    await detach(app, other)
    assert (await get_topic(app, "alpha")).post_count == 0
    # The topic itself stays (its follows, description...), with no posts.
    assert (await get_ok(client, "/topics/alpha"))["post_count"] == 0


async def test_replace_keeps_unchanged_links(app, client):
    author = await signed_in_user(client)
    post_id = await create_tagged_post(app, author.user_id, "#keep #drop")
    await replace(app, post_id, ["Keep", "add"])
    assert (await get_topic(app, "keep")).post_count == 1
    assert (await get_topic(app, "drop")).post_count == 0
    assert (await get_topic(app, "add")).post_count == 1
    # The kept tag is not counted again as a new use.
    assert await usage_of(app, "keep") == {utcnow().date(): 1}
    assert await usage_of(app, "drop") == {utcnow().date(): 0}
    await replace(app, post_id, [])
    assert (await get_topic(app, "keep")).post_count == 0
    assert (await get_topic(app, "add")).post_count == 0


async def test_no_tags_no_topics(app, client):
    author = await signed_in_user(client)
    post_id = await create_post(app, author.user_id, content="nothing to see")
    await attach(app, post_id, [])
    await detach(app, post_id)


async def test_at_most_thirty_topics_per_post(app, client):
    author = await signed_in_user(client)
    tags = [f"tag{i}x" for i in range(topics.MAX_TOPICS_PER_POST + 5)]
    await create_tagged_post(app, author.user_id, " ".join(f"#{t}" for t in tags))
    assert (await get_topic(app, tags[topics.MAX_TOPICS_PER_POST - 1])).post_count == 1
    assert await get_topic(app, tags[topics.MAX_TOPICS_PER_POST]) is None


async def test_long_tags_fit_the_column(app, client):
    author = await signed_in_user(client)
    # 'ß' case-folds to "ss": the name is cut back to 100 characters.
    await create_tagged_post(app, author.user_id, "#" + "ß" * 150)
    topic = await get_topic(app, "ss" * 50)
    assert topic is not None
    assert topic.display_name == "ß" * 100


async def test_concurrent_posts_with_the_same_new_tags_make_one_topic_each(app, client, backend):
    if backend.name != "postgres":
        pytest.skip("SQLite serializes writers; the race needs PostgreSQL")
    author = await signed_in_user(client)
    posts = [await create_post(app, author.user_id, content="#one #two #three") for _ in range(10)]
    orders = [["one", "two", "three"], ["Three", "TWO", "One"]]
    await asyncio.gather(*(attach(app, p, orders[i % 2]) for i, p in enumerate(posts)))
    await asyncio.gather(*(attach(app, p, ["one"]) for p in posts))  # again, at once
    for name in ("one", "two", "three"):
        topic = await get_topic(app, name)
        assert topic.post_count == 10
        assert await usage_of(app, name) == {utcnow().date(): 10}
    await asyncio.gather(*(detach(app, p) for p in posts))
    for name in ("one", "two", "three"):
        assert (await get_topic(app, name)).post_count == 0


async def test_detaching_an_unknown_post_changes_nothing(app):
    await detach(app, uuid.uuid4())
