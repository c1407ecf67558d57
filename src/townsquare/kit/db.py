"""Engines for SQLite and PostgreSQL, and the unit of work that commits once at the edge."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

from townsquare.config import Settings
from townsquare.kit.cache import (
    Cache,
    CacheTtls,
    NoCache,
    bind_cache,
    forget_pending,
    settle_after_commit,
)

AfterCommit = Callable[[], Awaitable[None]]
READ_ONLY_OPTION = "townsquare_read_only"


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url, connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000}
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    return create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
    )


def _configure_sqlite(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    """WAL for concurrent readers, foreign keys on, and a busy timeout instead of 'locked'.

    ``BEGIN IMMEDIATE`` takes the write lock when a transaction starts, so two writers queue on
    the busy timeout rather than failing when one of them upgrades a read lock. Units of work
    declared read-only (safe HTTP methods) begin deferred, so readers never wait for writers.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory; lives on ``app.state`` for the process's lifetime."""

    def __init__(self, settings: Settings, cache: Cache | None = None) -> None:
        self.cache: Cache = cache or NoCache()
        self.cache_ttls = CacheTtls(
            profile=settings.cache_profile_ttl_seconds,
            post=settings.cache_post_ttl_seconds,
            friends=settings.cache_friends_ttl_seconds,
            session=settings.cache_session_ttl_seconds,
            feed=settings.feed_ttl_seconds,
        )
        self.engine = create_engine(settings)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = async_sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()

    @asynccontextmanager
    async def unit_of_work(self, *, read_only: bool = False) -> AsyncIterator[UnitOfWork]:
        """A session whose changes are kept only if ``commit()`` is called.

        ``read_only`` promises no writes; SQLite then skips the write lock (writes would still
        work, but could fail with "database is locked" under contention).
        """
        factory = self.read_sessions if read_only else self.sessions
        async with factory() as session:
            bind_cache(session, self.cache, self.cache_ttls, read_only=read_only)
            uow = UnitOfWork(session)
            try:
                yield uow
            finally:
                if not uow.committed:
                    forget_pending(session)
                    await session.rollback()


class UnitOfWork:
    """A session plus the work that must wait until its transaction has committed."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.committed = False
        self._after_commit: list[AfterCommit] = []

    def after_commit(self, callback: AfterCommit) -> None:
        """Run ``callback`` once the transaction has committed; never if it rolls back."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        await self.session.commit()
        self.committed = True
        # Cache invalidations wait for the commit: before it, a reader could cache the old row.
        await settle_after_commit(self.session)

    def take_after_commit(self) -> list[AfterCommit]:
        callbacks, self._after_commit = self._after_commit, []
        return callbacks
