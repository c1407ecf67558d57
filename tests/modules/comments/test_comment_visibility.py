"""Comments inherit their post's visibility; blocked and hidden authors' comments disappear.

Every negative case answers 404 (as for a comment that does not exist) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures import content, graph
from tests.fixtures.users import PASSWORD, SignedIn
from tests.modules.comments.helpers import (
    API,
    all_pages,
    assert_problem,
    comment,
    get_json,
    headers_of,
    new_comment,
    new_reply,
    reply,
    users,
)
from townsquare.kit.models import utcnow
from townsquare.modules.posts.models import PostStatus, Visibility

#: Posts the viewer (a signed-in stranger, or nobody) may not see, made by ``author``.
HiddenPost = Callable[[FastAPI, SignedIn, SignedIn], Awaitable[str]]


async def friends_post(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, visibility=Visibility.FRIENDS)


async def close_friends_post(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, visibility=Visibility.CLOSE_FRIENDS)


async def only_me_post(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, visibility=Visibility.ONLY_ME)


async def custom_post_for_someone_else(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, visibility=Visibility.CUSTOM)


async def draft(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, status=PostStatus.DRAFT)


async def scheduled(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(
        app,
        author.user_id,
        status=PostStatus.SCHEDULED,
        published_at=utcnow() + timedelta(days=1),
    )


async def deleted_post(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, deleted=True)


async def archived_post(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    return await content.create_post(app, author.user_id, archived=True)


async def post_of_someone_who_blocked_me(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    await graph.block(app, author.user_id, viewer.user_id)
    return await content.create_post(app, author.user_id)


async def post_of_someone_i_blocked(app: FastAPI, author: SignedIn, viewer: SignedIn) -> str:
    await graph.block(app, viewer.user_id, author.user_id)
    return await content.create_post(app, author.user_id)


HIDDEN_POSTS = [
    friends_post,
    close_friends_post,
    only_me_post,
    custom_post_for_someone_else,
    draft,
    scheduled,
    deleted_post,
    archived_post,
    post_of_someone_who_blocked_me,
    post_of_someone_i_blocked,
]


async def _seed_thread(
    client: httpx.AsyncClient, app: FastAPI, author: SignedIn, post_id: str
) -> str:
    """A comment by the author on their own post (the author always sees it)."""
    return str((await new_comment(client, author, post_id, "Only for the right eyes"))["id"])


async def _assert_all_comment_paths_404(
    client: httpx.AsyncClient, viewer: SignedIn | None, post_id: str, comment_id: str
) -> None:
    headers = headers_of(viewer)
    body = {"content": "Let me in"}
    answers = [
        await client.get(f"{API}/posts/{post_id}/comments", headers=headers),
        await client.get(f"{API}/comments/{comment_id}", headers=headers),
        await client.get(f"{API}/comments/{comment_id}/replies", headers=headers),
        await client.get(f"{API}/comments/{comment_id}/reactions", headers=headers),
        await client.get(f"{API}/comments/{comment_id}/reactions/summary", headers=headers),
    ]
    if viewer is not None:
        answers += [
            await client.post(f"{API}/posts/{post_id}/comments", json=body, headers=headers),
            await client.post(f"{API}/comments/{comment_id}/replies", json=body, headers=headers),
            await client.patch(f"{API}/comments/{comment_id}", json=body, headers=headers),
            await client.delete(f"{API}/comments/{comment_id}", headers=headers),
            await client.put(
                f"{API}/comments/{comment_id}/reaction", json={"type": "like"}, headers=headers
            ),
            await client.delete(f"{API}/comments/{comment_id}/reaction", headers=headers),
        ]
    for response in answers:
        request = response.request
        assert response.status_code == 404, (request.method, request.url, response.text)
        assert response.json()["code"] in ("post_not_found", "comment_not_found")


@pytest.mark.parametrize("make_post", HIDDEN_POSTS, ids=lambda f: f.__name__)
async def test_a_viewer_who_cannot_see_the_post_gets_404_everywhere(
    client: httpx.AsyncClient, app: FastAPI, make_post: HiddenPost
) -> None:
    author, stranger = await users(client, 2)
    post_id = await make_post(app, author, stranger)
    comment_id = await _seed_thread(client, app, author, post_id)

    await _assert_all_comment_paths_404(client, stranger, post_id, comment_id)
    if "block" not in make_post.__name__:  # a block hides nothing from anonymous readers
        await _assert_all_comment_paths_404(client, None, post_id, comment_id)

    post = await content.get_post(app, post_id)
    assert post.comment_count == 1, "nothing changed"
    mine = await get_json(client, f"/comments/{comment_id}", author)
    assert mine["content"] == "Only for the right eyes"
    assert mine["replies_count"] == 0


async def test_the_right_audience_sees_and_anonymous_sees_public_posts_only(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, friend, close, listed = await users(client, 4)
    await graph.befriend(app, author.user_id, friend.user_id)
    await graph.add_close_friend(app, author.user_id, close.user_id)
    cases = {
        Visibility.FRIENDS: friend,
        Visibility.CLOSE_FRIENDS: close,
        Visibility.CUSTOM: listed,
    }
    for visibility, viewer in cases.items():
        post_id = await content.create_post(
            app, author.user_id, visibility=visibility, audience=[listed.user_id]
        )
        created = await new_comment(client, viewer, post_id)
        assert [c["id"] for c in await all_pages(client, f"/posts/{post_id}/comments", viewer)] == [
            created["id"]
        ]
        anonymous = await client.get(f"{API}/posts/{post_id}/comments")
        assert_problem(anonymous, 404)
    public = await content.create_post(app, author.user_id)
    created = await new_comment(client, friend, public)
    assert [c["id"] for c in await all_pages(client, f"/posts/{public}/comments")] == [
        created["id"]
    ]


async def test_a_commenter_who_loses_sight_of_the_post_loses_their_comment_too(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    created = await new_comment(client, bob, post_id)

    await content.update_post(app, post_id, visibility=Visibility.ONLY_ME)

    await _assert_all_comment_paths_404(client, bob, post_id, created["id"])
    assert (await content.get_post(app, post_id)).comment_count == 1


async def test_blocks_hide_comments_both_ways(client: httpx.AsyncClient, app: FastAPI) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    by_bob = await new_comment(client, bob, post_id, "bob here")
    by_carol = await new_comment(client, carol, post_id, "carol here")
    carol_reply = await new_reply(client, carol, by_bob["id"], "carol answers bob")

    await graph.block(app, bob.user_id, carol.user_id)

    def ids(items: list[dict[str, object]]) -> list[object]:
        return [item["id"] for item in items]

    assert ids(await all_pages(client, f"/posts/{post_id}/comments", bob)) == [by_bob["id"]]
    assert ids(await all_pages(client, f"/posts/{post_id}/comments", carol)) == [by_carol["id"]]
    assert ids(await all_pages(client, f"/comments/{by_bob['id']}/replies", bob)) == []
    assert ids(await all_pages(client, f"/posts/{post_id}/comments", author)) == [
        by_bob["id"],
        by_carol["id"],
    ]
    assert ids(await all_pages(client, f"/comments/{by_bob['id']}/replies", author)) == [
        carol_reply["id"]
    ]
    # Single comments and replying answer 404 across the block, in both directions.
    for viewer, other in ((bob, by_carol), (carol, by_bob)):
        assert_problem(
            await client.get(f"{API}/comments/{other['id']}", headers=viewer.headers),
            404,
            "comment_not_found",
        )
        assert_problem(await reply(client, viewer, other["id"]), 404, "comment_not_found")
    assert (await content.get_post(app, post_id)).comment_count == 3


async def test_comments_of_hidden_accounts_disappear(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    created = await new_comment(client, bob, post_id)

    response = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=bob.headers
    )
    assert response.status_code in (200, 204), response.text

    assert await all_pages(client, f"/posts/{post_id}/comments", author) == []
    assert_problem(await client.get(f"{API}/comments/{created['id']}", headers=author.headers), 404)


async def test_anonymous_cannot_write(client: httpx.AsyncClient, app: FastAPI) -> None:
    [author] = await users(client, 1)
    post_id = await content.create_post(app, author.user_id)
    created = await new_comment(client, author, post_id)
    body = {"content": "hi"}
    for response in (
        await client.post(f"{API}/posts/{post_id}/comments", json=body),
        await client.post(f"{API}/comments/{created['id']}/replies", json=body),
        await client.patch(f"{API}/comments/{created['id']}", json=body),
        await client.delete(f"{API}/comments/{created['id']}"),
    ):
        assert_problem(response, 401)
    assert (await content.get_post(app, post_id)).comment_count == 1
    unknown = "0190f5c0-0000-7000-8000-000000000000"
    assert_problem(await comment(client, author, unknown), 404, "post_not_found")
    assert_problem(await reply(client, author, unknown), 404, "comment_not_found")
