"""PostgreSQL's pool pings a connection before reuse only once it sat idle (``kit.db``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import POSTGRES_URL, Backend, _asyncpg_dsn, make_settings
from tests.fixtures.mailbox import Mailbox
from townsquare.kit.db import Database


@pytest.fixture
def postgres(backend: Backend) -> Backend:
    if backend.name != "postgres":
        pytest.skip("SQLite has no server that can drop a pooled connection")
    return backend


async def _database(backend: Backend, mailbox: Mailbox, idle_seconds: float) -> Database:
    settings = make_settings(
        backend, mailbox, database_pool_size=1, database_ping_after_idle_seconds=idle_seconds
    )
    return Database(settings)


@pytest.fixture
async def admin() -> AsyncIterator[asyncpg.Connection]:
    assert POSTGRES_URL
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    yield conn
    await conn.close()


async def _backend_pid(database: Database) -> int:
    async with database.engine.connect() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def _kill(admin: asyncpg.Connection, pid: int) -> None:
    assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    # Wait until the server has really closed it.
    for _ in range(100):
        if not await admin.fetchval("SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid):
            return
        await asyncio.sleep(0.02)


async def test_a_connection_killed_while_idle_is_replaced_before_use(
    postgres: Backend, mailbox: Mailbox, admin: asyncpg.Connection
) -> None:
    database = await _database(postgres, mailbox, idle_seconds=0.05)
    try:
        first = await _backend_pid(database)
        await _kill(admin, first)
        await asyncio.sleep(0.1)  # longer idle than the threshold: pinged on checkout

        second = await _backend_pid(database)  # no error: the ping found it dead

        assert second != first
    finally:
        await database.dispose()


async def test_a_connection_reused_at_once_is_not_pinged(
    postgres: Backend, mailbox: Mailbox, admin: asyncpg.Connection
) -> None:
    """The busy-pool case the threshold is for: no ping, so a connection that died in that
    moment fails its statement once, and the pool then replaces it."""
    database = await _database(postgres, mailbox, idle_seconds=60)
    try:
        first = await _backend_pid(database)
        await _kill(admin, first)

        with pytest.raises(DBAPIError) as failed:
            await _backend_pid(database)
        assert failed.value.connection_invalidated

        assert await _backend_pid(database) != first
    finally:
        await database.dispose()
