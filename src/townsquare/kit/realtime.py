"""Real-time events: a durable, per-user numbered stream, delivered live after commit.

Storage. ``publish_to_users`` writes one ``stream_events`` row per recipient in the caller's
transaction, numbered by that user's ``stream_heads.last_seq``. The rows are written just before
the commit, every head of the transaction bumped by one upsert (sorted ids: one lock order for
every writer, no deadlock) that locks it until the commit, so a user's events commit in sequence
order: whoever has seen event N has had every event < N committed, and a client resumes from its
last id with no gaps. Holding the head locks only across the commit keeps two writers to the
same user (a message and its notification) from queueing behind each other's whole transaction.

Delivery. After commit (``kit.db.on_commit``; never on rollback) the frames go to the ``Hub``:
- ``LocalHub`` (embedded, no Redis): straight to this process's sockets;
- ``RedisHub``: ``PUBLISH {prefix}stream:{user_id}``. A process subscribes (one pub/sub
  connection) to the channels of the users with a socket on it, so each process receives only
  the events of its own users, and a worker process that only publishes never subscribes.
Live delivery is an optimisation over the database, never the source of truth: a socket that
sees seq N+2 after N reads N+1 from the database first; after a pub/sub reconnect and on every
heartbeat (``sweep``) the hub compares its sockets with ``stream_heads`` and they catch up from
the database. So a lost ``PUBLISH`` (Redis blip) costs latency, not events.

Back pressure. Every socket has a bounded queue (``stream_send_queue_size``) filled without
waiting (publishers never wait for a socket). Its sender task blocks once the server's
transport buffer toward a client that does not read is over its high-water mark (measured with
uvicorn 0.54's websockets-sansio protocol: after ~100 KB with small socket buffers, a few MB
with Linux's autotuned ones); the queue then fills, the subscription is marked overflowed, and
the socket is detached at once and closed with 4008 (a send blocked for a whole heartbeat does
the same). Memory per socket is bounded: the queue, the transport's high-water mark plus one
frame, the kernel's socket buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    String,
    Table,
    delete,
    insert,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.config import Settings
from townsquare.kit.db import Database, before_commit, on_commit
from townsquare.kit.models import Base, utcnow
from townsquare.kit.redis import REDIS_ERRORS
from townsquare.kit.sql import dialect_name, insert_for

log = structlog.get_logger(__name__)

#: Ephemeral event types: delivered live only, never stored nor replayed (``"id": null``).
EPHEMERAL_TYPES = frozenset({"typing", "presence", "ping", "resync"})


class StreamHead(Base):
    """The last sequence number given to a user's stream (locked while an event is written)."""

    __tablename__ = "stream_heads"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)


class StreamEvent(Base):
    """One event of one user's stream; ``seq`` is the id a client resumes from."""

    __tablename__ = "stream_events"

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    type: Mapped[str] = mapped_column(String(50))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    # Replay reads by the primary key; the purge job by age.
    __table_args__ = (Index("ix_stream_events_created_at", "created_at"),)


@dataclass(frozen=True)
class Frame:
    """One event as sent to a user's sockets (``seq`` None: ephemeral)."""

    user_id: uuid.UUID
    seq: int | None
    type: str
    data: dict[str, Any]
    at: datetime

    def to_client(self) -> str:
        body = {
            "id": None if self.seq is None else str(self.seq),
            "type": self.type,
            "data": self.data,
            "at": self.at.isoformat(),
        }
        return orjson.dumps(body).decode()

    def to_wire(self) -> bytes:
        return orjson.dumps(
            {
                "u": str(self.user_id),
                "s": self.seq,
                "t": self.type,
                "d": self.data,
                "a": self.at.isoformat(),
            }
        )

    @classmethod
    def from_wire(cls, raw: bytes) -> Frame:
        body = orjson.loads(raw)
        return cls(
            uuid.UUID(body["u"]), body["s"], body["t"], body["d"], datetime.fromisoformat(body["a"])
        )


# --- publishing -----------------------------------------------------------------------------

_HUB = "townsquare.realtime_hub"


def bind_hub(database: Database, hub: Hub) -> None:
    """Make ``hub`` reachable from every unit of work's session (as the cache is)."""
    database.session_extras[_HUB] = hub


