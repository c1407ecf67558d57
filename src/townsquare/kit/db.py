"""Engines for SQLite and PostgreSQL, and the unit of work that commits once at the edge.

SQLite writers take turns in a FIFO queue (``WriterGate``)
---------------------------------------------------------
SQLite has one write lock per database. A writing unit of work begins ``BEGIN IMMEDIATE`` at
its first statement and holds the lock until it commits or rolls back. Left to SQLite, the
writers that find the lock taken sleep-poll in its busy handler: unfair (a late writer often
wins over one that has waited for seconds), and each of them holds a pooled connection while it
sleeps, so a crowd of writers empties the pool and the requests behind them (readers too)
answer 503 once the pool's wait runs out, however little work there is.

So on SQLite every writing unit of work of a process first takes its turn at the database's
``WriterGate``: an ``asyncio.Lock`` (fair: waiters are served in arrival order) taken *before*
the session checks out a connection, and given back as soon as its transaction ends (commit,
rollback or close, after the connection went back to the pool). Writers wait in line without
holding connections, one at a time holds the lock, and the busy timeout is left to arbitrate
between processes (a worker, the CLI). The wait in line replaces both waits a writer had
before (for a pooled connection, then in the busy handler), so it is bounded by their sum,
``database_pool_timeout_seconds`` + ``sqlite_busy_timeout_ms``: a crowd is never shed sooner
than it was. Past it the writer fails with ``WriterGateTimeout``, a
``sqlalchemy.exc.TimeoutError`` like the pool's, which requests answer as 503 ``overloaded``
and jobs retry (as SQLite's "database is locked" before).

Where: ``GatedSession.get_bind`` (SQLAlchemy's documented hook, called in the async layer's
greenlet just before the session needs a connection for a statement or a flush) waits for the
turn with ``sqlalchemy.util.await_``; the ``after_transaction_end`` event of the root
transaction gives it back, and ``Database.unit_of_work`` gives back whatever is still held when
it closes. So:
- a writing unit of work that never runs a statement never waits (e.g. a request refused by
  validation, or slow work such as password hashing done before the first statement);
- read-only units of work (safe HTTP methods, ``read_only=True``) use a plain session and are
  never gated: WAL readers never wait for the writer;
- jobs, the outbox relay and periodic jobs open writing units of work through the same
  ``Database`` and so take the same turns. They must not open a second writing unit of work
  while theirs holds the turn (neither could they before: the second would have waited for the
  first one's write lock); doing so waits out the timeout and fails, it never hangs;
- connections taken from ``Database.engine`` directly (migrations, tests) are not gated: they
  meet gated writers at SQLite's busy handler, as another process would.
PostgreSQL has row locks and real concurrent writers: no gate there.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, exc, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

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
_WRITER_GATE = "townsquare.writer_gate"
_HOLDS_WRITER_GATE = "townsquare.holds_writer_gate"
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
        # Read-only units of work run in autocommit (``Database.read_engine``): no BEGIN, one
        # thread hop less per request; each statement reads the latest committed state, as a
        # PostgreSQL READ COMMITTED transaction does.
        if not conn.get_execution_options().get(READ_ONLY_OPTION, False):
            conn.exec_driver_sql("BEGIN IMMEDIATE")


class WriterGateTimeout(exc.TimeoutError):
    """A SQLite writer waited too long for its turn (503 ``overloaded``)."""


class WriterGate:
    """The turn of SQLite's one writer within this process: first come, first served.

    ``asyncio.Lock`` serves its waiters in arrival order and lets no newcomer overtake them.
    A lock belongs to one event loop, so each loop that uses the ``Database`` gets its own
    (in production there is one; tests and the CLI may run several, one after the other).
    """

    def __init__(self, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        return lock

    async def acquire(self) -> asyncio.Lock:
        """Wait for the turn; returns the lock to release when done."""
        lock = self._lock()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                await lock.acquire()
        except TimeoutError:
            raise WriterGateTimeout(
                f"no turn to write to SQLite within {self.timeout_seconds:g} s"
            ) from None
        return lock

    def locked(self) -> bool:
        """Whether a writer of the running loop has the turn."""
        return self._lock().locked()


class GatedSession(Session):
    """A writing session on SQLite: takes its ``WriterGate`` turn before it needs a connection.

    ``get_bind`` runs before every connection the session acquires (statements, flushes,
    ``connection()``); inside the async layer's greenlet it can wait for the turn. Called from
    plain async code (``kit.sql.dialect_name``), it only answers and waits for nothing.
    """

    def get_bind(self, mapper: Any = None, **kw: Any) -> Engine | Connection:
        gate: WriterGate | None = self.info.get(_WRITER_GATE)
        if gate is not None and _HOLDS_WRITER_GATE not in self.info and in_greenlet():
            self.info[_HOLDS_WRITER_GATE] = await_(gate.acquire())
        return super().get_bind(mapper, **kw)


@event.listens_for(GatedSession, "after_transaction_end")
def _give_back_the_turn(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:
        _release_writer_gate(session)


def _release_writer_gate(session: Session) -> None:
    turn: asyncio.Lock | None = session.info.pop(_HOLDS_WRITER_GATE, None)
    if turn is not None:
        turn.release()


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
        #: SQLite: writing units of work take turns here (module docstring); None elsewhere.
        self.writer_gate: WriterGate | None = None
        if settings.is_sqlite:
            self.writer_gate = WriterGate(
                settings.database_pool_timeout_seconds + settings.sqlite_busy_timeout_ms / 1000
            )
            self.sessions = async_sessionmaker(
                self.engine,
                expire_on_commit=False,
                sync_session_class=GatedSession,
                info={_WRITER_GATE: self.writer_gate},
            )
        else:
            self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        #: The same pool, for reads, in autocommit: no BEGIN/COMMIT round trips around a
        #: request that only reads (two of the three statements of a cached ``GET /me``).
        #: Nothing is lost: PostgreSQL's READ COMMITTED gives every statement its own snapshot
        #: inside a transaction too; SQLite readers never wait for the writer (WAL). A write
        #: in a read-only unit of work would take effect at once, so none may write.
        self.read_engine = self.engine.execution_options(
            **{READ_ONLY_OPTION: True}, isolation_level="AUTOCOMMIT"
        )
        self.read_sessions = async_sessionmaker(self.read_engine, expire_on_commit=False)

    async def ping(self) -> None:
        # Read-only: on SQLite a plain connection would begin IMMEDIATE and wait for the write
        # lock, so /readyz would fail while a writer is busy.
        async with self.read_engine.connect() as conn:
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
        session = factory()
        try:
            async with session:
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
        finally:
            # The turn went back when the transaction ended; this covers a rollback or close
            # that failed, once the session (and its connection) is closed.
            _release_writer_gate(session.sync_session)


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
