"""Pure-ASGI middleware: request ids, access logs and metrics, body size limit, security headers.

Pure ASGI (not ``BaseHTTPMiddleware``) keeps them cheap and streaming-safe.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from fastapi.routing import iter_route_contexts
from prometheus_client import Counter, Histogram
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from townsquare.kit.errors import problem_response
from townsquare.kit.models import new_id

log = structlog.get_logger("townsquare.access")

HTTP_REQUESTS = Counter(
    "townsquare_http_requests_total", "HTTP requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "townsquare_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestContextMiddleware:
    """Gives every request an id (or keeps a sane incoming ``X-Request-ID``), logs and counts it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Request(scope).headers.get("x-request-id", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else str(new_id())
        scope.setdefault("state", {})["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        response_started = False

        async def send_tracked(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            # Answered here rather than by Starlette's outermost error middleware, so a 500
            # still carries the request id and passes through the security headers.
            log.exception("unhandled_error", path=scope["path"])
            if response_started:
                raise
            response = problem_response(
                Request(scope),
                status=500,
                code="internal_error",
                detail="An unexpected error occurred.",
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = self._route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
            HTTP_LATENCY.labels(scope["method"], route).observe(elapsed)
            log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )
            structlog.contextvars.unbind_contextvars("request_id")

    def _route_template(self, scope: Scope) -> str:
        """The matched route's full path template, so metrics do not explode per id.

        Since FastAPI 0.137 ``include_router`` is lazy: ``scope["route"]`` is the router's own
        route, whose ``path`` lacks the include prefix. The prefixed template comes from the
        app's route contexts, indexed once (and again when routes are added later).
        """
        route: Any = scope.get("route")
        if route is None:
            return "unmatched"
        template = self._templates.get(id(route))
        if template is None:
            app: Any = scope.get("app")
            for context in iter_route_contexts(getattr(app, "routes", [])):
                path = context.path_format
                if path:
                    self._templates.setdefault(id(context.original_route), path)
            template = self._templates.setdefault(
                id(route), getattr(route, "path", None) or "unmatched"
            )
        return template


class BodySizeLimitMiddleware:
    """Answers 413 for bodies over the limit, whether declared by Content-Length or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Request(scope).headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not response_started:
                await self._too_large(scope, receive, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            Request(scope),
            status=413,
            code="payload_too_large",
            detail=f"Request bodies are limited to {self.max_bytes} bytes.",
        )
        await response(scope, receive, send)


class _BodyTooLarge(HTTPException):
    """Raised from ``receive``; an HTTPException so FastAPI's body parsing lets it through."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


_DOCS_PATHS = ("/docs", "/redoc", "/static-offline-docs")
_API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The docs pages are served with their own assets and one inline bootstrap script.
_DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    """Conservative headers for a JSON API; the docs pages get a CSP that lets them render."""

    def __init__(self, app: ASGIApp, *, hsts: bool) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_docs = scope["path"].startswith(_DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                headers.setdefault("Referrer-Policy", "no-referrer")
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Cross-Origin-Resource-Policy", "same-site")
                headers.setdefault("Content-Security-Policy", _DOCS_CSP if is_docs else _API_CSP)
                if self.hsts:
                    headers.setdefault(
                        "Strict-Transport-Security", "max-age=63072000; includeSubDomains"
                    )
            await send(message)

        await self.app(scope, receive, send_with_headers)
