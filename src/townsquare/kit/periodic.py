"""One scheduler for periodic jobs (digests, trending topics, purges, expiries), shared by
every process that runs it.

Each process that runs periodic jobs (a server without a job broker, every ``townsquare worker``)
loops over the registered jobs; an occurrence is due when the atomic

    UPDATE scheduled_jobs SET next_run_at = now + interval, last_run_at = now
    WHERE name = :name AND next_run_at <= now

changes a row (the row is inserted, and the job run, the first time). Only the process whose
update won runs that occurrence, so with N workers each occurrence runs once. Jobs stay
idempotent anyway: a process that dies mid-run leaves its occurrence half done until the next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import String, Text, select, update
from sqlalchemy.orm import Mapped, mapped_column

from townsquare.kit.db import Database
from townsquare.kit.errors import is_database_unavailable
from townsquare.kit.models import Base, utcnow
from townsquare.kit.sql import insert_or_ignore

log = structlog.get_logger(__name__)
Job = Callable[[], Awaitable[object]]
#: The longest a loop sleeps between checks: how late a job may start after it became due.
MAX_TICK_SECONDS = 5.0


class ScheduledJob(Base):
    """When a periodic job runs next (shared by all processes), and how its last run went."""

    __tablename__ = "scheduled_jobs"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    next_run_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


@dataclass(frozen=True)
class _Entry:
    name: str
    seconds: float
    job: Job


class Scheduler:
    """``every(seconds, name, job)`` registers; ``start()`` loops; ``run_due()`` checks once."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._entries: dict[str, _Entry] = {}
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, name: str, job: Job) -> None:
        if name in self._entries:
            raise ValueError(f"periodic job {name!r} is registered twice")
        self._entries[name] = _Entry(name, seconds, job)

    def start(self) -> None:
        for entry in self._entries.values():
            self._tasks.append(
                asyncio.create_task(self._loop(entry), name=f"periodic:{entry.name}")
            )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    async def run_due(self) -> list[str]:
        """Run every job whose occurrence this process wins now; returns their names."""
        won = [entry for entry in self._entries.values() if await self._claim(entry)]
        for entry in won:
            await self._run(entry)
        return [entry.name for entry in won]

    async def _loop(self, entry: _Entry) -> None:
        tick = min(max(entry.seconds, 0.05), MAX_TICK_SECONDS)
        while True:
            try:
                if await self._claim(entry):
                    await self._run(entry)
            except Exception as exc:
                # The database may be away for a moment: try again at the next tick.
                if is_database_unavailable(exc):
                    log.warning("periodic_job_database_unavailable", job=entry.name)
                else:
                    log.exception("periodic_job_claim_failed", job=entry.name)
            await asyncio.sleep(tick)

    async def _claim(self, entry: _Entry) -> bool:
        now = utcnow()
        next_run = now + timedelta(seconds=entry.seconds)
        async with self._database.unit_of_work() as uow:
            result = await uow.session.execute(
                update(ScheduledJob)
                .where(ScheduledJob.name == entry.name, ScheduledJob.next_run_at <= now)
                .values(next_run_at=next_run, last_run_at=now)
            )
            won = bool(result.rowcount)  # type: ignore[attr-defined]
            if not won:
                exists = await uow.session.scalar(
                    select(ScheduledJob.name).where(ScheduledJob.name == entry.name)
                )
                if exists is None:
                    won = await insert_or_ignore(
                        uow.session,
                        ScheduledJob,
                        {"name": entry.name, "next_run_at": next_run, "last_run_at": now},
                        ["name"],
                    )
            await uow.commit()
        return won

    async def _run(self, entry: _Entry) -> None:
        error: str | None = None
        try:
            await entry.job()
        except Exception as exc:
            log.exception("periodic_job_failed", job=entry.name)
            error = f"{type(exc).__name__}: {exc}"[:2000]
        async with self._database.unit_of_work() as uow:
            await uow.session.execute(
                update(ScheduledJob).where(ScheduledJob.name == entry.name).values(last_error=error)
            )
            await uow.commit()
