"""Small HTTP helpers shared by the profiles tests (plain functions, no fixtures)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.fixtures.problems import assert_problem as assert_problem
from tests.fixtures.problems import error_fields as error_fields

API = "/api/v1"

#: Every key a public profile answer may carry: anything else would be a leak.
USER_PROFILE_KEYS = {
    "user_id",
    "username",
    "display_name",
    "avatar_url",
    "is_verified",
    "account_type",
    "is_private",
    "restricted",
    "relationship",
    "first_name",
    "last_name",
    "bio",
    "cover_url",
    "birth_date",
    "gender",
    "location",
    "website",
    "email",
    "phone",
    "joined_at",
    "stats",
}
#: Shown to whoever may find the profile at all, even when it is restricted.
CARD_FIELDS = ("user_id", "username", "display_name", "avatar_url", "is_verified", "account_type")
#: Shown only with the full profile (and, for the last three, their own audience).
DETAIL_FIELDS = ("first_name", "last_name", "bio", "cover_url", "gender", "location", "website")

FULL_PROFILE: dict[str, Any] = {
    "display_name": "Ada Lovelace",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "bio": "Poet of science.",
    "avatar_url": "https://cdn.example.org/avatars/ada.png",
    "cover_url": "https://cdn.example.org/covers/ada.jpg",
    "birth_date": "1990-12-10",
    "gender": "female",
    "phone": "+44 20 7946 0958",
    "location": "London",
    "website": "https://ada.example.org/",
    "account_type": "creator",
}


async def patch_profile(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(f"{API}/me/profile", json=body, headers=headers)


async def patch_privacy(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(f"{API}/me/privacy", json=body, headers=headers)


async def patch_settings(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> httpx.Response:
    return await client.patch(f"{API}/me/settings", json=body, headers=headers)


async def get_json(
    client: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    response = await client.get(f"{API}{path}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def view_user(
    client: httpx.AsyncClient, username: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.get(f"{API}/users/{username}", headers=headers)


def assert_422_on(response: httpx.Response, field: str) -> None:
    body = assert_problem(response, 422, "validation_failed")
    assert f"body.{field}" in error_fields(body), body
