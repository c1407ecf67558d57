"""The application factory: middleware, error handlers, routers. No business logic here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi_offline import FastAPIOffline
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from townsquare import health, wiring
from townsquare.config import Environment, Settings, get_settings
from townsquare.kit.errors import install_error_handlers, problem_responses
from townsquare.kit.logging import configure_logging
from townsquare.kit.middleware import (
    BodySizeLimitMiddleware,
    RequestContextMiddleware,
    SecurityHeadersMiddleware,
)
from townsquare.kit.periodic import Scheduler
from townsquare.kit.platform import Platform
from townsquare.modules.accounts import endpoints as accounts
from townsquare.modules.accounts import service as accounts_service
from townsquare.modules.bookmarks import endpoints as bookmarks
from townsquare.modules.comments import endpoints as comments
from townsquare.modules.feed import endpoints as feed
from townsquare.modules.messaging import endpoints as messaging
from townsquare.modules.notifications import endpoints as notifications
from townsquare.modules.posts import endpoints as posts
from townsquare.modules.profiles import endpoints as profiles
from townsquare.modules.reactions import endpoints as reactions
from townsquare.modules.social import endpoints as social
from townsquare.modules.stream import endpoints as stream
from townsquare.modules.topics import endpoints as topics

API_PREFIX = "/api/v1"
DESCRIPTION = """
Townsquare is a self-hostable social-network backend.

Errors are [RFC 9457](https://www.rfc-editor.org/rfc/rfc9457) `application/problem+json` with a
stable `code`. Lists are keyset-paginated: pass `next_cursor` back as `cursor`.
Authenticate with `Authorization: Bearer <access token>` from `POST /api/v1/auth/login`.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, json=settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        platform = Platform.build(settings)
        app.state.platform = platform
        app.state.settings = settings
        app.state.session_validator = accounts_service.session_validator()
        wiring.register_event_handlers(platform)
        scheduler = Scheduler(platform.database)
        if settings.run_periodic_jobs:
            # Every process relays (SKIP LOCKED makes that safe); with a job broker the
            # periodic jobs belong to the `townsquare worker` processes.
            platform.outbox.start_polling(settings.outbox_poll_seconds)
            if not settings.job_broker_url:
                wiring.register_periodic_jobs(platform, scheduler)
                scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()
            await platform.close()

    # FastAPIOffline serves the Swagger UI and ReDoc assets itself: /docs works without a CDN.
    app = FastAPIOffline(
        title="Townsquare",
        version="0.1.0",
        description=DESCRIPTION,
        debug=settings.debug,
        lifespan=lifespan,
        # BodySizeLimitMiddleware may answer any request so: documented on every operation.
        responses=problem_responses(413),
    )
    install_error_handlers(app)
    for router in (
        accounts.auth_router,
        accounts.me_router,
        profiles.router,
        social.router,
        feed.router,
        posts.router,
        comments.router,
        reactions.router,
        bookmarks.router,
        topics.router,
        messaging.router,
        stream.router,
        stream.presence_router,
        notifications.router,
        notifications.me_router,
        notifications.admin_router,
        accounts.admin_router,
    ):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(health.router)
    app.state.metrics_access = health.MetricsAccess.from_settings(settings)

    # Starlette wraps the last added outermost. From the outside in: forwarded headers (only
    # from TOWNSQUARE_TRUSTED_PROXIES), security headers (on every answer, 500s included),
    # request id + log + metrics, CORS, body size limit.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=[
                "X-Request-ID",
                "Retry-After",
                "RateLimit-Limit",
                "RateLimit-Remaining",
                "RateLimit-Reset",
            ],
            max_age=600,
        )
    app.add_middleware(RequestContextMiddleware)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.env is Environment.PRODUCTION)
    if settings.trusted_proxies:
        # Here rather than in the server (``serve`` turns uvicorn's own off): the rule holds
        # under any ASGI server. From a trusted peer, the client is the nearest untrusted
        # address of X-Forwarded-For and the scheme X-Forwarded-Proto; anyone else's are ignored.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    return app
