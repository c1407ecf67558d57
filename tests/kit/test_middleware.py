"""Request ids, the body size limit, security headers and CORS."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx

from tests.kit.helpers import AppFactory, running
from townsquare.config import Settings
from townsquare.kit.errors import PROBLEM_CONTENT_TYPE

# --- request ids


async def test_every_response_has_a_request_id(client: httpx.AsyncClient) -> None:
    first = await client.get("/healthz")
    second = await client.get("/api/v1/nowhere")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(len(request_id) >= 16 for request_id in ids)
    assert ids[0] != ids[1]
    assert second.json()["request_id"] == ids[1]


SANE_IDS = ["abc-123", "trace.id:42_x", "0" * 128, "01a1fe95-c397-7498-8c42-5086c2b449e4"]
UNSAFE_IDS = ["has spaces", "x" * 129, "a" * 300, "<script>", "semi;colon", "tab\there", "", "é"]


async def test_a_sane_incoming_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    for incoming in SANE_IDS:
        response = await client.get("/api/v1/nowhere", headers={"X-Request-ID": incoming})
        assert response.headers["x-request-id"] == incoming
        assert response.json()["request_id"] == incoming


async def test_an_unsafe_incoming_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for incoming in UNSAFE_IDS:
        response = await client.get(
            "/api/v1/nowhere", headers=[(b"X-Request-ID", incoming.encode())]
        )
        request_id = response.headers["x-request-id"]
        assert request_id != incoming, incoming
        assert request_id
        assert response.json()["request_id"] == request_id


# --- body size limit


def _register_body(size: int) -> bytes:
    """A registration JSON document of exactly ``size`` bytes (its password is far too long)."""
    skeleton = {
        "email": "big@example.org",
        "username": "big_body",
        "password": "",
        "display_name": "Big",
    }
    padding = size - len(json.dumps(skeleton).encode())
    assert padding > 0
    body = json.dumps({**skeleton, "password": "p" * padding}).encode()
    assert len(body) == size
    return body


async def _chunks(body: bytes, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(body), chunk_size):
        yield body[start : start + chunk_size]


JSON = {"content-type": "application/json"}


async def test_declared_body_over_the_limit_is_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = _register_body(settings.max_body_bytes + 1)
    response = await client.post("/api/v1/auth/register", content=body, headers=JSON)
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    problem = response.json()
    assert problem["code"] == "payload_too_large"
    assert problem["status"] == 413
    assert problem["request_id"] == response.headers["x-request-id"]


async def test_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = _register_body(settings.max_body_bytes + 64 * 1024)
    response = await client.post("/api/v1/auth/register", content=_chunks(body), headers=JSON)
    assert response.request.headers.get("content-length") is None
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert response.json()["code"] == "payload_too_large"


async def test_body_just_under_the_limit_is_read(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = _register_body(settings.max_body_bytes)
    declared = await client.post("/api/v1/auth/register", content=body, headers=JSON)
    streamed = await client.post("/api/v1/auth/register", content=_chunks(body), headers=JSON)
    for response in (declared, streamed):
        # Parsed and judged on its content: the password is too long, the size is fine.
        assert response.status_code == 422, response.text
        fields = [error["field"] for error in response.json()["errors"]]
        assert fields == ["body.password"]


async def test_a_lying_content_length_is_still_caught(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    body = _register_body(settings.max_body_bytes + 64 * 1024)
    response = await client.post(
        "/api/v1/auth/register",
        content=_chunks(body),
        headers={**JSON, "content-length": "10"},
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"


# --- security headers


async def test_api_responses_carry_strict_security_headers(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/healthz"),
        await client.get("/api/v1/nowhere"),
        await client.post("/api/v1/auth/login", json={}),
    ):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "frame-ancestors 'none'" in csp
        # Not production: no HSTS (it would pin browsers to HTTPS on a dev host).
        assert "strict-transport-security" not in response.headers


async def test_docs_render_without_the_api_csp(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" not in response.headers.get("content-security-policy", "")
    assert response.headers["x-content-type-options"] == "nosniff"
    openapi = await client.get("/openapi.json")
    assert openapi.status_code == 200
    assert openapi.json()["info"]["title"] == "Townsquare"


async def test_production_adds_hsts(app_factory: AppFactory) -> None:
    application = await app_factory(env="production", secret_key="s" * 40)
    async with running(application, started=True) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"].startswith("max-age=")


# --- CORS

ALLOWED = "https://app.example"


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_cors_allows_configured_origin_only(app_factory: AppFactory) -> None:
    application = await app_factory(cors_origins=[ALLOWED])
    async with running(application, started=True) as http:
        allowed = await http.options("/api/v1/auth/login", headers=_preflight(ALLOWED))
        denied = await http.options(
            "/api/v1/auth/login", headers=_preflight("https://evil.example")
        )
        simple = await http.get("/healthz", headers={"Origin": ALLOWED})
        foreign = await http.get("/healthz", headers={"Origin": "https://evil.example"})

    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers

    assert simple.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers


async def test_no_cors_origins_means_no_cors(client: httpx.AsyncClient) -> None:
    response = await client.options("/api/v1/auth/login", headers=_preflight(ALLOWED))
    assert "access-control-allow-origin" not in response.headers
    simple = await client.get("/healthz", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in simple.headers
