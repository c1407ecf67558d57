"""``townsquare worker``: executes background jobs from the job broker (production).

One worker process runs: the job receiver (``job_concurrency`` jobs at once, acknowledged once
executed), the outbox relay poll (retries, expired leases) and the shared scheduler of periodic
jobs. Start as many as needed; SKIP LOCKED claims and the scheduler's atomic update keep them
from doing anything twice. SIGTERM/SIGINT stop it cleanly: no new jobs are fetched, running
ones get ``SHUTDOWN_TIMEOUT_SECONDS`` to finish (one cut short is handed out again after its
lease).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

import structlog

from townsquare import wiring
from townsquare.config import Settings
from townsquare.kit.logging import configure_logging
from townsquare.kit.periodic import Scheduler
from townsquare.kit.platform import Platform

log = structlog.get_logger(__name__)
SHUTDOWN_TIMEOUT_SECONDS = 10.0


async def run_worker(settings: Settings) -> None:
    assert settings.job_broker_url, "the worker needs TOWNSQUARE_JOB_BROKER_URL"
    configure_logging(settings.log_level, json=settings.log_json)
    platform = Platform.build(settings)
    wiring.register_event_handlers(platform)
    scheduler = Scheduler(platform.database)
    wiring.register_periodic_jobs(platform, scheduler)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    finish = asyncio.Event()
    receiver = asyncio.create_task(
        platform.outbox.consume(finish, SHUTDOWN_TIMEOUT_SECONDS), name="job-receiver"
    )
    platform.outbox.start_polling(settings.outbox_poll_seconds)
    scheduler.start()
    log.info("worker_started", concurrency=settings.job_concurrency)
    try:
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, receiver}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if receiver.done():
            receiver.result()  # the receiver failed: say why, exit non-zero
    finally:
        log.info("worker_stopping")
        finish.set()
        await scheduler.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(receiver, SHUTDOWN_TIMEOUT_SECONDS + 5)
        await platform.close()
        log.info("worker_stopped")
