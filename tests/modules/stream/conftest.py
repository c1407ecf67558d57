from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI

from tests.fixtures.servers import serve


@pytest.fixture
async def server(app: FastAPI) -> AsyncIterator[str]:
    """The ws:// base URL of a real uvicorn serving the test's app."""
    async with serve(app) as base:
        yield base
