"""The outbox dispatcher: in order, at least once, with backoff, and dead after max attempts."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy import select, update

from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, EventHandlers, OutboxDispatcher, OutboxEvent, record_event
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform

MAX_ATTEMPTS = 3


def _dispatcher(app: FastAPI, handlers: EventHandlers) -> OutboxDispatcher:
    platform: Platform = app.state.platform
    return OutboxDispatcher(platform.database, handlers, max_attempts=MAX_ATTEMPTS)


async def _record(app: FastAPI, name: str, payload: dict) -> None:
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        record_event(uow.session, name, payload)
        await uow.commit()


async def _rows(app: FastAPI, name: str | None = None) -> list[OutboxEvent]:
    platform: Platform = app.state.platform
    async with platform.database.sessions() as session:
        statement = select(OutboxEvent).order_by(OutboxEvent.occurred_at, OutboxEvent.id)
        if name is not None:
            statement = statement.where(OutboxEvent.name == name)
        return list((await session.scalars(statement)).all())


async def _make_due(app: FastAPI) -> None:
    """Pretend the backoff has passed."""
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(OutboxEvent).values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


async def test_events_are_delivered_in_order_and_marked_dispatched(app: FastAPI) -> None:
    received: list[int] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        received.append(event.payload["n"])

    handlers = EventHandlers()
    handlers.on("kit_test.counted", handler)
    for n in range(5):
        await _record(app, "kit_test.counted", {"n": n})

    dispatcher = _dispatcher(app, handlers)
    assert await dispatcher.drain() == 5
    assert received == [0, 1, 2, 3, 4]
    for row in await _rows(app):
        assert row.dispatched_at is not None
        assert row.attempts == 1
        assert row.last_error is None
    # Nothing is delivered twice.
    assert await dispatcher.drain() == 0
    assert received == [0, 1, 2, 3, 4]


async def test_event_without_handlers_is_settled(app: FastAPI) -> None:
    await _record(app, "kit_test.nobody_listens", {})
    assert await _dispatcher(app, EventHandlers()).drain() == 1
    [row] = await _rows(app)
    assert row.dispatched_at is not None


async def test_failing_handler_is_retried_with_backoff_then_dead(app: FastAPI) -> None:
    calls: list[int] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        calls.append(len(calls) + 1)
        # Its own writes are rolled back with it.
        record_event(uow.session, "kit_test.side_effect", {})
        await uow.session.flush()
        raise RuntimeError(f"handler exploded #{len(calls)}")

    handlers = EventHandlers()
    handlers.on("kit_test.flaky", handler)
    dispatcher = _dispatcher(app, handlers)
    await _record(app, "kit_test.flaky", {"x": 1})

    before = utcnow()
    assert await dispatcher.drain() == 1
    [row] = await _rows(app, "kit_test.flaky")
    assert row.attempts == 1
    assert row.dispatched_at is None
    assert row.dead_at is None
    assert row.last_error == "RuntimeError: handler exploded #1"
    # Backoff: 2 ** attempts seconds from now.
    assert before + timedelta(seconds=1.5) <= row.available_at <= utcnow() + timedelta(seconds=2.5)
    assert await _rows(app, "kit_test.side_effect") == []

    # Not due yet: a drain does nothing.
    assert await dispatcher.drain() == 0
    assert calls == [1]

    await _make_due(app)
    before = utcnow()
    assert await dispatcher.drain() == 1
    [row] = await _rows(app, "kit_test.flaky")
    assert row.attempts == 2
    assert row.dead_at is None
    assert row.last_error == "RuntimeError: handler exploded #2"
    assert before + timedelta(seconds=3.5) <= row.available_at <= utcnow() + timedelta(seconds=4.5)

    await _make_due(app)
    assert await dispatcher.drain() == 1
    [row] = await _rows(app, "kit_test.flaky")
    assert row.attempts == MAX_ATTEMPTS
    assert row.dead_at is not None
    assert row.dispatched_at is None
    assert row.last_error == "RuntimeError: handler exploded #3"

    # Dead events are never picked up again.
    await _make_due(app)
    assert await dispatcher.drain() == 0
    assert calls == [1, 2, 3]
    assert await _rows(app, "kit_test.side_effect") == []


async def test_handler_that_recovers_is_dispatched_on_retry(app: FastAPI) -> None:
    outcomes: list[str] = []

    async def handler(event: Event, uow: UnitOfWork) -> None:
        if not outcomes:
            outcomes.append("failed")
            raise ConnectionError("smtp down")
        outcomes.append("ok")

    handlers = EventHandlers()
    handlers.on("kit_test.recovers", handler)
    dispatcher = _dispatcher(app, handlers)
    await _record(app, "kit_test.recovers", {})

    assert await dispatcher.drain() == 1
    await _make_due(app)
    assert await dispatcher.drain() == 1
    [row] = await _rows(app)
    assert outcomes == ["failed", "ok"]
    assert row.attempts == 2
    assert row.dispatched_at is not None
    assert row.dead_at is None


async def test_one_failing_handler_does_not_stop_the_others(app: FastAPI) -> None:
    ran: list[str] = []

    async def broken(event: Event, uow: UnitOfWork) -> None:
        ran.append("broken")
        raise ValueError("nope")

    async def fine(event: Event, uow: UnitOfWork) -> None:
        ran.append("fine")
        record_event(uow.session, "kit_test.follow_up", {})

    handlers = EventHandlers()
    handlers.on("kit_test.fan", broken)
    handlers.on("kit_test.fan", fine)
    await _record(app, "kit_test.fan", {})

    assert await _dispatcher(app, handlers).drain() >= 1
    assert ran[:2] == ["broken", "fine"]
    [fan] = await _rows(app, "kit_test.fan")
    assert fan.dispatched_at is None
    assert fan.last_error == "ValueError: nope"
    # The working handler's transaction committed on its own.
    assert len(await _rows(app, "kit_test.follow_up")) == 1
