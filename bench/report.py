"""Machine facts, the results file, and the summary table with the targets of issue 4."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

from bench.config import ROOT

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "uvloop",
    "httptools",
    "pydantic",
    "sqlalchemy",
    "asyncpg",
    "aiosqlite",
    "redis",
    "orjson",
)

#: Issue 4's targets: (what, how it is checked).
TARGETS = {
    "feed_rate": "home feed >= 1,000 req/s at p99 <= 50 ms",
    "feed_vs_framework": "home feed >= 0.3 x framework ceiling",
    "fanout": "fan-out to 10,000 active feeds <= 0.5 s (median)",
    "sqlite_feed": "embedded (SQLite) home feed >= 300 req/s at p99 <= 50 ms",
}


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except OSError:
        return ""


def machine_info() -> dict[str, Any]:
    cpu_model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_total = ""
    with contextlib.suppress(OSError, IndexError):
        mem_total = Path("/proc/meminfo").read_text().splitlines()[0].split(":", 1)[1].strip()
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    dirty = _git("status", "--porcelain", "--", "src", "migrations")
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "memory": mem_total,
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "packages": versions,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_src_dirty": bool(dirty),
        "git_src_changes": dirty.splitlines()[:40],
    }


def service_versions(pg_dsn: str, redis_url: str) -> dict[str, Any]:
    import asyncio

    import asyncpg
    import redis

    found: dict[str, Any] = {}

    async def pg() -> str:
        conn = await asyncpg.connect(pg_dsn)
        try:
            return str(await conn.fetchval("SHOW server_version"))
        finally:
            await conn.close()

    try:
        found["postgresql"] = asyncio.run(pg())
    except Exception as exc:
        found["postgresql"] = f"unknown ({exc})"
    try:
        client = redis.Redis.from_url(redis_url)
        found["redis"] = client.info("server").get("redis_version")
        client.close()
    except Exception as exc:
        found["redis"] = f"unknown ({exc})"
    return found


def write_results(results: dict[str, Any], directory: Path, stamp: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{stamp}.json"
    path.write_bytes(
        orjson.dumps(results, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str)
    )
    return path


# --- the summary --------------------------------------------------------------------------------


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _ratio(value: float | None, ceiling: float | None) -> float | None:
    if not value or not ceiling:
        return None
    return round(value / ceiling, 2)


def add_ratios(results: dict[str, Any]) -> None:
    """Each scenario's best rate as a fraction of the framework and data ceilings."""
    for mode in ("postgres", "sqlite"):
        section = results.get(mode) or {}
        framework = ((section.get("scenarios") or {}).get("healthz") or {}).get("best") or {}
        data = section.get("data_ceiling") or {}
        for name, scenario in (section.get("scenarios") or {}).items():
            best = scenario.get("best") or {}
            rate = best.get("rate") if best else None
            scenario["vs_framework"] = (
                None if name == "healthz" else _ratio(rate, framework.get("rate"))
            )
            if name in ("feed", "feed_ranked"):
                ceiling = (
                    data.get("chronological") if name == "feed" else data.get("ranked")
                ) or {}
                scenario["vs_data"] = _ratio(rate, ceiling.get("ops_per_s"))


def check_targets(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    pg = results.get("postgres") or {}
    feed = (pg.get("scenarios") or {}).get("feed") or {}
    feed_rate = (feed.get("best") or {}).get("rate")
    fan = (pg.get("fanout") or {}).get("median_s")
    lite = (((results.get("sqlite") or {}).get("scenarios") or {}).get("feed") or {}).get("best")
    lite_rate = (lite or {}).get("rate")
    checks = {
        "feed_rate": (feed_rate, feed_rate is not None and feed_rate >= 1000),
        "feed_vs_framework": (
            feed.get("vs_framework"),
            feed.get("vs_framework") is not None and feed["vs_framework"] >= 0.3,
        ),
        "fanout": (fan, fan is not None and fan <= 0.5),
        "sqlite_feed": (lite_rate, lite_rate is not None and lite_rate >= 300),
    }
    return {
        key: {
            "target": TARGETS[key],
            "measured": value,
            "met": met if value is not None else None,
        }
        for key, (value, met) in checks.items()
    }


def summary(results: dict[str, Any]) -> str:
    lines: list[str] = []
    slo = results.get("config", {}).get("slo_p99_ms", 50)
    for mode, title in (("postgres", "PostgreSQL + Redis"), ("sqlite", "embedded SQLite")):
        section = results.get(mode)
        if not section:
            continue
        workers = section.get("workers")
        lines.append(f"\n{title} ({workers} worker(s)); best rate with p99 <= {slo} ms:")
        header = (
            f"  {'scenario':<13}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
            f"{'x frame':>9}{'x data':>8}{'sat. req/s':>12}  note"
        )
        lines.append(header)
        for name, scenario in (section.get("scenarios") or {}).items():
            best = scenario.get("best") or {}
            note = scenario.get("status", "")
            if note == "ok":
                note = ""
            lines.append(
                f"  {name:<13}{_fmt(best.get('rate')):>9}{_fmt(best.get('p50_ms'), 1):>9}"
                f"{_fmt(best.get('p99_ms'), 1):>9}{_fmt(best.get('errors')):>8}"
                f"{_fmt(scenario.get('vs_framework'), 2):>9}{_fmt(scenario.get('vs_data'), 2):>8}"
                f"{_fmt(scenario.get('saturation_rps')):>12}  {note}"
            )
        data = section.get("data_ceiling") or {}
        for order in ("chronological", "ranked"):
            ceiling = data.get(order) or {}
            if ceiling.get("status") == "ok":
                lines.append(
                    f"  data ceiling ({order}, home_feed in-process, "
                    f"{ceiling.get('concurrency')} tasks): {_fmt(ceiling.get('ops_per_s'))} ops/s,"
                    f" p50 {_fmt(ceiling.get('p50_ms'), 1)} ms,"
                    f" p99 {_fmt(ceiling.get('p99_ms'), 1)} ms"
                )
            elif ceiling:
                lines.append(f"  data ceiling ({order}): {ceiling.get('reason', ceiling)}")
        fan = section.get("fanout") or {}
        if fan.get("status") == "ok":
            lines.append(
                f"  fan-out of one post to {fan.get('active_feeds')} active feeds: "
                f"min {fan['min_s']:.3f} s, median {fan['median_s']:.3f} s,"
                f" max {fan['max_s']:.3f} s"
                f" (pushed {[r['pushed'] for r in fan['runs']]})"
            )
        elif fan:
            lines.append(f"  fan-out: {fan.get('reason', fan)}")
        live = section.get("realtime") or {}
        if live.get("delivery_ms"):
            delivery = live["delivery_ms"]
            lines.append(
                f"  message -> WebSocket delivery, {live.get('connected')} clients connected,"
                f" {_fmt(live.get('rate'))} msg/s: p50 {_fmt(delivery.get('p50'), 1)} ms,"
                f" p99 {_fmt(delivery.get('p99'), 1)} ms, max {_fmt(delivery.get('max'), 1)} ms;"
                f" {live.get('delivered')}/{live.get('messages_measured')} delivered"
            )
        elif live:
            lines.append(f"  real time: {live.get('status', live)}")
    lines.append("\nTargets:")
    for check in (results.get("targets") or {}).values():
        met = {True: "MET", False: "NOT MET", None: "n/a"}[check["met"]]
        lines.append(f"  [{met:^7}] {check['target']}  (measured: {_fmt(check['measured'], 3)})")
    return "\n".join(lines)
