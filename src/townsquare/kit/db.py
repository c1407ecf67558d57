"""Engines for SQLite and PostgreSQL, and the unit of work that commits once at the edge."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, exc, text
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

log = structlog.get_logger(__name__)
AfterCommit = Callable[[], Awaitable[None]]
READ_ONLY_OPTION = "townsquare_read_only"
_COMMIT_HOOKS = "townsquare.commit_hooks"
_BEFORE_COMMIT_HOOKS = "townsquare.before_commit_hooks"
H = TypeVar("H", bound=AfterCommit)


def on_commit(session: AsyncSession, key: str, make_hook: Callable[[], H]) -> H:
    """The hook registered under ``key`` for this transaction (made on first use).

    Hooks run once the unit of work has committed and are dropped if it rolls back. For code
    that holds only a session (``kit.realtime.publish_to_users``), where ``uow.after_commit``
    is out of reach; a failing hook is logged, never turned into an error.
    """
    hooks: dict[str, AfterCommit] = session.info.setdefault(_COMMIT_HOOKS, {})
    hook = hooks.get(key)
    if hook is None:
        hook = hooks[key] = make_hook()
    return hook  # type: ignore[return-value]


def before_commit(session: AsyncSession, key: str, make_hook: Callable[[], H]) -> H:
    """The hook registered under ``key`` to run last in this transaction, just before commit.

    For writes that should hold their row locks as briefly as possible (the real-time stream's
    per-user counters). A failing hook fails the commit: the transaction rolls back whole.
    """
    hooks: dict[str, AfterCommit] = session.info.setdefault(_BEFORE_COMMIT_HOOKS, {})
    hook = hooks.get(key)
    if hook is None:
        hook = hooks[key] = make_hook()
    return hook  # type: ignore[return-value]


def create_engine(settings: Settings) -> AsyncEngine:
    if settings.is_sqlite:
        engine = create_async_engine(
            settings.database_url,
            connect_args={"timeout": settings.sqlite_busy_timeout_ms / 1000},
            pool_size=settings.database_pool_size,
            max_overflow=settings.database_max_overflow,
            # Wait at most this long for a pooled connection; then answer 503, not hang 30 s.
            pool_timeout=settings.database_pool_timeout_seconds,
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms)
        return engine
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_timeout=settings.database_pool_timeout_seconds,
        # JIT compilation made the feed rebuild query 20x slower (209 ms vs 9.3 ms, EXPLAIN
        # ANALYZE on the bench dataset): our queries are short OLTP lookups it never pays for.
        # An unreachable server (host down, packets dropped) fails the connect in bounded
        # time (503 database_unavailable) instead of asyncpg's 60 s default.
        connect_args={
            "server_settings": {"jit": "off"},
            "timeout": settings.database_connect_timeout_seconds,
        },
    )
    _ping_after_idle(engine, settings.database_ping_after_idle_seconds)
    return engine


_RETURNED_AT = "townsquare_returned_at"


def _ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """``pool_pre_ping``, but only for connections that sat in the pool over ``idle_seconds``.

    A connection that went stale while idle (server restarted, cut by a firewall) is found and
    replaced before a request uses it, as with ``pool_pre_ping``, without paying the ping on
    every checkout of a busy pool: on asyncpg it is three round trips (BEGIN, an empty query,
    ROLLBACK), a fifth of all statements of a chat message. A connection returned a moment
    ago was live then; if it died since, its first statement fails and SQLAlchemy's disconnect
    handling invalidates the pool, as it would for one that dies just after a ping.
    """
    sync_engine = engine.sync_engine
    dialect = sync_engine.dialect

    @event.listens_for(sync_engine, "checkin")
    def _returned(_dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry) -> None:
        record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(sync_engine, "checkout")
    def _ping_if_idle(
        dbapi_conn: DBAPIConnection, record: ConnectionPoolEntry, _proxy: Any
    ) -> None:
        returned_at = record.info.get(_RETURNED_AT)  # None: a new connection, live
        if returned_at is None or time.monotonic() - returned_at <= idle_seconds:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_conn, None):
                # As pre-ping: the server likely restarted, so every older connection is stale
                # too; the pool drops them and this checkout retries on a new connection.
                raise exc.InvalidatePoolError() from error
            raise


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
        #: Process-wide services every unit of work's session carries in ``session.info``
        #: (the real-time hub, see ``kit.realtime.bind_hub``).
        self.session_extras: dict[str, Any] = {}
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
            session.info.update(self.session_extras)
            uow = UnitOfWork(session)
            try:
                yield uow
            finally:
                if not uow.committed:
                    forget_pending(session)
                    session.info.pop(_COMMIT_HOOKS, None)
                    session.info.pop(_BEFORE_COMMIT_HOOKS, None)
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
        for hook in self.session.info.pop(_BEFORE_COMMIT_HOOKS, {}).values():
            await hook()
        await self.session.commit()
        self.committed = True
        # Cache invalidations wait for the commit: before it, a reader could cache the old row.
        await settle_after_commit(self.session)
        hooks: dict[str, AfterCommit] = self.session.info.pop(_COMMIT_HOOKS, {})
        for key, hook in hooks.items():
            try:
                await hook()
            except Exception:
                log.exception("commit_hook_failed", hook=key)

    def take_after_commit(self) -> list[AfterCommit]:
        callbacks, self._after_commit = self._after_commit, []
        return callbacks
