"""The ``townsquare`` command: serve, db, users."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer
from pydantic import ValidationError

from townsquare.config import Settings, UnsafeProductionSettings

app = typer.Typer(help="Townsquare: a self-hostable social-network backend.", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
users_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(users_app, name="users")


def _load_settings() -> Settings:
    """Settings, or a clear message and exit 2 when they are unsafe or invalid."""
    try:
        return Settings()
    except (ValidationError, UnsafeProductionSettings) as exc:
        typer.secho(f"Configuration error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(code=2) from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Server processes (production: one per core).")] = 1,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
) -> None:
    """Serve the HTTP API (docs at /docs)."""
    import uvicorn

    settings = _load_settings()
    uvicorn.run(
        "townsquare.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        reload=reload,
        log_level=settings.log_level.lower(),
        proxy_headers=True,
        access_log=False,
    )


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
