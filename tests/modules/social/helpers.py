"""Small HTTP helpers of the social graph tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.users import SignedIn
from townsquare.kit.events import OutboxEvent
from townsquare.models import metadata

API = "/api/v1"


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a successful answer (None for 204)."""
    assert response.status_code == status, response.text
    return response.json() if status != 204 else None


async def send_request(client: httpx.AsyncClient, me: SignedIn, to: SignedIn) -> httpx.Response:
    return await client.post(f"{API}/users/{to.username}/friend-request", headers=me.headers)


async def incoming(client: httpx.AsyncClient, me: SignedIn, **params: Any) -> dict[str, Any]:
    return await get_page(client, "/me/friend-requests/incoming", me, **params)


async def outgoing(client: httpx.AsyncClient, me: SignedIn, **params: Any) -> dict[str, Any]:
    return await get_page(client, "/me/friend-requests/outgoing", me, **params)


async def befriend(client: httpx.AsyncClient, a: SignedIn, b: SignedIn) -> None:
    """``a`` asks, ``b`` accepts."""
    response = await send_request(client, a, b)
    assert response.status_code == 200, response.text
    request_id = response.json()["friend_request_id"]
    response = await client.post(f"{API}/me/friend-requests/{request_id}/accept", headers=b.headers)
    assert response.status_code == 204, response.text


async def follow(
    client: httpx.AsyncClient, me: SignedIn, whom: SignedIn, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/users/{whom.username}/follow", headers=me.headers, json=body or None
    )


async def block(client: httpx.AsyncClient, me: SignedIn, whom: SignedIn) -> None:
    response = await client.put(f"{API}/me/blocks/{whom.username}", headers=me.headers)
    assert response.status_code == 204, response.text


async def get_page(
    client: httpx.AsyncClient, path: str, viewer: SignedIn | None, **params: Any
) -> dict[str, Any]:
    headers = viewer.headers if viewer is not None else None
    response = await client.get(f"{API}{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def usernames(
    client: httpx.AsyncClient, path: str, viewer: SignedIn | None, **params: Any
) -> list[str]:
    """Every username of a card list, following cursors to the end."""
    names: list[str] = []
    cursor: str | None = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = await get_page(client, path, viewer, **query)
        names += [item.get("username") or item["user"]["username"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return names


async def stats(client: httpx.AsyncClient, user: SignedIn) -> dict[str, int]:
    response = await client.get(f"{API}/users/{user.username}", headers=user.headers)
    assert response.status_code == 200, response.text
    counts: dict[str, int] = response.json()["stats"]
    return counts


async def connection(client: httpx.AsyncClient, me: SignedIn, other: SignedIn) -> dict[str, Any]:
    response = await client.get(f"{API}/users/{other.username}/connection", headers=me.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def events_named(app: FastAPI, name: str) -> list[dict[str, Any]]:
    async with app.state.platform.database.unit_of_work() as uow:
        rows = await uow.session.scalars(
            select(OutboxEvent.payload).where(OutboxEvent.name == name).order_by(OutboxEvent.id)
        )
        return [dict(row) for row in rows]


async def count_rows(app: FastAPI, table: str) -> int:
    async with app.state.platform.database.unit_of_work() as uow:
        result = await uow.session.scalar(select(func.count()).select_from(metadata.tables[table]))
        return int(result or 0)


async def deactivate(client: httpx.AsyncClient, user: SignedIn) -> None:
    response = await client.post(
        f"{API}/me/deactivate", json={"password": user.password}, headers=user.headers
    )
    assert response.status_code == 204, response.text


async def set_privacy(client: httpx.AsyncClient, user: SignedIn, **changes: str) -> None:
    response = await client.patch(f"{API}/me/privacy", json=changes, headers=user.headers)
    assert response.status_code == 200, response.text
