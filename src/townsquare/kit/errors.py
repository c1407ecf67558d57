"""Errors as RFC 9457 problem details with a stable machine ``code``.

Services raise ``AppError`` subclasses; ``install_error_handlers`` turns them (and framework
errors) into ``application/problem+json``. Clients never see a stack trace.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from http import HTTPStatus
from typing import Any, ClassVar

import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

PROBLEM_CONTENT_TYPE = "application/problem+json"
#: The ``detail`` of a 422 from request parsing (the request breaks the schema); a 422 raised by a
#: use case (``ValidationFailed``) carries its own message.
REQUEST_VALIDATION_DETAIL = "The request has invalid fields."
log = structlog.get_logger(__name__)


class FieldError(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. `body.email`.")
    message: str
    type: str = Field(description="Machine-readable kind of error, e.g. `missing`.")


class Problem(BaseModel):
    """RFC 9457 problem details, plus a stable ``code`` and the offending fields."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    code: str = Field(description="Stable machine-readable error code.")
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = None
    retry_after: int | None = Field(
        default=None,
        description="Seconds to wait (429, and 503 `overloaded`/`database_unavailable`).",
    )


class AppError(Exception):
    """Base of every error a client may see. Subclasses set ``status`` and ``code``."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    #: Keep the transaction's changes even though the request fails (e.g. revoking a session
    #: when a stolen refresh token is replayed). Rare, and always deliberate.
    keep_changes: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.code)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}


class BadRequest(AppError):
    status, code = 400, "bad_request"


class Unauthorized(AppError):
    status, code = 401, "unauthorized"


class Forbidden(AppError):
    status, code = 403, "forbidden"


class NotFound(AppError):
    """Also the answer for what exists but the viewer may not see: the two look the same."""

    status, code = 404, "not_found"


class Conflict(AppError):
    status, code = 409, "conflict"


class ValidationFailed(AppError):
    status, code = 422, "validation_failed"

    @classmethod
    def on(cls, field: str, message: str, kind: str = "invalid") -> ValidationFailed:
        return cls(message, errors=[FieldError(field=field, message=message, type=kind)])


class TooManyRequests(AppError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int, headers: dict[str, str] | None = None) -> None:
        merged = {"Retry-After": str(retry_after), **(headers or {})}
        super().__init__(f"Too many requests; retry in {retry_after} s.", headers=merged)
        self.retry_after = retry_after


def problem_response(
    request: Request | None,
    *,
    status: int,
    code: str,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
    retry_after: int | None = None,
) -> Response:
    request_id = getattr(request.state, "request_id", None) if request is not None else None
    body = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        instance=request.url.path if request is not None else None,
        request_id=request_id,
        errors=errors,
        retry_after=retry_after,
    )
    return Response(
        orjson.dumps(body.model_dump(exclude_none=True)),
        status_code=status,
        media_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _app_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AppError)
    return problem_response(
        request,
        status=exc.status,
        code=exc.code,
        detail=exc.detail,
        errors=exc.errors,
        headers=exc.headers,
        retry_after=getattr(exc, "retry_after", None),
    )


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(field=_location(err.get("loc", ())), message=err["msg"], type=err["type"])
        for err in exc.errors()
    ]
    return problem_response(
        request,
        status=422,
        code="validation_failed",
        detail=REQUEST_VALIDATION_DETAIL,
        errors=errors,
    )


_HTTP_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower())
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(
        request,
        status=exc.status_code,
        code=code.replace(" ", "_"),
        detail=detail,
        headers=headers,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app answers for this request's path, sorted.

    FastAPI registers one route per operation, so a path served by GET and PATCH has two
    routes, and Starlette's 405 names only the methods of the first one whose path matched
    (``PUT /api/v1/me`` answered ``Allow: GET``). RFC 9110 wants the target resource's methods:
    the union over every route the path matches.
    """
    path = request.scope.get("route_path") or request.url.path
    root_path = request.scope.get("root_path", "")
    if root_path and path.startswith(root_path):
        path = path[len(root_path) :]
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.router.routes):
        route_methods = route.methods
        regex = getattr(route, "path_regex", None)
        if route_methods and regex is not None and regex.match(path):
            methods |= route_methods
    return sorted(methods)


