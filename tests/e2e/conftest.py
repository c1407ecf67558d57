"""Fixtures of the tests that run real ``townsquare`` processes (PostgreSQL + Redis only)."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import REDIS_URL, RUN_ID, Backend


@pytest.fixture
def pg_backend(backend: Backend) -> Backend:
    """The PostgreSQL backend; the test is skipped on SQLite (several processes share one
    database and Redis carries the jobs and the real-time events between them)."""
    if backend.name != "postgres" or not REDIS_URL:
        pytest.skip("needs PostgreSQL and Redis (TOWNSQUARE_TEST_POSTGRES_URL/_REDIS_URL)")
    return backend


@pytest.fixture
def key_prefix() -> str:
    """A Redis key prefix of this test only: its processes share no queue or channel with
    other tests."""
    return f"ts-test-{RUN_ID}-{uuid.uuid4().hex[:6]}:"
