"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.conftest import Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.kit.helpers import AppFactory, metric_sample, running
from townsquare.kit.errors import PROBLEM_CONTENT_TYPE
from townsquare.main import create_app

DEAD_REDIS = "redis://127.0.0.1:1/0"


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


async def test_readyz_checks_the_database_and_redis(
    client: httpx.AsyncClient, backend: Backend
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    expected = {"database": "ok"} | ({"redis": "ok"} if backend.redis_url else {})
    assert body["checks"] == expected


async def test_readyz_is_503_when_redis_is_down(app_factory: AppFactory) -> None:
    application = await app_factory(redis_url=DEAD_REDIS)
    async with running(application, started=True) as http:
        response = await http.get("/readyz")
        # Liveness does not depend on Redis.
        alive = await http.get("/healthz")
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["code"] == "not_ready"
    assert "redis" in problem["detail"]
    assert "database" not in problem["detail"]
    assert alive.status_code == 200


async def test_readyz_is_503_when_the_database_is_down(
    app: FastAPI, backend: Backend, mailbox: Mailbox, tmp_path
) -> None:
    unreachable = f"sqlite+aiosqlite:///{tmp_path}/missing-dir/townsquare.db"
    settings = make_settings(backend, mailbox, database_url=unreachable, redis_url=None)
    async with running(create_app(settings)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    problem = response.json()
    assert problem["code"] == "not_ready"
    assert "database" in problem["detail"]


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    before = (await client.get("/metrics")).text
    session_id = uuid.uuid4()
    await client.get("/healthz")
    await client.get("/healthz")
    unauthorized = await client.delete(f"/api/v1/auth/sessions/{session_id}")
    assert unauthorized.status_code == 401
    await client.get(f"/nowhere/{session_id}")

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    after = response.text
    name = "townsquare_http_requests_total"

    def delta(**labels: str) -> float:
        return metric_sample(after, name, **labels) - metric_sample(before, name, **labels)

    assert delta(method="GET", route="/healthz", status="200") == 2
    # The full template, prefix included, never the concrete id.
    assert delta(method="DELETE", route="/api/v1/auth/sessions/{session_id}", status="401") == 1
    assert delta(method="GET", route="unmatched", status="404") == 1
    assert str(session_id) not in after
    assert "townsquare_http_request_duration_seconds_bucket" in after
