"""Must show 3: many users reacting to and commenting on one post at once leave exact counts,
and the same reaction sent twice at once makes one row. Runs on both backends; the PostgreSQL
run (real concurrent transactions, READ COMMITTED) is the one that matters."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures import content
from tests.modules.comments.helpers import (
    API,
    db_all,
    db_scalar,
    get_json,
    new_comment,
    react,
    reply,
    unreact,
    users,
)
from townsquare.modules.comments.models import Comment
from townsquare.modules.reactions.models import Reaction, ReactionCount

USERS = 50


@pytest.fixture
async def app(app_factory: Callable[..., Awaitable[FastAPI]]) -> FastAPI:
    """SQLite queues writers on its busy timeout: give a crowd of them (on 2 shared cores)
    more than the default 5 s. PostgreSQL runs them truly at once either way."""
    return await app_factory(sqlite_busy_timeout_ms=120_000)


TYPES = ("like", "love", "laugh", "sad", "angry", "inspired", "grateful", "curious")


async def assert_exact_reaction_counts(app: FastAPI, target_id: str) -> dict[str, int]:
    """Counters per type equal the reaction rows per type; returns them."""
    target = uuid.UUID(target_id)
    rows = dict(
        await db_all(
            app,
            select(Reaction.type, func.count())
            .where(Reaction.target_id == target)
            .group_by(Reaction.type),
        )
    )
    counters = dict(
        await db_all(
            app,
            select(ReactionCount.type, ReactionCount.count).where(
                ReactionCount.target_id == target, ReactionCount.count != 0
            ),
        )
    )
    assert counters == rows
    return rows


async def assert_exact_comment_count(app: FastAPI, post_id: str) -> int:
    live = await db_scalar(
        app,
        select(func.count()).where(
            Comment.post_id == uuid.UUID(post_id), Comment.deleted_at.is_(None)
        ),
    )
    assert (await content.get_post(app, post_id)).comment_count == live
    return int(live)


async def test_fifty_users_react_and_comment_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, *crowd = await users(client, USERS + 1, "crowd")
    post_id = await content.create_post(app, author.user_id)
    top = await new_comment(client, author, post_id, "Tell me what you think")

    async def take_part(index: int) -> None:
        user = crowd[index]
        answers = await asyncio.gather(
            react(client, user, "posts", post_id, TYPES[index % len(TYPES)]),
            react(client, user, "comments", top["id"], TYPES[(index + 1) % len(TYPES)]),
            client.post(
                f"{API}/posts/{post_id}/comments",
                json={"content": f"comment {index}"},
                headers=user.headers,
            ),
            reply(client, user, top["id"], f"reply {index}"),
        )
        for answer in answers:
            assert answer.status_code in (200, 201), answer.text

    await asyncio.gather(*(take_part(i) for i in range(USERS)))

    post_counts = await assert_exact_reaction_counts(app, post_id)
    assert sum(post_counts.values()) == USERS
    assert sum((await assert_exact_reaction_counts(app, top["id"])).values()) == USERS
    assert await assert_exact_comment_count(app, post_id) == 1 + 2 * USERS
    assert (await get_json(client, f"/comments/{top['id']}"))["replies_count"] == USERS
    assert (await get_json(client, f"/posts/{post_id}/reactions/summary"))["total"] == USERS

    # Now everyone changes, removes or repeats their reaction, and half delete their comment.
    async def change_mind(index: int) -> None:
        user = crowd[index]
        if index % 3 == 0:
            answer = await unreact(client, user, "posts", post_id)
        else:
            answer = await react(client, user, "posts", post_id, TYPES[(index + index % 3) % 8])
        assert answer.status_code in (200, 204), answer.text

    async def remove_own_comments(index: int) -> None:
        mine = await db_all(
            app,
            select(Comment.id).where(
                Comment.author_id == uuid.UUID(crowd[index].user_id),
                Comment.post_id == uuid.UUID(post_id),
            ),
        )
        for (comment_id,) in mine:
            # The author and the post's author remove the same comment at the same moment.
            answers = await asyncio.gather(
                client.delete(f"{API}/comments/{comment_id}", headers=crowd[index].headers),
                client.delete(f"{API}/comments/{comment_id}", headers=author.headers),
            )
            assert [a.status_code for a in answers] == [204, 204]

    await asyncio.gather(
        *(change_mind(i) for i in range(USERS)),
        *(remove_own_comments(i) for i in range(0, USERS, 2)),
    )

    post_counts = await assert_exact_reaction_counts(app, post_id)
    assert sum(post_counts.values()) == USERS - len(range(0, USERS, 3))
    assert await assert_exact_comment_count(app, post_id) == 1 + USERS
    # Deleted replies keep their place: the thread's shape, and its count, stay.
    assert (await get_json(client, f"/comments/{top['id']}"))["replies_count"] == USERS


async def test_the_same_reaction_twice_at_once_makes_one_row(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, *fans = await users(client, 11, "twice")
    post_id = await content.create_post(app, author.user_id)
    top = await new_comment(client, author, post_id)

    answers = await asyncio.gather(
        *(
            react(client, fan, kind, target, "love")
            for fan in fans
            for kind, target in (("posts", post_id), ("comments", top["id"]))
            for _ in range(2)
        )
    )

    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    for target in (post_id, top["id"]):
        assert await assert_exact_reaction_counts(app, target) == {"love": len(fans)}
    rows = await db_scalar(
        app, select(func.count()).where(Reaction.target_id == uuid.UUID(post_id))
    )
    assert rows == len(fans)


async def test_one_user_switching_types_at_once_moves_counts_exactly(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, fan = await users(client, 2, "switch")
    post_id = await content.create_post(app, author.user_id)

    answers = await asyncio.gather(
        *(react(client, fan, "posts", post_id, TYPES[i % 4]) for i in range(12)),
        *(unreact(client, fan, "posts", post_id) for _ in range(3)),
    )

    assert all(answer.status_code in (200, 204) for answer in answers), [a.text for a in answers]
    counts = await assert_exact_reaction_counts(app, post_id)
    assert sum(counts.values()) <= 1
