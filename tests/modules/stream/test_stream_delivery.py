"""The stream: authentication, live delivery to exactly the right sockets, replay, resync."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from tests.fixtures.users import signed_in_user
from tests.modules.stream.helpers import (
    assert_quiet,
    close_code,
    next_frame,
    next_frames,
    open_stream,
    publish,
)
from townsquare.kit.auth import issue_access_token
from townsquare.kit.realtime import publish_to_users


@pytest.mark.parametrize("how", ["header", "subprotocol", "query"])
async def test_each_way_of_passing_the_token_authenticates(
    client: httpx.AsyncClient, app: FastAPI, server: str, how: str
) -> None:
    alice = await signed_in_user(client)
    async with await open_stream(server, alice, how=how) as ws:
        if how == "subprotocol":
            assert ws.subprotocol == "bearer"
        await publish(app, [alice.user_id], "notification.created", {"n": 1})
        frame = await next_frame(ws)
    assert frame["id"] == "1"
    assert frame["type"] == "notification.created"
    assert frame["data"] == {"n": 1}
    assert frame["at"].endswith("+00:00")


@pytest.mark.parametrize("token", ["", "not-a-jwt", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
async def test_a_bad_token_is_closed_with_4401(server: str, token: str) -> None:
    ws = await open_stream(server, how="query", token=token)
    assert await close_code(ws) == 4401


async def test_a_revoked_session_is_refused(client: httpx.AsyncClient, server: str) -> None:
    alice = await signed_in_user(client)
    response = await client.post("/api/v1/auth/logout", headers=alice.headers)
    assert response.status_code in (200, 204), response.text
    ws = await open_stream(server, token=alice.access_token)
    assert await close_code(ws) == 4401


async def test_an_expired_token_is_refused(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    expired, _ = issue_access_token(
        secret=app.state.settings.secret_key,
        user_id=uuid.UUID(alice.user_id),
        session_id=uuid.UUID(alice.session_id),
        ttl=timedelta(seconds=-5),
    )
    ws = await open_stream(server, token=expired)
    assert await close_code(ws) == 4401


async def test_events_reach_every_socket_of_their_user_and_nobody_else(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    async with (
        await open_stream(server, alice) as phone,
        await open_stream(server, alice, how="query") as laptop,
        await open_stream(server, bob) as other,
    ):
        await publish(app, [alice.user_id], "message.created", {"text": "hi"})
        for ws in (phone, laptop):
            frame = await next_frame(ws)
            assert (frame["id"], frame["type"], frame["data"]) == (
                "1",
                "message.created",
                {"text": "hi"},
            )
        await assert_quiet(other)


async def test_one_publish_numbers_each_users_stream_separately(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice, bob = await signed_in_user(client), await signed_in_user(client)
    await publish(app, [alice.user_id], "message.created", {"n": 0})
    async with await open_stream(server, alice) as a, await open_stream(server, bob) as b:
        await publish(app, [alice.user_id, bob.user_id], "message.created", {"n": 1})
        assert (await next_frame(a))["id"] == "2"
        assert (await next_frame(b))["id"] == "1"


async def test_a_rolled_back_publish_delivers_and_stores_nothing(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    async with await open_stream(server, alice) as ws:
        async with app.state.platform.database.unit_of_work() as uow:
            await publish_to_users(uow.session, [uuid.UUID(alice.user_id)], "x", {})
            # no commit: rolled back
        await assert_quiet(ws)
        await publish(app, [alice.user_id], "message.created", {"n": 1})
        assert (await next_frame(ws))["id"] == "1"


async def test_reconnecting_with_the_last_id_replays_exactly_what_was_missed(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    async with await open_stream(server, alice) as ws:
        await publish(app, [alice.user_id], "message.created", {"n": 1})
        last = (await next_frame(ws))["id"]
    for n in range(2, 7):
        await publish(app, [alice.user_id], "message.created", {"n": n})
    async with await open_stream(server, alice, last_event_id=last) as ws:
        replayed = await next_frames(ws, 5)
        assert [f["id"] for f in replayed] == ["2", "3", "4", "5", "6"]
        assert [f["data"]["n"] for f in replayed] == [2, 3, 4, 5, 6]
        # Live events continue the sequence, with no duplicate at the seam.
        await publish(app, [alice.user_id], "message.created", {"n": 7})
        assert (await next_frame(ws))["id"] == "7"
        await assert_quiet(ws)


async def test_no_gap_or_duplicate_when_events_arrive_during_the_replay(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    for n in range(1, 31):
        await publish(app, [alice.user_id], "message.created", {"n": n})

    async def keep_publishing() -> None:
        for n in range(31, 61):
            await publish(app, [alice.user_id], "message.created", {"n": n})

    writer = asyncio.create_task(keep_publishing())
    async with await open_stream(server, alice, last_event_id="0") as ws:
        await writer
        frames = await next_frames(ws, 60)
        assert [int(f["id"]) for f in frames] == list(range(1, 61))
        await assert_quiet(ws)


async def test_without_a_last_id_the_stream_starts_from_now(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    await publish(app, [alice.user_id], "message.created", {"n": 1})
    async with await open_stream(server, alice) as ws:
        await assert_quiet(ws)
        await publish(app, [alice.user_id], "message.created", {"n": 2})
        assert (await next_frame(ws))["id"] == "2"


async def test_too_far_behind_gets_a_resync_then_live_events(
    client: httpx.AsyncClient,
    app_factory,
    server: str,  # type: ignore[no-untyped-def]
) -> None:
    from tests.fixtures.servers import serve

    small = await app_factory(stream_replay_limit=10)
    transport = httpx.ASGITransport(app=small)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        alice = await signed_in_user(http)
    for n in range(1, 13):
        await publish(small, [alice.user_id], "message.created", {"n": n})
    async with serve(small) as base, await open_stream(base, alice, last_event_id="1") as ws:
        frame = await next_frame(ws)
        assert frame == {
            "id": None,
            "type": "resync",
            "data": {"last_event_id": "12"},
            "at": frame["at"],
        }
        await publish(small, [alice.user_id], "message.created", {"n": 13})
        assert (await next_frame(ws))["id"] == "13"
    # Within the limit, a replay is exact.
    async with serve(small) as base, await open_stream(base, alice, last_event_id="5") as ws:
        assert [f["id"] for f in await next_frames(ws, 8)] == [str(n) for n in range(6, 14)]


async def test_an_unknown_future_id_resyncs(
    client: httpx.AsyncClient, app: FastAPI, server: str
) -> None:
    alice = await signed_in_user(client)
    async with await open_stream(server, alice, last_event_id="99") as ws:
        frame = await next_frame(ws)
        assert (frame["type"], frame["data"]) == ("resync", {"last_event_id": "0"})


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5"])
async def test_a_malformed_last_id_closes_with_1008(
    client: httpx.AsyncClient, server: str, bad: str
) -> None:
    alice = await signed_in_user(client)
    ws = await open_stream(server, token=alice.access_token, last_event_id=bad)
    assert await close_code(ws) == 1008
