"""One transaction per request: committed on success, rolled back on error, events after commit."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import select

from tests.kit.helpers import running
from townsquare.kit.db import UnitOfWork
from townsquare.kit.errors import Conflict
from townsquare.kit.events import Event, OutboxEvent, record_event
from townsquare.kit.platform import Platform
from townsquare.kit.web import UnitOfWorkRoute, UowDep

EVENT = "kit_test.happened"


class KeptConflict(Conflict):
    code = "kept_conflict"
    keep_changes = True


@dataclass
class Seen:
    """What the test's event handler and after-commit callbacks observed."""

    handled: list[dict] = field(default_factory=list)
    row_visible_to_handler: list[bool] = field(default_factory=list)
    after_commit: list[str] = field(default_factory=list)


def _router(seen: Seen) -> APIRouter:
    router = APIRouter(prefix="/_kit_test/uow", route_class=UnitOfWorkRoute)

    async def write(uow: UnitOfWork, outcome: str) -> None:
        record_event(uow.session, EVENT, {"outcome": outcome})
        await uow.session.flush()  # the row is in the database, inside the transaction

        async def remember() -> None:
            seen.after_commit.append(outcome)

        uow.after_commit(remember)

    @router.post("/ok", status_code=201)
    async def ok(uow: UowDep) -> dict[str, str]:
        await write(uow, "ok")
        return {"status": "created"}

    @router.post("/app-error")
    async def app_error(uow: UowDep) -> None:
        await write(uow, "app-error")
        raise Conflict("Changed my mind.")

    @router.post("/kept")
    async def kept(uow: UowDep) -> None:
        await write(uow, "kept")
        raise KeptConflict("Refused, but the record stays.")

    @router.post("/crash")
    async def crash(uow: UowDep) -> None:
        await write(uow, "crash")
        raise RuntimeError("boom")

    @router.post("/error-response")
    async def error_response(uow: UowDep) -> JSONResponse:
        await write(uow, "error-response")
        return JSONResponse({"detail": "no"}, status_code=400)

    return router


@pytest.fixture
def seen(app: FastAPI) -> Seen:
    seen = Seen()
    platform: Platform = app.state.platform

    async def handler(event: Event, uow: UnitOfWork) -> None:
        seen.handled.append(event.payload)
        # Runs in its own transaction, after the request's commit: the event row is visible.
        row = await uow.session.get(OutboxEvent, event.id)
        seen.row_visible_to_handler.append(row is not None)

    platform.handlers.on(EVENT, handler)
    app.include_router(_router(seen))
    return seen


async def _stored(platform: Platform) -> list[OutboxEvent]:
    async with platform.database.sessions() as session:
        rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.name == EVENT))
        return list(rows.all())


async def _settle(platform: Platform) -> None:
    await platform.outbox.wait_idle()


async def test_success_commits_and_dispatches_after_commit(app: FastAPI, seen: Seen) -> None:
    platform: Platform = app.state.platform
    async with running(app, started=True) as http:
        response = await http.post("/_kit_test/uow/ok")
    assert response.status_code == 201, response.text
    await _settle(platform)

    [row] = await _stored(platform)
    assert row.payload == {"outcome": "ok"}
    assert row.dispatched_at is not None
    assert row.attempts == 1
    assert row.dead_at is None
    assert seen.handled == [{"outcome": "ok"}]
    assert seen.row_visible_to_handler == [True]
    assert seen.after_commit == ["ok"]


@pytest.mark.parametrize(
    ("path", "status"),
    [("app-error", 409), ("crash", 500), ("error-response", 400)],
)
async def test_failure_persists_nothing_and_sends_nothing(
    app: FastAPI, seen: Seen, path: str, status: int
) -> None:
    platform: Platform = app.state.platform
    async with running(app, started=True) as http:
        response = await http.post(f"/_kit_test/uow/{path}")
    assert response.status_code == status, response.text
    await _settle(platform)

    assert await _stored(platform) == []
    assert await platform.outbox.drain() == 0
    assert seen.handled == []
    assert seen.after_commit == []


async def test_app_error_with_keep_changes_commits(app: FastAPI, seen: Seen) -> None:
    platform: Platform = app.state.platform
    async with running(app, started=True) as http:
        response = await http.post("/_kit_test/uow/kept")
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "kept_conflict"
    await _settle(platform)

    [row] = await _stored(platform)
    assert row.payload == {"outcome": "kept"}
    assert row.dispatched_at is not None
    assert seen.handled == [{"outcome": "kept"}]
    assert seen.after_commit == ["kept"]


async def test_failed_request_does_not_disturb_the_next_one(app: FastAPI, seen: Seen) -> None:
    platform: Platform = app.state.platform
    async with running(app, started=True) as http:
        assert (await http.post("/_kit_test/uow/app-error")).status_code == 409
        assert (await http.post("/_kit_test/uow/ok")).status_code == 201
        assert (await http.post("/_kit_test/uow/crash")).status_code == 500
    await _settle(platform)

    assert [row.payload for row in await _stored(platform)] == [{"outcome": "ok"}]
    assert seen.handled == [{"outcome": "ok"}]
    assert seen.after_commit == ["ok"]
