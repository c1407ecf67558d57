"""The outbox relay: in order, at least once, one delivery per (event, handler), with backoff,
and a dead letter after the last attempt; events nobody handles settle without per-event work."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.fixtures.queries import count_queries
from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, EventHandlers, OutboxEvent, record_event
from townsquare.kit.jobs import EventDelivery, OutboxRelay
from townsquare.kit.models import utcnow
from townsquare.kit.platform import Platform

MAX_ATTEMPTS = 3
RETRY_BASE = 2.0
MakeRelay = Callable[[EventHandlers], OutboxRelay]


@pytest.fixture
async def make_relay(app: FastAPI) -> AsyncIterator[MakeRelay]:
    """Relays with their own handlers on the app's database (its in-process broker each)."""
    platform: Platform = app.state.platform
    settings = platform.settings.model_copy(
        update={"outbox_max_attempts": MAX_ATTEMPTS, "job_retry_base_seconds": RETRY_BASE}
    )
    made: list[OutboxRelay] = []

    def make(handlers: EventHandlers) -> OutboxRelay:
        relay = OutboxRelay(platform.database, handlers, settings)
        made.append(relay)
        return relay

    yield make
    for relay in made:
        await relay.close()


async def _record(app: FastAPI, name: str, payload: dict[str, Any]) -> None:
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        record_event(uow.session, name, payload)
        await uow.commit()


async def _events(app: FastAPI, name: str | None = None) -> list[OutboxEvent]:
    platform: Platform = app.state.platform
    async with platform.database.sessions() as session:
        statement = select(OutboxEvent).order_by(OutboxEvent.occurred_at, OutboxEvent.id)
        if name is not None:
            statement = statement.where(OutboxEvent.name == name)
        return list((await session.scalars(statement)).all())


async def _deliveries(app: FastAPI) -> list[EventDelivery]:
    platform: Platform = app.state.platform
    async with platform.database.sessions() as session:
        statement = select(EventDelivery).order_by(EventDelivery.event_id, EventDelivery.handler)
        return list((await session.scalars(statement)).all())


async def _make_due(app: FastAPI) -> None:
    """Pretend the backoff has passed."""
    platform: Platform = app.state.platform
    async with platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(EventDelivery).values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


async def test_events_are_delivered_in_order_and_marked_done(
    app: FastAPI, make_relay: MakeRelay
) -> None:
    received: list[int] = []

    async def counted(event: Event, uow: UnitOfWork) -> None:
        received.append(event.payload["n"])

    handlers = EventHandlers()
    handlers.on("kit_test.counted", counted)
    for n in range(5):
        await _record(app, "kit_test.counted", {"n": n})

    relay = make_relay(handlers)
    assert await relay.drain() == 5
    assert received == [0, 1, 2, 3, 4]
    for row in await _events(app):
        assert row.dispatched_at is not None
        assert row.attempts == 1
    deliveries = await _deliveries(app)
    assert len(deliveries) == 5
    for delivery in deliveries:
        assert delivery.handler.endswith("counted")
        assert delivery.attempts == 1
        assert delivery.done_at is not None
        assert delivery.last_error is None
    # Nothing is delivered twice.
    assert await relay.drain() == 0
    assert received == [0, 1, 2, 3, 4]


async def test_events_without_handlers_settle_in_the_claim_transaction(
    app: FastAPI, make_relay: MakeRelay
) -> None:
    for n in range(40):
        await _record(app, "kit_test.nobody_listens", {"n": n})
    relay = make_relay(EventHandlers())
    with count_queries(app) as statements:
        assert await relay.drain() == 0

    rows = await _events(app)
    assert len(rows) == 40
    assert all(row.dispatched_at is not None for row in rows)
    assert await _deliveries(app) == []
    # Not one transaction per event: a constant number of statements for the whole batch.
    assert len(statements) <= 10, statements


async def test_each_handler_gets_its_own_delivery(app: FastAPI, make_relay: MakeRelay) -> None:
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

    relay = make_relay(handlers)
    await relay.drain()
    await relay.wait_idle()
    assert ran == ["broken", "fine"]
    [fan] = await _events(app, "kit_test.fan")
    assert fan.dispatched_at is not None
    by_handler = {d.handler.rsplit(".", 1)[-1]: d for d in await _deliveries(app)}
    assert by_handler["broken"].done_at is None
    assert by_handler["broken"].last_error == "ValueError: nope"
    assert by_handler["fine"].done_at is not None
    # The working handler committed on its own, and only once.
    assert len(await _events(app, "kit_test.follow_up")) == 1

    # A retry runs the broken one only.
    await _make_due(app)
    assert await relay.drain() == 1
    assert ran == ["broken", "fine", "broken"]


