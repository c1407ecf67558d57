"""Message send -> WebSocket delivery latency, with many clients connected at once.

Run as ``python -m bench.realtime SPEC.json`` in its own process (like ``bench.load``): it opens
one WebSocket per client (``/api/v1/stream``), sends one warm-up direct message per pair (this
creates the conversations and drops pairs that may not message each other), then sends direct
messages open-loop at a fixed rate over keep-alive HTTP connections and measures each message
from its *scheduled* send moment to its arrival as ``message.created`` on the recipient's socket.
Sender and receiver share this process's clock, so no clock skew enters the figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from typing import Any

import orjson
import uvloop
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.load import Client, percentile, summarize
from bench.scenarios import Request

clock = time.perf_counter
MARK = "bench-rt "


class Receivers:
    """Every client's socket; records when each bench message arrives and who got it."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        #: nonce -> (sender id, recipient id): the sender's own sockets get an echo.
        self.pair_of: dict[str, tuple[str, str]] = {}
        self.misdelivered = 0
        self.frames = 0
        self.closed: dict[str, int] = {}
        self.replies: set[asyncio.Task[None]] = set()

    async def read(self, user_id: str, socket: ClientConnection) -> None:
        try:
            async for raw in socket:
                self.frames += 1
                frame = orjson.loads(raw)
                kind = frame.get("type")
                if kind == "ping":
                    # The server's application-level heartbeat wants an answer.
                    task = asyncio.ensure_future(socket.send(b'{"type":"pong"}', text=True))
                    self.replies.add(task)
                    task.add_done_callback(self.replies.discard)
                    continue
                if kind != "message.created":
                    continue
                content = str((frame.get("data") or {}).get("content") or "")
                if not content.startswith(MARK):
                    continue
                nonce = content[len(MARK) :]
                sender, recipient = self.pair_of.get(nonce, ("", user_id))
                if user_id == recipient:
                    self.arrived.setdefault(nonce, clock())
                elif user_id != sender:
                    self.misdelivered += 1
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd is not None else 1006
            self.closed[str(code)] = self.closed.get(str(code), 0) + 1


async def open_sockets(
    spec: dict[str, Any], receivers: Receivers
) -> tuple[list[ClientConnection], list[asyncio.Task[None]], dict[str, int]]:
    base = f"ws://{spec['host']}:{spec['port']}/api/v1/stream"
    gate = asyncio.Semaphore(50)
    sockets: list[ClientConnection] = []
    readers: list[asyncio.Task[None]] = []
    errors: dict[str, int] = {}

    async def one(client: dict[str, str]) -> None:
        async with gate:
            try:
                socket = await connect(
                    f"{base}?access_token={client['token']}",
                    max_queue=None,
                    ping_interval=None,
                    open_timeout=30,
                )
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
        sockets.append(socket)
        readers.append(asyncio.ensure_future(receivers.read(client["id"], socket)))

    await asyncio.gather(*(one(c) for c in spec["clients"]))
    return sockets, readers, errors


def message_request(sender: dict[str, str], recipient: dict[str, str], nonce: str) -> bytes:
    body = {"type": "text", "content": MARK + nonce}
    path = f"/api/v1/users/{recipient['username']}/messages"
    return Request("POST", path, sender["token"], body).render("bench").encode("latin-1")


