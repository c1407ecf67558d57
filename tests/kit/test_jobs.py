"""Jobs: exactly-once effects of redelivered jobs, leases, concurrent relays, the shared
scheduler of periodic jobs, and the embedded default end to end through HTTP."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, func, select, update

from tests.conftest import Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import register
from townsquare.kit.db import UnitOfWork
from townsquare.kit.events import Event, OutboxEvent, record_event
from townsquare.kit.jobs import (
    EventDelivery,
    list_dead_letters,
    purge_settled_events,
    retry_dead,
)
from townsquare.kit.models import utcnow
from townsquare.kit.periodic import ScheduledJob, Scheduler
from townsquare.kit.platform import Platform

MakePlatform = Callable[..., Platform]


@pytest.fixture
async def make_platform(
    app: FastAPI, backend: Backend, mailbox: Mailbox
) -> AsyncIterator[MakePlatform]:
    """More Platforms on the test database, as other processes would have (``app`` cleans up)."""
    made: list[Platform] = []

    def make(**overrides: Any) -> Platform:
        platform = Platform.build(make_settings(backend, mailbox, **overrides))
        made.append(platform)
        return platform

    yield make
    for platform in made:
        await platform.close()


async def _record(platform: Platform, name: str, payload: dict[str, Any]) -> uuid.UUID:
    async with platform.database.unit_of_work() as uow:
        record_event(uow.session, name, payload)
        await uow.session.flush()
        event_id = await uow.session.scalar(
            select(OutboxEvent.id).where(OutboxEvent.name == name).order_by(OutboxEvent.id.desc())
        )
        await uow.commit()
    assert event_id is not None
    return event_id


async def _count(platform: Platform, name: str) -> int:
    async with platform.database.sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == name)
        )
    return int(count or 0)


async def _deliveries(platform: Platform) -> list[EventDelivery]:
    async with platform.database.sessions() as session:
        return list((await session.scalars(select(EventDelivery))).all())


async def _expire_leases(platform: Platform) -> None:
    async with platform.database.unit_of_work() as uow:
        await uow.session.execute(
            update(EventDelivery).values(available_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()


def _effect_handler(calls: list[str], pause: float = 0.0) -> Any:
    """A handler whose database effect is an outbox row ``kit_test.effect``."""

    async def effect(event: Event, uow: UnitOfWork) -> None:
        calls.append(str(event.id))
        record_event(uow.session, "kit_test.effect", {"of": str(event.id)})
        # Gives a concurrent duplicate every chance to interleave.
        await asyncio.sleep(pause)

    return effect


async def test_a_redelivered_job_does_nothing_twice(make_platform: MakePlatform) -> None:
    platform = make_platform()
    calls: list[str] = []
    platform.handlers.on("kit_test.once", _effect_handler(calls))
    event_id = await _record(platform, "kit_test.once", {})
    assert await platform.outbox.drain() == 1
    [delivery] = await _deliveries(platform)
    assert delivery.done_at is not None

    # The queue delivers the same message again (e.g. a reclaimed unacked message).
    assert await platform.outbox.run_delivery(event_id, delivery.handler) == "duplicate"
    assert len(calls) == 1
    assert await _count(platform, "kit_test.effect") == 1


async def test_concurrent_duplicates_of_one_job_commit_once(make_platform: MakePlatform) -> None:
    first, second = make_platform(), make_platform()
    calls: list[str] = []
    for platform in (first, second):
        platform.handlers.on("kit_test.twice", _effect_handler(calls, 0.1), key="effect")
    event_id = await _record(first, "kit_test.twice", {})
    # Relay without running: a broker-less claim, as a server relaying for workers would.
    await _expire_leases(first)
    async with first.database.unit_of_work() as uow:
        uow.session.add(EventDelivery(event_id=event_id, handler="effect", attempts=1))
        await uow.session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id)
            .values(dispatched_at=utcnow(), attempts=1)
        )
        await uow.commit()

    outcomes = await asyncio.gather(
        first.outbox.run_delivery(event_id, "effect"),
        second.outbox.run_delivery(event_id, "effect"),
    )
    assert sorted(outcomes) == ["duplicate", "ok"]
    assert len(calls) == 1
    assert await _count(first, "kit_test.effect") == 1


async def test_a_lost_job_is_handed_out_again_when_its_lease_ends(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(outbox_max_attempts=2)
    calls: list[str] = []
    platform.handlers.on("kit_test.lost", _effect_handler(calls), key="effect")
    event_id = await _record(platform, "kit_test.lost", {})
    # A relay that claimed the delivery and died before sending it: the row is leased.
    async with platform.database.unit_of_work() as uow:
        uow.session.add(
            EventDelivery(
                event_id=event_id,
                handler="effect",
                attempts=1,
                available_at=utcnow() + timedelta(seconds=60),
            )
        )
        await uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=utcnow())
        )
        await uow.commit()
    assert await platform.outbox.drain() == 0  # still leased
    assert calls == []

    await _expire_leases(platform)
    assert await platform.outbox.drain() == 1
    [delivery] = await _deliveries(platform)
    assert delivery.attempts == 2
    assert delivery.done_at is not None
    assert len(calls) == 1


async def test_a_lease_that_ends_after_the_last_attempt_is_a_dead_letter(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(outbox_max_attempts=2)
    platform.handlers.on("kit_test.hangs", _effect_handler([]), key="effect")
    event_id = await _record(platform, "kit_test.hangs", {})
    async with platform.database.unit_of_work() as uow:
        uow.session.add(EventDelivery(event_id=event_id, handler="effect", attempts=2))
        await uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id).values(dispatched_at=utcnow())
        )
        await uow.commit()
    assert await platform.outbox.drain() == 0
    [delivery] = await _deliveries(platform)
    assert delivery.dead_at is not None
    assert delivery.last_error is not None
    assert "lease expired" in delivery.last_error

    [letter] = await list_dead_letters(platform.database)
    assert (letter.event_id, letter.event_name, letter.handler) == (
        event_id,
        "kit_test.hangs",
        "effect",
    )
    # Put back: attempts reset, handed out again, done.
    assert await retry_dead(platform.database, event_id) == 1
    assert await platform.outbox.drain() == 1
    [delivery] = await _deliveries(platform)
    assert delivery.dead_at is None
    assert delivery.done_at is not None
    assert delivery.attempts == 1
    assert await list_dead_letters(platform.database) == []


async def test_two_relays_hand_each_delivery_out_once(make_platform: MakePlatform) -> None:
    first, second = make_platform(), make_platform()
    calls: list[str] = []
    for platform in (first, second):
        platform.handlers.on("kit_test.batch", _effect_handler(calls), key="effect")
        platform.handlers.on("kit_test.unhandled_elsewhere", _effect_handler(calls), key="x")
    async with first.database.unit_of_work() as uow:
        for n in range(250):
            record_event(uow.session, "kit_test.batch", {"n": n})
        await uow.commit()

    handed = await asyncio.gather(first.outbox.drain(), second.outbox.drain())
    assert sum(handed) == 250
    assert len(calls) == 250
    assert len(set(calls)) == 250
    deliveries = await _deliveries(first)
    assert len(deliveries) == 250
    # Handed out once each: a second claim would have counted a second attempt.
    assert {d.attempts for d in deliveries} == {1}
    assert all(d.done_at is not None for d in deliveries)
    assert await _count(first, "kit_test.effect") == 250


def _claims(platform: Platform) -> tuple[list[str], Callable[[], None]]:
    """Record the relay's claims (its event query) on ``platform``; returns them and a stop."""
    claims: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("SELECT outbox_events.id, outbox_events.name"):
            claims.append(statement)

    engine = platform.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    return claims, lambda: event.remove(engine, "before_cursor_execute", record)