async def test_failing_handler_backs_off_then_ends_dead_with_its_error(
    app: FastAPI, make_relay: MakeRelay
) -> None:
    calls: list[int] = []

    async def flaky(event: Event, uow: UnitOfWork) -> None:
        calls.append(len(calls) + 1)
        # Its own writes are rolled back with it.
        record_event(uow.session, "kit_test.side_effect", {})
        await uow.session.flush()
        raise RuntimeError(f"handler exploded #{len(calls)}")

    handlers = EventHandlers()
    handlers.on("kit_test.flaky", flaky)
    relay = make_relay(handlers)
    await _record(app, "kit_test.flaky", {"x": 1})

    for attempt in (1, 2):
        before = utcnow()
        assert await relay.drain() == 1
        [row] = await _deliveries(app)
        assert row.attempts == attempt
        assert row.done_at is None
        assert row.dead_at is None
        assert row.last_error == f"RuntimeError: handler exploded #{attempt}"
        # Backoff: base * 2 ** (attempts - 1), plus up to 10 % jitter.
        delay = RETRY_BASE * 2 ** (attempt - 1)
        assert before + timedelta(seconds=delay) <= row.available_at
        assert row.available_at <= utcnow() + timedelta(seconds=delay * 1.1)
        assert await _events(app, "kit_test.side_effect") == []
        # Not due yet: a drain does nothing.
        assert await relay.drain() == 0
        assert calls == list(range(1, attempt + 1))
        await _make_due(app)

    assert await relay.drain() == 1
    [row] = await _deliveries(app)
    assert row.attempts == MAX_ATTEMPTS
    assert row.dead_at is not None
    assert row.done_at is None
    assert row.last_error == "RuntimeError: handler exploded #3"

    # Dead letters are never picked up again.
    await _make_due(app)
    assert await relay.drain() == 0
    assert calls == [1, 2, 3]
    assert await _events(app, "kit_test.side_effect") == []


async def test_handler_that_recovers_is_done_on_retry(app: FastAPI, make_relay: MakeRelay) -> None:
    outcomes: list[str] = []

    async def recovers(event: Event, uow: UnitOfWork) -> None:
        if not outcomes:
            outcomes.append("failed")
            raise ConnectionError("smtp down")
        outcomes.append("ok")

    handlers = EventHandlers()
    handlers.on("kit_test.recovers", recovers)
    relay = make_relay(handlers)
    await _record(app, "kit_test.recovers", {})

    assert await relay.drain() == 1
    await _make_due(app)
    assert await relay.drain() == 1
    [row] = await _deliveries(app)
    assert outcomes == ["failed", "ok"]
    assert row.attempts == 2
    assert row.done_at is not None
    assert row.dead_at is None
    assert row.last_error is None


async def test_events_recorded_by_a_handler_are_relayed_after_its_commit(
    app: FastAPI, make_relay: MakeRelay
) -> None:
    seen: list[str] = []

    async def first(event: Event, uow: UnitOfWork) -> None:
        seen.append(event.name)
        record_event(uow.session, "kit_test.second", {})

    async def second(event: Event, uow: UnitOfWork) -> None:
        seen.append(event.name)

    handlers = EventHandlers()
    handlers.on("kit_test.first", first)
    handlers.on("kit_test.second", second)
    relay = make_relay(handlers)
    await _record(app, "kit_test.first", {})
    await relay.drain()
    await relay.wait_idle()
    assert seen == ["kit_test.first", "kit_test.second"]


def test_handler_keys_are_stable_and_unique_per_event() -> None:
    async def handler(event: Event, uow: UnitOfWork) -> None:
        return None

    handlers = EventHandlers()
    handlers.on("a", handler)
    handlers.on("b", handler)
    [key] = handlers.keys_for("a")
    assert key == f"{__name__}.test_handler_keys_are_stable_and_unique_per_event.<locals>.handler"
    with pytest.raises(ValueError, match="already registered"):
        handlers.on("a", handler)
    handlers.on("a", handler, key="second-copy")
    assert handlers.keys_for("a") == [key, "second-copy"]
    assert handlers.get("a", "second-copy") is handler
    assert handlers.for_event("nothing") == []
