"""Alembic migrations: up, down and up again on fresh databases, matching the models exactly."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from tests.conftest import POSTGRES_URL, Backend, _admin_execute, _sqlalchemy_pg_url
from townsquare import migrate
from townsquare.config import Settings
from townsquare.kit.db import create_engine
from townsquare.models import metadata


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _state(connection: Connection) -> tuple[set[str], str | None]:
    tables = set(inspect(connection).get_table_names())
    version = None
    if "alembic_version" in tables:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return tables, version


async def _inspect(url: str) -> tuple[set[str], str | None, list[Any]]:
    engine = create_engine(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with engine.connect() as conn:
            tables, version = await conn.run_sync(_state)
            diff = await conn.run_sync(_diff) if version else []
            return tables, version, diff
    finally:
        await engine.dispose()


def _head(url: str) -> str:
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    assert head
    return head


async def _round_trip(url: str) -> None:
    head = _head(url)
    model_tables = set(metadata.tables)

    await asyncio.to_thread(migrate.upgrade, url, "head")
    tables, version, diff = await _inspect(url)
    assert version == head
    assert tables == model_tables | {"alembic_version"}
    assert diff == []

    await asyncio.to_thread(migrate.downgrade, url, "base")
    tables, version, _ = await _inspect(url)
    assert version is None
    assert tables <= {"alembic_version"}

    await asyncio.to_thread(migrate.upgrade, url, "head")
    tables, version, diff = await _inspect(url)
    assert version == head
    assert tables == model_tables | {"alembic_version"}
    assert diff == []


async def test_the_test_database_matches_the_models(backend: Backend) -> None:
    tables, version, diff = await _inspect(backend.database_url)
    assert version == _head(backend.database_url)
    assert set(metadata.tables) <= tables
    assert diff == []


async def test_round_trip_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    await _round_trip(f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")


@pytest.mark.skipif(not POSTGRES_URL, reason="TOWNSQUARE_TEST_POSTGRES_URL is not set")
async def test_round_trip_on_a_fresh_postgres_database() -> None:
    assert POSTGRES_URL
    name = f"townsquare_migrations_{uuid.uuid4().hex[:10]}"
    await _admin_execute(f'CREATE DATABASE "{name}"')
    try:
        await _round_trip(_sqlalchemy_pg_url(POSTGRES_URL, name))
    finally:
        await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_files_are_date_prefixed_with_one_head() -> None:
    directory = migrate.ROOT / "migrations" / "versions"
    files = sorted(p.name for p in directory.glob("*.py"))
    assert files
    for name in files:
        assert name[:8].isdigit(), name
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1
