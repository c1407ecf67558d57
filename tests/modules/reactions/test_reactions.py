"""Reactions: one per user per post or comment, replaced by a new type, removable, counted per
type; who reacted; the vocabulary and the post's switch; visibility; hidden metrics; events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures import content, graph
from tests.fixtures.cache import empty_cache
from tests.fixtures.users import PASSWORD, SignedIn, signed_in_user
from tests.modules.comments.helpers import (
    API,
    all_pages,
    assert_problem,
    count_queries,
    db_all,
    error_fields,
    events_named,
    get_json,
    headers_of,
    new_comment,
    react,
    set_hide_metrics,
    unreact,
    users,
)
from townsquare.modules.posts.models import Visibility
from townsquare.modules.reactions.models import Reaction, ReactionCount, TargetType

TARGETS = ["posts", "comments"]


async def make_target(
    client: httpx.AsyncClient, app: FastAPI, kind: str, author: SignedIn, **post: Any
) -> tuple[str, str]:
    """(post id, target id): the post itself, or a comment by ``author`` on it."""
    post_id = await content.create_post(app, author.user_id, **post)
    if kind == "posts":
        return post_id, post_id
    return post_id, str((await new_comment(client, author, post_id))["id"])


async def stored(app: FastAPI, target_id: str) -> tuple[dict[str, int], dict[str, int]]:
    """(rows per type, counters per type) for a target, straight from the database."""
    target = uuid.UUID(target_id)
    rows = await db_all(
        app,
        select(Reaction.type, func.count())
        .where(Reaction.target_id == target)
        .group_by(Reaction.type),
    )
    counters = await db_all(
        app,
        select(ReactionCount.type, ReactionCount.count).where(
            ReactionCount.target_id == target, ReactionCount.count != 0
        ),
    )
    return dict(rows), dict(counters)


async def summary(
    client: httpx.AsyncClient, kind: str, target_id: str, user: SignedIn | None = None
) -> dict[str, Any]:
    result: dict[str, Any] = await get_json(client, f"/{kind}/{target_id}/reactions/summary", user)
    return result


@pytest.mark.parametrize("kind", TARGETS)
async def test_react_replace_and_remove(client: httpx.AsyncClient, app: FastAPI, kind: str) -> None:
    author, bob = await users(client, 2)
    _, target_id = await make_target(client, app, kind, author)

    liked = await react(client, bob, kind, target_id, "like")
    assert liked.status_code == 200, liked.text
    assert liked.json() == {
        "target_type": kind[:-1],
        "target_id": target_id,
        "counts": {"like": 1},
        "total": 1,
        "my_reaction": "like",
    }
    again = await react(client, bob, kind, target_id, "like")
    assert again.json()["counts"] == {"like": 1}, "the same reaction twice is still one"

    loved = (await react(client, bob, kind, target_id, "love")).json()
    assert loved["counts"] == {"love": 1}
    assert loved["my_reaction"] == "love"
    assert await stored(app, target_id) == ({"love": 1}, {"love": 1})

    assert (await unreact(client, bob, kind, target_id)).status_code == 204
    assert (await unreact(client, bob, kind, target_id)).status_code == 204
    assert await summary(client, kind, target_id, bob) == {
        "target_type": kind[:-1],
        "target_id": target_id,
        "counts": {},
        "total": 0,
        "my_reaction": None,
    }
    assert await stored(app, target_id) == ({}, {})


@pytest.mark.parametrize("kind", TARGETS)
async def test_counts_per_type_and_who_reacted(
    client: httpx.AsyncClient, app: FastAPI, kind: str
) -> None:
    author, *others = await users(client, 6)
    _, target_id = await make_target(client, app, kind, author)
    types = ["love", "like", "love", "laugh", "love"]
    for user, type_ in zip(others, types, strict=True):
        assert (await react(client, user, kind, target_id, type_)).status_code == 200

    result = await summary(client, kind, target_id)
    assert result["counts"] == {"love": 3, "like": 1, "laugh": 1}
    assert result["total"] == 5
    assert result["my_reaction"] is None

    everyone = await all_pages(client, f"/{kind}/{target_id}/reactions", author, limit=2)
    assert [r["user"]["user_id"] for r in everyone] == [u.user_id for u in reversed(others)]
    assert [r["type"] for r in everyone] == list(reversed(types))
    first = everyone[0]
    assert first["user"] == {
        "user_id": others[-1].user_id,
        "username": others[-1].username,
        "display_name": others[-1].username.title(),
        "avatar_url": None,
        "is_verified": False,
    }
    assert first["reacted_at"]
    loves = await all_pages(client, f"/{kind}/{target_id}/reactions", type="love")
    assert [r["user"]["user_id"] for r in loves] == [
        others[4].user_id,
        others[2].user_id,
        others[0].user_id,
    ]
    bad = await client.get(f"{API}/{kind}/{target_id}/reactions", params={"type": "meh"})
    assert_problem(bad, 422, "validation_failed")
    assert "query.type" in error_fields(bad.json())


@pytest.mark.parametrize("kind", TARGETS)
async def test_unknown_types_are_refused_and_change_nothing(
    client: httpx.AsyncClient, app: FastAPI, kind: str
) -> None:
    author, bob = await users(client, 2)
    _, target_id = await make_target(client, app, kind, author)
    assert (await react(client, bob, kind, target_id, "like")).status_code == 200

    for body in (
        {"type": "meh"},
        {"type": "LOVE"},
        {"type": ""},
        {"type": None},
        {},
        {"type": "like", "x": 1},
    ):
        response = await client.put(
            f"{API}/{kind}/{target_id}/reaction", json=body, headers=bob.headers
        )
        assert_problem(response, 422, "validation_failed")
        assert error_fields(response.json()) & {"body.type", "body.x"}, response.text
    assert await stored(app, target_id) == ({"like": 1}, {"like": 1})
    assert (await summary(client, kind, target_id, bob))["my_reaction"] == "like"


async def test_the_vocabulary_is_the_deployments(app_factory: Any) -> None:
    app: FastAPI = await app_factory(reaction_types=["like", "curious"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        author = await signed_in_user(http)
        post_id = await content.create_post(app, author.user_id)
        refused = await react(http, author, "posts", post_id, "love")
        assert_problem(refused, 422, "validation_failed")
        assert error_fields(refused.json()) == {"body.type"}
        assert (await react(http, author, "posts", post_id, "curious")).status_code == 200
        assert await stored(app, post_id) == ({"curious": 1}, {"curious": 1})


@pytest.mark.parametrize("kind", TARGETS)
async def test_reactions_off_refuses_new_ones_but_lets_mine_go(
    client: httpx.AsyncClient, app: FastAPI, kind: str
) -> None:
    author, bob, carol = await users(client, 3)
    post_id, target_id = await make_target(client, app, kind, author)
    assert (await react(client, bob, kind, target_id, "like")).status_code == 200

    await content.update_post(app, post_id, allow_reactions=False)

    for user, type_ in ((carol, "like"), (bob, "love"), (author, "like")):
        assert_problem(await react(client, user, kind, target_id, type_), 403, "reactions_disabled")
    assert await stored(app, target_id) == ({"like": 1}, {"like": 1})
    assert (await unreact(client, bob, kind, target_id)).status_code == 204
    assert await stored(app, target_id) == ({}, {})


HIDDEN = [
    {"visibility": Visibility.FRIENDS},
    {"visibility": Visibility.ONLY_ME},
    {"visibility": Visibility.CUSTOM},
    {"deleted": True},
]


@pytest.mark.parametrize("kind", TARGETS)
@pytest.mark.parametrize("post", HIDDEN, ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()))
async def test_targets_the_viewer_cannot_see_are_404(
    client: httpx.AsyncClient, app: FastAPI, kind: str, post: dict[str, Any]
) -> None:
    author, stranger = await users(client, 2)
    _, target_id = await make_target(client, app, kind, author, **post)
    assert (await react(client, author, kind, target_id, "like")).status_code == 200

    for viewer in (stranger, None):
        for response in (
            await client.get(f"{API}/{kind}/{target_id}/reactions", headers=headers_of(viewer)),
            await client.get(
                f"{API}/{kind}/{target_id}/reactions/summary", headers=headers_of(viewer)
            ),
        ):
            assert_problem(response, 404)
    assert_problem(await react(client, stranger, kind, target_id, "love"), 404)
    assert_problem(await unreact(client, stranger, kind, target_id), 404)
    assert await stored(app, target_id) == ({"like": 1}, {"like": 1})


async def test_a_block_hides_the_post_from_both_sides(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    await graph.block(app, bob.user_id, author.user_id)
    assert_problem(await react(client, bob, "posts", post_id, "like"), 404, "post_not_found")
    assert await stored(app, post_id) == ({}, {})


async def test_anonymous_reads_public_counts_but_cannot_react(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    [author] = await users(client, 1)
    post_id = await content.create_post(app, author.user_id)
    assert (await react(client, author, "posts", post_id, "love")).status_code == 200
    put = await client.put(f"{API}/posts/{post_id}/reaction", json={"type": "like"})
    assert_problem(put, 401)
    assert_problem(await client.delete(f"{API}/posts/{post_id}/reaction"), 401)
    assert (await summary(client, "posts", post_id))["counts"] == {"love": 1}
    assert len(await all_pages(client, f"/posts/{post_id}/reactions")) == 1


async def test_who_reacted_leaves_out_blocked_and_hidden_users(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, viewer, blocked_by_viewer, blocker_of_viewer, leaver, plain = await users(client, 6)
    post_id = await content.create_post(app, author.user_id)
    for user in (blocked_by_viewer, blocker_of_viewer, leaver, plain):
        assert (await react(client, user, "posts", post_id, "like")).status_code == 200
    await graph.block(app, viewer.user_id, blocked_by_viewer.user_id)
    await graph.block(app, blocker_of_viewer.user_id, viewer.user_id)
    deactivated = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=leaver.headers
    )
    assert deactivated.status_code in (200, 204), deactivated.text

    seen = await all_pages(client, f"/posts/{post_id}/reactions", viewer)
    assert [r["user"]["user_id"] for r in seen] == [plain.user_id]
    by_author = await all_pages(client, f"/posts/{post_id}/reactions", author)
    assert {r["user"]["user_id"] for r in by_author} == {
        plain.user_id,
        blocked_by_viewer.user_id,
        blocker_of_viewer.user_id,
    }


async def test_hide_metrics_hides_counts_not_my_reaction(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob = await users(client, 2)
    post_id = await content.create_post(app, author.user_id)
    await set_hide_metrics(client, bob, True)

    answer = (await react(client, bob, "posts", post_id, "grateful")).json()
    assert answer["counts"] is None
    assert answer["total"] is None
    assert answer["my_reaction"] == "grateful"
    assert (await summary(client, "posts", post_id, bob))["counts"] is None
    assert (await summary(client, "posts", post_id, author))["counts"] == {"grateful": 1}
    await set_hide_metrics(client, bob, False)
    assert (await summary(client, "posts", post_id, bob))["total"] == 1


async def test_events_name_the_target_and_its_author(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, bob, carol = await users(client, 3)
    post_id = await content.create_post(app, author.user_id)
    by_carol = await new_comment(client, carol, post_id)

    await react(client, bob, "posts", post_id, "like")
    await react(client, bob, "posts", post_id, "like")
    await react(client, bob, "posts", post_id, "inspired")
    await react(client, bob, "comments", by_carol["id"], "curious")
    await unreact(client, bob, "posts", post_id)

    added = await events_named(app, "reaction.added")
    assert added == [
        {
            "user_id": bob.user_id,
            "target_type": "post",
            "target_id": post_id,
            "post_id": post_id,
            "target_author_id": author.user_id,
            "type": "like",
            "previous_type": None,
        },
        {
            "user_id": bob.user_id,
            "target_type": "comment",
            "target_id": by_carol["id"],
            "post_id": post_id,
            "target_author_id": carol.user_id,
            "type": "curious",
            "previous_type": None,
        },
    ]
    [changed] = await events_named(app, "reaction.changed")
    assert (changed["previous_type"], changed["type"]) == ("like", "inspired")
    [removed] = await events_named(app, "reaction.removed")
    assert removed["type"] == "inspired"
    assert removed["target_id"] == post_id


async def test_who_reacted_runs_a_constant_number_of_queries(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    author, *others = await users(client, 23)
    post_id = await content.create_post(app, author.user_id)
    for user in others:
        assert (await react(client, user, "posts", post_id, "like")).status_code == 200

    costs = []
    for limit in (2, 20):
        await empty_cache(app)
        async with count_queries(app) as statements:
            response = await client.get(
                f"{API}/posts/{post_id}/reactions", params={"limit": limit}, headers=author.headers
            )
        assert len(response.json()["items"]) == limit
        costs.append(len(statements))
    assert costs[0] == costs[1], costs


def test_target_types_are_the_public_names() -> None:
    assert [t.value for t in TargetType] == ["post", "comment"]