async def publish_to_users(
    session: AsyncSession, user_ids: Iterable[uuid.UUID], event_type: str, data: dict[str, Any]
) -> None:
    """Store ``event_type`` in each user's stream (this transaction) and deliver it after commit.

    ``data`` must be JSON-safe (str ids, ISO datetimes). In a unit of work the events are
    numbered and written just before the commit (``kit.db.before_commit``), all of the
    transaction's at once: the head rows are locked only for the commit itself, and in one
    sorted statement, so two transactions never lock heads in opposite orders.
    """
    ids = sorted(set(user_ids))
    if not ids:
        return
    hub: Hub | None = session.info.get(_HUB)
    if hub is None:  # a bare session (scripts): stored now, clients get it on their next catch-up
        await _store(session, [(ids, event_type, data)])
        return
    pending = before_commit(session, "realtime", lambda: _Pending(session, hub))
    pending.items.append((ids, event_type, data))


_Publish = tuple[list[uuid.UUID], str, dict[str, Any]]


class _Pending:
    """The publishes of one transaction, stored right before it commits."""

    def __init__(self, session: AsyncSession, hub: Hub) -> None:
        self.session = session
        self.hub = hub
        self.items: list[_Publish] = []

    async def __call__(self) -> None:
        frames = await _store(self.session, self.items)
        delivery = on_commit(self.session, "realtime", lambda: _Delivery(self.hub))
        delivery.frames.extend(frames)


@functools.cache
def _bump_heads(dialect: str) -> Any:
    """Add each row's ``last_seq`` to its user's stream head (created at zero); returns them."""
    heads = StreamHead.__table__
    assert isinstance(heads, Table)
    upsert = insert_for(dialect, heads)
    return upsert.on_conflict_do_update(
        index_elements=["user_id"], set_={"last_seq": heads.c.last_seq + upsert.excluded.last_seq}
    ).returning(heads.c.user_id, heads.c.last_seq)


# PostgreSQL bumps the heads and inserts the events in one statement (one round trip instead
# of two): the upsert's new heads feed the insert through a data-modifying CTE, which runs
# whether or not the outer query reads it. An event's seq is its head minus ``back``. The rows
# go as JSON documents, not arrays: asyncpg would look up uuid[]/bigint[] in the catalog on
# every new pooled connection (a ~10 ms query each, seen under load as the pool grows).
_BUMP_AND_INSERT_PG = text(
    """
    WITH heads AS (
        INSERT INTO stream_heads (user_id, last_seq)
        SELECT h.user_id, h.last_seq
        FROM json_to_recordset(CAST(:heads AS json)) AS h(user_id uuid, last_seq bigint)
        ON CONFLICT (user_id) DO UPDATE SET last_seq = stream_heads.last_seq + excluded.last_seq
        RETURNING user_id, last_seq
    ), stored AS (
        INSERT INTO stream_events (user_id, seq, type, data, created_at)
        SELECT e.user_id, heads.last_seq - e.back, e.type, e.data, CAST(:now AS timestamptz)
        FROM json_to_recordset(CAST(:events AS json))
            AS e(user_id uuid, back bigint, type text, data json)
        JOIN heads ON heads.user_id = e.user_id
    )
    SELECT user_id, last_seq FROM heads
    """
)


# Core, not the ORM's bulk insert path: these rows need no ORM bookkeeping.
_INSERT_EVENTS = insert(cast(Table, StreamEvent.__table__))


_Event = tuple[uuid.UUID, str, dict[str, Any]]


async def _store(session: AsyncSession, items: Sequence[_Publish]) -> list[Frame]:
    """Number the events per user (in publish order) and insert them; returns their frames."""
    now = utcnow()
    events = [(user_id, kind, data) for ids, kind, data in items for user_id in ids]
    counts = Counter(user_id for user_id, _, _ in events)
    # How many of its user's events come after each one: its seq is the new head minus that.
    after = Counter(counts)
    backs = []
    for user_id, _, _ in events:
        after[user_id] -= 1
        backs.append(after[user_id])
    store = _bump_and_insert_pg if dialect_name(session) == "postgresql" else _bump_and_insert
    last = await store(session, events, backs, counts, now)
    return [
        Frame(user_id, last[user_id] - back, kind, data, now)
        for (user_id, kind, data), back in zip(events, backs, strict=True)
    ]


