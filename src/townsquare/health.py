"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import hmac
import os
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel

from townsquare.config import Environment, Settings
from townsquare.kit.errors import problem_response, problem_responses
from townsquare.kit.network import IPNetwork, address_in, parse_networks
from townsquare.kit.platform import Platform

router = APIRouter(tags=["operations"])
log = structlog.get_logger(__name__)


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health, summary="The process is alive")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database (and Redis, when configured) answer",
    responses=problem_responses(503),
)
async def readyz(request: Request) -> object:
    platform: Platform = request.app.state.platform
    checks: dict[str, str] = {}
    try:
        await platform.database.ping()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    if platform.redis is not None:
        try:
            await platform.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    failing = [name for name, result in checks.items() if result != "ok"]
    if failing:
        return problem_response(
            request, status=503, code="not_ready", detail="Not ready: " + ", ".join(failing)
        )
    return Health(status="ok", checks=checks)


@dataclass(frozen=True)
class MetricsAccess:
    """Who may read /metrics: a bearer token, client addresses, everyone, or nobody.

    With ``TOWNSQUARE_METRICS_TOKEN`` or ``TOWNSQUARE_METRICS_ALLOWED_IPS`` set (any
    environment), a request needs the token or an allowed address. With neither, metrics are
    open outside production and not served in production. Refused requests get the same 404 as
    an unknown path, so the endpoint is not advertised.
    """

    open: bool
    token: bytes | None
    networks: tuple[IPNetwork, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> MetricsAccess:
        token = settings.metrics_token
        access = cls(
            open=not settings.metrics_restricted and settings.env is not Environment.PRODUCTION,
            token=token.get_secret_value().encode() if token is not None else None,
            networks=parse_networks(settings.metrics_allowed_ips),
        )
        if not access.open and access.token is None and not access.networks:
            log.warning(
                "metrics_not_served",
                reason="TOWNSQUARE_ENV=production and neither TOWNSQUARE_METRICS_TOKEN nor "
                "TOWNSQUARE_METRICS_ALLOWED_IPS is set: /metrics answers 404",
            )
        return access

    def allows(self, request: Request) -> bool:
        if self.open:
            return True
        if self.networks and address_in(
            request.client.host if request.client else None, self.networks
        ):
            return True
        if self.token is None:
            return False
        scheme, _, presented = request.headers.get("authorization", "").partition(" ")
        # Constant time: how much of the token matched must not show in the answer's timing.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), self.token
        )


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    description="Open in development. In production only with `Authorization: Bearer "
    "<TOWNSQUARE_METRICS_TOKEN>` or from `TOWNSQUARE_METRICS_ALLOWED_IPS`; anyone else gets 404.",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics"},
        **problem_responses(404),
    },
)
async def metrics(request: Request) -> Response:
    access: MetricsAccess = request.app.state.metrics_access
    if not access.allows(request):
        return problem_response(request, status=404, code="not_found", detail="Not Found")
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several worker processes: add up what each one wrote to the shared directory.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
