"""Listing a thread level costs the same number of queries whatever the page size."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.fixtures import content
from tests.fixtures.cache import empty_cache
from tests.modules.comments.helpers import (
    API,
    count_queries,
    new_comment,
    new_reply,
    react,
    users,
)

REACTIONS = ("like", "love", "laugh")


async def _page_cost(
    client: httpx.AsyncClient, app: FastAPI, path: str, limit: int, headers: dict[str, str]
) -> int:
    await empty_cache(app)
    async with count_queries(app) as statements:
        response = await client.get(f"{API}{path}", params={"limit": limit}, headers=headers)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == limit
    return len(statements)


async def test_comment_lists_run_a_constant_number_of_queries(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, viewer, *commenters = await users(client, 6)
    post_id = await content.create_post(app, author.user_id)
    top = await new_comment(client, author, post_id, "Start here")
    for i in range(22):
        writer = commenters[i % len(commenters)]
        created = await new_comment(client, writer, post_id, f"top {i}")
        answer = await new_reply(client, writer, top["id"], f"reply {i}")
        for target in (created, answer):
            await react(
                client,
                commenters[(i + 1) % len(commenters)],
                "comments",
                target["id"],
                REACTIONS[i % 3],
            )
    await react(client, viewer, "comments", top["id"], "love")

    for path in (f"/posts/{post_id}/comments", f"/comments/{top['id']}/replies"):
        for headers in (viewer.headers, {}):
            small = await _page_cost(client, app, path, 2, headers)
            large = await _page_cost(client, app, path, 20, headers)
            assert small == large, (path, small, large)
