"""Fixtures of the accounts tests: applications built with their own settings (rate limits)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import Backend, _clean, make_settings
from tests.fixtures.mailbox import Mailbox
from townsquare.main import create_app

CLIENT_IP = "203.0.113.7"
AppFactory = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


def http_client(app: FastAPI, ip: str = CLIENT_IP) -> httpx.AsyncClient:
    """A client of ``app`` whose requests come from ``ip``."""
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def app_factory(backend: Backend, mailbox: Mailbox) -> AsyncIterator[AppFactory]:
    """``await app_factory(**setting_overrides)`` -> (app, client), torn down after the test."""
    built = []
    async with AsyncExitStack() as stack:

        async def build(**overrides: object) -> tuple[FastAPI, httpx.AsyncClient]:
            settings = make_settings(backend, mailbox, **overrides)
            application = create_app(settings)
            await stack.enter_async_context(application.router.lifespan_context(application))
            stack.push_async_callback(application.state.platform.outbox.wait_idle)
            client = await stack.enter_async_context(http_client(application))
            built.append(settings)
            return application, client

        yield build
    if built:
        await _clean(backend, built[0])