async def _overloaded(request: Request, exc: Exception) -> Response:
    """No database connection (or, on SQLite, no write lock) came free in time: the server is
    overloaded, not broken. Nothing was written: the transaction never got going."""
    log.warning("database_pool_exhausted", error=str(exc))
    return _retry_shortly(request, "overloaded", "The server is busy; retry shortly.")


#: SQLSTATEs of a lost or refused database connection: class 08 (connection exception) and
#: the server going away or not accepting yet (admin/crash shutdown, "cannot connect now":
#: "the database system is starting up / shutting down").
_UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03")
#: Modules whose socket errors are the database connection's (asyncpg connects through them).
_DRIVER_MODULES = ("asyncpg", "sqlalchemy")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, the DBAPI error a SQLAlchemy error wraps, and what each was raised from."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [
            e
            for e in (getattr(current, "orig", None), current.__cause__, current.__context__)
            if isinstance(e, BaseException)
        ]


def _raised_in_driver(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def is_database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "the database cannot be reached right now" (restart, failover,
    network cut) rather than a bug: a connection SQLAlchemy found dead and invalidated, a
    PostgreSQL connection error or shutdown, or a refused/reset/timed-out socket inside the
    driver. Such a request did not commit: its transaction died with the connection."""
    for cause in _causes(exc):
        if isinstance(cause, DBAPIError) and cause.connection_invalidated:
            return True
        sqlstate = getattr(cause, "sqlstate", None)
        if isinstance(sqlstate, str) and sqlstate.startswith(_UNAVAILABLE_SQLSTATES):
            return True
        if type(cause).__name__ == "InterfaceError" and "connection is closed" in str(cause):
            return True  # asyncpg's (and its SQLAlchemy adapter's) "connection is closed"
        if isinstance(
            cause, ConnectionError | TimeoutError | socket.gaierror
        ) and _raised_in_driver(cause):
            return True
    return False


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    """The database went away (restarted, failed over, unreachable): 503 with Retry-After, as
    for an overload. Service resumes by itself: the pool replaces the dead connections."""
    log.warning("database_unavailable", error_type=type(exc).__name__, error=str(exc)[:300])
    return _retry_shortly(
        request, "database_unavailable", "The database is unavailable; retry shortly."
    )


def _retry_shortly(request: Request, code: str, detail: str) -> Response:
    """503 with ``Retry-After: 1`` (header and body): nothing was committed, retry as it is."""
    return problem_response(
        request,
        status=503,
        code=code,
        detail=detail,
        headers={"Retry-After": "1"},
        retry_after=1,
    )


async def _operational_error(request: Request, exc: Exception) -> Response:
    if "database is locked" in str(exc):  # SQLite's busy timeout ran out waiting for a writer
        return await _overloaded(request, exc)
    return await _unhandled_error(request, exc)


async def _unhandled_error(request: Request, exc: Exception) -> Response:
    if is_database_unavailable(exc):
        return await _database_unavailable(request, exc)
    log.exception("unhandled_error", error_type=type(exc).__name__)
    return problem_response(
        request, status=500, code="internal_error", detail="An unexpected error occurred."
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(PoolTimeout, _overloaded)
    app.add_exception_handler(OperationalError, _operational_error)
    # Lost database connections surface as these (asyncpg's refused connect as a bare OSError);
    # ``_unhandled_error`` tells them from bugs. Registered by class so that Starlette answers
    # them without re-raising (only the catch-all ``Exception`` handler re-raises).
    app.add_exception_handler(DBAPIError, _unhandled_error)
    app.add_exception_handler(OSError, _unhandled_error)
    app.add_exception_handler(Exception, _unhandled_error)


#: OpenAPI ``responses`` entry documenting problem answers on a route.
def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def overloaded_response() -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entry for 503 ``overloaded`` (no database connection came free)."""
    response = problem_responses(503)
    response[503]["description"] = "Overloaded: no database connection came free in time."
    response[503]["headers"] = {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer", "minimum": 0},
        }
    }
    return response
