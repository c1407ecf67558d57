"""Real ``townsquare worker`` processes over Redis (PostgreSQL + Redis only).

Must show: kill the worker while it processes a batch of events and start it again: every
notification exists exactly once.
"""

from __future__ import annotations

import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.engine import make_url

from tests.conftest import REDIS_URL, Backend
from tests.fixtures.servers import start_townsquare, townsquare_env, wait_until
from tests.fixtures.users import signed_in_user
from tests.kit.helpers import CLIENT_ADDRESS, AppFactory

FOLLOWERS = 150


@pytest.fixture
def workers(pg_backend: Backend, key_prefix: str) -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _start_worker(backend: Backend, key_prefix: str, log: Path) -> subprocess.Popen[str]:
    assert REDIS_URL
    env = townsquare_env(
        backend.database_url,
        REDIS_URL,
        key_prefix,
        # Short: the jobs of a killed worker are handed out again after 3 s.
        job_lease_seconds="3",
        outbox_poll_seconds="0.5",
        # Few at a time, so that the kill lands in the middle of the batch.
        job_concurrency="2",
    )
    return start_townsquare(["worker"], env, log)


async def _connect(backend: Backend) -> asyncpg.Connection:
    url = make_url(backend.database_url).set(drivername="postgresql")
    return await asyncpg.connect(url.render_as_string(hide_password=False))


async def test_killed_worker_loses_nothing_and_duplicates_nothing(
    app_factory: AppFactory,
    pg_backend: Backend,
    key_prefix: str,
    workers: list[subprocess.Popen[str]],
    tmp_path: Path,
) -> None:
    # The server only relays: its jobs go to Redis for the workers.
    app: FastAPI = await app_factory(job_broker_url=REDIS_URL, redis_key_prefix=key_prefix)
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        target = await signed_in_user(http, "kill_target")
        followers = [await signed_in_user(http) for _ in range(FOLLOWERS)]
        for follower in followers:
            response = await http.post(
                f"/api/v1/users/{target.username}/follow", headers=follower.headers
            )
            assert response.status_code == 200, response.text
    await app.state.platform.outbox.wait_idle()

    conn = await _connect(pg_backend)
    target_id = uuid.UUID(target.user_id)

    async def follow_notifications() -> int:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE recipient_id = $1 AND type = 'follow'",
                target_id,
            )
        )

    try:
        assert await follow_notifications() == 0  # nothing ran in the server
        log = tmp_path / "workers.log"
        first = _start_worker(pg_backend, key_prefix, log)
        workers.append(first)

        async def some_exist() -> bool:
            return await follow_notifications() >= 10

        await wait_until(some_exist, 60, "the first notifications")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = await follow_notifications()
        assert 0 < at_kill < FOLLOWERS, f"the kill missed the batch ({at_kill})"

        second = _start_worker(pg_backend, key_prefix, log)
        workers.append(second)

        async def settled() -> bool:
            pending = await conn.fetchval(
                "SELECT (SELECT count(*) FROM outbox_events WHERE dispatched_at IS NULL)"
                " + (SELECT count(*) FROM event_deliveries"
                "    WHERE done_at IS NULL AND dead_at IS NULL)"
            )
            return int(pending) == 0

        await wait_until(settled, 90, "every delivery to be done")

        rows = await conn.fetch(
            "SELECT actor_id, count(*) AS n FROM notifications"
            " WHERE recipient_id = $1 AND type = 'follow' GROUP BY actor_id",
            target_id,
        )
        counts = {row["actor_id"]: row["n"] for row in rows}
        assert counts == {uuid.UUID(f.user_id): 1 for f in followers}
        assert await follow_notifications() == FOLLOWERS
        assert (
            await conn.fetchval("SELECT count(*) FROM event_deliveries WHERE dead_at IS NOT NULL")
            == 0
        )

        # A clean stop: SIGTERM, exit 0.
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, log.read_text()[-3000:]
    finally:
        await conn.close()
