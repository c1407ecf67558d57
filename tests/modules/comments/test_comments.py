"""Comments: writing, threading to depth 3, permissions, edits, soft deletes, mentions, events."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.fixtures import content, graph
from tests.fixtures.users import signed_in_user
from tests.modules.comments.helpers import (
    API,
    all_pages,
    assert_problem,
    comment,
    db_all,
    db_scalar,
    error_fields,
    events_named,
    get_json,
    new_comment,
    new_reply,
    react,
    reply,
    set_hide_metrics,
    users,
)
from townsquare.modules.comments.models import Comment, CommentMention
from townsquare.modules.posts.models import CommentPermission, Visibility


async def comment_count(app: FastAPI, post_id: str) -> int:
    return (await content.get_post(app, post_id)).comment_count


async def test_comment_on_a_post_and_read_it_back(client: httpx.AsyncClient, app: FastAPI) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)

    created = await new_comment(client, bob, post_id, "  First!  ")

    assert created["content"] == "First!"
    assert created["post_id"] == post_id
    assert created["parent_id"] is None
    assert created["depth"] == 0
    assert created["author"]["user_id"] == bob.user_id
    assert created["author"]["username"] == bob.username
    assert created["deleted"] is False
    assert created["is_edited"] is False
    assert created["replies_count"] == 0
    assert created["reactions"] == {}
    assert created["my_reaction"] is None
    assert await comment_count(app, post_id) == 1
    listed = await get_json(client, f"/posts/{post_id}/comments", author)
    assert [c["id"] for c in listed["items"]] == [created["id"]]
    assert listed["next_cursor"] is None
    assert await get_json(client, f"/comments/{created['id']}") == created | {"my_reaction": None}


async def test_replies_nest_to_depth_3_and_then_attach_at_depth_3(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    top = await new_comment(client, bob, post_id)
    first = await new_reply(client, carol, top["id"])
    second = await new_reply(client, bob, first["id"])
    third = await new_reply(client, carol, second["id"])

    answer = await new_reply(client, author, third["id"], "Answering the deepest one.")

    assert [c["depth"] for c in (top, first, second, third)] == [0, 1, 2, 3]
    assert [first["parent_id"], second["parent_id"], third["parent_id"]] == [
        top["id"],
        first["id"],
        second["id"],
    ]
    assert answer["depth"] == 3
    assert answer["parent_id"] == second["id"], "a reply to depth 3 becomes its sibling"
    counts = {
        c["id"]: (await get_json(client, f"/comments/{c['id']}"))["replies_count"]
        for c in (top, first, second, third)
    }
    assert counts == {top["id"]: 1, first["id"]: 1, second["id"]: 2, third["id"]: 0}
    assert await comment_count(app, post_id) == 5
    siblings = await all_pages(client, f"/comments/{second['id']}/replies")
    assert [c["id"] for c in siblings] == [third["id"], answer["id"]]
    top_level = await all_pages(client, f"/posts/{post_id}/comments")
    assert [c["id"] for c in top_level] == [top["id"]]
    created = (await events_named(app, "comment.created"))[-1]
    assert created == {
        "comment_id": answer["id"],
        "post_id": post_id,
        "post_author_id": author.user_id,
        "author_id": author.user_id,
        "depth": 3,
        "parent_id": second["id"],
        "parent_author_id": bob.user_id,
        "in_reply_to_id": third["id"],
        "in_reply_to_author_id": carol.user_id,
    }


async def test_lists_are_oldest_first_with_cursors(client: httpx.AsyncClient, app: FastAPI) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    ids = [(await new_comment(client, bob, post_id, f"comment {i}"))["id"] for i in range(5)]
    top = ids[0]
    reply_ids = [(await new_reply(client, author, top, f"reply {i}"))["id"] for i in range(3)]

    first = await get_json(client, f"/posts/{post_id}/comments", bob, limit=2)
    assert [c["id"] for c in first["items"]] == ids[:2]
    assert first["next_cursor"]
    second = await get_json(
        client, f"/posts/{post_id}/comments", bob, limit=2, cursor=first["next_cursor"]
    )
    assert [c["id"] for c in second["items"]] == ids[2:4]
    assert [c["id"] for c in await all_pages(client, f"/posts/{post_id}/comments", limit=2)] == ids
    assert [c["id"] for c in await all_pages(client, f"/comments/{top}/replies", limit=2)] == (
        reply_ids
    )
    bad = await client.get(f"{API}/posts/{post_id}/comments", params={"cursor": "%%%"})
    assert_problem(bad, 422, "validation_failed")
    assert "query.cursor" in error_fields(bad.json())


async def test_who_may_comment_follows_the_posts_switch(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, friend, stranger = await users(client, 3)
    await graph.befriend(app, author.user_id, friend.user_id)
    friends_only = await content.create_post(
        app, author.user_id, comment_permission=CommentPermission.FRIENDS
    )
    nobody = await content.create_post(
        app, author.user_id, comment_permission=CommentPermission.NOBODY
    )

    assert_problem(await comment(client, stranger, friends_only), 403, "comments_not_allowed")
    assert (await comment(client, friend, friends_only)).status_code == 201
    assert (await comment(client, author, friends_only)).status_code == 201
    assert_problem(await comment(client, friend, nobody), 403, "comments_not_allowed")
    assert_problem(await comment(client, stranger, nobody), 403, "comments_not_allowed")
    own = await new_comment(client, author, nobody, "The author may always comment.")
    # The switch governs replies as well.
    assert_problem(await reply(client, friend, own["id"]), 403, "comments_not_allowed")
    assert (await reply(client, author, own["id"])).status_code == 201

    assert await comment_count(app, friends_only) == 2
    assert await comment_count(app, nobody) == 2
    assert (
        await db_scalar(
            app, select(Comment.id).where(Comment.author_id == uuid.UUID(stranger.user_id))
        )
        is None
    )


async def test_bad_content_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, app_factory: object
) -> None:
    app: FastAPI = await app_factory(comment_max_length=10)  # type: ignore[operator]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        author = await signed_in_user(http)
        post_id = await content.create_post(app, author.user_id)
        url = f"{API}/posts/{post_id}/comments"
        for body in (
            {"content": ""},
            {"content": "   "},
            {"content": "x" * 11},
            {"content": "nul\x00"},
            {"content": 5},
            {},
            {"content": "ok", "extra": 1},
        ):
            response = await http.post(url, json=body, headers=author.headers)
            problem = assert_problem(response, 422, "validation_failed")
            assert error_fields(response.json()) & {"body.content", "body.extra", "body"}, problem
        assert (
            await http.post(url, json={"content": "x" * 10}, headers=author.headers)
        ).status_code == 201
        assert await comment_count(app, post_id) == 1


async def test_edit_own_comment_only(client: httpx.AsyncClient, app: FastAPI) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    created = await new_comment(client, bob, post_id, "Frist")

    unchanged = await client.patch(
        f"{API}/comments/{created['id']}", json={"content": "Frist"}, headers=bob.headers
    )
    assert unchanged.json()["is_edited"] is False
    edited = await client.patch(
        f"{API}/comments/{created['id']}", json={"content": "First"}, headers=bob.headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["content"] == "First"
    assert edited.json()["is_edited"] is True
    assert edited.json()["edited_at"]

    # Not even the post's author may rewrite someone else's words.
    refused = await client.patch(
        f"{API}/comments/{created['id']}", json={"content": "Hijacked"}, headers=author.headers
    )
    assert_problem(refused, 403, "not_comment_author")
    assert (await get_json(client, f"/comments/{created['id']}"))["content"] == "First"


async def test_soft_delete_keeps_the_thread_and_counts_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    top = await new_comment(client, bob, post_id, "Something regrettable")
    answer = await new_reply(client, carol, top["id"])
    assert await comment_count(app, post_id) == 2

    assert (
        await client.delete(f"{API}/comments/{top['id']}", headers=bob.headers)
    ).status_code == 204
    assert (
        await client.delete(f"{API}/comments/{top['id']}", headers=bob.headers)
    ).status_code == 204

    assert await comment_count(app, post_id) == 1
    [shown] = (await get_json(client, f"/posts/{post_id}/comments", carol))["items"]
    assert shown["id"] == top["id"]
    assert shown["deleted"] is True
    assert shown["content"] == ""
    assert shown["author"] is None
    assert shown["replies_count"] == 1
    replies = (await get_json(client, f"/comments/{top['id']}/replies", carol))["items"]
    assert [r["id"] for r in replies] == [answer["id"]]
    assert_problem(await reply(client, carol, top["id"]), 409, "comment_deleted")
    assert_problem(
        await react(client, carol, "comments", top["id"], "like"), 409, "comment_deleted"
    )
    edit = await client.patch(
        f"{API}/comments/{top['id']}", json={"content": "Undo"}, headers=bob.headers
    )
    assert_problem(edit, 409, "comment_deleted")
    assert await comment_count(app, post_id) == 1
    [deleted] = await events_named(app, "comment.deleted")
    assert deleted["comment_id"] == top["id"]
    assert deleted["by"] == bob.user_id


async def test_the_posts_author_may_remove_any_comment_others_may_not(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    by_bob = await new_comment(client, bob, post_id)
    by_carol = await new_comment(client, carol, post_id)

    refused = await client.delete(f"{API}/comments/{by_bob['id']}", headers=carol.headers)
    assert_problem(refused, 403, "comment_removal_forbidden")
    assert await comment_count(app, post_id) == 2

    # Even a comment by someone the author has since blocked (which the author no longer sees).
    await graph.block(app, author.user_id, carol.user_id)
    for comment_id in (by_bob["id"], by_carol["id"]):
        response = await client.delete(f"{API}/comments/{comment_id}", headers=author.headers)
        assert response.status_code == 204, response.text
    assert await comment_count(app, post_id) == 0


async def test_mentions_link_only_users_who_may_see_the_post(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, friend, other_friend, stranger = await users(client, 4)
    for user in (friend, other_friend):
        await graph.befriend(app, author.user_id, user.user_id)
    post_id = await content.create_post(app, author.user_id, visibility=Visibility.FRIENDS)
    text = (
        f"@{other_friend.username} @{stranger.username} @{friend.username} "
        f"@{author.username.upper()} @nobody_here_at_all"
    )

    created = await new_comment(client, friend, post_id, text)

    rows = await db_all(
        app,
        select(CommentMention.user_id).where(CommentMention.comment_id == uuid.UUID(created["id"])),
    )
    assert {str(row[0]) for row in rows} == {other_friend.user_id, author.user_id}
    [event] = await events_named(app, "comment.mentioned")
    assert event["comment_id"] == created["id"]
    assert set(event["mentioned_user_ids"]) == {other_friend.user_id, author.user_id}

    # An edit re-links: new mentions notify once, dropped ones are unlinked.
    edited = await client.patch(
        f"{API}/comments/{created['id']}",
        json={"content": f"@{author.username} only"},
        headers=friend.headers,
    )
    assert edited.status_code == 200, edited.text
    rows = await db_all(
        app,
        select(CommentMention.user_id).where(CommentMention.comment_id == uuid.UUID(created["id"])),
    )
    assert {str(row[0]) for row in rows} == {author.user_id}
    assert len(await events_named(app, "comment.mentioned")) == 1


async def test_comments_carry_reaction_counts_and_my_reaction(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    created = await new_comment(client, bob, post_id)
    for user, type_ in ((author, "love"), (carol, "love"), (bob, "laugh")):
        assert (await react(client, user, "comments", created["id"], type_)).status_code == 200

    [seen] = (await get_json(client, f"/posts/{post_id}/comments", carol))["items"]
    assert seen["reactions"] == {"love": 2, "laugh": 1}
    assert seen["my_reaction"] == "love"
    [anonymous] = (await get_json(client, f"/posts/{post_id}/comments"))["items"]
    assert anonymous["reactions"] == {"love": 2, "laugh": 1}
    assert anonymous["my_reaction"] is None

    await set_hide_metrics(client, carol, True)
    [calm] = (await get_json(client, f"/posts/{post_id}/comments", carol))["items"]
    assert calm["reactions"] is None
    assert calm["my_reaction"] == "love"
    assert (await get_json(client, f"/comments/{created['id']}", carol))["reactions"] is None
