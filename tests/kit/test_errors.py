"""Every error is RFC 9457 problem+json with a stable code; no stack trace reaches a client."""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.conftest import Backend, make_settings
from tests.fixtures import problems
from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import signed_in_user, unique_username
from tests.kit.helpers import AppFactory, running
from townsquare.kit.errors import PROBLEM_CONTENT_TYPE, AppError, is_database_unavailable
from townsquare.kit.web import SessionDep, UnitOfWorkRoute
from townsquare.main import create_app

SECRET_DETAIL = "db password is hunter2"


class Teapot(AppError):
    status, code = 418, "teapot"


def _router() -> APIRouter:
    router = APIRouter(prefix="/_kit_test", route_class=UnitOfWorkRoute)

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError(SECRET_DETAIL)

    @router.get("/refused")
    async def refused() -> None:
        # A socket error that is not the database's (SMTP, an HTTP call): a bug, not an outage.
        raise ConnectionRefusedError(111, "Connection refused")

    @router.post("/lose-connection")
    async def lose_connection(session: SessionDep) -> None:
        # The server ends this very connection mid-transaction, as a restart would.
        await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))

    @router.get("/teapot")
    async def teapot() -> None:
        raise Teapot("Short and stout.", headers={"X-Brew": "earl-grey"})

    return router


def assert_problem(response: httpx.Response, status: int, code: str) -> dict:
    """``tests.fixtures.problems.assert_problem``, and every member RFC 9457 asks of ours."""
    body = problems.assert_problem(response, status, code)
    assert response.headers["content-type"] == PROBLEM_CONTENT_TYPE
    assert body["title"]
    assert body["type"] == "about:blank"
    assert body["request_id"]
    return body


async def test_unknown_path_is_a_problem_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/no-such-thing")
    body = assert_problem(response, 404, "not_found")
    assert body["title"] == "Not Found"
    assert body["instance"] == "/api/v1/no-such-thing"
    assert body["request_id"] == response.headers["x-request-id"]