async def _bump_and_insert_pg(
    session: AsyncSession,
    events: list[_Event],
    backs: list[int],
    counts: Counter[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, int]:
    """The new heads; the events inserted by the same statement."""
    # Sorted heads (the upsert takes them in this order): one lock order for all writers.
    heads = [{"user_id": str(u), "last_seq": counts[u]} for u in sorted(counts)]
    rows = [
        {"user_id": str(user_id), "back": back, "type": kind, "data": data}
        for (user_id, kind, data), back in zip(events, backs, strict=True)
    ]
    found = await session.execute(
        _BUMP_AND_INSERT_PG,
        {"heads": orjson.dumps(heads).decode(), "events": orjson.dumps(rows).decode(), "now": now},
    )
    return {row.user_id: row.last_seq for row in found}


async def _bump_and_insert(
    session: AsyncSession,
    events: list[_Event],
    backs: list[int],
    counts: Counter[uuid.UUID],
    now: datetime,
) -> dict[uuid.UUID, int]:
    """The same in two statements (SQLite): bump the heads, then insert the events."""
    heads = [{"user_id": user_id, "last_seq": counts[user_id]} for user_id in sorted(counts)]
    bumped = await session.execute(_bump_heads(dialect_name(session)), heads)
    last = {row.user_id: row.last_seq for row in bumped}
    rows = [
        {"user_id": u, "seq": last[u] - back, "type": kind, "data": data, "created_at": now}
        for (u, kind, data), back in zip(events, backs, strict=True)
    ]
    await session.execute(_INSERT_EVENTS, rows)
    return last


class _Delivery:
    """The frames a transaction published, handed to the hub once it has committed."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.frames: list[Frame] = []

    async def __call__(self) -> None:
        await self.hub.deliver(self.frames)


# --- reading back ---------------------------------------------------------------------------


async def heads_of(database: Database, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
    """The last seq of each user's stream (0 for a user who has none yet)."""
    if not user_ids:
        return {}
    async with database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(
            select(StreamHead.user_id, StreamHead.last_seq).where(
                StreamHead.user_id.in_(list(user_ids))
            )
        )
        found = {row.user_id: row.last_seq for row in rows}
    return {user_id: found.get(user_id, 0) for user_id in user_ids}


async def read_events(
    database: Database, user_id: uuid.UUID, after: int, up_to: int
) -> list[Frame]:
    """The stored events ``after < seq <= up_to`` of one user, in order."""
    async with database.unit_of_work(read_only=True) as uow:
        rows = await uow.session.scalars(
            select(StreamEvent)
            .where(
                StreamEvent.user_id == user_id, StreamEvent.seq > after, StreamEvent.seq <= up_to
            )
            .order_by(StreamEvent.seq)
        )
        return [Frame(r.user_id, r.seq, r.type, dict(r.data), r.created_at) for r in rows]


async def purge_stream_events(database: Database, retention_hours: int) -> int:
    """Delete events older than the retention (heads stay: numbering never restarts)."""
    cutoff = utcnow() - timedelta(hours=retention_hours)
    async with database.unit_of_work() as uow:
        result = await uow.session.execute(
            delete(StreamEvent).where(StreamEvent.created_at < cutoff)
        )
        await uow.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- one socket's subscription --------------------------------------------------------------


@dataclass(frozen=True)
class _CatchUp:
    """Queue marker: the stream's head is at least ``head``; read what is missing from the DB."""

    head: int


class Subscription:
    """What one socket has seen, and its bounded queue of frames still to send.

    ``next_frames`` turns the queue into the exact sequence to send: no duplicates (seq <= the
    last one sent is dropped), no gaps (a jump is filled from the database), and a ``resync``
    frame instead of an unbounded replay when the client is too far behind.
    """

    def __init__(
        self, user_id: uuid.UUID, database: Database, queue_size: int, replay_limit: int
    ) -> None:
        self.user_id = user_id
        self.id = uuid.uuid4().hex
        self.last_seq = 0
        self.overflowed = asyncio.Event()
        self._database = database
        self._replay_limit = replay_limit
        self._queue: asyncio.Queue[Frame | _CatchUp] = asyncio.Queue(maxsize=queue_size)

    def offer(self, item: Frame | _CatchUp) -> None:
        if self.overflowed.is_set():
            return
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed.set()  # the socket is closed with 4008; nothing more is queued

    async def start(self, last_event_id: int | None) -> list[Frame]:
        """Frames to send first: what was missed since ``last_event_id`` (None: from now)."""
        head = (await heads_of(self._database, [self.user_id]))[self.user_id]
        if last_event_id is None:
            self.last_seq = head
            return []
        if last_event_id > head:  # an id this stream never gave (e.g. a restored database)
            return self._resync(head)
        self.last_seq = last_event_id
        return await self._fill_to(head)

    async def next_frames(self) -> list[Frame]:
        """Wait for the next item and return the frames it means (possibly none)."""
        item = await self._queue.get()
        if isinstance(item, _CatchUp):
            return await self._fill_to(item.head)
        if item.seq is None:
            return [item]
        if item.seq <= self.last_seq:
            return []  # already sent (replay/live seam, or a duplicate delivery)
        if item.seq == self.last_seq + 1:
            self.last_seq = item.seq
            return [item]
        return await self._fill_to(item.seq)

    async def _fill_to(self, head: int) -> list[Frame]:
        missing = head - self.last_seq
        if missing <= 0:
            return []
        if missing > self._replay_limit:
            return self._resync(head)
        frames = await read_events(self._database, self.user_id, self.last_seq, head)
        if len(frames) != missing:  # purged by the retention job: cannot be replayed exactly
            return self._resync(head)
        self.last_seq = head
        return frames

    def _resync(self, head: int) -> list[Frame]:
        self.last_seq = head
        data = {"last_event_id": str(head)}
        return [Frame(self.user_id, None, "resync", data, utcnow())]


# --- hubs -----------------------------------------------------------------------------------


class Hub:
    """This process's sockets by user, and how frames reach them (base: in-process only)."""

    def __init__(self, database: Database, sweep_seconds: float) -> None:
        self.database = database
        self._local: dict[uuid.UUID, dict[str, Subscription]] = defaultdict(dict)
        self._sweep_seconds = sweep_seconds
        self._sweeper: asyncio.Task[None] | None = None

    # sockets
    async def attach(self, subscription: Subscription) -> None:
        self._local[subscription.user_id][subscription.id] = subscription
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def detach(self, subscription: Subscription) -> None:
        subs = self._local.get(subscription.user_id)
        if subs is not None:
            subs.pop(subscription.id, None)
            if not subs:
                del self._local[subscription.user_id]

    def local_users(self) -> list[uuid.UUID]:
        return list(self._local)

    def local_count(self, user_id: uuid.UUID) -> int:
        return len(self._local.get(user_id, ()))

    # frames
    async def deliver(self, frames: Sequence[Frame]) -> None:
        """Send committed (or ephemeral) frames to every process's sockets of their users."""
        self._fan_out(frames)

    async def send_ephemeral(
        self, user_ids: Iterable[uuid.UUID], event_type: str, data: dict[str, Any]
    ) -> None:
        now = utcnow()
        await self.deliver([Frame(user_id, None, event_type, data, now) for user_id in user_ids])

    def _fan_out(self, frames: Iterable[Frame]) -> None:
        for frame in frames:
            for subscription in list(self._local.get(frame.user_id, {}).values()):
                subscription.offer(frame)

    async def sweep(self) -> None:
        """Let every local socket catch up from the database (one query for all of them)."""
        users = self.local_users()
        if not users:
            return
        for user_id, head in (await heads_of(self.database, users)).items():
            for subscription in list(self._local.get(user_id, {}).values()):
                if head > subscription.last_seq:
                    subscription.offer(_CatchUp(head))

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self._sweep_seconds)
            try:
                await self.sweep()
            except Exception:
                log.exception("stream_sweep_failed")

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper


