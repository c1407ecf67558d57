"""Alembic environment: one set of migrations for SQLite and PostgreSQL, run async."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from townsquare.config import Settings
from townsquare.kit.db import create_engine
from townsquare.models import metadata

config = context.config


def _settings() -> Settings:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    return Settings(database_url=url) if url else Settings()


def _configure(connection: Connection | None = None, url: str | None = None) -> None:
    context.configure(
        connection=connection,
        url=url,
        target_metadata=metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables the same way
        # on both databases.
        render_as_batch=True,
        compare_type=True,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = create_engine(_settings())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(url=_settings().database_url)
    with context.begin_transaction():
        context.run_migrations()
else:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_online())
