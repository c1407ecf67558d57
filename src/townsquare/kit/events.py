"""Domain events through a transactional outbox.

``record_event`` writes the event in the caller's transaction, so an event exists if and only if
the change it describes was committed. Handlers register per event name (``EventHandlers.on``),
each under a stable key; ``townsquare.kit.jobs`` relays committed events to them through the task
queue, one delivery per (event, handler), at least once, with idempotent, exactly-once database
effects (the handler's writes commit together with the delivery's "done" mark).

A job runs some time after the commit (in a worker, under load seconds later). What the person
who made the change must see on their very next request (their Redis home feed dropped after
an unmute) also registers a *commit handler* (``EventHandlers.on_commit``): it runs in the
process that committed the event, right after the commit and before the request answers, on a
best-effort basis (a failure is logged; the outbox delivery still follows).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import JSON, Index, String, Text, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit import db
from townsquare.kit.db import UnitOfWork
from townsquare.kit.models import Base, IdMixin, new_id, utcnow

log = structlog.get_logger(__name__)


class OutboxEvent(IdMixin, Base):
    __tablename__ = "outbox_events"

    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: How many times the relay expanded the event into deliveries (1 once relayed).
    attempts: Mapped[int] = mapped_column(default=0)
    #: Set when the event was expanded into its ``event_deliveries`` (or had no handler).
    dispatched_at: Mapped[datetime | None]
    # Since migration 0004 failures and dead letters are per handler, in ``event_deliveries``;
    # these two stay NULL (kept so that older tools reading the table keep working).
    last_error: Mapped[str | None] = mapped_column(Text)
    dead_at: Mapped[datetime | None]

    __table_args__ = (
        # The relay's event query: not yet relayed, in order. Partial, so it stays small.
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
#: ``session.info`` keys: the process's handlers (bound by ``bind_handlers``), and the hook
#: that runs the commit handlers of the events the transaction recorded.
_HANDLERS = "townsquare.event_handlers"
_COMMIT_HANDLERS_HOOK = "townsquare.event_commit_handlers"


def record_event(
    session: AsyncSession, name: str, payload: dict[str, Any], *, delay: timedelta | None = None
) -> None:
    """Write ``name`` to the outbox in the current transaction (JSON-safe payload only);
    with ``delay`` its handlers run no earlier than that long after now (the relay's poll
    picks it up then)."""
    now = utcnow()
    available_at = now + delay if delay else now
    event_id = new_id()
    session.add(
        OutboxEvent(
            id=event_id, name=name, payload=payload, occurred_at=now, available_at=available_at
        )
    )
    session.info[_RECORDED] = True
    handlers: EventHandlers | None = session.info.get(_HANDLERS)
    if handlers is not None and (hooks := handlers.commit_handlers_for(name)):
        run = db.on_commit(session, _COMMIT_HANDLERS_HOOK, _CommitHandlersRun)
        run.add(Event(id=event_id, name=name, payload=payload, occurred_at=now), hooks)


def has_recorded_events(session: AsyncSession) -> bool:
    """Whether this transaction wrote to the outbox, so a dispatch should follow its commit."""
    return bool(session.info.pop(_RECORDED, False))


Handler = Callable[[Event, UnitOfWork], Awaitable[None]]
#: Takes many events at once (of any of the names it is registered for), in event order.
BatchHandler = Callable[[Sequence[Event], UnitOfWork], Awaitable[None]]
#: Runs right after the commit of the event, in the committing process, outside any
#: transaction (``EventHandlers.on_commit``).
CommitHandler = Callable[[Event], Awaitable[None]]


class _CommitHandlersRun:
    """The commit handlers of one transaction's events, run in event order after its commit
    (a ``kit.db.on_commit`` hook): each on its own, so one failing does not stop the rest."""

    def __init__(self) -> None:
        self._calls: list[tuple[Event, list[CommitHandler]]] = []

    def add(self, event: Event, handlers: list[CommitHandler]) -> None:
        self._calls.append((event, handlers))

    async def __call__(self) -> None:
        for event, handlers in self._calls:
            for handler in handlers:
                try:
                    await handler(event)
                except Exception:
                    log.exception(
                        "commit_handler_failed", event_name=event.name, event_id=str(event.id)
                    )


class EventHandlers:
    """Which handlers consume which event names; modules register theirs at start-up.

    Each handler of an event has a key, stored in its delivery rows, so it must stay the same
    across restarts and processes: by default the function's ``module.qualname``; pass ``key``
    when one function is registered twice for the same event (e.g. made by a factory).
    """

    def __init__(self) -> None:
        self._by_name: dict[str, dict[str, Handler]] = defaultdict(dict)
        self._batches: dict[str, BatchHandler] = {}
        self._on_commit: dict[str, list[CommitHandler]] = defaultdict(list)

    def on(self, name: str, handler: Handler, *, key: str | None = None) -> None:
        key = key or handler_key(handler)
        if key in self._by_name[name]:
            raise ValueError(
                f"a handler with key {key!r} is already registered for {name!r}; "
                "pass a distinct key=... to EventHandlers.on"
            )
        self._by_name[name][key] = handler

    def on_batch(self, name: str, handler: BatchHandler, *, key: str) -> None:
        """``on`` for a handler that takes many events in one call: the relay hands it every
        delivery of ``key`` that one claim relayed as one job, whose effects and "done" marks
        commit together. Register it under one ``key`` for all its names (a job may mix them).
        """
        if self._batches.setdefault(key, handler) is not handler:
            raise ValueError(f"the batch handler key {key!r} is taken by another handler")

        async def one(event: Event, uow: UnitOfWork) -> None:
            await handler([event], uow)

        self.on(name, one, key=key)

    def on_commit(self, name: str, handler: CommitHandler) -> None:
        """Run ``handler`` right after each commit that recorded ``name``, in the committing
        process and before its request answers (see the module's docstring). Best effort and
        at most once: a failure is logged, and nothing runs it again, so whatever must happen
        also needs an outbox handler (``on``); use this for what makes the change visible at
        once (dropping a Redis index, say), not for what makes it true."""
        self._on_commit[name].append(handler)

    def commit_handlers_for(self, name: str) -> list[CommitHandler]:
        return list(self._on_commit.get(name, ()))

    def batch_handler(self, key: str) -> BatchHandler | None:
        """The handler of ``key`` if it takes batches (``on_batch``)."""
        return self._batches.get(key)

    def keys_for(self, name: str) -> list[str]:
        """The handler keys of ``name``, in registration order."""
        return list(self._by_name.get(name, {}))

    def get(self, name: str, key: str) -> Handler | None:
        return self._by_name.get(name, {}).get(key)

    def for_event(self, name: str) -> list[Handler]:
        return list(self._by_name.get(name, {}).values())


def handler_key(handler: Handler) -> str:
    module = getattr(handler, "__module__", None) or "handler"
    name = getattr(handler, "__qualname__", None) or type(handler).__qualname__
    return f"{module}.{name}"[:200]


def bind_handlers(database: db.Database, handlers: EventHandlers) -> None:
    """Let every unit of work of ``database`` find the commit handlers of what it records."""
    database.session_extras[_HANDLERS] = handlers
