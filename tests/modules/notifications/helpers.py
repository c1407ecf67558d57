"""HTTP helpers shared by the notifications tests (plain functions)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.problems import error_fields as error_fields
from tests.fixtures.users import SignedIn, signed_in_user, unique_username
from townsquare.modules.notifications.models import Notification

API = "/api/v1"


async def users(client: httpx.AsyncClient, count: int) -> list[SignedIn]:
    names = [unique_username("n") for _ in range(count)]
    return list(await asyncio.gather(*(signed_in_user(client, name) for name in names)))


async def settle(app: FastAPI) -> None:
    """Run every pending outbox event (and the events their handlers record) to the end."""
    outbox = app.state.platform.outbox
    await outbox.wait_idle()
    while await outbox.drain():
        await outbox.wait_idle()


async def notifications(
    client: httpx.AsyncClient, user: SignedIn, **params: Any
) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/notifications", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def types_of(client: httpx.AsyncClient, user: SignedIn) -> list[str]:
    return [n["type"] for n in await notifications(client, user, limit=100)]


async def unread_count(client: httpx.AsyncClient, user: SignedIn) -> int:
    response = await client.get(f"{API}/notifications/unread-count", headers=user.headers)
    assert response.status_code == 200, response.text
    count: int = response.json()["unread_count"]
    return count


async def set_preferences(
    client: httpx.AsyncClient, user: SignedIn, *preferences: dict[str, Any]
) -> httpx.Response:
    return await client.put(
        f"{API}/me/notification-preferences",
        json={"preferences": list(preferences)},
        headers=user.headers,
    )


async def post(
    client: httpx.AsyncClient, author: SignedIn, content: str = "Hello.", **body: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/posts", json={"content": content, **body}, headers=author.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def react(client: httpx.AsyncClient, user: SignedIn, post_id: str) -> None:
    response = await client.put(
        f"{API}/posts/{post_id}/reaction", json={"type": "like"}, headers=user.headers
    )
    assert response.status_code == 200, response.text


async def comment(
    client: httpx.AsyncClient, user: SignedIn, post_id: str, content: str = "Nice."
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/posts/{post_id}/comments", json={"content": content}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def row_count(app: FastAPI) -> int:
    async with app.state.platform.database.unit_of_work(read_only=True) as uow:
        return int(await uow.session.scalar(select(func.count()).select_from(Notification)) or 0)
