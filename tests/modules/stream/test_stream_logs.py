"""The server log never holds a client's access token."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI
from websockets.asyncio.client import connect

from tests.fixtures.servers import serve
from tests.fixtures.users import signed_in_user
from tests.modules.stream.helpers import next_frame


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def test_a_token_in_the_query_string_is_redacted_from_the_handshake_log(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    user = await signed_in_user(client)
    kept = _Kept()
    async with serve(app, log_level="info") as base:
        server_log = logging.getLogger("uvicorn.error")  # where uvicorn logs each handshake
        server_log.addHandler(kept)
        try:
            async with connect(f"{base}/api/v1/stream?access_token={user.access_token}") as ws:
                await ws.send('{"type":"ping"}')
                assert (await next_frame(ws))["type"] == "pong"
        finally:
            server_log.removeHandler(kept)

    handshakes = [line for line in kept.lines if '"WebSocket /api/v1/stream' in line]
    assert handshakes, kept.lines  # the line is still logged, without the secret
    assert all("access_token=[redacted]" in line for line in handshakes)
    assert not any(user.access_token in line for line in kept.lines)
