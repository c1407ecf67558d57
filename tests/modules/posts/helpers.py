"""Small HTTP helpers shared by the posts tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.problems import error_fields
from tests.fixtures.users import SignedIn

API = "/api/v1"

IMAGE = {"media_type": "image", "url": "https://cdn.example.org/p/1.jpg", "alt_text": "A cat"}
VIDEO = {
    "media_type": "video",
    "url": "https://cdn.example.org/v/1.mp4",
    "thumbnail_url": "https://cdn.example.org/v/1.jpg",
    "size_bytes": 1_000_000,
    "width": 1920,
    "height": 1080,
    "duration_seconds": 12.5,
}
AUDIO = {"media_type": "audio", "url": "https://cdn.example.org/a/1.mp3", "duration_seconds": 90.0}


def auth(user: SignedIn | None) -> dict[str, str] | None:
    return user.headers if user is not None else None


async def create(client: httpx.AsyncClient, author: SignedIn, **body: Any) -> httpx.Response:
    body.setdefault("content", "Hello, town square.")
    return await client.post(f"{API}/posts", json=body, headers=author.headers)


async def new_post(client: httpx.AsyncClient, author: SignedIn, **body: Any) -> dict[str, Any]:
    """A post written through the API (text, public, published unless told); its JSON."""
    response = await create(client, author, **body)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


async def get_post(
    client: httpx.AsyncClient, post_id: str, viewer: SignedIn | None = None
) -> httpx.Response:
    return await client.get(f"{API}/posts/{post_id}", headers=auth(viewer))


async def edit(
    client: httpx.AsyncClient, post_id: str, user: SignedIn, **body: Any
) -> httpx.Response:
    return await client.patch(f"{API}/posts/{post_id}", json=body, headers=user.headers)


async def act(
    client: httpx.AsyncClient, post_id: str, action: str, user: SignedIn | None, **body: Any
) -> httpx.Response:
    """POST /posts/{id}/{action} (publish, archive, unarchive, share, views, poll/votes)."""
    return await client.post(
        f"{API}/posts/{post_id}/{action}", json=body or None, headers=auth(user)
    )


async def timeline(
    client: httpx.AsyncClient, username: str, viewer: SignedIn | None = None, **params: Any
) -> httpx.Response:
    return await client.get(f"{API}/users/{username}/posts", params=params, headers=auth(viewer))


async def timeline_ids(
    client: httpx.AsyncClient, username: str, viewer: SignedIn | None = None
) -> list[str]:
    response = await timeline(client, username, viewer, limit=100)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


async def my_list(client: httpx.AsyncClient, which: str, user: SignedIn) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/me/{which}", headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def assert_422_on(response: httpx.Response, field: str, code: str = "validation_failed") -> None:
    body = assert_problem(response, 422, code)
    assert field in error_fields(body), body
