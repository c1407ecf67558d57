"""The real-time stream (one WebSocket per client) and the presence lookup.

Close codes (documented in docs/api.md):
- 1003: a binary frame (the protocol is JSON text);
- 1008: a malformed text frame (not JSON, unknown type, bad fields, too large) or a bad
  ``last_event_id``;
- 4000: a ping written to the client went unanswered (no frame at all) for a heartbeat;
- 4008: the client reads too slowly (its send queue filled up, or one send waited a heartbeat);
- 4401: missing, invalid or expired access token, or the session ended.
- 1012 (sent by uvicorn on SIGTERM): the server is restarting; reconnect with ``last_event_id``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import datetime
from enum import IntEnum
from typing import Annotated

import structlog
from fastapi import APIRouter, Query, WebSocket
from pydantic import ValidationError

from townsquare.kit.auth import CurrentViewer, InvalidToken, SessionValidator, Viewer
from townsquare.kit.errors import AppError, problem_responses
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform
from townsquare.kit.realtime import Frame, Subscription
from townsquare.kit.web import PlatformDep, SessionDep, UnitOfWorkRoute
from townsquare.modules.stream import service
from townsquare.modules.stream.schemas import (
    CLIENT_FRAME,
    PingFrame,
    PresenceList,
    TypingFrame,
)

log = structlog.get_logger(__name__)
router = APIRouter(tags=["stream"])
presence_router = APIRouter(
    route_class=UnitOfWorkRoute,
    tags=["stream"],
    # 400: the HTTP server refuses a request line too long to parse.
    responses=problem_responses(400, 401, 422),
)
SUBPROTOCOL = "bearer"
MAX_CLIENT_FRAME_CHARS = 4096


class Close(IntEnum):
    UNSUPPORTED_DATA = 1003
    POLICY_VIOLATION = 1008
    HEARTBEAT_TIMEOUT = 4000
    TOO_SLOW = 4008
    UNAUTHORIZED = 4401


@presence_router.get("/presence", response_model=PresenceList)
async def get_presence(
    viewer: CurrentViewer,
    session: SessionDep,
    platform: PlatformDep,
    usernames: Annotated[
        str,
        Query(
            max_length=3200, pattern=r"^[A-Za-z0-9_,]*$", description="Comma-separated usernames."
        ),
    ],
) -> PresenceList:
    """Online / last seen of friends who show their activity status; ``null`` for others."""
    return await service.list_presence(session, platform, viewer.user_id, usernames.split(","))


def _token_and_subprotocol(websocket: WebSocket) -> tuple[str | None, str | None]:
    """The access token from the header, the ``bearer, <token>`` subprotocol pair, or the query."""
    authorization = websocket.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip(), None
    offered: list[str] = list(websocket.scope.get("subprotocols") or [])
    if SUBPROTOCOL in offered:
        index = offered.index(SUBPROTOCOL)
        if index + 1 < len(offered):
            return offered[index + 1], SUBPROTOCOL
    return websocket.query_params.get("access_token"), None


def _parse_last_event_id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError(raw)
    return int(raw)


@router.websocket("/stream")
async def stream(websocket: WebSocket) -> None:
    platform: Platform = websocket.app.state.platform
    token, subprotocol = _token_and_subprotocol(websocket)
    # Accept first, then close with 4401: a browser cannot read why a handshake was refused.
    await websocket.accept(subprotocol=subprotocol)
    viewer = await _viewer_of(websocket, token) if token else None
    if viewer is None:
        await websocket.close(Close.UNAUTHORIZED, "invalid or expired access token")
        return
    try:
        last_event_id = _parse_last_event_id(websocket.query_params.get("last_event_id"))
    except ValueError:
        await websocket.close(Close.POLICY_VIOLATION, "last_event_id must be an event id")
        return
    await _Connection(websocket, platform, viewer).run(last_event_id)


async def _viewer_of(websocket: WebSocket, token: str) -> Viewer | None:
    state = websocket.app.state
    platform: Platform = state.platform
    validator: SessionValidator = state.session_validator
    try:
        async with platform.database.unit_of_work(read_only=True) as uow:
            return await service.authenticate(uow, validator, state.settings.secret_key, token)
    except InvalidToken:
        return None


class _TooSlow(Exception):
    """A send to this client stayed blocked for a whole heartbeat."""


class _Connection:
    """One socket: replay, then live frames, client frames, heartbeats and presence."""

    def __init__(self, websocket: WebSocket, platform: Platform, viewer: Viewer) -> None:
        self.websocket = websocket
        self.platform = platform
        self.viewer = viewer
        settings = platform.settings
        self.heartbeat = settings.stream_heartbeat_seconds
        self.subscription = Subscription(
            viewer.user_id,
            platform.database,
            settings.stream_send_queue_size,
            settings.stream_replay_limit,
        )
        self.last_heard = time.monotonic()
        #: When the oldest ping the client has not answered yet was written to it (None: none).
        self.ping_written_at: float | None = None
        #: Set when ``ping_written_at`` takes a new value: ``_watch_pongs`` starts its clock.
        self.ping_written = asyncio.Event()

    async def run(self, last_event_id: int | None) -> None:
        hub, presence, user_id = self.platform.hub, self.platform.presence, self.viewer.user_id
        # Subscribe before reading the database: what commits meanwhile is queued, and the
        # subscription drops what the replay already sent (no gap, no duplicate at the seam).
        await hub.attach(self.subscription)
        code: int | None = None
        try:
            for frame in await self.subscription.start(last_event_id):
                await self._send(frame)
            # From here on nothing is missed: the client may rely on it (and resume from it).
            ready = {"last_event_id": str(self.subscription.last_seq)}
            await self._send(Frame(user_id, None, "ready", ready, utcnow()))
            if await presence.renew(user_id, self.subscription.id):
                await self._announce(online=True)
            code = await self._serve()
        except _TooSlow:
            code = Close.TOO_SLOW
        except Exception:
            log.exception("stream_connection_failed")
        finally:
            # Let go of the socket's queue and presence lease first: a slow client must not
            # hold them while its close frame waits behind the data it has not read.
            await hub.detach(self.subscription)
            last_seen = await presence.release(user_id, self.subscription.id)
            if last_seen is not None:
                await self._announce(online=False, last_seen_at=last_seen)
        if code is not None:
            with contextlib.suppress(Exception):
                # The close frame is written once the transport's buffer drains. A client that
                # never reads gets one heartbeat; then the handler returns and the server
                # closes the transport (whose kernel buffer is bounded) without a close frame.
                await asyncio.wait_for(self.websocket.close(code), timeout=self.heartbeat)

    async def _serve(self) -> int | None:
        """Run until one side ends; the close code to send (None: the client went away)."""
        tasks = [
            asyncio.create_task(self._send_frames()),
            asyncio.create_task(self._receive_frames()),
            asyncio.create_task(self._beat()),
            asyncio.create_task(self._watch_pongs()),
            asyncio.create_task(self._watch_overflow()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # A task may swallow its cancellation (asyncio.wait_for in a driver, on Python
            # 3.11, does when the awaited call completes at the same moment): one cancel left
            # the heartbeat task of a socket closed mid-query pinging into a dead socket, and
            # the handler waiting for it forever. Cancel again until every task has ended.
            while pending := [task for task in tasks if not task.done()]:
                for task in pending:
                    task.cancel()
                await asyncio.wait(pending, timeout=0.1)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # retrieved: "never retrieved" is not logged
        first = next(iter(done))
        if first.cancelled():
            return None
        if isinstance(first.exception(), _TooSlow):
            return Close.TOO_SLOW
        return None if first.exception() else first.result()

    async def _send_frames(self) -> int | None:
        while True:
            for frame in await self.subscription.next_frames():
                await self._send(frame)

    async def _send(self, frame: Frame) -> None:
        """Send one frame; a send still blocked after a heartbeat means a too slow client.

        The server applies back pressure: ``send`` waits while the transport's buffer is over
        its high-water mark, i.e. once the kernel buffers toward a client that does not read
        are full. Then this socket's queue fills (4008), or, with few events, this timeout
        fires (4008 too). Either way only this socket's task waits; publishers never do.
        """
        try:
            async with asyncio.timeout(self.heartbeat):  # no extra task per frame (wait_for)
                await self.websocket.send_text(frame.to_client())
        except TimeoutError:
            raise _TooSlow from None
        if frame.type == "ping" and not self._ping_unanswered():
            self.ping_written_at = time.monotonic()
            self.ping_written.set()

    def _ping_unanswered(self) -> bool:
        """A ping was written and the client has sent nothing since."""
        return self.ping_written_at is not None and self.last_heard < self.ping_written_at

    async def _watch_pongs(self) -> int:
        """Close a client that leaves a ping unanswered (no frame at all) for one heartbeat.

        The deadline is the ping's own (written at + one heartbeat), kept by this task alone:
        checked only at the next ping tick, it fired one or two beats after the ping, depending
        on whether the ping was written before or after the tick's presence renewal ended. The
        clock starts when the ping is written to the socket, not when the server last heard
        the client: a server slow to set up a socket or to send (1,000 connecting at once)
        must not blame the client for its own delay. A client that reads too slowly to even
        get the ping is the 4008 rule's business."""
        while True:
            await self.ping_written.wait()
            self.ping_written.clear()
            written = self.ping_written_at
            if written is None:
                continue
            await asyncio.sleep(max(0.0, written + self.heartbeat - time.monotonic()))
            if self.last_heard < written:
                return Close.HEARTBEAT_TIMEOUT

    async def _watch_overflow(self) -> int:
        await self.subscription.overflowed.wait()
        return Close.TOO_SLOW

    async def _receive_frames(self) -> int | None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            self.last_heard = time.monotonic()
            text = message.get("text")
            if text is None:
                return Close.UNSUPPORTED_DATA
            if len(text) > MAX_CLIENT_FRAME_CHARS:
                return Close.POLICY_VIOLATION
            try:
                frame = CLIENT_FRAME.validate_json(text)
            except ValidationError:
                return Close.POLICY_VIOLATION
            if isinstance(frame, PingFrame):
                self._say("pong", {})
            elif isinstance(frame, TypingFrame):
                await self._typing(frame.conversation_id)
            # PongFrame: hearing from the client is all a pong is for.

    async def _typing(self, conversation_id: uuid.UUID) -> None:
        try:
            await service.announce_typing(self.platform, self.viewer.user_id, conversation_id)
        except AppError as exc:
            # Not a malformed frame: tell this client, keep its socket.
            self._say("error", {"code": exc.code, "detail": exc.detail or exc.code})

    async def _beat(self) -> int:
        """Ping every heartbeat (``_watch_pongs`` closes a client that does not answer); keep
        presence and auth live."""
        while True:
            await asyncio.sleep(self.heartbeat)
            if not await self._session_live():
                return Close.UNAUTHORIZED  # logged out or suspended since the handshake
            self._say("ping", {})
            await self.platform.presence.renew(self.viewer.user_id, self.subscription.id)

    async def _session_live(self) -> bool:
        """The token was checked at the handshake; its expiry does not end a live socket (a
        reconnect would only replay), but the end of its session does (cached lookup)."""
        validator: SessionValidator = self.websocket.app.state.session_validator
        async with self.platform.database.unit_of_work(read_only=True) as uow:
            found = await validator(uow, self.viewer.user_id, self.viewer.session_id)
        return found is not None

    def _say(self, event_type: str, data: dict[str, object]) -> None:
        """An ephemeral frame for this socket only (queued, so one task does all sending)."""
        self.subscription.offer(Frame(self.viewer.user_id, None, event_type, data, utcnow()))

    async def _announce(self, *, online: bool, last_seen_at: datetime | None = None) -> None:
        try:
            await service.announce_presence(
                self.platform, self.viewer.user_id, online=online, last_seen_at=last_seen_at
            )
        except Exception:
            log.exception("presence_announce_failed")