async def test_one_event_costs_one_claim(make_platform: MakePlatform) -> None:
    platform = make_platform()
    calls: list[str] = []
    platform.handlers.on("kit_test.single", _effect_handler(calls))
    await _record(platform, "kit_test.single", {})
    claims, stop = _claims(platform)
    try:
        assert await platform.outbox.drain() == 1
    finally:
        stop()
    assert len(calls) == 1
    # Not full, so everything due was taken: no second claim to find nothing.
    assert len(claims) == 1


async def test_a_kick_relays_new_events_in_three_statements_and_leaves_retries_to_the_poll(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform()
    calls: list[str] = []
    platform.handlers.on("kit_test.lean", _effect_handler(calls), key="lean")
    await platform.outbox.start()
    # A delivery waiting for its retry (its backoff ended), from an earlier event.
    retry_id = await _record(platform, "kit_test.lean", {"n": "retry"})
    async with platform.database.unit_of_work() as uow:
        uow.session.add(EventDelivery(event_id=retry_id, handler="lean", attempts=1))
        await uow.session.execute(
            update(OutboxEvent).where(OutboxEvent.id == retry_id).values(dispatched_at=utcnow())
        )
        await uow.commit()
    fresh_id = await _record(platform, "kit_test.lean", {"n": "fresh"})
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "outbox_events" in statement or "event_deliveries" in statement:
            statements.append(statement.split()[0])

    engine = platform.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        platform.outbox.kick()
        await platform.outbox.wait_idle()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # The kick's claim: the events, their deliveries inserted already leased, the dispatched
    # mark; then the job's own reads and writes. No scan for due deliveries, no lease update.
    claim = statements[:3]
    assert claim == ["SELECT", "INSERT", "UPDATE"]
    assert calls == [str(fresh_id)]
    [fresh] = [d for d in await _deliveries(platform) if d.event_id == fresh_id]
    assert fresh.attempts == 1
    assert fresh.done_at is not None

    assert await platform.outbox.drain() == 1  # the poll's drain takes the retry
    assert calls == [str(fresh_id), str(retry_id)]


async def test_kicks_while_a_drain_waits_share_its_claim(make_platform: MakePlatform) -> None:
    platform = make_platform()
    calls: list[str] = []
    platform.handlers.on("kit_test.burst", _effect_handler(calls))
    await platform.outbox.start()
    claims, stop = _claims(platform)
    try:
        # Another drain is relaying (it holds the relay's lock) while ten commits kick.
        async with platform.outbox._lock:
            for n in range(10):
                await _record(platform, "kit_test.burst", {"n": n})
                platform.outbox.kick()  # as every commit that recorded events does
            await asyncio.sleep(0.05)  # the first kick's drain is waiting for its turn
            assert claims == []
        await platform.outbox.wait_idle()
    finally:
        stop()
    assert len(set(calls)) == 10
    assert len(calls) == 10
    assert await _count(platform, "kit_test.effect") == 10
    # Ten kicks, one claim for the burst; the ten effects its jobs recorded (kicked while the
    # burst's drain ran them) take one more. A drain per kick would have claimed ten times.
    assert len(claims) == 2


async def test_closing_ends_a_drain_after_its_claim_not_the_backlog(
    make_platform: MakePlatform,
) -> None:
    """Shutdown must not wait for a backlog: the drain stops after the claim in hand and the
    rest stays in the outbox, for another process or the next start."""
    platform = make_platform()
    platform.outbox.batch_size = 10
    entered, release = asyncio.Event(), asyncio.Event()
    calls: list[str] = []

    async def slow(event: Event, _uow: UnitOfWork) -> None:
        calls.append(str(event.id))
        entered.set()
        await release.wait()

    platform.handlers.on("kit_test.backlog", slow)
    for n in range(25):
        await _record(platform, "kit_test.backlog", {"n": n})
    platform.outbox.kick()
    await asyncio.wait_for(entered.wait(), 10)  # the first claim's first job is running

    closing = asyncio.create_task(platform.outbox.close())
    await asyncio.sleep(0.05)
    release.set()
    await asyncio.wait_for(closing, 30)

    assert len(calls) == 10  # the claim in hand ran to its end
    async with platform.database.sessions() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(OutboxEvent)
            .where(OutboxEvent.name == "kit_test.backlog", OutboxEvent.dispatched_at.is_(None))
        )
    assert pending == 15


