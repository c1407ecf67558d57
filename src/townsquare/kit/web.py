"""HTTP plumbing shared by every module's endpoints: the per-request unit of work and helpers.

Every API route uses ``UnitOfWorkRoute``: the request gets one transaction, committed after the
endpoint returns a success (or an ``AppError`` marked ``keep_changes``), rolled back otherwise.
Work registered with ``uow.after_commit`` and outbox dispatch run only after that commit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

import structlog
from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncSession

from townsquare.kit.auth import InvalidToken, request_token_claims
from townsquare.kit.db import UnitOfWork
from townsquare.kit.errors import AppError, overloaded_response
from townsquare.kit.events import has_recorded_events
from townsquare.kit.platform import Platform

log = structlog.get_logger(__name__)
#: Requests that must not change anything (RFC 9110 safe methods) run in read-only units of work.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class UnitOfWorkRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        # Every unit of work needs a database connection (on SQLite, a write lock for writes):
        # when none comes free in time the answer is 503 ``overloaded`` with Retry-After, so
        # every such route documents it, whoever wrote the endpoint.
        kwargs["responses"] = {**overloaded_response(), **(kwargs.get("responses") or {})}
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint_handler = super().get_route_handler()

        async def handle_in_unit_of_work(request: Request) -> Response:
            platform: Platform = request.app.state.platform
            read_only = request.method in SAFE_METHODS
            async with platform.database.unit_of_work(read_only=read_only) as uow:
                request.state.uow = uow
                kept: AppError | None = None
                try:
                    response = await endpoint_handler(request)
                except AppError as exc:
                    if not exc.keep_changes:
                        raise
                    await _commit(uow, platform)
                    kept = exc
                else:
                    if response.status_code < 400:
                        await _commit(uow, platform)
            # After-commit work (outbox kick included) runs only when something was committed.
            if uow.committed:
                await _run_after_commit(uow)
            if kept is not None:
                raise kept
            _keep_limit_headers(request, response)
            return response

        return handle_in_unit_of_work


def _keep_limit_headers(request: Request, response: Response) -> None:
    """FastAPI merges headers that dependencies set on the injected ``Response`` only into
    answers it builds itself; an endpoint that returns a ready ``Response`` (orjson answers of
    ``kit.responses``) would lose the ``RateLimit-*`` headers, so they are added here too."""
    headers: dict[str, str] | None = getattr(request.state, "limit_headers", None)
    if headers:
        for name, value in headers.items():
            response.headers.setdefault(name, value)


async def _commit(uow: UnitOfWork, platform: Platform) -> None:
    events_recorded = has_recorded_events(uow.session)
    await uow.commit()
    if events_recorded:
        uow.after_commit(_kick(platform))


def _kick(platform: Platform) -> Callable[[], Awaitable[None]]:
    async def kick() -> None:
        platform.outbox.kick()

    return kick


async def _run_after_commit(uow: UnitOfWork) -> None:
    for callback in uow.take_after_commit():
        try:
            await callback()
        except Exception:
            # The change is committed; a failed side effect must not turn it into an error.
            log.exception("after_commit_failed")


# The dependencies are ``async def`` although they do not wait: FastAPI runs a plain ``def``
# dependency in a worker thread, a thread handoff per dependency on every request.


async def get_platform(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


async def get_uow(request: Request) -> UnitOfWork:
    uow: UnitOfWork = request.state.uow
    return uow


async def get_session(request: Request) -> AsyncSession:
    uow: UnitOfWork = request.state.uow
    return uow.session


@dataclass(frozen=True)
class ClientInfo:
    ip: str
    user_agent: str


async def get_client_info(request: Request) -> ClientInfo:
    # From a peer in TOWNSQUARE_TRUSTED_PROXIES, main.py's proxy middleware has already
    # made request.client the forwarded client; from anyone else it is the TCP peer.
    ip = request.client.host if request.client else "unknown"
    return ClientInfo(ip=ip, user_agent=request.headers.get("user-agent", "")[:500])


PlatformDep = Annotated[Platform, Depends(get_platform)]
UowDep = Annotated[UnitOfWork, Depends(get_uow)]
SessionDep = Annotated[AsyncSession, Depends(get_session)]
ClientDep = Annotated[ClientInfo, Depends(get_client_info)]


def limit_per_ip(scope: str, rule_setting: str) -> Any:
    """A route dependency that spends one unit of the IP's ``rule_setting`` limit.

    Successful answers carry the ``RateLimit-*`` headers; a full window answers 429.
    """

    async def spend(
        request: Request, response: Response, platform: PlatformDep, client: ClientDep
    ) -> None:
        rule: str = getattr(platform.settings, rule_setting)
        state = await platform.limiter.hit(rule, scope, client.ip)
        if state is not None:
            _limit_headers(request, response, state.headers())

    return Depends(spend)


def limit_per_account(scope: str, rule_setting: str) -> Any:
    """A route dependency that spends one unit of the signed-in account's ``rule_setting`` limit.

    Keyed by the user the access token names (signature and expiry checked, no database
    statement). As a route dependency it runs before the endpoint's own dependencies, the viewer
    included, so the limit is taken before the request's first SQL statement: a refused request
    opens no transaction and writes nothing. Without a valid token it spends nothing and lets
    the viewer dependency answer 401. Successful answers carry the ``RateLimit-*`` headers; a
    full window answers 429 ``rate_limited`` with ``Retry-After``.
    """

    async def spend(request: Request, response: Response, platform: PlatformDep) -> None:
        scheme, token = get_authorization_scheme_param(request.headers.get("authorization"))
        if scheme.lower() != "bearer" or not token:
            return
        try:
            user_id, _ = request_token_claims(request, token)
        except InvalidToken:
            return
        rule: str = getattr(platform.settings, rule_setting)
        state = await platform.limiter.hit(rule, scope, str(user_id))
        if state is not None:
            _limit_headers(request, response, state.headers())

    return Depends(spend)


def _limit_headers(request: Request, response: Response, headers: dict[str, str]) -> None:
    """The ``RateLimit-*`` headers on the answer, whichever way the endpoint builds it."""
    response.headers.update(headers)
    request.state.limit_headers = headers