class LocalHub(Hub):
    """The embedded default: one process, so delivery is a function call."""


class RedisHub(Hub):
    """Frames travel through Redis pub/sub, one channel per user (see the module docstring)."""

    reconnect_delay = 0.5

    def __init__(
        self, database: Database, sweep_seconds: float, redis: Redis, redis_url: str, prefix: str
    ) -> None:
        super().__init__(database, sweep_seconds)
        self._redis = redis
        self._redis_url = redis_url
        self._prefix = prefix
        self._pubsub: PubSub | None = None
        self._client: Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self._confirmations: dict[bytes, asyncio.Future[None]] = {}
        self._connected = asyncio.Event()

    def channel(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}stream:{user_id}"

    async def deliver(self, frames: Sequence[Frame]) -> None:
        if not frames:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for frame in frames:
                    pipe.publish(self.channel(frame.user_id), frame.to_wire())
                await pipe.execute()
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("stream").inc()
            log.warning("stream_publish_failed", error=str(exc))
            # Our own sockets need no Redis; other processes catch up on their next sweep.
            self._fan_out(frames)

    async def attach(self, subscription: Subscription) -> None:
        async with self._lock:
            first = self.local_count(subscription.user_id) == 0
            await super().attach(subscription)
            if self._listener is None:
                self._listener = asyncio.get_running_loop().create_task(self._listen_forever())
            if first:
                await self._subscribe(self.channel(subscription.user_id))

    async def detach(self, subscription: Subscription) -> None:
        async with self._lock:
            await super().detach(subscription)
            if self.local_count(subscription.user_id) == 0 and self._pubsub is not None:
                with contextlib.suppress(RedisError, OSError):
                    await self._pubsub.unsubscribe(self.channel(subscription.user_id))

    async def _subscribe(self, channel: str) -> None:
        """Subscribe and wait until Redis confirms (so no later PUBLISH can be missed).

        If Redis is away, give up quickly: the socket still gets its events through the
        reconnect's sweep.
        """
        try:
            await asyncio.wait_for(self._connected.wait(), timeout=2)
            assert self._pubsub is not None
            confirmed = asyncio.get_running_loop().create_future()
            self._confirmations[channel.encode()] = confirmed
            await self._pubsub.subscribe(channel)
            await asyncio.wait_for(confirmed, timeout=2)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("stream_subscribe_failed", error=str(exc))
        finally:
            self._confirmations.pop(channel.encode(), None)

    async def _listen_forever(self) -> None:
        while True:
            try:
                await self._connect()
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                REDIS_ERRORS.labels("stream").inc()
                log.warning("stream_pubsub_lost", error=str(exc))
            self._connected.clear()
            await self._drop_pubsub()
            await asyncio.sleep(self.reconnect_delay)

    async def _connect(self) -> None:
        # A dedicated connection that blocks on reads; errors reach us instead of being
        # retried silently, so that every reconnect is followed by a sweep.
        client = Redis.from_url(
            self._redis_url, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
        )
        pubsub = client.pubsub()
        self._client = client
        channels = [f"{self._prefix}stream:hub"] + [self.channel(u) for u in self.local_users()]
        await pubsub.subscribe(*channels)
        self._pubsub = pubsub
        self._connected.set()
        # Anything published while we were not subscribed is in the database.
        await self.sweep()

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            message = await self._pubsub.get_message(timeout=None)
            if message is None:
                continue
            kind = message["type"]
            if kind == b"subscribe" or kind == "subscribe":
                confirmed = self._confirmations.get(message["channel"])
                if confirmed is not None and not confirmed.done():
                    confirmed.set_result(None)
            elif kind == b"message" or kind == "message":
                try:
                    frame = Frame.from_wire(message["data"])
                except (ValueError, KeyError, TypeError):
                    log.warning("stream_bad_wire_frame")
                    continue
                self._fan_out([frame])

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        client, self._client = self._client, None
        with contextlib.suppress(Exception):
            if pubsub is not None:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            if client is not None:
                await client.aclose()

    async def close(self) -> None:
        await super().close()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        await self._drop_pubsub()

    async def break_connection_for_tests(self) -> None:
        """Drop the pub/sub connection as a network failure would (the Redis blip test)."""
        if self._pubsub is not None and self._pubsub.connection is not None:
            await self._pubsub.connection.disconnect()


