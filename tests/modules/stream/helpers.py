"""Helpers for WebSocket tests: connect as a user, read events, publish straight to streams."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.fixtures.users import SignedIn
from townsquare.kit.realtime import publish_to_users


async def open_stream(
    base: str,
    user: SignedIn | None = None,
    *,
    how: str = "header",
    token: str | None = None,
    last_event_id: str | None = None,
    **options: Any,
) -> ClientConnection:
    token = token if token is not None else (user.access_token if user else "")
    url = f"{base}/api/v1/stream"
    query = {}
    headers: dict[str, str] = {}
    subprotocols: list[Any] | None = None
    if how == "header":
        headers["Authorization"] = f"Bearer {token}"
    elif how == "subprotocol":
        subprotocols = ["bearer", token]
    elif how == "query":
        query["access_token"] = token
    if last_event_id is not None:
        query["last_event_id"] = last_event_id
    if query:
        url += "?" + "&".join(f"{key}={value}" for key, value in query.items())
    # The server shares this event loop and the machine with another xdist worker: a loaded
    # machine once took over 5 s to answer the opening handshake (what is asserted is the
    # close code or the frames, not how fast the socket opens).
    ws = await connect(
        url, additional_headers=headers, subprotocols=subprotocols, open_timeout=15, **options
    )
    if last_event_id is None and user is not None:
        # The server says "ready" once this socket is subscribed: events after that arrive.
        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
        assert frame["type"] == "ready", frame
    return ws


async def next_frame(ws: ClientConnection, within: float = 5) -> dict[str, Any]:
    """The next frame other than heartbeat pings and the "ready" after a replay."""
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), within))
        if frame["type"] not in ("ping", "ready"):
            return frame


async def next_frames(ws: ClientConnection, count: int, within: float = 5) -> list[dict[str, Any]]:
    return [await next_frame(ws, within) for _ in range(count)]


async def assert_quiet(ws: ClientConnection, seconds: float = 0.4) -> None:
    """Nothing but heartbeats arrives for ``seconds``."""
    try:
        frame = await next_frame(ws, seconds)
    except TimeoutError:
        return
    raise AssertionError(f"unexpected frame {frame}")


async def close_code(ws: ClientConnection, within: float = 5) -> int | None:
    """Read until the server closes; its close code."""
    async with asyncio.timeout(within):
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass
    return ws.close_code


async def publish(
    app: FastAPI, users: Iterable[str | uuid.UUID], event_type: str, data: dict[str, Any]
) -> None:
    """Publish as a service would: in a unit of work, delivered after its commit."""
    async with app.state.platform.database.unit_of_work() as uow:
        await publish_to_users(
            uow.session, [uuid.UUID(str(user)) for user in users], event_type, data
        )
        await uow.commit()
