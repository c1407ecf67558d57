"""``repository.viewers_who_may_see``: the many-viewers form of the visibility policy (what
notifications use to drop recipients who may not see a post) agrees with the policy for each
viewer, whatever blocks exist elsewhere in the graph."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.fixtures import graph
from tests.fixtures.content import create_post
from tests.fixtures.users import SignedIn, signed_in_user, unique_username
from townsquare.kit.models import utcnow
from townsquare.modules.posts import repository
from townsquare.modules.posts.models import Visibility


async def _people(client: httpx.AsyncClient, *names: str) -> list[SignedIn]:
    return [await signed_in_user(client, unique_username(name)) for name in names]


async def _may_see(app: FastAPI, post_id: str, viewers: list[SignedIn]) -> set[str]:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        found = await repository.viewers_who_may_see(
            uow.session, uuid.UUID(post_id), [uuid.UUID(v.user_id) for v in viewers], utcnow()
        )
    return {str(user_id) for user_id in found}


async def test_friends_only_post_excludes_strangers(client: httpx.AsyncClient, app: FastAPI):
    author, friend, stranger = await _people(client, "author", "friend", "stranger")
    await graph.befriend(app, author.user_id, friend.user_id)
    post_id = await create_post(app, author.user_id, visibility=Visibility.FRIENDS)
    everyone = [author, friend, stranger]
    assert await _may_see(app, post_id, everyone) == {author.user_id, friend.user_id}
    assert await _may_see(app, post_id, [stranger]) == set()
    public = await create_post(app, author.user_id)
    assert await _may_see(app, public, everyone) == {u.user_id for u in everyone}


async def test_a_block_removes_only_the_blocked(client: httpx.AsyncClient, app: FastAPI):
    author, friend, other_friend, third, blocked, blocker = await _people(
        client, "author", "friend", "friend2", "third", "blocked", "blocker"
    )
    for user in (friend, other_friend, blocked, blocker):
        await graph.befriend(app, author.user_id, user.user_id)
    friends_only = await create_post(app, author.user_id, visibility=Visibility.FRIENDS)
    public = await create_post(app, author.user_id)
    viewers = [author, friend, other_friend, third, blocked, blocker]

    # A block between the author's friend and someone else has nothing to do with the author.
    await graph.block(app, other_friend.user_id, third.user_id)
    assert await _may_see(app, friends_only, viewers) == {
        u.user_id for u in (author, friend, other_friend, blocked, blocker)
    }
    # Blocks with the author, both ways: only the blocked and the blocker are out.
    await graph.block(app, author.user_id, blocked.user_id)
    await graph.block(app, blocker.user_id, author.user_id)
    assert await _may_see(app, friends_only, viewers) == {
        u.user_id for u in (author, friend, other_friend)
    }
    assert await _may_see(app, public, viewers) == {
        u.user_id for u in (author, friend, other_friend, third)
    }
    assert await _may_see(app, public, [blocked, blocker]) == set()
