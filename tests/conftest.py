"""Test harness: every test runs on SQLite, and on PostgreSQL + Redis when CI provides them.

- ``TOWNSQUARE_TEST_POSTGRES_URL`` (e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``): a
  fresh database is created for the run, migrated with Alembic, and dropped at the end.
- ``TOWNSQUARE_TEST_REDIS_URL``: cache and rate limits of the PostgreSQL backend live there,
  under a key prefix unique to the run.
Each test gets a fresh application (own in-process cache and limits) and clean tables.
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
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.fixtures.mailbox import Mailbox
from townsquare import migrate
from townsquare.config import Environment, MailBackend, Settings
from townsquare.main import create_app
from townsquare.models import metadata

POSTGRES_URL = os.environ.get("TOWNSQUARE_TEST_POSTGRES_URL")
REDIS_URL = os.environ.get("TOWNSQUARE_TEST_REDIS_URL")
BACKENDS = ["sqlite"] + (["postgres"] if POSTGRES_URL else [])
RUN_ID = uuid.uuid4().hex[:10]
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


@pytest.fixture
async def app(settings: Settings, backend: Backend) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await application.state.platform.outbox.wait_idle()
    await _clean(backend, settings)


@pytest.fixture
async def app_factory(
    backend: Backend, mailbox: Mailbox
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
        await _clean(backend, settings_used[0])


async def _clean(backend: Backend, settings: Settings) -> None:
    """Empty every table (children first) and this run's Redis keys."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine = app.state.platform.database.engine
        async with engine.begin() as conn:
            if backend.name == "postgres":
                names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} CASCADE"))
            else:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(table.delete())
    if backend.redis_url:
        redis = Redis.from_url(backend.redis_url)
        try:
            keys = [key async for key in redis.scan_iter(match=f"{settings.redis_key_prefix}*")]
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
