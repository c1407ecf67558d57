"""A change in the social graph shows in the very next page of the home feed, on both backends,
before any background job has run: what a person sees when they refresh right after unmuting.

In production (PostgreSQL + Redis) a graph event also drops the Redis feeds it touches in an
outbox job, which a worker runs some time after the commit. Here the outbox is held (nothing
relayed, the poll included) while the change is made and the feed read again, so the page
cannot depend on that job; it is released afterwards, and the page must still be right.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.outbox import run_outbox as settle
from tests.fixtures.outbox import worker_not_run_yet
from tests.fixtures.users import SignedIn, signed_in_user
from tests.modules.feed.test_home_feed import befriend, call, feed_ids, follow, follow_topic
from tests.modules.posts.helpers import API, new_post


async def make_private(client: httpx.AsyncClient, user: SignedIn) -> None:
    await call(client, "PATCH", "/me/profile", user, json={"is_private": True})


async def incoming_request_id(client: httpx.AsyncClient, user: SignedIn) -> str:
    response = await client.get(f"{API}/me/friend-requests/incoming", headers=user.headers)
    assert response.status_code == 200, response.text
    [request] = response.json()["items"]
    request_id: str = request["id"]
    return request_id


async def pending_follow_id(client: httpx.AsyncClient, user: SignedIn) -> str:
    response = await client.get(f"{API}/me/follow-requests", headers=user.headers)
    assert response.status_code == 200, response.text
    [request] = response.json()["items"]
    follow_id: str = request["id"]
    return follow_id


LIFTED = [
    "unmute",
    "unblock",
    "follow",
    "follow_approved",
    "friendship_accepted",
    "topic_followed",
    "close_friend_added",
]


@pytest.mark.parametrize("change", LIFTED)
async def test_what_a_graph_change_brings_shows_on_the_next_read(
    client: httpx.AsyncClient, app: FastAPI, change: str
) -> None:
    me, other = await signed_in_user(client), await signed_in_user(client)
    mine = await new_post(client, me, content="my own")
    # Setting the scene: the restriction stands, and the other person's posts are not mine.
    match change:
        case "unmute":
            await befriend(client, me, other)
            await call(client, "PUT", f"/me/mutes/{other.username}", me)
            expected = [await new_post(client, other, content="muted words")]
        case "unblock":
            expected = [await new_post(client, other, content="roses #gardening")]
            await follow_topic(client, me, "gardening")
            await call(client, "PUT", f"/me/blocks/{other.username}", me)
        case "follow":
            expected = [await new_post(client, other, content="public words")]
        case "follow_approved":
            await make_private(client, other)
            expected = [await new_post(client, other, content="for my followers")]
            await follow(client, me, other)  # pending
        case "friendship_accepted":
            expected = [await new_post(client, other, content="friends", visibility="friends")]
            await call(client, "POST", f"/users/{other.username}/friend-request", me)
        case "topic_followed":
            expected = [await new_post(client, other, content="tulips #gardening")]
        case "close_friend_added":
            await befriend(client, me, other)
            expected = [
                await new_post(client, other, content="close only", visibility="close_friends")
            ]
        case _:
            raise AssertionError(change)
    await settle(app)
    # Production: my Redis feed now exists, built without the other person's posts.
    assert await feed_ids(client, me) == [mine["id"]]
    await feed_ids(client, other)  # theirs too

    async with worker_not_run_yet(app):
        match change:
            case "unmute":
                await call(client, "DELETE", f"/me/mutes/{other.username}", me)
            case "unblock":
                await call(client, "DELETE", f"/me/blocks/{other.username}", me)
            case "follow":
                await follow(client, me, other)
            case "follow_approved":
                follow_id = await pending_follow_id(client, other)
                await call(client, "POST", f"/me/follow-requests/{follow_id}/approve", other)
            case "friendship_accepted":
                request_id = await incoming_request_id(client, other)
                await call(client, "POST", f"/me/friend-requests/{request_id}/accept", other)
            case "topic_followed":
                await follow_topic(client, me, "gardening")
            case "close_friend_added":
                await call(client, "PUT", f"/me/close-friends/{me.username}", other)
        # The very next read, while the change's jobs still wait for the worker.
        wanted = [*(e["id"] for e in expected[::-1]), mine["id"]]
        assert await feed_ids(client, me) == wanted
        if change == "friendship_accepted":  # both sides
            assert await feed_ids(client, other) == [expected[0]["id"], mine["id"]]
    # And after the jobs ran.
    assert await feed_ids(client, me) == wanted


async def test_unblock_then_follow_again_shows_on_the_next_read(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    me, other = await signed_in_user(client), await signed_in_user(client)
    await follow(client, me, other)
    post = await new_post(client, other, content="public words")
    await settle(app)
    assert await feed_ids(client, me) == [post["id"]]
    await call(client, "PUT", f"/me/blocks/{other.username}", me)  # ends the follow
    await settle(app)
    assert await feed_ids(client, me) == []
    async with worker_not_run_yet(app):
        await call(client, "DELETE", f"/me/blocks/{other.username}", me)
        assert await feed_ids(client, me) == []  # unblocking does not bring the follow back
        await follow(client, me, other)
        assert await feed_ids(client, me) == [post["id"]]
    assert await feed_ids(client, me) == [post["id"]]


IMPOSED = ["mute", "block_by_me", "block_by_them", "unfollow", "unfriend", "topic_unfollowed"]


@pytest.mark.parametrize("change", IMPOSED)
async def test_a_restriction_shows_on_the_next_read(
    client: httpx.AsyncClient, app: FastAPI, change: str
) -> None:
    me, other = await signed_in_user(client), await signed_in_user(client)
    mine = await new_post(client, me, content="my own")
    post = await new_post(client, other, content="words #gardening")
    match change:
        case "unfollow":
            await follow(client, me, other)
        case "topic_unfollowed":
            await follow_topic(client, me, "gardening")
        case _:
            await befriend(client, me, other)
    await settle(app)
    assert await feed_ids(client, me) == [post["id"], mine["id"]]

    async with worker_not_run_yet(app):
        match change:
            case "mute":
                await call(client, "PUT", f"/me/mutes/{other.username}", me)
            case "block_by_me":
                await call(client, "PUT", f"/me/blocks/{other.username}", me)
            case "block_by_them":
                await call(client, "PUT", f"/me/blocks/{me.username}", other)
            case "unfollow":
                await call(client, "DELETE", f"/users/{other.username}/follow", me)
            case "unfriend":
                await call(client, "DELETE", f"/me/friends/{other.username}", me)
            case "topic_unfollowed":
                await call(client, "DELETE", "/topics/gardening/follow", me)
        assert await feed_ids(client, me) == [mine["id"]]
    assert await feed_ids(client, me) == [mine["id"]]
