"""HTTP helpers shared by the bookmarks tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.users import SignedIn
from tests.modules.topics.helpers import API, all_pages


async def put_bookmark(
    client: httpx.AsyncClient,
    user: SignedIn,
    post_id: str,
    collection_id: str | None = None,
    *,
    body: bool = True,
) -> httpx.Response:
    kwargs = {"json": {"collection_id": collection_id}} if body else {}
    return await client.put(f"{API}/posts/{post_id}/bookmark", headers=user.headers, **kwargs)


async def new_collection(client: httpx.AsyncClient, user: SignedIn, name: str) -> dict[str, Any]:
    response = await client.post(
        f"{API}/me/bookmark-collections", json={"name": name}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(
    client: httpx.AsyncClient, user: SignedIn, collection: str | None = None
) -> list[str]:
    """The post ids of my bookmarks (in one collection, or all), every page."""
    params = {"collection": collection} if collection else {}
    items = await all_pages(client, "/me/bookmarks", user.headers, limit=2, **params)
    return [item["post"]["id"] for item in items]
