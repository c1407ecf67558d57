"""Real time across processes (PostgreSQL + Redis only).

Must show: two ``townsquare serve`` processes and one ``townsquare worker``. User A on process 1
sends a message; user B connected to process 2 gets it over WebSocket. B disconnects, A sends
five more, B reconnects with its last id and gets exactly those five, in order.

Nothing is shared in memory: process 2 learns of process 1's message through Redis pub/sub,
the worker makes the notifications from the outbox jobs it takes from Redis, and the replay
comes from the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import REDIS_URL, Backend
from tests.fixtures.mailbox import Mailbox
from tests.fixtures.servers import (
    free_port,
    print_logs,
    start_townsquare,
    stop_processes,
    townsquare_env,
    wait_ready,
)
from tests.fixtures.users import SignedIn, signed_in_user
from tests.kit.helpers import AppFactory

#: Generous: two cores are shared by the three processes, the test and other test runs.
EVENT_TIMEOUT = 30.0
STORED = ("message.created", "notification.created")

Frame = dict[str, Any]


@contextlib.asynccontextmanager
async def townsquare_processes(
    backend: Backend, key_prefix: str, mailbox: Mailbox, logs: Path
) -> AsyncIterator[tuple[str, str]]:
    """Two servers and one worker on the test database and Redis; yields the two base URLs.

    The servers have the job broker too, so they only relay the outbox to Redis: every
    handler (the notifications) runs in the worker. The stream heartbeat, which also sweeps
    sockets up to the database, is longer than the test waits for an event, so a live event
    can only come through Redis pub/sub.
    """
    assert REDIS_URL
    env = townsquare_env(
        backend.database_url,
        REDIS_URL,
        key_prefix,
        mail_backend="smtp",
        smtp_host="127.0.0.1",
        smtp_port=str(mailbox.port),
        password_argon2_time_cost="1",
        password_argon2_memory_kib="1024",
        login_failure_delay_ms="0",
        outbox_poll_seconds="0.5",
        stream_heartbeat_seconds="120",
    )
    ports = [free_port(), free_port()]
    names = ["serve-1.log", "serve-2.log", "worker.log"]
    processes: list[subprocess.Popen[str]] = []
    try:
        for port, name in zip(ports, names, strict=False):
            processes.append(start_townsquare(["serve", "--port", str(port)], env, logs / name))
        processes.append(start_townsquare(["worker"], env, logs / names[2]))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base, process in zip(bases, processes, strict=False):
            await wait_ready(base, process, 90)
        yield bases[0], bases[1]
    except BaseException:
        stop_processes(processes)
        print_logs([logs / name for name in names])
        raise
    # Still running at the end (none crashed meanwhile), and each stops cleanly on SIGTERM,
    # within the grace period (not killed): uvicorn shuts down, then re-raises the signal.
    running = [process.poll() is None for process in processes]
    codes = stop_processes(processes)
    clean = [-signal.SIGTERM, -signal.SIGTERM, 0]
    if running != [True] * 3 or codes != clean:
        print_logs([logs / name for name in names])
    assert running == [True] * 3, dict(zip(names, codes, strict=True))
    assert codes == clean, dict(zip(names, codes, strict=True))


async def open_stream(
    base: str, user: SignedIn, last_event_id: int | None = None
) -> ClientConnection:
    url = f"{base.replace('http://', 'ws://')}/api/v1/stream?access_token={user.access_token}"
    if last_event_id is not None:
        url += f"&last_event_id={last_event_id}"
    return await connect(url, open_timeout=EVENT_TIMEOUT)


async def read_until(
    ws: ClientConnection, done: Callable[[list[Frame]], bool], within: float = EVENT_TIMEOUT
) -> list[Frame]:
    """The frames that arrive until ``done(frames)`` holds (heartbeat pings answered and left
    out). The ``ready`` frame is kept: it tells where the replay ends."""
    frames: list[Frame] = []
    try:
        async with asyncio.timeout(within):
            while not done(frames):
                frame: Frame = json.loads(await ws.recv())
                if frame["type"] == "ping":
                    await ws.send(json.dumps({"type": "pong"}))
                    continue
                frames.append(frame)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s; received only {frames}") from None
    return frames


async def read_quiet(ws: ClientConnection, seconds: float) -> list[Frame]:
    """Whatever else arrives within ``seconds`` (pings aside): should be nothing."""
    frames: list[Frame] = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            frame: Frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
        if frame["type"] != "ping":
            frames.append(frame)
    return frames


def of_type(frames: list[Frame], event_type: str) -> list[Frame]:
    return [frame for frame in frames if frame["type"] == event_type]


def message_notifications(frames: list[Frame]) -> list[Frame]:
    return [
        frame
        for frame in of_type(frames, "notification.created")
        if frame["data"]["type"] == "message"
    ]


async def send(http: httpx.AsyncClient, sender: SignedIn, to: SignedIn, content: str) -> Frame:
    response = await http.post(
        f"/api/v1/users/{to.username}/messages",
        json={"content": content},
        headers=sender.headers,
    )
    assert response.status_code == 201, response.text
    message: Frame = response.json()
    return message


async def test_a_message_crosses_processes_and_a_reconnect_replays_exactly_what_was_missed(
    app_factory: AppFactory,
    pg_backend: Backend,
    key_prefix: str,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    # Not used to serve: its clean-up empties the tables and this prefix's Redis keys after
    # the test. With the job broker it only relays, like the servers.
    await app_factory(job_broker_url=REDIS_URL, redis_key_prefix=key_prefix)

    async with (
        townsquare_processes(pg_backend, key_prefix, mailbox, tmp_path) as (p1, p2),
        httpx.AsyncClient(base_url=p1, timeout=EVENT_TIMEOUT) as http1,
        httpx.AsyncClient(base_url=p2, timeout=EVENT_TIMEOUT) as http2,
    ):
        ann = await signed_in_user(http1, "mp_ann")
        bob = await signed_in_user(http2, "mp_bob")

        # --- live: Ann on process 1, Bob's socket on process 2
        ws = await open_stream(p2, bob)
        try:
            (ready,) = await read_until(ws, lambda frames: len(frames) == 1)
            assert ready["type"] == "ready", ready
            head = int(ready["data"]["last_event_id"])

            first = await send(http1, ann, bob, "hello from process 1")
            frames = await read_until(
                ws,
                lambda frames: (
                    bool(of_type(frames, "message.created")) and bool(message_notifications(frames))
                ),
            )
            seen = frames + await read_quiet(ws, 1.0)
        finally:
            await ws.close()

        # The message, then the worker's notification of it: one after the other in Bob's
        # stream, and nothing else.
        assert [f["type"] for f in seen] == ["message.created", "notification.created"], seen
        assert [int(f["id"]) for f in seen] == [head + 1, head + 2]
        live = seen[0]["data"]
        assert live["id"] == first["id"]
        assert live["content"] == "hello from process 1"
        assert live["conversation_id"] == first["conversation_id"]
        assert live["sender"]["user_id"] == ann.user_id
        note = seen[1]["data"]
        assert note["actor"]["user_id"] == ann.user_id
        assert note["data"]["message_id"] == first["id"]
        last_id = head + 2

        # --- Bob is away: five more
        contents = [f"message {n} while Bob was away" for n in range(1, 6)]
        sent = [await send(http1, ann, bob, content) for content in contents]
        assert {m["conversation_id"] for m in sent} == {first["conversation_id"]}

        # --- Bob comes back to process 2 from his last id: the replay (from the database)
        # and the live events after "ready" (the worker may still be notifying) form one
        # sequence: exactly the five messages and their five notifications.
        ws = await open_stream(p2, bob, last_event_id=last_id)
        try:
            frames = await read_until(
                ws,
                lambda frames: (
                    len(of_type(frames, "message.created")) >= 5
                    and len(message_notifications(frames)) >= 5
                    and bool(of_type(frames, "ready"))
                ),
                within=2 * EVENT_TIMEOUT,
            )
            frames += await read_quiet(ws, 1.5)
        finally:
            await ws.close()

        assert len(of_type(frames, "ready")) == 1, frames
        events = [f for f in frames if f["type"] != "ready"]
        assert {f["type"] for f in events} <= set(STORED), events
        # Every event id strictly increasing and contiguous, starting right after Bob's last
        # id: no gap, no duplicate at the replay/live seam, nothing he had already seen.
        ids = [int(f["id"]) for f in events]
        assert ids == list(range(last_id + 1, last_id + 1 + len(ids))), ids
        assert len(events) == 10, [f["type"] for f in events]

        messages = [f["data"] for f in of_type(events, "message.created")]
        assert [m["id"] for m in messages] == [m["id"] for m in sent]
        assert [m["content"] for m in messages] == contents
        assert {m["conversation_id"] for m in messages} == {first["conversation_id"]}
        assert {m["sender"]["user_id"] for m in messages} == {ann.user_id}
        notified = [f["data"]["data"]["message_id"] for f in message_notifications(events)]
        assert sorted(notified) == sorted(m["id"] for m in sent)
        # Each notification comes after its message in Bob's stream.
        position = {f["data"]["id"]: int(f["id"]) for f in of_type(events, "message.created")}
        for frame in message_notifications(events):
            assert int(frame["id"]) > position[frame["data"]["data"]["message_id"]]

        # The worker's notifications are stored too: one per message, all six, from Ann.
        response = await http2.get(
            "/api/v1/notifications", params={"types": "message"}, headers=bob.headers
        )
        assert response.status_code == 200, response.text
        items = response.json()["items"]
        assert sorted(n["data"]["message_id"] for n in items) == sorted(
            m["id"] for m in [first, *sent]
        )
        assert {n["actor"]["user_id"] for n in items} == {ann.user_id}
        # Ann is notified of nothing: her own messages.
        response = await http1.get("/api/v1/notifications", headers=ann.headers)
        assert response.status_code == 200, response.text
        assert response.json()["items"] == []
