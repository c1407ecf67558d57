"""Commit handlers (``EventHandlers.on_commit``): run right after the commit of the events they
are registered for, in the committing process and in event order; never for a rolled-back
transaction; one failing handler stops neither the others nor the commit."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import select

from townsquare.kit.events import Event, OutboxEvent, record_event
from townsquare.kit.platform import Platform

NAME = "test.commit_handled"


async def test_commit_handlers_run_after_the_commit_only(app: FastAPI) -> None:
    platform: Platform = app.state.platform
    seen: list[tuple[str, Event]] = []

    async def failing(event: Event) -> None:
        seen.append(("failing", event))
        raise RuntimeError("boom")

    async def counting(event: Event) -> None:
        seen.append(("counting", event))

    platform.handlers.on_commit(NAME, failing)
    platform.handlers.on_commit(NAME, counting)

    async with platform.database.unit_of_work() as uow:
        record_event(uow.session, NAME, {"n": 1})
        record_event(uow.session, "test.not_commit_handled", {})
        record_event(uow.session, NAME, {"n": 2})
        await uow.session.flush()
        assert seen == []  # not before the commit
        await uow.commit()
    assert [(who, event.payload["n"]) for who, event in seen] == [
        ("failing", 1),
        ("counting", 1),
        ("failing", 2),
        ("counting", 2),
    ]
    async with platform.database.unit_of_work(read_only=True) as uow:
        stored = {
            row.id: row.payload["n"]
            for row in await uow.session.scalars(
                select(OutboxEvent).where(OutboxEvent.name == NAME)
            )
        }
    assert {event.id: event.payload["n"] for _, event in seen} == stored  # the same events

    seen.clear()
    async with platform.database.unit_of_work() as uow:
        record_event(uow.session, NAME, {"n": 3})
        await uow.session.flush()
        # No commit: the unit rolls back.
    assert seen == []
