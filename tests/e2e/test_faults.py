"""Faults survived by real ``townsquare`` processes.

Must show:
- PostgreSQL restarted while the servers are under load: requests during the outage get a quick
  503 (not a hang, never a 500), service resumes by itself within seconds of the database
  returning, no accepted write is lost, the outbox drains afterwards.
- SIGTERM to a server under load: in-flight requests finish, sockets are told to reconnect
  (close code 1012, "service restart"), no accepted write is lost.

The PostgreSQL test restarts a throwaway cluster of its own (``tests/fixtures/pgcluster.py``),
never the shared one.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import POSTGRES_URL, REDIS_URL, Backend
from tests.fixtures.pgcluster import Cluster, why_no_cluster
from tests.fixtures.servers import (
    free_port,
    print_logs,
    start_townsquare,
    stop_processes,
    townsquare_env,
    wait_ready,
    wait_until,
)
from tests.fixtures.users import SignedIn, signed_in_user
from tests.kit.helpers import AppFactory
from townsquare import migrate

#: No request may take longer than this, outage or not (a hang is a failure).
REQUEST_BOUND = 10.0
CHEAP_HASHING = {
    "password_argon2_time_cost": "1",
    "password_argon2_memory_kib": "1024",
    "login_failure_delay_ms": "0",
}
DATABASE_DOWN_CODES = {"database_unavailable", "overloaded"}
#: uvicorn stops gracefully on SIGTERM, then re-raises the signal (as test_multiprocess shows).
CLEAN_EXITS = {0, -signal.SIGTERM}


@dataclass
class Outcome:
    kind: str  # "post" or "read"
    started: float
    ended: float
    status: int | None = None
    error: str | None = None
    content: str | None = None
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


async def _timed(
    http: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any
) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(kind, started, started)
    try:
        response = await http.request(method, url, timeout=REQUEST_BOUND + 5, **kwargs)
    except httpx.HTTPError as exc:
        outcome.error = f"{type(exc).__name__}: {exc}"
    else:
        outcome.status = response.status_code
        outcome.headers = dict(response.headers)
        try:
            outcome.body = response.json()
        except ValueError:
            outcome.body = response.text
    outcome.ended = time.monotonic()
    return outcome


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- PostgreSQL restarted under load ----------------------------------------------------------


@pytest.fixture
def pg_cluster() -> Iterator[Cluster]:
    """A migrated throwaway PostgreSQL cluster, destroyed after the test."""
    if not POSTGRES_URL or not REDIS_URL:
        pytest.skip("needs TOWNSQUARE_TEST_POSTGRES_URL and TOWNSQUARE_TEST_REDIS_URL")
    reason = why_no_cluster()
    if reason is not None:
        pytest.skip(reason)
    cluster = Cluster()
    try:
        cluster.start()
        migrate.upgrade(cluster.url)
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
async def redis_prefix(key_prefix: str) -> AsyncIterator[str]:
    """``key_prefix``, whose keys are deleted after the test (no app_factory clean-up here)."""
    yield key_prefix
    assert REDIS_URL
    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in redis.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


async def test_postgres_restart_under_load_answers_503_resumes_and_loses_nothing(
    pg_cluster: Cluster, redis_prefix: str, tmp_path: Path
) -> None:
    assert REDIS_URL
    env = townsquare_env(
        pg_cluster.url,
        REDIS_URL,
        redis_prefix,
        outbox_poll_seconds="0.5",
        # A delivery whose job died in the outage is handed out again soon.
        job_lease_seconds="3",
        job_retry_base_seconds="0.5",
        **CHEAP_HASHING,
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    logs = [tmp_path / "serve.log", tmp_path / "worker.log"]
    processes = [
        start_townsquare(["serve", "--port", str(port)], env, logs[0]),
        start_townsquare(["worker"], env, logs[1]),
    ]
    conn: asyncpg.Connection | None = None
    try:
        await wait_ready(base, processes[0], 90)
        async with httpx.AsyncClient(base_url=base, timeout=REQUEST_BOUND + 5) as http:
            writers = [await signed_in_user(http, f"pgr_writer_{n}") for n in range(3)]
            reader = await signed_in_user(http, "pgr_reader")

            outcomes: list[Outcome] = []
            stop_load = asyncio.Event()

            async def write_loop(n: int, user: SignedIn) -> None:
                count = 0
                while not stop_load.is_set():
                    count += 1
                    content = f"writer {n} post {count}"
                    outcome = await _timed(
                        http, "post", "POST", "/api/v1/posts",
                        json={"content": content}, headers=user.headers,
                    )  # fmt: skip
                    outcome.content = content
                    outcomes.append(outcome)
                    await asyncio.sleep(0.02)

            async def read_loop() -> None:
                while not stop_load.is_set():
                    for url in ("/api/v1/feed", f"/api/v1/users/{writers[0].username}/posts"):
                        outcomes.append(
                            await _timed(http, "read", "GET", url, headers=reader.headers)
                        )
                    await asyncio.sleep(0.02)

            load = [asyncio.create_task(write_loop(n, u)) for n, u in enumerate(writers)]
            load.append(asyncio.create_task(read_loop()))
            try:
                await asyncio.sleep(2)  # under load
                await asyncio.to_thread(pg_cluster.stop, "fast")
                down_at = time.monotonic()
                await asyncio.sleep(0.5)
                ready_during_outage = await _timed(http, "ready", "GET", "/readyz")
                await asyncio.sleep(1.5)
                await asyncio.to_thread(pg_cluster.start)
                up_at = time.monotonic()

                # Service resumes by itself: a write succeeds again within seconds.
                resumed_at: float | None = None
                while time.monotonic() - up_at < 15:
                    probe = await _timed(
                        http, "post", "POST", "/api/v1/posts",
                        json={"content": "probe after the restart"}, headers=reader.headers,
                    )  # fmt: skip
                    probe.content = "probe after the restart"
                    outcomes.append(probe)
                    if probe.status == 201:
                        resumed_at = probe.ended
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(2)  # and keeps serving under the same load
            finally:
                stop_load.set()
                await asyncio.gather(*load)

            assert resumed_at is not None, "no write succeeded within 15 s of PostgreSQL's return"
            assert resumed_at - up_at < 10

            # The outage was hit, and answered as such.
            assert ready_during_outage.status == 503, ready_during_outage
            assert ready_during_outage.body["code"] == "not_ready"
            during = [o for o in outcomes if down_at <= o.started and o.ended <= up_at]
            assert any(o.status == 503 for o in during), during

            # Every answer: 2xx, or 503 problem+json with a stable code and Retry-After. No
            # 500, no cut connection, no hang.
            bad = [
                o
                for o in outcomes
                if o.error is not None
                or o.ended - o.started > REQUEST_BOUND
                or not (
                    o.status in (200, 201)
                    or (
                        o.status == 503
                        and o.headers.get("content-type") == "application/problem+json"
                        and isinstance(o.body, dict)
                        and o.body.get("code") in DATABASE_DOWN_CODES
                        and o.headers.get("retry-after", "").isdigit()
                    )
                )
            ]
            assert bad == [], bad[:10]
            # Once resumed, every request succeeds again.
            after = [o for o in outcomes if o.started > resumed_at + 0.5]
            assert after, "no load after the service resumed"
            assert [o for o in after if o.status not in (200, 201)] == []

        # No accepted write is lost; none is half-written (the counters match the rows).
        conn = await asyncpg.connect(_asyncpg_dsn(pg_cluster.url))
        accepted = {o.body["id"] for o in outcomes if o.kind == "post" and o.status == 201}
        stored = {str(r["id"]) for r in await conn.fetch("SELECT id FROM posts")}
        assert accepted <= stored, accepted - stored
        mismatched = await conn.fetch(
            "SELECT s.user_id, s.posts_count, count(p.id) AS rows FROM user_stats s"
            " LEFT JOIN posts p ON p.author_id = s.user_id AND p.deleted_at IS NULL"
            " GROUP BY s.user_id, s.posts_count HAVING s.posts_count <> count(p.id)"
        )
        assert mismatched == [], mismatched

        # The outbox drains: every event relayed, every delivery done, none dead.
        async def pending() -> int:
            assert conn is not None
            return int(
                await conn.fetchval(
                    "SELECT (SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL)"
                    " + (SELECT count(*) FROM event_deliveries"
                    "    WHERE done_at IS NULL AND dead_at IS NULL)"
                )
            )

        left = await pending()
        for _ in range(90):  # 45 s
            if not left:
                break
            await asyncio.sleep(0.5)
            left = await pending()
        assert left == 0, f"{left} events or deliveries still pending"
        dead = await conn.fetch(
            "SELECT handler, last_error FROM event_deliveries WHERE dead_at IS NOT NULL"
        )
        assert dead == [], dead

        running = [p.poll() is None for p in processes]
        codes = stop_processes(processes)
        assert running == [True, True], codes
        assert codes[0] in CLEAN_EXITS, codes
        assert codes[1] == 0, codes
    except BaseException:
        stop_processes(processes)
        print_logs(logs)
        raise
    finally:
        if conn is not None:
            await conn.close()


# --- SIGTERM under load -----------------------------------------------------------------------


def _serve_env(backend: Backend, key_prefix: str, grace: int) -> dict[str, str]:
    settings = {**CHEAP_HASHING, "shutdown_grace_seconds": str(grace)}
    if backend.redis_url:
        return townsquare_env(backend.database_url, backend.redis_url, key_prefix, **settings)
    env = townsquare_env(backend.database_url, "", key_prefix, **settings)
    for name in ("TOWNSQUARE_REDIS_URL", "TOWNSQUARE_JOB_BROKER_URL"):
        env.pop(name)
    return env


async def _closed(ws: ClientConnection, within: float) -> ConnectionClosed:
    """Read (and drop) frames until the server closes the socket; how it closed."""
    async with asyncio.timeout(within):
        while True:
            try:
                await ws.recv()
            except ConnectionClosed as closed:
                return closed


async def test_sigterm_under_load_finishes_in_flight_requests_and_tells_sockets_to_reconnect(
    app_factory: AppFactory, backend: Backend, key_prefix: str, tmp_path: Path
) -> None:
    # Not used to serve: its clean-up empties the tables (and this prefix's Redis keys) after.
    await app_factory(job_broker_url=backend.redis_url, redis_key_prefix=key_prefix)
    grace = 10
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    ws: ClientConnection | None = None
    server = start_townsquare(
        ["serve", "--port", str(port)], _serve_env(backend, key_prefix, grace), log
    )
    try:
        await wait_ready(base, server, 90)
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            writers = [await signed_in_user(http, f"term_writer_{n}") for n in range(3)]
            listener = await signed_in_user(http, "term_listener")

        ws_url = f"ws://127.0.0.1:{port}/api/v1/stream?access_token={listener.access_token}"
        ws = await connect(ws_url, open_timeout=30)
        assert '"ready"' in str(await asyncio.wait_for(ws.recv(), 30))

        # In flight for sure: the request line, headers and half the body are on the server
        # when SIGTERM comes; the rest follows after it.
        release = asyncio.Event()

        def held_body(content: str) -> Any:
            async def chunks() -> AsyncIterator[bytes]:
                payload = f'{{"content": "{content}"}}'.encode()
                yield payload[:5]
                await release.wait()
                yield payload[5:]

            return chunks()

        outcomes: list[Outcome] = []
        stop_load = asyncio.Event()
        # One connection per request: a refused connection is a request never accepted.
        limits = httpx.Limits(max_keepalive_connections=0)

        async def held(n: int, user: SignedIn) -> Outcome:
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                content = f"held {n}"
                outcome = await _timed(
                    client, "held", "POST", "/api/v1/posts", content=held_body(content),
                    headers={**user.headers, "Content-Type": "application/json"},
                )  # fmt: skip
                outcome.content = content
                return outcome

        async def write_loop(n: int, user: SignedIn) -> None:
            async with httpx.AsyncClient(base_url=base, limits=limits) as client:
                count = 0
                while not stop_load.is_set():
                    count += 1
                    content = f"load {n} post {count}"
                    outcome = await _timed(
                        client, "post", "POST", "/api/v1/posts",
                        json={"content": content}, headers=user.headers,
                    )  # fmt: skip
                    outcome.content = content
                    outcomes.append(outcome)
                    if outcome.error is not None:
                        return  # the server is gone
                    await asyncio.sleep(0.01)

        load = [asyncio.create_task(write_loop(n, u)) for n, u in enumerate(writers)]
        holds = [asyncio.create_task(held(n, writers[n % 3])) for n in range(4)]
        held_at = time.monotonic()

        async def server_moved_on() -> bool:
            # Load requests sent after the held ones were answered: the server has accepted
            # the held connections and read their headers by now.
            return sum(o.started > held_at + 0.2 and o.status is not None for o in outcomes) >= 3

        await wait_until(server_moved_on, 30, "the load to go on past the held requests")
        await asyncio.sleep(0.3)
        assert not any(h.done() for h in holds)
        server.send_signal(signal.SIGTERM)
        term_at = time.monotonic()
        await asyncio.sleep(0.5)  # shutdown under way, the held requests still in flight
        release.set()

        # The socket is told to reconnect: 1012 (service restart).
        closed = await _closed(ws, grace)
        assert closed.rcvd is not None, "closed without a close frame"
        assert closed.rcvd.code == 1012, closed.rcvd

        held_outcomes = await asyncio.gather(*holds)
        stop_load.set()
        await asyncio.gather(*load)
        code = await asyncio.to_thread(server.wait, grace + 5)
        assert code in CLEAN_EXITS, code
        assert time.monotonic() - term_at < grace + 5

        # Every request in flight at SIGTERM finished with a success.
        assert [o.status for o in held_outcomes] == [201] * 4, held_outcomes
        # The load: every answer a success; a request that got no answer was refused at the
        # door (the server stopped accepting), never cut after its write.
        answered = [o for o in outcomes if o.status is not None]
        assert answered, "no load answered"
        assert [o for o in answered if o.status != 201] == []
        unanswered = {o.content for o in outcomes if o.status is None}

        engine = create_async_engine(backend.database_url)
        try:
            async with engine.connect() as db:
                rows = await db.execute(text("SELECT id, content FROM posts"))
                stored = {str(row.id).replace("-", ""): row.content for row in rows}
        finally:
            await engine.dispose()
        stored_ids = set(stored)
        accepted = [*held_outcomes, *answered]
        missing = [o for o in accepted if o.body["id"].replace("-", "") not in stored_ids]
        assert missing == [], missing
        assert unanswered.isdisjoint(stored.values()), unanswered & set(stored.values())
    except BaseException:
        stop_processes([server])
        print_logs([log])
        raise
    finally:
        if ws is not None:
            with contextlib.suppress(Exception):
                await ws.close()
        if server.poll() is None:
            stop_processes([server])
