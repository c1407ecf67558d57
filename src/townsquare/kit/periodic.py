"""Periodic jobs inside a server process (the embedded default's scheduler).

Each job is idempotent and safe to run in several processes at once; the job queue issue
replaces this with one scheduler shared by the worker processes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


class PeriodicJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        self._tasks.append(asyncio.create_task(self._loop(seconds, name, job), name=name))

    async def _loop(self, seconds: float, name: str, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await job()
            except Exception:
                log.exception("periodic_job_failed", job=name)
            await asyncio.sleep(seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
