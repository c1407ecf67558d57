"""Sign-in sessions: refresh rotation under races, listing, revoking, expiry."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.fixtures.users import signed_in_user
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    bearer,
    db_all,
    db_execute,
    db_one,
    me,
    new_session,
)
from townsquare.modules.accounts.models import AuthSession, RefreshToken


async def refresh(client: httpx.AsyncClient, token: str, **headers: str) -> httpx.Response:
    return await client.post(f"{API}/auth/refresh", json={"refresh_token": token}, headers=headers)


async def test_concurrent_refreshes_of_one_token_let_exactly_one_through(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await signed_in_user(client)
    for racers in (2, 6):
        pair = await new_session(client, user)
        session_id = uuid.UUID(pair["session_id"])
        responses = await asyncio.gather(
            *(refresh(client, pair["refresh_token"]) for _ in range(racers))
        )
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] + [401] * (racers - 1), [r.text for r in responses]
        codes = [assert_problem(r, 401)["code"] for r in responses if r.status_code == 401]
        # The first loser sees a replay and ends the session; later ones find it ended.
        assert "refresh_token_reused" in codes
        assert set(codes) <= {"refresh_token_reused", "invalid_refresh_token"}
        # A second use of one token, even in a race, counts as a replay: the session is
        # ended, so the tokens the winner received are worthless too.
        winner = next(r for r in responses if r.status_code == 200).json()
        response = await refresh(client, winner["refresh_token"])
        assert_problem(response, 401, "invalid_refresh_token")
        assert_problem(await me(client, winner["access_token"]), 401, "invalid_token")
        revoked = await db_one(
            app, select(AuthSession.revoked_reason).where(AuthSession.id == session_id)
        )
        assert revoked.revoked_reason == "refresh_token_reuse"
        # Exactly one token was issued after the original, however many raced.
        rows = await db_all(
            app, select(RefreshToken.used_at).where(RefreshToken.session_id == session_id)
        )
        assert len(rows) == 2
        assert sum(row.used_at is not None for row in rows) == 1
    # The user's first session took no part in the races.
    assert (await me(client, user.access_token)).status_code == 200


async def test_refresh_chain_rotates_each_time(client: httpx.AsyncClient, app: FastAPI) -> None:
    user = await signed_in_user(client)
    seen = {user.refresh_token}
    token = user.refresh_token
    for step in range(3):
        response = await refresh(client, token, **{"User-Agent": f"Client/{step}"})
        assert response.status_code == 200, response.text
        pair = response.json()
        assert pair["session_id"] == user.session_id
        assert pair["refresh_token"] not in seen
        seen.add(pair["refresh_token"])
        token = pair["refresh_token"]
        assert (await me(client, pair["access_token"])).status_code == 200
    sessions = (await client.get(f"{API}/auth/sessions", headers=user.headers)).json()["items"]
    assert [s["id"] for s in sessions] == [user.session_id]
    assert sessions[0]["user_agent"] == "Client/2"
    assert sessions[0]["last_used_at"] > sessions[0]["created_at"]
    # Only the stored hashes are in the database, never the tokens themselves.
    rows = await db_all(
        app,
        select(RefreshToken.token_hash).where(
            RefreshToken.session_id == uuid.UUID(user.session_id)
        ),
    )
    assert len(rows) == 4
    assert not {row.token_hash for row in rows} & seen


async def test_refresh_rejects_unknown_and_malformed_tokens(client: httpx.AsyncClient) -> None:
    assert_problem(await refresh(client, secrets.token_urlsafe(32)), 401, "invalid_refresh_token")
    assert_problem(await refresh(client, "too-short"), 422, "validation_failed")
    response = await client.post(f"{API}/auth/refresh", json={})
    assert_problem(response, 422, "validation_failed")


async def test_expired_session_cannot_refresh_or_authenticate(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await signed_in_user(client)
    kept = await new_session(client, user)
    past = datetime.now(UTC) - timedelta(seconds=1)
    count = await db_execute(
        app,
        update(AuthSession)
        .where(AuthSession.id == uuid.UUID(user.session_id))
        .values(expires_at=past),
    )
    assert count == 1
    assert_problem(await refresh(client, user.refresh_token), 401, "invalid_refresh_token")
    assert_problem(await me(client, user.access_token), 401, "invalid_token")
    # The expired session is no longer listed; the other one is untouched.
    response = await client.get(f"{API}/auth/sessions", headers=bearer(kept["access_token"]))
    assert [s["id"] for s in response.json()["items"]] == [kept["session_id"]]
    assert (await refresh(client, kept["refresh_token"])).status_code == 200


async def test_sessions_are_private_to_their_owner(client: httpx.AsyncClient) -> None:
    alice = await signed_in_user(client)
    bob = await signed_in_user(client)
    response = await client.delete(f"{API}/auth/sessions/{bob.session_id}", headers=alice.headers)
    assert_problem(response, 404, "session_not_found")
    assert (await me(client, bob.access_token)).status_code == 200

    response = await client.delete(f"{API}/auth/sessions/{uuid.uuid4()}", headers=alice.headers)
    assert_problem(response, 404, "session_not_found")
    response = await client.delete(f"{API}/auth/sessions/not-a-uuid", headers=alice.headers)
    assert_problem(response, 422, "validation_failed")

    listed = (await client.get(f"{API}/auth/sessions", headers=alice.headers)).json()["items"]
    assert [s["id"] for s in listed] == [alice.session_id]

    # "End all others" never reaches another user's sessions.
    response = await client.delete(f"{API}/auth/sessions", headers=alice.headers)
    assert response.json() == {"revoked": 0}
    assert (await me(client, bob.access_token)).status_code == 200
    assert (await me(client, alice.access_token)).status_code == 200


async def test_sessions_list_pages_newest_first(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    others = [await new_session(client, user) for _ in range(4)]
    expected = [s["session_id"] for s in reversed(others)] + [user.session_id]

    seen: list[str] = []
    current: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"{API}/auth/sessions", params=params, headers=user.headers)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [item["id"] for item in page["items"]]
        current += [item["id"] for item in page["items"] if item["current"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == expected
    assert pages == 3
    assert current == [user.session_id]

    response = await client.get(f"{API}/auth/sessions", params={"limit": 0}, headers=user.headers)
    assert_problem(response, 422, "validation_failed")
    response = await client.get(
        f"{API}/auth/sessions", params={"cursor": "!!!"}, headers=user.headers
    )
    assert_problem(response, 422, "validation_failed")


async def test_logout_ends_only_the_current_session(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    other = await new_session(client, user)
    response = await client.post(f"{API}/auth/logout", headers=user.headers)
    assert response.status_code == 204, response.text
    assert_problem(await me(client, user.access_token), 401, "invalid_token")
    assert (await me(client, other["access_token"])).status_code == 200
    # A second logout with the dead token is refused, not an error.
    assert_problem(
        await client.post(f"{API}/auth/logout", headers=user.headers), 401, "invalid_token"
    )