def _batch_handler(calls: list[list[str]], fail_on: str | None = None) -> Any:
    """A batch handler recording each call's events; its effect is one outbox row per event.
    It raises if the batch holds the event whose payload ``n`` is ``fail_on``."""

    async def effects(events: Sequence[Event], uow: UnitOfWork) -> None:
        calls.append([str(e.id) for e in events])
        for e in events:
            if e.payload["n"] == fail_on:
                raise RuntimeError(f"event {fail_on} fails")
            record_event(uow.session, "kit_test.effect", {"of": str(e.id)})

    return effects


async def test_a_batch_handler_takes_a_claims_deliveries_in_one_call_once(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform()
    calls: list[list[str]] = []
    platform.handlers.on_batch("kit_test.batched", _batch_handler(calls), key="batch")
    ids = [await _record(platform, "kit_test.batched", {"n": str(n)}) for n in range(5)]

    assert await platform.outbox.drain() == 5

    assert calls == [[str(i) for i in ids]]  # one call, in event order
    assert await _count(platform, "kit_test.effect") == 5
    assert all(d.done_at is not None for d in await _deliveries(platform) if d.handler == "batch")
    # The queue delivers the batch again: nothing runs twice.
    assert await platform.outbox.run_deliveries(ids, "batch") == ["duplicate"] * 5
    assert len(calls) == 1
    assert await _count(platform, "kit_test.effect") == 5


async def test_a_failing_batch_runs_each_delivery_alone_and_only_the_bad_one_retries(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform()
    calls: list[list[str]] = []
    platform.handlers.on_batch("kit_test.batched", _batch_handler(calls, "2"), key="batch")
    ids = [await _record(platform, "kit_test.batched", {"n": str(n)}) for n in range(4)]

    await platform.outbox.drain()

    # The batch failed as a whole (nothing of it committed), then each ran alone.
    assert calls[0] == [str(i) for i in ids]
    assert calls[1:] == [[str(i)] for i in ids]
    assert await _count(platform, "kit_test.effect") == 3
    by_event = {d.event_id: d for d in await _deliveries(platform) if d.handler == "batch"}
    assert [by_event[i].done_at is not None for i in ids] == [True, True, False, True]
    failing = by_event[ids[2]]
    assert failing.last_error == "RuntimeError: event 2 fails"
    assert failing.dead_at is None
    assert failing.available_at > utcnow()  # a retry, after its backoff


async def test_the_scheduler_runs_each_occurrence_once_across_processes(
    make_platform: MakePlatform,
) -> None:
    runs: list[int] = []
    schedulers = []
    for n in range(3):
        scheduler = Scheduler(make_platform().database)

        async def job(n: int = n) -> None:
            runs.append(n)

        scheduler.every(3600, "kit_test_job", job)
        schedulers.append(scheduler)

    won = await asyncio.gather(*(s.run_due() for s in schedulers))
    assert sorted(map(len, won)) == [0, 0, 1]
    assert len(runs) == 1
    # Not due again for an hour.
    assert await asyncio.gather(*(s.run_due() for s in schedulers)) == [[], [], []]
    assert len(runs) == 1

    database = make_platform().database
    async with database.unit_of_work() as uow:
        await uow.session.execute(
            update(ScheduledJob).values(next_run_at=utcnow() - timedelta(seconds=1))
        )
        await uow.commit()
    won = await asyncio.gather(*(s.run_due() for s in schedulers))
    assert sorted(map(len, won)) == [0, 0, 1]
    assert len(runs) == 2
    async with database.sessions() as session:
        row = await session.get(ScheduledJob, "kit_test_job")
    assert row is not None
    assert row.last_run_at is not None
    assert row.next_run_at > utcnow() + timedelta(seconds=3500)
    assert row.last_error is None


async def test_the_scheduler_loop_records_a_failing_job(make_platform: MakePlatform) -> None:
    scheduler = Scheduler(make_platform().database)
    ran = asyncio.Event()

    async def broken() -> None:
        ran.set()
        raise RuntimeError("digest exploded")

    scheduler.every(3600, "kit_test_broken", broken)
    with pytest.raises(ValueError, match="twice"):
        scheduler.every(10, "kit_test_broken", broken)
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), 10)
        for _ in range(100):
            async with make_platform().database.sessions() as session:
                row = await session.get(ScheduledJob, "kit_test_broken")
            if row is not None and row.last_error:
                break
            await asyncio.sleep(0.05)
    finally:
        await scheduler.stop()
    assert row is not None
    assert row.last_error == "RuntimeError: digest exploded"


