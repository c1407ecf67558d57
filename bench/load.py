"""Open-loop HTTP/1.1 load generator: ``python -m bench.load SPEC.json`` prints one JSON result.

- Fixed arrival rate: request ``i`` is *scheduled* at ``t0 + i / rate`` whatever happened to the
  earlier ones, and its latency is measured from that scheduled moment, so a stalled server is
  charged for the whole time the request waited (no coordinated omission).
- Keep-alive connections (up to ``connections``; a request that finds none idle opens one, or
  queues inside the client, its clock already running).
- Requests are pre-built bytes (a list in the spec, picked at random) and responses are parsed
  just enough to find their end (Content-Length or chunked): a raw asyncio protocol on uvloop,
  so one Python process drives thousands of requests per second.
- ``warmup`` seconds at the same rate come first and are not counted.

The spec: ``{"host", "port", "rate", "warmup", "duration", "connections", "timeout",
"requests": [latin-1 strings] or "requests_path": a JSON file of them, "expect": [statuses],
"seed"}``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import uvloop

CRLF2 = b"\r\n\r\n"
#: Not ``loop.time()``: uvloop caches it once per loop iteration, at millisecond resolution.
clock = time.perf_counter
#: Idle keep-alive connections older than this are closed rather than reused (under uvicorn's
#: default 5 s keep-alive timeout).
IDLE_LIMIT = 3.0


@dataclass
class Tally:
    """What happened to the requests scheduled inside the measured window."""

    latencies: list[float] = field(default_factory=list)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    error_samples: list[str] = field(default_factory=list)
    last_completion: float = 0.0
    #: The slowest latency of the requests scheduled in each second of the window: shows
    #: whether a bad p99 comes from steady queueing or from a few stalls.
    per_second_max: dict[int, float] = field(default_factory=dict)

    def slowest_by_second(self, offset: float, latency: float) -> None:
        second = int(offset)
        if latency > self.per_second_max.get(second, 0.0):
            self.per_second_max[second] = latency


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.scheduled = 0.0
        self.busy = False
        self.closed = False
        self.idle_since = 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, request: bytes, scheduled: float) -> None:
        self.scheduled = scheduled
        self.busy = True
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        end = buffer.find(CRLF2)
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        status = int(head[9:12])
        body_start = end + 4
        length_at = head.find(b"\r\ncontent-length:")
        if status in (204, 304):
            body = b""
            del buffer[:body_start]
        elif length_at >= 0:
            line_end = head.find(b"\r\n", length_at + 2)
            value = head[length_at + 17 : line_end if line_end >= 0 else len(head)]
            total = body_start + int(value)
            if len(buffer) < total:
                return
            body = bytes(buffer[body_start:total])
            del buffer[:total]
        elif b"\r\ntransfer-encoding: chunked" in head:
            terminator = buffer.find(b"\r\n0\r\n\r\n", body_start - 2)
            if terminator < 0:
                return
            total = terminator + 7
            body = bytes(buffer[body_start:total])
            del buffer[:total]
        else:  # no length: the body runs to the end of the connection
            return
        keep = b"\r\nconnection: close" not in head
        self.busy = False
        self.client.completed(self, status, body, keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.busy:
            self.busy = False
            self.client.failed(self, "connection_lost" if exc is None else type(exc).__name__)
        self.client.lost(self)


class Client:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.host = spec["host"]
        self.port = int(spec["port"])
        self.max_connections = int(spec.get("connections", 256))
        self.expect = set(spec.get("expect", [200]))
        #: Idle connections, oldest first: reused in turn (not the most recent one, which would
        #: keep a few connections hot, all possibly on the same server worker).
        self.idle: collections.deque[Connection] = collections.deque()
        self.connections: set[Connection] = set()
        self.open_count = 0
        self.queue: collections.deque[tuple[bytes, float]] = collections.deque()
        self.tally = Tally()
        self.window = (0.0, 0.0)
        self.outstanding = 0
        self.loop = asyncio.get_running_loop()
        self.done = asyncio.Event()

    def spawn_open(self) -> asyncio.Task[None]:
        """Open one more connection (counted at once, so a burst never opens too many)."""
        self.open_count += 1
        return self.loop.create_task(self._open())

    async def _open(self) -> None:
        try:
            _, conn = await self.loop.create_connection(self._new, self.host, self.port)
        except OSError as exc:
            self.open_count -= 1
            if self.queue:
                _, scheduled = self.queue.popleft()
                self._record_error(scheduled, type(exc).__name__, str(exc))
            return
        self._next(conn)

    def _new(self) -> Connection:
        conn = Connection(self)
        self.connections.add(conn)
        return conn

    def fire(self, request: bytes, scheduled: float) -> None:
        self.outstanding += 1
        self.done.clear()
        while self.idle:
            conn = self.idle.popleft()
            if scheduled - conn.idle_since > IDLE_LIMIT:
                # The server (uvicorn: 5 s keep-alive) may be closing it right now: a request
                # written into that race would die with a reset. Retire it instead.
                assert conn.transport is not None
                conn.transport.close()
                continue
            conn.send(request, scheduled)
            return
        self.queue.append((request, scheduled))
        if self.open_count < self.max_connections:
            self.spawn_open()

    def _next(self, conn: Connection) -> None:
        if conn.closed:
            return
        if self.queue:
            request, scheduled = self.queue.popleft()
            conn.send(request, scheduled)
        else:
            conn.idle_since = clock()
            self.idle.append(conn)

    def _in_window(self, scheduled: float) -> bool:
        return self.window[0] <= scheduled < self.window[1]

    def _finish_one(self) -> None:
        self.outstanding -= 1
        if self.outstanding == 0:
            self.done.set()

    def completed(self, conn: Connection, status: int, body: bytes, keep: bool) -> None:
        now = clock()
        if self._in_window(conn.scheduled):
            tally = self.tally
            tally.last_completion = now
            tally.latencies.append(now - conn.scheduled)
            tally.slowest_by_second(conn.scheduled - self.window[0], now - conn.scheduled)
            tally.statuses[status] += 1
            if status not in self.expect:
                tally.errors[f"http_{status}"] += 1
                if len(tally.error_samples) < 5:
                    tally.error_samples.append(f"{status}: {body[:300].decode('latin-1')}")
        self._finish_one()
        if keep:
            self._next(conn)
        else:
            assert conn.transport is not None
            conn.transport.close()

    def _record_error(self, scheduled: float, kind: str, detail: str) -> None:
        if self._in_window(scheduled):
            self.tally.latencies.append(float("inf"))
            self.tally.errors[kind] += 1
            if len(self.tally.error_samples) < 5:
                self.tally.error_samples.append(f"{kind}: {detail}")
        self._finish_one()

    def failed(self, conn: Connection, kind: str) -> None:
        self._record_error(conn.scheduled, kind, "connection closed mid-request")

    def lost(self, conn: Connection) -> None:
        self.open_count -= 1
        self.connections.discard(conn)
        if conn in self.idle:
            self.idle.remove(conn)
        if self.queue and self.open_count < self.max_connections:
            self.spawn_open()


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def summarize(tally: Tally, rate: float, window: tuple[float, float]) -> dict[str, Any]:
    """Latency percentiles over every request scheduled in the window (failures count as
    infinitely slow); throughput = responses to them / time from window start to the last."""
    values = sorted(tally.latencies)
    finite = [v for v in values if v != float("inf")]
    ms = 1000.0
    errors = sum(tally.errors.values())
    served_for = max(window[1], tally.last_completion) - window[0]
    return {
        "rate": rate,
        "scheduled": len(values),
        "achieved_rps": round(sum(tally.statuses.values()) / served_for, 1),
        "ok": len(values) - errors,
        "errors": errors,
        "error_kinds": dict(tally.errors),
        "error_samples": tally.error_samples,
        "statuses": {str(k): v for k, v in sorted(tally.statuses.items())},
        "p50_ms": round(percentile(values, 0.50) * ms, 2),
        "p90_ms": round(percentile(values, 0.90) * ms, 2),
        "p99_ms": round(percentile(values, 0.99) * ms, 2),
        "p999_ms": round(percentile(values, 0.999) * ms, 2),
        "max_ms": round(values[-1] * ms, 2) if values else None,
        "mean_ms": round(sum(finite) / len(finite) * ms, 2) if finite else None,
        "per_second_max_ms": [
            round(tally.per_second_max.get(second, 0.0) * ms, 1)
            for second in range(int(window[1] - window[0]))
        ],
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    rate = float(spec["rate"])
    warmup = float(spec.get("warmup", 1.0))
    duration = float(spec["duration"])
    timeout = float(spec.get("timeout", 10.0))
    requests = [r.encode("latin-1") for r in spec["requests"]]
    rng = random.Random(spec.get("seed", 1))
    client = Client(spec)
    # A few connections ready before the clock starts (the rest open on demand).
    ready = min(client.max_connections, 32, max(4, int(rate / 20)))
    await asyncio.gather(*(client.spawn_open() for _ in range(ready)))
    interval = 1.0 / rate
    total = int((warmup + duration) * rate)
    t0 = clock() + 0.05
    client.window = (t0 + warmup, t0 + warmup + duration)
    cpu0 = time.process_time()
    lag_max = 0.0
    i = 0
    while i < total:
        now = clock()
        due = t0 + i * interval
        if due <= now:
            lag_max = max(lag_max, now - due)
        while i < total and due <= now:
            client.fire(requests[rng.randrange(len(requests))], due)
            i += 1
            due = t0 + i * interval
        # The loop's timers tick in milliseconds: sleeping less would spin. Requests that fall
        # due meanwhile go out together on waking, charged from their scheduled moment.
        await asyncio.sleep(max(due - clock(), 0.001))
    end_of_schedule = clock()
    if client.outstanding:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.done.wait(), timeout)
    # Whatever is still out has timed out: charge it as such.
    unfinished = client.outstanding
    still_out = [c.scheduled for c in client.connections if c.busy]
    still_out += [scheduled for _, scheduled in client.queue]
    for scheduled in still_out:
        if client._in_window(scheduled):
            client.tally.latencies.append(float("inf"))
            client.tally.errors["timeout"] += 1
    cpu = time.process_time() - cpu0
    wall = clock() - t0
    result = summarize(client.tally, rate, client.window)
    result.update(
        {
            "warmup_s": warmup,
            "duration_s": duration,
            "connections_opened": client.open_count,
            "unfinished": unfinished,
            "client_cpu": round(cpu / wall, 2) if wall > 0 else None,
            "client_lag_max_ms": round(lag_max * 1000, 1),
            "schedule_overrun_ms": round((end_of_schedule - (t0 + total * interval)) * 1000, 1),
        }
    )
    return result


def main() -> None:
    with open(sys.argv[1], "rb") as file:
        spec = json.load(file)
    if "requests" not in spec:
        with open(spec["requests_path"], "rb") as file:
            spec["requests"] = json.load(file)
    result = uvloop.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