def create_hub(settings: Settings, database: Database, redis: Redis | None) -> Hub:
    sweep = settings.stream_heartbeat_seconds
    if redis is not None and settings.redis_url:
        return RedisHub(database, sweep, redis, settings.redis_url, settings.redis_key_prefix)
    return LocalHub(database, sweep)


# --- presence -------------------------------------------------------------------------------


@dataclass
class _Seen:
    connections: dict[str, float] = field(default_factory=dict)


#: How long "last seen" is remembered (soft state: Redis, or this process when embedded).
LAST_SEEN_SECONDS = 30 * 24 * 3600


class Presence:
    """Which users have a live connection: each connection holds a lease it renews by
    heartbeat (``presence_ttl_seconds``); a user is online while any lease is live.

    In Redis a user's leases are a sorted set (member: connection id, score: expiry), so
    connections on several processes count, and a crashed process's leases simply expire.
    """

    def __init__(self, redis: Redis | None, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds
        self._memory: dict[uuid.UUID, _Seen] = defaultdict(_Seen)
        self._last_seen: dict[uuid.UUID, datetime] = {}

    def _key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}presence:{user_id}"

    async def renew(self, user_id: uuid.UUID, connection_id: str) -> bool:
        """Hold (or renew) a lease; True if the user was offline before."""
        now = time.time()
        if self._redis is None:
            seen = self._memory[user_id]
            was_online = any(exp > now for exp in seen.connections.values())
            seen.connections[connection_id] = now + self._ttl
            return not was_online
        key = self._key(user_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(key, "-inf", now)
                pipe.zcard(key)
                pipe.zadd(key, {connection_id: now + self._ttl})
                pipe.expire(key, self._ttl)
                results = await pipe.execute()
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("presence").inc()
            log.warning("presence_unavailable", error=str(exc))
            return False
        return int(results[1]) == 0

    async def release(self, user_id: uuid.UUID, connection_id: str) -> datetime | None:
        """Give a lease back; if the user has no live connection left, the time recorded as
        their last seen (else None)."""
        now = time.time()
        seen_at = utcnow()
        if self._redis is None:
            seen = self._memory[user_id]
            seen.connections.pop(connection_id, None)
            if any(exp > now for exp in seen.connections.values()):
                return None
            self._memory.pop(user_id, None)
            self._last_seen[user_id] = seen_at
            return seen_at
        key = self._key(user_id)
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(key, connection_id)
                pipe.zcount(key, now, "+inf")
                results = await pipe.execute()
            if int(results[1]):
                return None
            await self._redis.set(
                self._last_seen_key(user_id), seen_at.isoformat(), ex=LAST_SEEN_SECONDS
            )
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("presence").inc()
            log.warning("presence_unavailable", error=str(exc))
            return None
        return seen_at

    async def last_seen(self, user_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, datetime]:
        if self._redis is None:
            return {u: self._last_seen[u] for u in user_ids if u in self._last_seen}
        if not user_ids:
            return {}
        try:
            values = await self._redis.mget([self._last_seen_key(u) for u in user_ids])
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("presence").inc()
            log.warning("presence_unavailable", error=str(exc))
            return {}
        return {
            user_id: datetime.fromisoformat(value.decode() if isinstance(value, bytes) else value)
            for user_id, value in zip(user_ids, values, strict=True)
            if value
        }

    def _last_seen_key(self, user_id: uuid.UUID) -> str:
        return f"{self._prefix}lastseen:{user_id}"

    async def online(self, user_ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
        now = time.time()
        if self._redis is None:
            return {
                user_id
                for user_id in user_ids
                if any(exp > now for exp in self._memory.get(user_id, _Seen()).connections.values())
            }
        if not user_ids:
            return set()
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for user_id in user_ids:
                    pipe.zcount(self._key(user_id), now, "+inf")
                counts = await pipe.execute()
        except (RedisError, OSError) as exc:
            REDIS_ERRORS.labels("presence").inc()
            log.warning("presence_unavailable", error=str(exc))
            return set()
        return {user_id for user_id, count in zip(user_ids, counts, strict=True) if int(count)}