async def test_embedded_default_runs_handlers_after_the_request(
    app: FastAPI, client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    await register(client, "jobs_embedded", email="jobs_embedded@example.org")
    await app.state.platform.outbox.wait_idle()
    platform: Platform = app.state.platform
    deliveries = await _deliveries(platform)
    assert deliveries
    assert all(d.done_at is not None and d.attempts == 1 for d in deliveries)
    # The verification email of accounts' handler went out (after its commit).
    assert len(mailbox.to("jobs_embedded@example.org")) == 1


async def test_settled_events_are_purged_after_retention_and_dead_letters_kept(
    make_platform: MakePlatform,
) -> None:
    platform = make_platform(outbox_max_attempts=1)

    async def fail(event: Event, uow: UnitOfWork) -> None:
        raise RuntimeError("always")

    platform.handlers.on("kit_test.done", _effect_handler([]))
    platform.handlers.on("kit_test.dead", fail)
    done = await _record(platform, "kit_test.done", {})
    dead = await _record(platform, "kit_test.dead", {})
    await platform.outbox.drain()  # "done" handled, "dead" dead after its only attempt
    effects = await _count(platform, "kit_test.effect")
    await platform.outbox.drain()  # the effect events (no handler) settle too

    # Within the retention nothing goes; past it only fully handled events do.
    assert await purge_settled_events(platform.database, timedelta(days=1)) == 0
    purged = await purge_settled_events(platform.database, timedelta(seconds=-1), batch=1)
    assert purged == 1 + effects
    async with platform.database.sessions() as session:
        left = set((await session.scalars(select(OutboxEvent.id))).all())
        deliveries = (await session.scalars(select(EventDelivery))).all()
    assert done not in left
    assert dead in left
    assert [(d.event_id, d.dead_at is not None) for d in deliveries] == [(dead, True)]
