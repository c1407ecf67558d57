"""Background work: the outbox relayed to its handlers through a task queue (taskiq).

The outbox stays the source of truth; taskiq is only the transport and the worker runtime.

1. Relay (``OutboxRelay.drain``, run after every commit that recorded events and by a poll): in
   ONE transaction it claims due outbox events (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
   ``BEGIN IMMEDIATE`` serialises writers), expands each into one ``event_deliveries`` row per
   handler (insert-or-ignore), inserted already leased (``available_at`` ``job_lease_seconds``
   ahead, ``attempts`` 1), and marks it dispatched; events nobody handles are settled right
   there. The poll (not the kick after a commit) also claims deliveries due again (SKIP LOCKED:
   a failure's backoff ended, or a lease expired) and leases them (``attempts + 1``). It
   commits, and only then sends one taskiq message per delivery, or per batch handler
   (``EventHandlers.on_batch``: all its deliveries of the claim in one). A crash between the
   commit and the send only delays a delivery until its lease ends, when a poll hands it out.
2. The job (``run_delivery``) locks its delivery row, returns if it is already done (a
   duplicate), runs the handler in that same unit of work and marks the delivery done in it: the
   handler's writes and the "done" mark commit together, so a redelivered message changes
   nothing twice. On an error the transaction rolls back and a new one records the error and a
   retry with exponential backoff, or the dead letter (``dead_at``) after the last attempt.
   ``run_deliveries`` runs a batch the same way in one transaction; if it fails, each of its
   deliveries runs again alone (so only the failing ones retry).
3. Brokers: without ``job_broker_url`` an ``InMemoryBroker`` runs each job inside the relay of
   the server process, in event order (a batch where its first event was; the embedded
   default). With it a ``RedisStreamBroker`` carries the messages to ``townsquare worker``
   processes (acked once executed); servers only relay.

Effects outside the database (mail, Redis) run after the commit and are at-least-once: a worker
killed between a handler's commit and its after-commit work loses that work, one killed between
sending a mail and the commit sends it again on the retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from prometheus_client import Counter
from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column
from taskiq import AsyncBroker, AsyncTaskiqDecoratedTask, InMemoryBroker
from taskiq.acks import AcknowledgeType
from taskiq.receiver import Receiver

from townsquare.config import Settings
from townsquare.kit.db import Database, UnitOfWork
from townsquare.kit.errors import is_database_unavailable
from townsquare.kit.events import Event, EventHandlers, OutboxEvent, has_recorded_events
from townsquare.kit.models import Base, utcnow
from townsquare.kit.sql import insert_many_or_ignore

log = structlog.get_logger(__name__)
EVENTS_DISPATCHED = Counter(
    "townsquare_events_dispatched_total",
    "Outcomes of outbox event deliveries (ok, retry, dead, duplicate, unhandled)",
    ["name", "outcome"],
)
RUN_DELIVERY_TASK = "townsquare.run_delivery"
RUN_DELIVERIES_TASK = "townsquare.run_deliveries"
#: Longest error text kept on a delivery.
_ERROR_MAX = 2000


class EventDelivery(Base):
    """One handler's share of one outbox event: its attempts, lease, error and outcome."""

    __tablename__ = "event_deliveries"

    event_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("outbox_events.id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(200), primary_key=True)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When it may be handed out next: now when new, the end of the lease while a job holds it,
    #: the retry time after a failure.
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    done_at: Mapped[datetime | None]
    #: The dead letter: set after the last attempt failed; ``townsquare jobs retry-dead``.
    dead_at: Mapped[datetime | None]

    __table_args__ = (
        # The relay's delivery query: pending ones by due time. Partial, so it stays small.
        Index(
            "ix_event_deliveries_pending",
            "available_at",
            postgresql_where=text("done_at IS NULL AND dead_at IS NULL"),
            sqlite_where=text("done_at IS NULL AND dead_at IS NULL"),
        ),
        # Dead letters listed newest first (operations), without scanning settled rows.
        Index(
            "ix_event_deliveries_dead",
            "dead_at",
            postgresql_where=text("dead_at IS NOT NULL"),
            sqlite_where=text("dead_at IS NOT NULL"),
        ),
    )


def create_broker(settings: Settings) -> AsyncBroker:
    """The task queue of one Platform: in-process by default, Redis streams when configured."""
    if not settings.job_broker_url:
        # Jobs run inside the relay's send, one after the other: in order, and `drain()` returns
        # only once they are finished (deterministic tests, no SQLite writer pile-up).
        return InMemoryBroker(await_inplace=True, max_stored_results=1)
    from taskiq_redis import RedisStreamBroker

    return RedisStreamBroker(
        settings.job_broker_url,
        queue_name=f"{settings.redis_key_prefix}jobs",
        # "0": messages sent before any worker created the consumer group are still read.
        consumer_id="0",
        # Unacked messages of a dead worker are claimed again after the lease (the database
        # lease hands the delivery out again anyway; the duplicate is harmless).
        idle_timeout=int(settings.job_lease_seconds * 1000),
        # A worker killed while holding the reclaim lock must not block the others forever.
        unacknowledged_lock_timeout=max(5.0, settings.job_lease_seconds),
        xread_block=1000,
    )


@dataclass(frozen=True)
class _Claimed:
    deliveries: list[tuple[uuid.UUID, str]]
    #: A query hit its batch limit: more may be due right now.
    full: bool


class OutboxRelay:
    """Relays committed outbox events to their handlers through this Platform's broker.

    Public API used across the code base: ``kick()`` after a commit that recorded events,
    ``drain()`` to relay everything due now (and, in-process, run it), ``wait_idle()``.
    """

    batch_size = 100

    def __init__(
        self,
        database: Database,
        handlers: EventHandlers,
        settings: Settings,
        broker: AsyncBroker | None = None,
    ) -> None:
        self._database = database
        self._handlers = handlers
        self._max_attempts = settings.outbox_max_attempts
        self._lease = timedelta(seconds=settings.job_lease_seconds)
        self._retry_base = settings.job_retry_base_seconds
        self._concurrency = settings.job_concurrency
        self.broker = broker if broker is not None else create_broker(settings)
        self.in_process = isinstance(self.broker, InMemoryBroker)
        self._lock = asyncio.Lock()
        self._start_lock = asyncio.Lock()
        self._started = False
        self._tasks: set[asyncio.Task[int]] = set()
        #: A kicked drain is waiting for the lock and has not claimed yet.
        self._kick_waiting = False
        #: ``close()`` was called: drains stop after the claim in hand.
        self._closing = False
        self._poller: asyncio.Task[None] | None = None

        # The database away mid-job (restart, failover): the delivery stays leased and is
        # handed out again when its lease ends, so the job only logs one line (no traceback).
        async def run_delivery(event_id: str, handler: str) -> None:
            try:
                await self.run_delivery(uuid.UUID(event_id), handler)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                log.warning("job_database_unavailable", handler=handler, events=1)

        async def run_deliveries(event_ids: list[str], handler: str) -> None:
            try:
                await self.run_deliveries([uuid.UUID(e) for e in event_ids], handler)
            except Exception as exc:
                if not is_database_unavailable(exc):
                    raise
                log.warning("job_database_unavailable", handler=handler, events=len(event_ids))

        # Registered on this broker instance only: every Platform has its own.
        self._job: AsyncTaskiqDecoratedTask[Any, Any] = self.broker.register_task(
            run_delivery, task_name=RUN_DELIVERY_TASK
        )
        self._batch_job: AsyncTaskiqDecoratedTask[Any, Any] = self.broker.register_task(
            run_deliveries, task_name=RUN_DELIVERIES_TASK
        )

    # --- lifecycle

    async def start(self) -> None:
        async with self._start_lock:
            if not self._started:
                await self.broker.startup()
                self._started = True

    def start_polling(self, seconds: float) -> None:
        """Relay every ``seconds``: retries, expired leases, events whose kick was lost."""
        if self._poller is None:
            self._poller = asyncio.create_task(self._poll(seconds), name="outbox-relay")

    async def _poll(self, seconds: float) -> None:
        while True:
            try:
                await self.drain()
            except Exception as exc:
                # The database away (restart, failover): one line per poll, no traceback;
                # the next poll retries, and what was not relayed waits in the outbox.
                if is_database_unavailable(exc):
                    log.warning("outbox_relay_database_unavailable", error=str(exc)[:300])
                else:
                    log.exception("outbox_relay_failed")
            await asyncio.sleep(seconds)

    async def close(self) -> None:
        """Stop relaying: the poll ends and drains finish the claim in hand, not the backlog
        (it stays in the outbox for the other processes, or this one's next start)."""
        self._closing = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
            self._poller = None
        await self.wait_idle()
        if self._started:
            await self.broker.shutdown()
            self._started = False
        self._closing = False

    # --- relay

    def kick(self) -> None:
        """Start a drain in the background (after a commit that recorded events).

        Under load commits come faster than claims: while a kicked drain still waits for its
        turn, later kicks join it instead of queueing one claim each, since it has not claimed
        yet and will see their (already committed) events. So one claim relays a batch.
        """
        if self._kick_waiting:
            return
        self._kick_waiting = True
        task = asyncio.get_running_loop().create_task(self._kicked_drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _kicked_drain(self) -> int:
        try:
            return await self.drain(retries=False)
        except asyncio.CancelledError:
            self._kick_waiting = False  # it may have ended before its turn: let kicks start one
            raise
        except Exception as exc:
            self._kick_waiting = False
            # Nobody awaits a kick: log here (not "Task exception was never retrieved"). What it
            # did not relay stays in the outbox for the next kick or the poll.
            log.warning("outbox_kick_failed", exc_info=not is_database_unavailable(exc))
            return 0

    async def wait_idle(self) -> None:
        """Wait for background drains (and, in-process, their jobs) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self, *, retries: bool = True) -> int:
        """Relay everything due; returns how many deliveries were handed out.

        ``retries``: also hand out deliveries due again (a failure's backoff ended, or a lease
        expired). The poll and explicit drains do; a kick, which follows a commit that recorded
        new events, does not: one statement less per commit, and retries are never urgent.
        In-process the jobs have run when this returns; with a broker they are queued.
        """
        await self.start()
        handed = 0
        async with self._lock:
            self._kick_waiting = False  # kicks from now on may come after this claim's snapshot
            while True:
                claimed = await self._claim(retries=retries)
                for event_ids, key in self._jobs(claimed.deliveries):
                    try:
                        if len(event_ids) == 1:
                            await self._job.kiq(str(event_ids[0]), key)
                        else:
                            await self._batch_job.kiq([str(i) for i in event_ids], key)
                    except Exception:
                        # Leased already: handed out again when the lease ends.
                        log.exception("job_send_failed", events=len(event_ids), handler=key)
                handed += len(claimed.deliveries)
                # A claim that was not full took everything due: stop without a second,
                # empty claim (events committed meanwhile come with a kick of their own).
                # Closing, stop too: a backlog must not hold the process's shutdown.
                if not claimed.full or self._closing:
                    return handed

    def _jobs(
        self, deliveries: Sequence[tuple[uuid.UUID, str]]
    ) -> list[tuple[list[uuid.UUID], str]]:
        """One job per delivery, except that a batch handler's deliveries share one (placed
        where its first delivery was, so in-process jobs still run roughly in event order)."""
        jobs: list[tuple[list[uuid.UUID], str]] = []
        batches: dict[str, list[uuid.UUID]] = {}
        for event_id, key in deliveries:
            if self._handlers.batch_handler(key) is None:
                jobs.append(([event_id], key))
            elif key in batches:
                batches[key].append(event_id)
            else:
                batches[key] = [event_id]
                jobs.append((batches[key], key))
        return jobs

    async def _claim(self, *, retries: bool) -> _Claimed:
        now = utcnow()
        async with self._database.unit_of_work() as uow:
            session = uow.session
            due_now = {"now": now, "limit": self.batch_size}
            events = (await session.execute(_DUE_EVENTS, due_now)).all()
            handed = await self._expand(session, events, now) if events else []
            due = (await session.execute(_DUE_DELIVERIES, due_now)).all() if retries else []
            handed += self._lease_again(due, now)
            await uow.commit()
        full = len(events) >= self.batch_size or len(due) >= self.batch_size
        return _Claimed(handed, full)

    async def _expand(
        self, session: AsyncSession, events: Sequence[Row[uuid.UUID, str]], now: datetime
    ) -> list[tuple[uuid.UUID, str]]:
        """Each event's deliveries, one per handler, inserted already leased to the jobs about
        to be sent (no second statement to lease them); the events are marked dispatched."""
        wanted: list[tuple[uuid.UUID, str]] = []
        for event_id, name in events:
            keys = self._handlers.keys_for(name)
            if not keys:
                EVENTS_DISPATCHED.labels(name, "unhandled").inc()
            wanted += [(event_id, key) for key in keys]
        lease_end = now + self._lease
        rows = [
            {"event_id": event_id, "handler": key, "attempts": 1, "available_at": lease_end}
            for event_id, key in wanted
        ]
        # Rows that exist are skipped (a second relay of an event: in effect never, the claim
        # locks its events). Only inserted event ids come back; an event with one new and one
        # old row is handed out whole, which is safe: a job of a done delivery does nothing.
        inserted = set(
            await insert_many_or_ignore(
                session, EventDelivery, rows, ["event_id", "handler"], returning="event_id"
            )
        )
        dispatched = [event_id for event_id, _ in events]
        await session.execute(_MARK_DISPATCHED, {"ids": dispatched, "now": now})
        return [(event_id, key) for event_id, key in wanted if event_id in inserted]

    def _lease_again(
        self, due: Sequence[Row[EventDelivery, str]], now: datetime
    ) -> list[tuple[uuid.UUID, str]]:
        """Lease the due deliveries for one more attempt; those out of attempts become dead."""
        handed: list[tuple[uuid.UUID, str]] = []
        for delivery, name in due:
            if delivery.attempts >= self._max_attempts:
                # Its last lease ran out with no outcome (worker lost, or job too slow).
                delivery.dead_at = now
                delivery.last_error = (
                    f"lease expired after attempt {delivery.attempts}; last error: "
                    f"{delivery.last_error or 'none'}"
                )[:_ERROR_MAX]
                EVENTS_DISPATCHED.labels(name, "dead").inc()
                continue
            delivery.attempts += 1
            delivery.available_at = now + self._lease
            handed.append((delivery.event_id, delivery.handler))
        return handed

    # --- the job

    async def run_delivery(self, event_id: uuid.UUID, key: str) -> str:
        """Run one delivery exactly once in effect; returns the outcome (for tests and logs)."""
        error: str | None = None
        recorded = False
        name = "unknown"
        async with self._database.unit_of_work() as uow:
            row = (
                await uow.session.execute(
                    _DELIVERY_WITH_EVENT, {"event_id": event_id, "handler": key}
                )
            ).first()
            if row is None or row.done_at is not None or row.dead_at is not None:
                EVENTS_DISPATCHED.labels(name, "duplicate").inc()
                return "duplicate"
            name = row.name
            event = _event(row)
            handler = self._handlers.get(name, key)
            try:
                if handler is None:
                    raise LookupError(f"no handler {key!r} for {name!r} in this process")
                await handler(event, uow)
                await uow.session.execute(
                    _MARK_DONE, {"event_ids": [event_id], "b_handler": key, "now": utcnow()}
                )
                recorded = has_recorded_events(uow.session)
                await uow.commit()
            except Exception as exc:
                log.exception("event_handler_failed", event_name=name, event_id=str(event_id))
                error = f"{type(exc).__name__}: {exc}"[:_ERROR_MAX]
        if error is not None:
            outcome = await self._record_failure(event_id, key, error)
            EVENTS_DISPATCHED.labels(name, outcome).inc()
            return outcome
        await self._after_commit(uow, recorded, handler=key, event_id=str(event_id))
        EVENTS_DISPATCHED.labels(name, "ok").inc()
        return "ok"

    async def run_deliveries(self, event_ids: Sequence[uuid.UUID], key: str) -> list[str]:
        """Run the deliveries of one batch handler (``EventHandlers.on_batch``) in one
        transaction: one call of the handler, every "done" mark committed with the effects, so
        exactly once in effect as ``run_delivery``. If the batch fails, each delivery runs
        again alone: only the failing ones retry or become dead letters. Returns the outcome
        of each delivery, in event order."""
        ordered = sorted(set(event_ids))  # UUIDv7: event order, and one lock order
        handler = self._handlers.batch_handler(key)
        if handler is None:
            return [await self.run_delivery(event_id, key) for event_id in ordered]
        failed = recorded = False
        async with self._database.unit_of_work() as uow:
            found = await uow.session.execute(
                _DELIVERIES_WITH_EVENTS, {"event_ids": ordered, "handler": key}
            )
            live = {row.id: row for row in found if row.done_at is None and row.dead_at is None}
            try:
                if live:
                    await handler([_event(row) for row in live.values()], uow)
                    await uow.session.execute(
                        _MARK_DONE, {"event_ids": list(live), "b_handler": key, "now": utcnow()}
                    )
                    recorded = has_recorded_events(uow.session)
                    await uow.commit()
            except Exception:
                log.warning("event_batch_failed", handler=key, events=len(live), exc_info=True)
                failed = True
        if failed:
            return [await self.run_delivery(event_id, key) for event_id in ordered]
        await self._after_commit(uow, recorded, handler=key, events=str(len(live)))
        outcomes = []
        for event_id in ordered:
            outcome = "ok" if event_id in live else "duplicate"
            name = live[event_id].name if event_id in live else "unknown"
            EVENTS_DISPATCHED.labels(name, outcome).inc()
            outcomes.append(outcome)
        return outcomes

    async def _after_commit(self, uow: UnitOfWork, recorded: bool, **context: str) -> None:
        """A job's after-commit callbacks (best effort: the deliveries are done), then a kick
        if its handlers recorded events of their own."""
        for callback in uow.take_after_commit():
            try:
                await callback()
            except Exception:
                log.exception("after_commit_failed", **context)
        if recorded:
            self.kick()

    async def _record_failure(self, event_id: uuid.UUID, key: str, error: str) -> str:
        """Schedule a retry with exponential backoff, or make the delivery a dead letter."""
        async with self._database.unit_of_work() as uow:
            delivery = await uow.session.get(
                EventDelivery, (event_id, key), with_for_update=True, populate_existing=True
            )
            if delivery is None or delivery.done_at is not None or delivery.dead_at is not None:
                return "duplicate"
            now = utcnow()
            delivery.last_error = error
            if delivery.attempts >= self._max_attempts:
                delivery.dead_at = now
                outcome = "dead"
            else:
                delay = self._retry_base * 2 ** max(delivery.attempts - 1, 0)
                # Jitter spreads the retries of a burst that failed together (e.g. SMTP down).
                delivery.available_at = now + timedelta(seconds=delay * random.uniform(1, 1.1))  # noqa: S311
                outcome = "retry"
            await uow.commit()
        return outcome

    # --- the worker side

    async def consume(self, finish: asyncio.Event, shutdown_timeout: float = 10.0) -> None:
        """Execute jobs from the broker until ``finish`` is set (``townsquare worker``).

        Messages are acknowledged once executed; up to ``job_concurrency`` run at once. On
        finish it stops fetching and waits up to ``shutdown_timeout`` for running jobs; one cut
        short is handed out again when its lease ends.
        """
        self.broker.is_worker_process = True
        await self.start()
        with ThreadPoolExecutor(max_workers=1) as executor:
            receiver = Receiver(
                broker=self.broker,
                executor=executor,
                run_startup=False,
                max_async_tasks=self._concurrency,
                ack_type=AcknowledgeType.WHEN_EXECUTED,
                wait_tasks_timeout=shutdown_timeout,
            )
            await receiver.listen(finish)


# The relay's and the job's statements, built once over bind parameters (they run for every
# event; building and cache-keying a statement costs more than running one of these).

_DUE_EVENTS = (
    select(OutboxEvent.id, OutboxEvent.name)
    .where(
        OutboxEvent.dispatched_at.is_(None),
        OutboxEvent.dead_at.is_(None),
        OutboxEvent.available_at <= bindparam("now"),
    )
    .order_by(OutboxEvent.available_at, OutboxEvent.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_MARK_DISPATCHED = (
    update(OutboxEvent)
    .where(OutboxEvent.id.in_(bindparam("ids", expanding=True)))
    .values(dispatched_at=bindparam("now"), attempts=OutboxEvent.attempts + 1)
)
_DUE_DELIVERIES = (
    select(EventDelivery, OutboxEvent.name)
    .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
    .where(
        EventDelivery.done_at.is_(None),
        EventDelivery.dead_at.is_(None),
        EventDelivery.available_at <= bindparam("now"),
    )
    .order_by(EventDelivery.available_at, EventDelivery.event_id, EventDelivery.handler)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True, of=EventDelivery)
)
# The job's statements: Core rows and a Core UPDATE (no ORM identity map or flush on the path
# every delivery takes). The delivery rows are locked; their event's columns come along.
_JOB_COLUMNS = (
    EventDelivery.done_at,
    EventDelivery.dead_at,
    OutboxEvent.id,
    OutboxEvent.name,
    OutboxEvent.payload,
    OutboxEvent.occurred_at,
)
_DELIVERY_WITH_EVENT = (
    select(*_JOB_COLUMNS)
    .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
    .where(
        EventDelivery.event_id == bindparam("event_id"),
        EventDelivery.handler == bindparam("handler"),
    )
    .with_for_update(of=EventDelivery)
)
_DELIVERIES_WITH_EVENTS = (
    select(*_JOB_COLUMNS)
    .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
    .where(
        EventDelivery.event_id.in_(bindparam("event_ids", expanding=True)),
        EventDelivery.handler == bindparam("handler"),
    )
    .order_by(EventDelivery.event_id)
    .with_for_update(of=EventDelivery)
)
_deliveries = cast(Table, EventDelivery.__table__)
#: Done: committed with the handler's effects (``__table__``: a plain Core UPDATE).
_MARK_DONE = (
    update(_deliveries)
    .where(
        _deliveries.c.event_id.in_(bindparam("event_ids", expanding=True)),
        _deliveries.c.handler == bindparam("b_handler"),  # "handler" names the column's SET
    )
    .values(done_at=bindparam("now"), last_error=None)
)


def _event(row: Row[Any]) -> Event:
    return Event(row.id, row.name, dict(row.payload), row.occurred_at)


# --- retention


async def purge_settled_events(database: Database, older_than: timedelta, batch: int = 5000) -> int:
    """Delete outbox events relayed before ``now - older_than`` whose deliveries are all done
    (their delivery rows cascade). Dead letters and anything pending are kept. Returns the count.

    In batches, each its own transaction, so a large backlog never holds locks for long.
    """
    cutoff = utcnow() - older_than
    unsettled = (
        select(EventDelivery.event_id)
        .where(EventDelivery.event_id == OutboxEvent.id, EventDelivery.done_at.is_(None))
        .exists()
    )
    purged = 0
    while True:
        async with database.unit_of_work() as uow:
            ids = (
                await uow.session.scalars(
                    select(OutboxEvent.id)
                    .where(OutboxEvent.dispatched_at < cutoff, ~unsettled)
                    .limit(batch)
                )
            ).all()
            if ids:
                await uow.session.execute(delete(OutboxEvent).where(OutboxEvent.id.in_(ids)))
            await uow.commit()
        purged += len(ids)
        if len(ids) < batch:
            return purged


# --- dead letters (``townsquare jobs ...``)


@dataclass(frozen=True)
class DeadLetter:
    event_id: uuid.UUID
    event_name: str
    handler: str
    attempts: int
    last_error: str | None
    dead_at: datetime


async def list_dead_letters(database: Database, limit: int = 100) -> list[DeadLetter]:
    """Dead deliveries, newest first."""
    async with database.unit_of_work(read_only=True) as uow:
        rows = (
            await uow.session.execute(
                select(EventDelivery, OutboxEvent.name)
                .join(OutboxEvent, OutboxEvent.id == EventDelivery.event_id)
                .where(EventDelivery.dead_at.is_not(None))
                .order_by(EventDelivery.dead_at.desc())
                .limit(limit)
            )
        ).all()
        # Built before the unit of work ends: its rollback expires the rows.
        return [
            DeadLetter(d.event_id, name, d.handler, d.attempts, d.last_error, d.dead_at)
            for d, name in rows
            if d.dead_at is not None
        ]


async def retry_dead(database: Database, event_id: uuid.UUID | None = None) -> int:
    """Put dead deliveries (of one event, or all) back in the queue with attempts reset."""
    async with database.unit_of_work() as uow:
        statement = (
            update(EventDelivery)
            .where(EventDelivery.dead_at.is_not(None))
            .values(dead_at=None, attempts=0, available_at=utcnow())
        )
        if event_id is not None:
            statement = statement.where(EventDelivery.event_id == event_id)
        result = await uow.session.execute(statement)
        await uow.commit()
    return int(result.rowcount)  # type: ignore[attr-defined]
