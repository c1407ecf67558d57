"""Domain events through a transactional outbox.

``record_event`` writes the event in the caller's transaction, so an event exists if and only if
the change it describes was committed. After commit the ``OutboxDispatcher`` hands pending events
to their handlers, each handler in its own transaction. A crash between commit and dispatch loses
nothing: the periodic poll picks the event up again (at-least-once; handlers are idempotent).
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter
from sqlalchemy import JSON, Index, String, Text, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.db import Database, UnitOfWork
from townsquare.kit.models import Base, IdMixin, utcnow

log = structlog.get_logger(__name__)
EVENTS_DISPATCHED = Counter(
    "townsquare_events_dispatched_total", "Outbox events handled", ["name", "outcome"]
)


class OutboxEvent(IdMixin, Base):
    __tablename__ = "outbox_events"

    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    dispatched_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]

    __table_args__ = (
        # The dispatcher's only query: pending events in order. Partial, so it stays small.
        Index(
            "ix_outbox_events_pending",
            "available_at",
            postgresql_where=text("dispatched_at IS NULL AND dead_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL AND dead_at IS NULL"),
        ),
    )


@dataclass(frozen=True)
class Event:
    """A domain event as handlers receive it."""

    id: uuid.UUID
    name: str
    payload: dict[str, Any]
    occurred_at: datetime


_RECORDED = "townsquare.outbox_recorded"


def record_event(session: AsyncSession, name: str, payload: dict[str, Any]) -> None:
    """Write ``name`` to the outbox in the current transaction (JSON-safe payload only)."""
    session.add(OutboxEvent(name=name, payload=payload))
    session.info[_RECORDED] = True


def has_recorded_events(session: AsyncSession) -> bool:
    """Whether this transaction wrote to the outbox, so a dispatch should follow its commit."""
    return bool(session.info.pop(_RECORDED, False))


Handler = Callable[[Event, UnitOfWork], Awaitable[None]]


class EventHandlers:
    """Which handlers consume which event names; modules register theirs at start-up."""

    def __init__(self) -> None:
        self._by_name: dict[str, list[Handler]] = defaultdict(list)

    def on(self, name: str, handler: Handler) -> None:
        self._by_name[name].append(handler)

    def for_event(self, name: str) -> list[Handler]:
        return list(self._by_name.get(name, ()))


class OutboxDispatcher:
    """Delivers committed outbox events to their handlers, in order, at least once."""

    batch_size = 100

    def __init__(self, database: Database, handlers: EventHandlers, max_attempts: int) -> None:
        self._database = database
        self._handlers = handlers
        self._max_attempts = max_attempts
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[int]] = set()

    def kick(self) -> None:
        """Start a drain in the background (after a commit that recorded events)."""
        task = asyncio.get_running_loop().create_task(self.drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait_idle(self) -> None:
        """Wait for background drains to finish (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def drain(self) -> int:
        """Dispatch every event that is due; returns how many were handled."""
        handled = 0
        async with self._lock:
            while True:
                batch = await self._claim_batch()
                if not batch:
                    return handled
                for event in batch:
                    await self._dispatch(event)
                    handled += 1

    async def _claim_batch(self) -> list[Event]:
        async with self._database.unit_of_work() as uow:
            rows = (
                await uow.session.scalars(
                    select(OutboxEvent)
                    .where(
                        OutboxEvent.dispatched_at.is_(None),
                        OutboxEvent.dead_at.is_(None),
                        OutboxEvent.available_at <= utcnow(),
                    )
                    .order_by(OutboxEvent.available_at, OutboxEvent.id)
                    .limit(self.batch_size)
                )
            ).all()
            return [Event(r.id, r.name, dict(r.payload), r.occurred_at) for r in rows]

    async def _dispatch(self, event: Event) -> None:
        error: str | None = None
        for handler in self._handlers.for_event(event.name):
            try:
                async with self._database.unit_of_work() as uow:
                    await handler(event, uow)
                    await uow.commit()
                for callback in uow.take_after_commit():
                    await callback()
            except Exception as exc:
                log.exception("event_handler_failed", event_name=event.name, event_id=str(event.id))
                error = f"{type(exc).__name__}: {exc}"
        await self._settle(event, error)

    async def _settle(self, event: Event, error: str | None) -> None:
        """Mark the event done, or schedule a retry with exponential backoff, or give up."""
        async with self._database.unit_of_work() as uow:
            row = await uow.session.get(OutboxEvent, event.id, with_for_update=True)
            if row is None or row.dispatched_at is not None:
                return
            row.attempts += 1
            if error is None:
                row.dispatched_at = utcnow()
                outcome = "ok"
            elif row.attempts >= self._max_attempts:
                row.dead_at, row.last_error = utcnow(), error
                outcome = "dead"
            else:
                row.available_at = utcnow() + timedelta(seconds=2**row.attempts)
                row.last_error = error
                outcome = "retry"
            await uow.commit()
        EVENTS_DISPATCHED.labels(event.name, outcome).inc()
