"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI

from tests.conftest import Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.kit.helpers import AppFactory, metric_sample, running
from townsquare.config import Environment
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


PRODUCTION = {"env": Environment.PRODUCTION, "secret_key": "s" * 40}
METRICS_TOKEN = "a-metrics-token-of-some-length"


async def _metrics_from(app: FastAPI, address: str, **headers: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.get("/metrics", headers=headers)


def _assert_hidden(response: httpx.Response) -> None:
    """Refused exactly like an unknown path: nothing says metrics live here."""
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["code"] == "not_found"
    assert problem["detail"] == "Not Found"
    assert "townsquare_http_requests_total" not in response.text


async def test_production_serves_no_metrics_without_a_token_or_addresses(
    app_factory: AppFactory,
) -> None:
    app = await app_factory(**PRODUCTION)
    _assert_hidden(await _metrics_from(app, "203.0.113.7"))
    _assert_hidden(await _metrics_from(app, "127.0.0.1"))
    assert app.state.metrics_access.open is False
    async with running(app, started=True) as http:
        assert (await http.get("/healthz")).status_code == 200
        assert (await http.get("/readyz")).status_code == 200


async def test_metrics_answer_the_configured_token_only(app_factory: AppFactory) -> None:
    """Once a token is set it is needed, in development too."""
    for overrides in ({}, PRODUCTION):
        app = await app_factory(metrics_token=METRICS_TOKEN, **overrides)
        ok = await _metrics_from(app, "203.0.113.7", Authorization=f"Bearer {METRICS_TOKEN}")
        assert ok.status_code == 200, ok.text
        assert "townsquare_http_requests_total" in ok.text
        lower = await _metrics_from(app, "203.0.113.7", Authorization=f"bearer {METRICS_TOKEN}")
        assert lower.status_code == 200
        for refused in (
            {},
            {"Authorization": "Bearer "},
            {"Authorization": "Bearer wrong-token"},
            {"Authorization": f"Bearer {METRICS_TOKEN}x"},
            {"Authorization": f"Bearer {METRICS_TOKEN[:-1]}"},
            {"Authorization": f"Basic {METRICS_TOKEN}"},
            {"Authorization": METRICS_TOKEN},
        ):
            _assert_hidden(await _metrics_from(app, "203.0.113.7", **refused))


async def test_metrics_answer_the_allowed_addresses_only(app_factory: AppFactory) -> None:
    app = await app_factory(
        metrics_allowed_ips=["203.0.113.0/24", "2001:db8::1"],
        metrics_token=METRICS_TOKEN,
        **PRODUCTION,
    )
    for address in ("203.0.113.7", "2001:db8::1", "::ffff:203.0.113.8"):
        assert (await _metrics_from(app, address)).status_code == 200, address
    for address in ("198.51.100.7", "2001:db8::2", "127.0.0.1"):
        _assert_hidden(await _metrics_from(app, address))
    # Token or address: either one is enough.
    token = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    assert (await _metrics_from(app, "198.51.100.7", **token)).status_code == 200


async def test_metrics_addresses_are_the_clients_behind_trusted_proxies_only(
    app_factory: AppFactory,
) -> None:
    app = await app_factory(
        metrics_allowed_ips=["198.51.100.0/24"], trusted_proxies=["10.0.0.0/8"], **PRODUCTION
    )
    forwarded = {"X-Forwarded-For": "198.51.100.9"}
    assert (await _metrics_from(app, "10.0.0.2", **forwarded)).status_code == 200
    # An untrusted peer cannot claim an allowed address; nor is a trusted proxy itself allowed.
    _assert_hidden(await _metrics_from(app, "203.0.113.7", **forwarded))
    _assert_hidden(await _metrics_from(app, "10.0.0.2"))
    _assert_hidden(await _metrics_from(app, "10.0.0.2", **{"X-Forwarded-For": "203.0.113.9"}))
