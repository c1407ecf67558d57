"""Helpers for the platform-kit tests: test-local apps and clients, metric samples."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

CLIENT_ADDRESS = ("203.0.113.7", 50000)
#: The ``app_factory`` fixture: ``await app_factory(**setting_overrides)`` gives a started app.
AppFactory = Callable[..., Awaitable[FastAPI]]


@asynccontextmanager
async def running(app: FastAPI, *, started: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    """A client for ``app`` that answers like a server: app exceptions become responses.

    ``started``: the app's lifespan already runs (e.g. the ``app`` fixture); otherwise it is
    started here and stopped on exit.
    """
    transport = httpx.ASGITransport(app=app, client=CLIENT_ADDRESS, raise_app_exceptions=False)
    if started:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
        return
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
        await app.state.platform.outbox.wait_idle()


def metric_sample(exposition: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0
