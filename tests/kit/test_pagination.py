"""Opaque keyset cursors, through the kit and through HTTP (a user's sessions)."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest

from tests.fixtures.users import login, signed_in_user
from townsquare.kit.errors import ValidationFailed
from townsquare.kit.pagination import decode_cursor, encode_cursor

SESSIONS = "/api/v1/auth/sessions"


@pytest.mark.parametrize(
    "values",
    [
        {"id": str(uuid.uuid4())},
        {"id": "01a1fe95-c397-7498-8c42-5086c2b449e4", "score": 12.5, "name": "ünï/cødé+?"},
        {"nested": {"a": [1, 2, None]}, "flag": True},
        {},
    ],
)
def test_cursor_round_trip(values: dict) -> None:
    cursor = encode_cursor(values)
    assert isinstance(cursor, str)
    # URL-safe without escaping, and opaque (not plain JSON).
    assert all(c.isalnum() or c in "-_" for c in cursor)
    assert "{" not in cursor
    assert decode_cursor(cursor) == values


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        "!!!!",
        "a",
        base64.urlsafe_b64encode(b"[1, 2]").decode(),  # JSON, but not an object
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),  # not UTF-8
    ],
)
def test_malformed_cursor_is_a_validation_error(cursor: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        decode_cursor(cursor)
    assert caught.value.status == 422
    assert caught.value.errors is not None
    assert [e.field for e in caught.value.errors] == ["query.cursor"]


async def _sessions(client: httpx.AsyncClient, headers: dict, **params: object) -> httpx.Response:
    return await client.get(SESSIONS, params=params, headers=headers)


async def test_paging_through_sessions(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    for _ in range(4):
        assert (await login(client, user.username)).status_code == 200

    pages = []
    cursor = None
    while True:
        params: dict[str, object] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await _sessions(client, user.headers, **params)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert len(pages) < 10

    assert [len(items) for items in pages] == [2, 2, 1]
    items = [item for items in pages for item in items]
    ids = [item["id"] for item in items]
    assert len(set(ids)) == 5
    # Newest first: UUIDv7 ids and creation times both descend.
    assert ids == sorted(ids, key=uuid.UUID, reverse=True)
    created = [item["created_at"] for item in items]
    assert created == sorted(created, reverse=True)
    # The signed-in session is the oldest; exactly one is marked current.
    assert [item["current"] for item in items] == [False, False, False, False, True]
    assert ids[-1] == user.session_id

    # The default page holds them all, in the same order.
    everything = (await _sessions(client, user.headers)).json()
    assert [item["id"] for item in everything["items"]] == ids
    assert everything["next_cursor"] is None


async def test_bad_page_parameters_are_422(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    cases = {
        "query.cursor": [
            {"cursor": "garbage"},
            {"cursor": encode_cursor({"id": "not-a-uuid"})},
            {"cursor": encode_cursor({"no_id": 1})},
            {"cursor": "x" * 513},
        ],
        "query.limit": [{"limit": 0}, {"limit": 101}, {"limit": -1}, {"limit": "ten"}],
    }
    for field, param_sets in cases.items():
        for params in param_sets:
            response = await _sessions(client, user.headers, **params)
            assert response.status_code == 422, (params, response.text)
            problem = response.json()
            assert problem["code"] == "validation_failed"
            assert [e["field"] for e in problem["errors"]] == [field], params

    for limit in (1, 100):
        assert (await _sessions(client, user.headers, limit=limit)).status_code == 200


async def test_pages_show_only_the_viewers_items(client: httpx.AsyncClient) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    await login(client, bob.username)
    alice_ids = [s["id"] for s in (await _sessions(client, alice.headers)).json()["items"]]
    bob_ids = [s["id"] for s in (await _sessions(client, bob.headers)).json()["items"]]
    assert alice_ids == [alice.session_id]
    assert len(bob_ids) == 2
    assert not set(alice_ids) & set(bob_ids)
