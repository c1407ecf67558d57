"""Test harness: every test runs on SQLite, and on PostgreSQL + Redis when CI provides them.

- ``TOWNSQUARE_TEST_POSTGRES_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``): a
  fresh database is created for the run, migrated with Alembic, and dropped at the end.
- ``TOWNSQUARE_TEST_REDIS_URL``: cache and rate limits of the PostgreSQL backend live there,
  under a key prefix unique to the run.

Under ``pytest-xdist`` (``-n 2``) every worker is a run of its own: its own ``RUN_ID`` (the
worker id in it), so its own PostgreSQL database, Redis key prefix (cache, limits, job queue,
pub/sub channels all live under it), SQLite file (its own ``tmp_path_factory``) and SMTP port.

Each test gets a fresh application (own in-process cache, limits, job queue and real-time hub:
starting one costs a few milliseconds). What it wrote is emptied afterwards by a cleaner kept for
the session (no second application): it finds the tables that hold rows in one statement and
deletes from those only, children first, in one transaction. Emptying every table each time cost
~15 ms on SQLite and ~0.5 s on PostgreSQL (``TRUNCATE`` of 45 tables).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from redis.asyncio import Redis
from sqlalchemy import exists, literal, select, text, union_all
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.fixtures.mailbox import Mailbox
from townsquare import migrate
from townsquare.config import Environment, MailBackend, Settings
from townsquare.main import create_app
from townsquare.models import metadata

POSTGRES_URL = os.environ.get("TOWNSQUARE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TOWNSQUARE_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
#: The xdist worker ("gw0", "gw1", ...; "main" without xdist).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
#: Unique to this run and worker: names its database and Redis key prefix.
RUN_ID = f"{uuid.uuid4().hex[:8]}_{WORKER}"
#: The per-account limits on content (``kit.web.limit_per_account``), relaxed for the tests.
CONTENT_LIMITS = (
    "rate_limit_posts",
    "rate_limit_shares",
    "rate_limit_comments",
    "rate_limit_reactions",
    "rate_limit_messages",
    "rate_limit_friend_requests",
    "rate_limit_follows",
    "rate_limit_bookmarks",
)


#: Left out of the inner loop (``make test-fast``: ``-m "not slow"``); ``make test`` and CI run
#: them. Whole directories: real processes, fault injection, the OpenAPI fuzz, property tests.
SLOW_DIRECTORIES = ("e2e", "properties")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    slow_roots = [tests_root / name for name in SLOW_DIRECTORIES]
    for item in items:
        if any(item.path.is_relative_to(root) for root in slow_roots):
            item.add_marker(pytest.mark.slow)


@dataclass(frozen=True)
class Backend:
    name: str
    database_url: str
    redis_url: str | None


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlalchemy_pg_url(url: str, database: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql+asyncpg", database=database)
        .render_as_string(hide_password=False)
    )


async def _admin_execute(statement: str) -> None:
    assert POSTGRES_URL
    conn = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Backend]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "townsquare.db"
        url = f"sqlite+aiosqlite:///{path}"
        migrate.upgrade(url)
        yield Backend("sqlite", url, None)
        return
    assert POSTGRES_URL
    name = f"townsquare_test_{RUN_ID}"
    asyncio.run(_admin_execute(f'CREATE DATABASE "{name}"'))
    # Throwaway data: commits need not wait for the WAL flush (what they show is the same).
    asyncio.run(_admin_execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    url = _sqlalchemy_pg_url(POSTGRES_URL, name)
    try:
        migrate.upgrade(url)
        yield Backend("postgres", url, REDIS_URL)
    finally:
        asyncio.run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def mailbox_server() -> Iterator[Mailbox]:
    mailbox = Mailbox()
    mailbox.start()
    yield mailbox
    mailbox.stop()


@pytest.fixture
def mailbox(mailbox_server: Mailbox) -> Mailbox:
    mailbox_server.clear()
    return mailbox_server


def make_settings(backend: Backend, mailbox: Mailbox, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": Environment.TEST,
        "database_url": backend.database_url,
        "redis_url": backend.redis_url,
        "redis_key_prefix": f"ts-test-{RUN_ID}:",
        "mail_backend": MailBackend.SMTP,
        "smtp_host": "127.0.0.1",
        "smtp_port": mailbox.port,
        "log_json": True,
        "log_level": "WARNING",
        "run_periodic_jobs": False,
        # The test process is CPU-bound: a SQLite writer can wait behind several concurrent
        # requests' Python work (seen > 5 s on CI). Production keeps the 5 s default; the
        # busy-timeout test sets its own.
        "sqlite_busy_timeout_ms": 30_000,
        # Cheap hashing keeps the suite fast; production keeps argon2id's strong defaults.
        "password_argon2_time_cost": 1,
        "password_argon2_memory_kib": 1024,
        # Generous limits: tests that exercise rate limiting set their own.
        "rate_limit_register_per_ip": "1000/minute",
        "rate_limit_login_per_ip": "1000/minute",
        "rate_limit_password_per_ip": "1000/minute",
        "rate_limit_password_per_account": "1000/minute",
        "rate_limit_login_failures_per_account": "1000/minute",
        "rate_limit_login_failures_per_source": "1000/minute",
        **dict.fromkeys(CONTENT_LIMITS, "10000/minute"),
        "login_failure_delay_ms": 0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def settings(backend: Backend, mailbox: Mailbox) -> Settings:
    return make_settings(backend, mailbox)


@pytest.fixture(scope="session")
async def cleaner(backend: Backend) -> AsyncIterator[Cleaner]:
    """One engine and Redis client for the session's clean-ups (on the session's event loop)."""
    cleaner = Cleaner.open(backend)
    try:
        yield cleaner
    finally:
        await cleaner.close()


@pytest.fixture
async def app(settings: Settings, cleaner: Cleaner) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await application.state.platform.outbox.wait_idle()
    await cleaner.clean(settings.redis_key_prefix)


@pytest.fixture
async def app_factory(
    backend: Backend, mailbox: Mailbox, cleaner: Cleaner
) -> AsyncIterator[Callable[..., Awaitable[FastAPI]]]:
    """Started applications with settings overridden (``await app_factory(rate_limit_...=...)``)."""
    async with contextlib.AsyncExitStack() as stack:
        settings_used: list[Settings] = []

        async def start(**overrides: object) -> FastAPI:
            settings = make_settings(backend, mailbox, **overrides)
            application = create_app(settings)
            await stack.enter_async_context(application.router.lifespan_context(application))
            stack.push_async_callback(application.state.platform.outbox.wait_idle)
            settings_used.append(settings)
            return application

        yield start
    if settings_used:
        await cleaner.clean(settings_used[0].redis_key_prefix)


class Cleaner:
    """Empties what tests wrote: the tables holding rows and the Redis keys under a prefix.

    No application of its own: a plain engine (and Redis client) on the test database, so a
    clean-up costs one probe statement plus one DELETE per table actually written.
    """

    def __init__(self, backend: Backend, engine: AsyncEngine, redis: Redis | None) -> None:
        self.backend = backend
        self.engine = engine
        self.redis = redis

    @classmethod
    def open(cls, backend: Backend) -> Cleaner:
        # SQLite: wait for a writer still finishing (same patience as the tests' applications).
        connect_args = {"timeout": 30} if backend.name == "sqlite" else {}
        engine = create_async_engine(backend.database_url, pool_size=1, connect_args=connect_args)
        redis = Redis.from_url(backend.redis_url) if backend.redis_url else None
        return cls(backend, engine, redis)

    async def close(self) -> None:
        await self.engine.dispose()
        if self.redis is not None:
            await self.redis.aclose()

    async def clean(self, redis_key_prefix: str) -> None:
        await self._empty_tables()
        if self.redis is not None:
            # The Redis is shared (other runs, the bench): few round trips over its keyspace.
            pattern = f"{redis_key_prefix}*"
            keys = [key async for key in self.redis.scan_iter(match=pattern, count=1000)]
            if keys:
                await self.redis.delete(*keys)

    async def _empty_tables(self) -> None:
        async with self.engine.begin() as conn:
            written = set((await conn.execute(_WRITTEN_TABLES)).scalars())
            if not written:
                return
            if self.backend.name == "postgres":
                # The rows are throwaway: no need to wait for the WAL flush.
                await conn.execute(text("SET LOCAL synchronous_commit = off"))
            for table in reversed(metadata.sorted_tables):  # children first
                if table.name in written:
                    await conn.execute(table.delete())


#: The names of the tables that hold at least one row, in one statement.
_WRITTEN_TABLES = union_all(
    *(
        select(literal(table.name).label("name")).where(exists().select_from(table))
        for table in metadata.sorted_tables
    )
)


async def _clean(backend: Backend, settings: Settings) -> None:
    """Empty every table and this run's Redis keys, from any event loop (the property test and
    the fuzz test clean from their own)."""
    cleaner = Cleaner.open(backend)
    try:
        await cleaner.clean(settings.redis_key_prefix)
    finally:
        await cleaner.close()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
