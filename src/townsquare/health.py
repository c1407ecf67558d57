"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from pydantic import BaseModel

from townsquare.kit.errors import problem_response, problem_responses
from townsquare.kit.platform import Platform

router = APIRouter(tags=["operations"])


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


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Metrics"}},
)
async def metrics() -> Response:
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        # Several worker processes: add up what each one wrote to the shared directory.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
