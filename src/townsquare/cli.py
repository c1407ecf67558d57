"""The ``townsquare`` command: serve, worker, jobs, db, users."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Coroutine
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from townsquare.config import Settings, UnsafeProductionSettings

app = typer.Typer(help="Townsquare: a self-hostable social-network backend.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
jobs_app = typer.Typer(help="Background jobs: dead letters.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")
app.add_typer(jobs_app, name="jobs")


def _load_settings() -> Settings:
    """Settings, or a clear message and exit 2 when they are unsafe or invalid."""
    try:
        return Settings()
    except (ValidationError, UnsafeProductionSettings) as exc:
        typer.secho(f"Configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc


def _require_redis(settings: Settings, shape: str) -> None:
    """Without Redis, the session cache, rate-limit windows, real-time delivery and presence
    live in one process's memory: a second process would not see a logout for as long as the
    session stays cached, would multiply every limit, and would not deliver the other
    process's events. That mode is for one process only; any other shape is refused, exit 2."""
    if settings.redis_url:
        return
    typer.secho(
        f"Configuration error: {shape} needs TOWNSQUARE_REDIS_URL. Without Redis the session "
        "cache, rate limits and real-time delivery live in one process's memory, which the "
        "other processes would not see (a logout unseen, every limit multiplied). Set "
        "TOWNSQUARE_REDIS_URL (e.g. redis://127.0.0.1:6379/0), or run a single process "
        "(`townsquare serve`, one worker, no TOWNSQUARE_JOB_BROKER_URL).",
        fg=typer.colors.RED,
        err=True,
    )
    raise typer.Exit(code=2)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes (production: one per core; more than one needs Redis)."
        ),
    ] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the HTTP API (docs at /docs)."""
    import uvicorn

    settings = _load_settings()
    if workers > 1 and not reload:  # --reload runs one process whatever --workers says
        _require_redis(settings, f"`serve --workers {workers}` ({workers} processes)")
    if settings.job_broker_url:
        _require_redis(settings, "TOWNSQUARE_JOB_BROKER_URL (jobs run in `townsquare worker`)")
    uvicorn.run(
        "townsquare.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level=settings.log_level.lower(),
        # The application itself believes X-Forwarded-* from TOWNSQUARE_TRUSTED_PROXIES only;
        # uvicorn's own handling (which trusts loopback by default) would rewrite the client
        # before the application could tell a proxy from anyone else on the host.
        proxy_headers=False,
        access_log=False,
        # Without a bound, one request or socket that never ends keeps a worker alive after
        # its supervisor has gone (seen under load: orphaned workers still relaying).
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
    )


@app.command()
def worker() -> None:
    """Run background jobs from the job broker (TOWNSQUARE_JOB_BROKER_URL), with the relay
    poll and the periodic jobs. Start one or more next to `serve`; stop with SIGTERM."""
    settings = _load_settings()
    if not settings.job_broker_url:
        typer.secho(
            "townsquare worker needs a job broker: set TOWNSQUARE_JOB_BROKER_URL "
            "(e.g. redis://127.0.0.1:6379/0). Without one, `serve` runs jobs in-process.",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(code=2)
    _require_redis(settings, "townsquare worker (a process apart from `serve`)")
    from townsquare.worker import run_worker

    _run_on_fastest_loop(run_worker(settings))


def _run_on_fastest_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where it is installed (uvicorn[standard] brings it on Linux; `serve` runs on it
    too): a worker spends much of its time writing to PostgreSQL and Redis sockets, which
    uvloop's transports do for a fraction of asyncio's cost. Elsewhere asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


@jobs_app.command("dead-letters")
def dead_letters(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many.")] = 100,
) -> None:
    """List dead deliveries (event, handler, attempts, last error), newest first."""
    from townsquare.kit.db import Database
    from townsquare.kit.jobs import list_dead_letters

    async def run() -> list[str]:
        database = Database(_load_settings())
        try:
            letters = await list_dead_letters(database, limit)
        finally:
            await database.dispose()
        return [
            f"{d.dead_at.isoformat()}  {d.event_id}  {d.event_name}  {d.handler}  "
            f"attempts={d.attempts}  {d.last_error or ''}"
            for d in letters
        ]

    lines = asyncio.run(run())
    for line in lines:
        typer.echo(line)
    typer.echo(f"{len(lines)} dead deliver{'y' if len(lines) == 1 else 'ies'}.")


@jobs_app.command("retry-dead")
def retry_dead_letters(
    event_id: Annotated[
        str | None, typer.Option("--event-id", help="Only the deliveries of this event.")
    ] = None,
) -> None:
    """Put dead deliveries back in the queue (attempts reset); the relay hands them out."""
    from townsquare.kit.db import Database
    from townsquare.kit.jobs import retry_dead

    try:
        only = uuid.UUID(event_id) if event_id is not None else None
    except ValueError as exc:
        typer.secho(f"Not an event id: {event_id}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc

    async def run() -> int:
        database = Database(_load_settings())
        try:
            return await retry_dead(database, only)
        finally:
            await database.dispose()

    count = asyncio.run(run())
    typer.echo(f"Requeued {count} dead deliver{'y' if count == 1 else 'ies'}.")


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from townsquare import migrate

    migrate.upgrade(_load_settings().database_url, revision)


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. base.")],
) -> None:
    """Revert migrations down to REVISION."""
    from townsquare import migrate

    migrate.downgrade(_load_settings().database_url, revision)


@users_app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="Email address.")],
    username: Annotated[str, typer.Option(prompt=True, help="Username (3-30 of a-z 0-9 _).")],
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="TOWNSQUARE_ADMIN_PASSWORD",
            help="Password (or env TOWNSQUARE_ADMIN_PASSWORD).",
        ),
    ],
    display_name: Annotated[str, typer.Option(help="Shown name.")] = "Administrator",
) -> None:
    """Create an administrator account, email already verified."""
    from townsquare.modules.accounts.admin import create_admin as create

    settings = _load_settings()
    try:
        user_id = asyncio.run(create(settings, email, username, password, display_name))
    except ValueError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(code=1) from exc
    typer.echo(f"Created admin {username} ({user_id}).")


@users_app.command("purge-deleted")
def purge_deleted() -> None:
    """Purge personal data of deleted accounts whose grace period is over."""
    from townsquare.modules.accounts.admin import purge_now

    count = asyncio.run(purge_now(_load_settings()))
    typer.echo(f"Purged {count} account(s).")


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())


if __name__ == "__main__":  # pragma: no cover - python -m townsquare.cli
    main()