async def warm_pairs(
    spec: dict[str, Any], receivers: Receivers
) -> tuple[list[tuple[dict[str, str], dict[str, str]]], dict[str, int]]:
    """One message per ring pair (i -> i+1): creates the conversations; keeps the pairs that
    may message each other (a dataset block or a "nobody" setting refuses some)."""
    clients = spec["clients"]
    pairs = [(clients[i], clients[(i + 1) % len(clients)]) for i in range(len(clients))]
    client = Client({**spec, "expect": [201], "connections": 64})
    client.window = (0.0, float("inf"))
    statuses: dict[str, int] = {}
    kept = []
    for start in range(0, len(pairs), 200):
        batch = pairs[start : start + 200]
        now = clock()
        for index, (sender, recipient) in enumerate(batch):
            nonce = f"warm-{start + index}"
            receivers.pair_of[nonce] = (sender["id"], recipient["id"])
            client.fire(message_request(sender, recipient, nonce), now)
        await asyncio.wait_for(client.done.wait(), 300)
    # Which pairs answered 201 is not tracked per request by the load client: confirm through
    # delivery instead (a refused pair's message never arrives). Wait until arrivals stop.
    seen, quiet_since = -1, clock()
    while clock() - quiet_since < 3.0:
        await asyncio.sleep(0.5)
        if len(receivers.arrived) != seen:
            seen, quiet_since = len(receivers.arrived), clock()
    for status, count in client.tally.statuses.items():
        statuses[str(status)] = count
    if statuses.get("201") == len(pairs):
        return pairs, statuses  # every pair may message: no need to wait for slow arrivals
    for index, pair in enumerate(pairs):
        if f"warm-{index}" in receivers.arrived:
            kept.append(pair)
    return kept, statuses


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate = float(spec["rate"])
    duration = float(spec["duration"])
    warmup = float(spec.get("warmup", 2.0))
    drain = float(spec.get("drain", 5.0))
    rng = random.Random(spec.get("seed", 7))
    receivers = Receivers()
    opened_at = clock()
    sockets, readers, connect_errors = await open_sockets(spec, receivers)
    connect_seconds = clock() - opened_at
    if not sockets:
        return {"status": "error: no WebSocket connected", "connect_errors": connect_errors}
    pairs, warm_statuses = await warm_pairs(spec, receivers)
    if not pairs:
        return {"status": "error: no pair could message", "warm_statuses": warm_statuses}

    sender_client = Client({**spec, "expect": [201]})
    total = int((warmup + duration) * rate)
    interval = 1.0 / rate
    t0 = clock() + 0.05
    window = (t0 + warmup, t0 + warmup + duration)
    sender_client.window = window
    scheduled: dict[str, float] = {}
    i = 0
    lag_max = 0.0
    while i < total:
        now = clock()
        due = t0 + i * interval
        if due <= now:
            lag_max = max(lag_max, now - due)
        while i < total and due <= now:
            sender, recipient = pairs[rng.randrange(len(pairs))]
            nonce = f"{i}"
            receivers.pair_of[nonce] = (sender["id"], recipient["id"])
            scheduled[nonce] = due
            sender_client.fire(message_request(sender, recipient, nonce), due)
            i += 1
            due = t0 + i * interval
        await asyncio.sleep(max(due - clock(), 0.001))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sender_client.done.wait(), 30)
    await asyncio.sleep(drain)

    measured = [n for n, at in scheduled.items() if window[0] <= at < window[1]]
    arrived = receivers.arrived
    latencies = sorted(arrived[n] - scheduled[n] for n in measured if n in arrived)
    lost = len(measured) - len(latencies)
    for socket in sockets:
        with contextlib.suppress(Exception):
            await socket.close()
    for reader in readers:
        reader.cancel()
    with contextlib.suppress(Exception):
        await asyncio.gather(*readers, return_exceptions=True)

    def ms(q: float) -> float | None:
        return round(percentile(latencies, q) * 1000, 1) if latencies else None

    send = summarize(sender_client.tally, rate, window)
    return {
        "clients": len(spec["clients"]),
        "connected": len(sockets),
        "connect_errors": connect_errors,
        "connect_seconds": round(connect_seconds, 1),
        "pairs": len(pairs),
        "warm_statuses": warm_statuses,
        "rate": rate,
        "duration_s": duration,
        "messages_measured": len(measured),
        "delivered": len(latencies),
        "lost": lost,
        "misdelivered": receivers.misdelivered,
        "delivery_ms": {
            "p50": ms(0.50),
            "p90": ms(0.90),
            "p99": ms(0.99),
            "max": round(latencies[-1] * 1000, 1) if latencies else None,
        },
        "send_http": send,
        "sockets_closed_by_server": receivers.closed,
        "client_lag_max_ms": round(lag_max * 1000, 1),
    }


def main() -> None:
    with open(sys.argv[1], "rb") as file:
        spec = json.load(file)
    result = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
