"""View counts: a viewer counts once per window (``post_view_window_seconds``).

Signed-in viewers by account, anonymous ones by a keyed hash of their network source; repeats
answer 204 like the first view and change nothing. The "seen" marks live in the limiter's store
(process memory, or Redis on the PostgreSQL backend), so several processes agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from tests.fixtures.problems import assert_problem
from tests.fixtures.users import SignedIn, signed_in_user
from tests.kit.helpers import AppFactory
from tests.modules.posts.helpers import API, act, get_post, new_post
from townsquare.modules.posts.service import view_source


@asynccontextmanager
async def source(
    app: FastAPI, ip: str, user_agent: str = "test-agent"
) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers={"User-Agent": user_agent}
    ) as http:
        yield http


async def views(client: httpx.AsyncClient, post_id: str, author: SignedIn) -> int:
    response = await get_post(client, post_id, author)
    assert response.status_code == 200, response.text
    count: int = response.json()["view_count"]
    return count


async def view(client: httpx.AsyncClient, post_id: str, viewer: SignedIn | None = None) -> None:
    response = await act(client, post_id, "views", viewer)
    assert response.status_code == 204, response.text


async def test_an_anonymous_source_counts_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    alice = await signed_in_user(client)
    post = await new_post(client, alice)
    async with source(app, "198.51.100.10") as first:
        for _ in range(25):
            await view(first, post["id"])
    assert await views(client, post["id"], alice) == 1

    async with source(app, "198.51.100.11") as second:
        for _ in range(25):
            await view(second, post["id"])
    assert await views(client, post["id"], alice) == 2

    # Concurrent repeats from one source still count once.
    async with source(app, "198.51.100.12") as third:
        await asyncio.gather(*(view(third, post["id"]) for _ in range(10)))
    assert await views(client, post["id"], alice) == 3


async def test_the_source_is_the_address_not_the_user_agent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """The user agent is the caller's to choose: changing it does not count again. IPv6
    sources count by their /64."""
    alice = await signed_in_user(client)
    post = await new_post(client, alice)
    for agent in ("agent one", "agent two", "agent three"):
        async with source(app, "198.51.100.20", agent) as http:
            await view(http, post["id"])
    for ip in ("2001:db8:1:2::1", "2001:db8:1:2:ffff::9"):
        async with source(app, ip) as http:
            await view(http, post["id"])
    async with source(app, "2001:db8:1:3::1") as http:
        await view(http, post["id"])
    assert await views(client, post["id"], alice) == 3


async def test_a_signed_in_viewer_counts_once_wherever_they_are(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    carol = await signed_in_user(client)
    post = await new_post(client, alice)
    for ip in ("198.51.100.30", "198.51.100.31"):
        async with source(app, ip) as http:
            for _ in range(5):
                await view(http, post["id"], bob)
    assert await views(client, post["id"], alice) == 1
    # Another account, and an anonymous viewer, behind bob's address count on their own.
    async with source(app, "198.51.100.30") as http:
        await view(http, post["id"], carol)
        await view(http, post["id"])
        await view(http, post["id"])
    assert await views(client, post["id"], alice) == 3
    # Each post has its own count; the author's views never count.
    other = await new_post(client, alice)
    await view(client, other["id"], bob)
    await view(client, other["id"], alice)
    assert await views(client, other["id"], alice) == 1
    assert await views(client, post["id"], alice) == 3


async def test_a_view_counts_again_after_the_window(app_factory: AppFactory) -> None:
    app = await app_factory(post_view_window_seconds=1)
    async with source(app, "198.51.100.40") as client:
        alice = await signed_in_user(client)
        bob = await signed_in_user(client)
        post = await new_post(client, alice)
        await view(client, post["id"], bob)
        await view(client, post["id"])
        await view(client, post["id"], bob)
        assert await views(client, post["id"], alice) == 2
        await asyncio.sleep(2.1)
        await view(client, post["id"], bob)
        await view(client, post["id"])
        assert await views(client, post["id"], alice) == 4


async def test_a_repeat_still_checks_visibility(client: httpx.AsyncClient, app: FastAPI) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    post = await new_post(client, alice)
    await view(client, post["id"], bob)
    response = await client.delete(f"{API}/posts/{post['id']}", headers=alice.headers)
    assert response.status_code == 204, response.text
    assert_problem(await act(client, post["id"], "views", bob), 404, "post_not_found")


def test_the_anonymous_key_hides_the_address() -> None:
    key = view_source("secret", "198.51.100.7")
    assert "198.51.100.7" not in key
    assert key == view_source("secret", "198.51.100.7")
    assert key != view_source("another secret", "198.51.100.7")
    assert key != view_source("secret", "198.51.100.8")
    assert view_source("secret", "::ffff:198.51.100.7") == key
    assert view_source("secret", "2001:db8::1") == view_source("secret", "2001:db8::ffff:1")