async def test_wrong_method_is_a_problem_405(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")
    assert_problem(response, 405, "method_not_allowed")
    assert "GET" in response.headers["allow"]


async def test_validation_error_lists_every_bad_field(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/register",
        json={"email": "not-an-email", "username": "x", "password": "short", "extra": 1},
    )
    body = assert_problem(response, 422, "validation_failed")
    fields = {error["field"] for error in body["errors"]}
    assert {
        "body.email",
        "body.username",
        "body.password",
        "body.display_name",
        "body.extra",
    } <= fields
    for error in body["errors"]:
        assert error["message"]
        assert error["type"]
    missing = [e for e in body["errors"] if e["field"] == "body.display_name"]
    assert missing[0]["type"] == "missing"


async def test_query_validation_names_the_query_field(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    response = await client.get(
        "/api/v1/auth/sessions", params={"limit": "lots"}, headers=user.headers
    )
    body = assert_problem(response, 422, "validation_failed")
    assert [e["field"] for e in body["errors"]] == ["query.limit"]


async def test_malformed_json_is_a_problem_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/login",
        content=b'{"identifier": "alice", ',
        headers={"content-type": "application/json"},
    )
    body = assert_problem(response, 422, "validation_failed")
    assert body["errors"][0]["field"].startswith("body")


async def test_unhandled_exception_is_a_500_without_internals(app: FastAPI) -> None:
    app.include_router(_router())
    async with running(app, started=True) as http:
        response = await http.get("/_kit_test/crash")
    body = assert_problem(response, 500, "internal_error")
    assert body["title"] == "Internal Server Error"
    text = response.text
    assert SECRET_DETAIL not in text
    assert "Traceback" not in text
    assert "RuntimeError" not in text
    assert set(body) <= {"type", "title", "status", "detail", "code", "instance", "request_id"}
    # Even a crash answers with its request id and the security headers.
    assert response.headers["x-request-id"] == body["request_id"]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_app_error_keeps_its_status_code_detail_and_headers(app: FastAPI) -> None:
    app.include_router(_router())
    async with running(app, started=True) as http:
        response = await http.get("/_kit_test/teapot")
    body = assert_problem(response, 418, "teapot")
    assert body["detail"] == "Short and stout."
    assert response.headers["x-brew"] == "earl-grey"


async def test_no_free_database_connection_is_a_503_with_retry_after(
    app_factory: AppFactory,
) -> None:
    app = await app_factory(
        database_pool_size=1, database_max_overflow=0, database_pool_timeout_seconds=0.2
    )
    async with running(app, started=True) as http:
        # The only pooled connection is taken for as long as the request waits.
        async with app.state.platform.database.engine.connect():
            response = await http.get("/api/v1/topics/trending")
        body = assert_problem(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
        assert body["retry_after"] == 1
        # Once the connection is back, the same request is served.
        assert (await http.get("/api/v1/topics/trending")).status_code == 200


async def test_lost_database_connection_is_a_503_with_retry_after_and_the_pool_recovers(
    app: FastAPI,
) -> None:
    if app.state.settings.is_sqlite:
        pytest.skip("a PostgreSQL server connection to lose")
    app.include_router(_router())
    async with running(app, started=True) as http:
        response = await http.post("/_kit_test/lose-connection")
        body = assert_problem(response, 503, "database_unavailable")
        assert response.headers["retry-after"] == "1"
        assert body["retry_after"] == 1
        assert "terminat" not in response.text  # no internals
        # The dead connection was dropped from the pool: the next request is served.
        assert (await http.get("/api/v1/topics/trending")).status_code == 200


async def test_an_unreachable_database_is_a_quick_503_not_a_hang(
    backend: Backend, mailbox: Mailbox
) -> None:
    if backend.name != "postgres":
        pytest.skip("PostgreSQL's connect timeout")
    # A "server" that takes the connection and never says a word (a host gone silent).
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/postgres"
    settings = make_settings(
        backend, mailbox, database_url=url, database_connect_timeout_seconds=0.5
    )
    try:
        async with running(create_app(settings)) as http:
            started = time.monotonic()
            response = await http.get("/api/v1/topics/trending")
            assert_problem(response, 503, "database_unavailable")
            assert response.headers["retry-after"] == "1"
            ready = await http.get("/readyz")
            assert_problem(ready, 503, "not_ready")
            # Bounded by the connect timeout, not asyncpg's 60 s default (coarse bound).
            assert time.monotonic() - started < 30
    finally:
        silent.close()


async def test_a_socket_error_outside_the_database_driver_stays_a_500(app: FastAPI) -> None:
    app.include_router(_router())
    async with running(app, started=True) as http:
        response = await http.get("/_kit_test/refused")
    assert_problem(response, 500, "internal_error")


def test_database_unavailable_is_told_from_other_errors() -> None:
    class PostgresError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    for sqlstate in ("08006", "08003", "57P01", "57P03"):
        assert is_database_unavailable(PostgresError(sqlstate))
        wrapped = DBAPIError("SELECT 1", {}, PostgresError(sqlstate))
        assert is_database_unavailable(wrapped)
    assert is_database_unavailable(
        DBAPIError("SELECT 1", {}, Exception("gone"), connection_invalidated=True)
    )
    # A constraint, a bad query, a socket error of someone else: not an outage.
    assert not is_database_unavailable(DBAPIError("INSERT", {}, PostgresError("23505")))
    assert not is_database_unavailable(DBAPIError("SELEC", {}, PostgresError("42601")))
    assert not is_database_unavailable(ConnectionRefusedError(111, "Connection refused"))
    assert not is_database_unavailable(RuntimeError("boom"))


async def test_sqlite_busy_timeout_is_a_503_not_a_500(app_factory: AppFactory) -> None:
    # A writer of this process waits in line for the pool's wait plus the busy timeout.
    app = await app_factory(sqlite_busy_timeout_ms=100, database_pool_timeout_seconds=0.1)
    if not app.state.settings.is_sqlite:
        pytest.skip("SQLite's single writer lock")
    async with running(app, started=True) as http:
        # Another connection holds the write lock for longer than the busy timeout.
        async with app.state.platform.database.unit_of_work() as holder:
            await holder.session.execute(text("SELECT 1"))
            name = unique_username()
            response = await http.post(
                "/api/v1/auth/register",
                json={
                    "email": f"{name}@example.org",
                    "username": name,
                    "password": "correct horse battery staple",
                    "display_name": "Busy",
                },
            )
        assert_problem(response, 503, "overloaded")
        assert response.headers["retry-after"] == "1"
