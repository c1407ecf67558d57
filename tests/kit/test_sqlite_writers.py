"""SQLite writers take turns in arrival order, without holding pooled connections while they
wait (``kit.db.WriterGate``); readers never wait for them, and a writer that fails gives its
turn back. SQLite only: PostgreSQL has real concurrent writers and no gate."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from tests.kit.helpers import AppFactory, running
from townsquare.kit.db import Database, UnitOfWork, WriterGateTimeout
from townsquare.kit.models import utcnow
from townsquare.kit.periodic import ScheduledJob
from townsquare.kit.web import UnitOfWorkRoute, UowDep

WRITERS = 30
PREFIX = "writer-gate-test-"


@pytest.fixture
async def sqlite_app(app_factory: AppFactory) -> FastAPI:
    # A pool far smaller than the crowd, with a short wait: writers that waited for SQLite's
    # lock while holding pooled connections ran it dry and the rest answered 503.
    app = await app_factory(
        database_pool_size=2, database_max_overflow=0, database_pool_timeout_seconds=0.5
    )
    if not app.state.settings.is_sqlite:
        pytest.skip("SQLite's single writer: PostgreSQL writers run at once")
    app.include_router(_router())
    return app


def _database(app: FastAPI) -> Database:
    database: Database = app.state.platform.database
    return database


def _router() -> APIRouter:
    router = APIRouter(prefix="/_kit_test/writers", route_class=UnitOfWorkRoute)

    @router.post("/{index}", status_code=201)
    async def write(index: int, uow: UowDep) -> dict[str, int]:
        uow.session.add(_row(index))
        await uow.session.flush()
        # Some work while the write lock is held, as a real request does (more than the
        # pool's 0.5 s wait for the whole crowd).
        await asyncio.sleep(0.03)
        return {"index": index}

    @router.post("/{index}/crash")
    async def crash(index: int, uow: UowDep) -> None:
        uow.session.add(_row(index))
        await uow.session.flush()
        raise RuntimeError("the handler failed while holding the write lock")

    return router


def _row(index: int) -> ScheduledJob:
    return ScheduledJob(name=f"{PREFIX}{index}", next_run_at=utcnow())


async def _rows(database: Database) -> int:
    async with database.unit_of_work(read_only=True) as uow:
        count = await uow.session.scalar(
            select(func.count()).where(ScheduledJob.name.startswith(PREFIX))
        )
    return int(count or 0)


@pytest.fixture
async def holder(sqlite_app: FastAPI) -> AsyncIterator[UnitOfWork]:
    """A writing unit of work that has its turn (it ran a statement) until the test commits."""
    async with _database(sqlite_app).unit_of_work() as uow:
        await uow.session.execute(text("SELECT 1"))
        yield uow


async def _let_queue() -> None:
    """Let the tasks just created run up to where they wait (no I/O before their turn)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_crowd_of_writers_larger_than_the_pool_gets_no_503(sqlite_app: FastAPI) -> None:
    async with running(sqlite_app, started=True) as http:
        answers = await asyncio.gather(
            *(http.post(f"/_kit_test/writers/{i}") for i in range(WRITERS))
        )

    assert [a.status_code for a in answers] == [201] * WRITERS, [a.text for a in answers]
    assert await _rows(_database(sqlite_app)) == WRITERS


async def test_writers_get_their_turn_in_arrival_order(
    sqlite_app: FastAPI, holder: UnitOfWork
) -> None:
    database = _database(sqlite_app)
    served: list[int] = []

    async def write(index: int) -> None:
        async with database.unit_of_work() as uow:
            await uow.session.execute(text("SELECT 1"))  # has the turn from here to commit
            served.append(index)
            uow.session.add(_row(index))
            await uow.session.flush()
            await asyncio.sleep(0)  # give others the chance to overtake, were they able to
            await uow.commit()

    tasks = []
    for index in range(WRITERS):
        tasks.append(asyncio.create_task(write(index)))
        await _let_queue()
    assert served == []  # all in line behind the holder
    await holder.commit()
    await asyncio.gather(*tasks)

    assert served == list(range(WRITERS))
    assert await _rows(database) == WRITERS


async def test_readers_and_idle_writers_do_not_wait_for_the_writer(
    sqlite_app: FastAPI, holder: UnitOfWork
) -> None:
    database = _database(sqlite_app)

    async def read() -> int:
        async with database.unit_of_work(read_only=True) as uow:
            return int(await uow.session.scalar(text("SELECT 1")) or 0)

    async def write_nothing() -> None:
        async with database.unit_of_work() as uow:
            uow.session.add(_row(-1))  # not flushed: no statement, so no turn needed

    # The holder keeps its turn for the whole test: a gated reader would wait 30.5 s and fail.
    assert await asyncio.wait_for(read(), timeout=10) == 1
    await asyncio.wait_for(write_nothing(), timeout=10)
    async with running(sqlite_app, started=True) as http:
        response = await asyncio.wait_for(http.get("/readyz"), timeout=10)
    assert response.status_code == 200
    await holder.commit()
    assert await _rows(database) == 0


async def test_a_writer_that_fails_gives_its_turn_back(sqlite_app: FastAPI) -> None:
    database = _database(sqlite_app)
    async with running(sqlite_app, started=True) as http:
        crashed = await http.post("/_kit_test/writers/1/crash")
        assert crashed.status_code == 500
        assert (await http.post("/_kit_test/writers/1")).status_code == 201

        async def write_a_duplicate() -> None:
            async with database.unit_of_work() as uow:
                uow.session.add(_row(1))
                await uow.session.flush()

        # A statement that fails (duplicate key), the error left to the unit of work.
        with pytest.raises(IntegrityError):
            await write_a_duplicate()
        assert (await http.post("/_kit_test/writers/2")).status_code == 201
    assert await _rows(database) == 2


async def test_a_writer_that_gives_up_waiting_leaves_the_line_intact(
    app_factory: AppFactory,
) -> None:
    # The turn is awaited for at most the pool's wait plus the busy timeout: 0.1 + 0.1 s.
    app = await app_factory(sqlite_busy_timeout_ms=100, database_pool_timeout_seconds=0.1)
    if not app.state.settings.is_sqlite:
        pytest.skip("SQLite's single writer: PostgreSQL writers run at once")
    database = _database(app)

    async def write(index: int) -> None:
        async with database.unit_of_work() as uow:
            uow.session.add(_row(index))
            await uow.session.flush()
            await uow.commit()

    async with database.unit_of_work() as holder:
        await holder.session.execute(text("SELECT 1"))
        with pytest.raises(WriterGateTimeout):
            await write(1)  # waited 0.2 s in line behind the holder
        cancelled = asyncio.create_task(write(2))
        await _let_queue()
        cancelled.cancel()  # e.g. a client that went away while waiting
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        await holder.commit()

    await asyncio.wait_for(write(3), timeout=10)
    assert await _rows(database) == 1
