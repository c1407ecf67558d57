"""Measurements without HTTP, against the same PostgreSQL and Redis as the server.

``python -m bench.inprocess COMMAND SPEC.json`` prints one JSON object:
- ``ceiling``: ``home_feed`` called directly by ``concurrency`` tasks for ``duration`` seconds
  (after a warm-up), closed loop: the feed's own data work, its ops/s and latencies;
- ``rebuild``: ``rebuild_home_feed`` for a list of users (makes their feeds "active");
- ``fanout``: a new published post by ``author_id`` (through the posts service, as the API
  writes it), then ``fan_out_post`` timed, ``runs`` times.

The feed module's names are looked up at run time (``feed_api``), so this file imports even
before the feed lands; a missing piece answers ``{"status": "skipped", "reason": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import uvloop


@dataclass
class FeedApi:
    home_feed: Callable[..., Awaitable[Any]] | None
    fan_out_post: Callable[..., Awaitable[int]] | None
    rebuild_home_feed: Callable[..., Awaitable[int]] | None
    chronological: Any
    ranked: Any
    problem: str | None = None


def feed_api() -> FeedApi:
    """The feed module's entry points, or what is missing."""
    import townsquare.models  # noqa: F401  (every table, so the ORM resolves foreign keys)

    try:
        from townsquare.modules.feed import service
    except ImportError as exc:
        return FeedApi(None, None, None, None, None, f"townsquare.modules.feed: {exc}")
    order = None
    try:
        from townsquare.modules.feed.schemas import FeedOrder

        order = FeedOrder
    except ImportError:
        order = getattr(service, "FeedOrder", None)
    return FeedApi(
        home_feed=getattr(service, "home_feed", None),
        fan_out_post=getattr(service, "fan_out_post", None),
        rebuild_home_feed=getattr(service, "rebuild_home_feed", None),
        chronological=getattr(order, "CHRONOLOGICAL", "chronological"),
        ranked=getattr(order, "RANKED", "ranked"),
    )


def settings_from(spec: dict[str, Any]) -> Any:
    from townsquare.config import Environment, Settings

    return Settings(
        _env_file=None,  # only what the bench says, never a developer's .env
        env=Environment.PRODUCTION,
        secret_key=spec["secret"],
        database_url=spec["database_url"],
        redis_url=spec.get("redis_url"),
        redis_key_prefix=spec.get("redis_prefix", "tsbench:"),
        rate_limit_enabled=False,
        log_level="WARNING",
        run_periodic_jobs=False,
        database_pool_size=max(10, int(spec.get("concurrency", 8))),
    )


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    index = min(len(values) - 1, max(0, round(q * len(values) + 0.5) - 1))
    return round(values[index] * 1000, 2)


# --- ceiling --------------------------------------------------------------------------------------


async def ceiling(spec: dict[str, Any]) -> dict[str, Any]:
    from townsquare.kit.pagination import PageRequest
    from townsquare.kit.platform import Platform

    api = feed_api()
    if api.home_feed is None:
        return {"status": "skipped", "reason": api.problem or "home_feed not found"}
    platform = Platform.build(settings_from(spec))
    viewers = [uuid.UUID(v) for v in spec["viewers"]]
    order = api.ranked if spec.get("order") == "ranked" else api.chronological
    concurrency = int(spec["concurrency"])
    rng = random.Random(spec.get("seed", 7))
    latencies: list[float] = []
    errors: dict[str, int] = {}
    recording = False
    stop_at = 0.0

    async def one() -> None:
        viewer = viewers[rng.randrange(len(viewers))]
        started = time.perf_counter()
        try:
            async with platform.database.unit_of_work(read_only=True) as uow:
                page = await api.home_feed(
                    uow.session, platform, viewer, order, PageRequest(limit=20, cursor=None)
                )
                if not getattr(page, "items", None) and spec.get("expect_items", True):
                    errors["empty_page"] = errors.get("empty_page", 0) + 1
        except Exception as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if errors[type(exc).__name__] == 1:
                print(f"home_feed failed: {exc!r}", file=sys.stderr)
        if recording:
            latencies.append(time.perf_counter() - started)

    async def worker() -> None:
        while time.perf_counter() < stop_at:
            await one()

    try:
        stop_at = time.perf_counter() + float(spec.get("warmup", 2.0))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        recording = True
        errors.clear()
        started = time.perf_counter()
        stop_at = started + float(spec["duration"])
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    finally:
        await platform.close()
    return {
        "status": "ok",
        "concurrency": concurrency,
        "ops": len(latencies),
        "seconds": elapsed,
        "errors": errors,
        "latencies": latencies,
    }


def merge_ceilings(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure from the processes that ran side by side."""
    skipped = [p for p in parts if p.get("status") != "ok"]
    if skipped:
        return skipped[0]
    latencies = sorted(v for p in parts for v in p["latencies"])
    seconds = max(p["seconds"] for p in parts)
    errors: dict[str, int] = {}
    for p in parts:
        for kind, count in p["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "status": "ok",
        "processes": len(parts),
        "concurrency": sum(p["concurrency"] for p in parts),
        "ops": len(latencies),
        "ops_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": _ms(latencies, 0.5),
        "p90_ms": _ms(latencies, 0.9),
        "p99_ms": _ms(latencies, 0.99),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else None,
        "errors": errors,
    }


# --- rebuild (making feeds active) ----------------------------------------------------------------


async def rebuild(spec: dict[str, Any]) -> dict[str, Any]:
    from townsquare.kit.platform import Platform

    api = feed_api()
    if api.rebuild_home_feed is None:
        return {"status": "skipped", "reason": api.problem or "rebuild_home_feed not found"}
    platform = Platform.build(settings_from(spec))
    users = [uuid.UUID(u) for u in spec["users"]]
    queue = list(reversed(users))
    items = 0
    errors: dict[str, int] = {}

    async def worker() -> None:
        nonlocal items
        while queue:
            user_id = queue.pop()
            try:
                async with platform.database.unit_of_work(read_only=True) as uow:
                    items += int(await api.rebuild_home_feed(uow.session, platform, user_id) or 0)
            except Exception as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                if errors[type(exc).__name__] == 1:
                    print(f"rebuild_home_feed failed: {exc!r}", file=sys.stderr)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(int(spec.get("concurrency", 16)))))
    finally:
        await platform.close()
    return {
        "status": "ok",
        "users": len(users),
        "items": items,
        "seconds": round(time.perf_counter() - started, 2),
        "errors": errors,
    }


# --- fan-out --------------------------------------------------------------------------------------


async def fanout(spec: dict[str, Any]) -> dict[str, Any]:
    from townsquare.kit.platform import Platform
    from townsquare.modules.posts import service as posts
    from townsquare.modules.posts.schemas import PostCreate

    api = feed_api()
    if api.fan_out_post is None:
        return {"status": "skipped", "reason": api.problem or "fan_out_post not found"}
    settings = settings_from(spec)
    platform = Platform.build(settings)
    author_id = uuid.UUID(spec["author_id"])
    runs: list[dict[str, Any]] = []
    try:
        for run in range(int(spec.get("runs", 5))):
            async with platform.database.unit_of_work() as uow:
                body = PostCreate(content=f"Fan-out run {run}: hello to all my followers.")
                post = await posts.create_post(
                    uow.session, author_id, body, max_length=settings.post_max_length
                )
                await uow.commit()
            started = time.perf_counter()
            async with platform.database.unit_of_work() as uow:
                pushed = await api.fan_out_post(uow.session, platform, post.id)
                await uow.commit()
            seconds = time.perf_counter() - started
            verified = await _verify(platform, spec, post.id)
            runs.append(
                {"seconds": round(seconds, 4), "pushed": pushed, "verified_sample": verified}
            )
            await asyncio.sleep(0.5)
    finally:
        await platform.close()
    times = sorted(r["seconds"] for r in runs)
    return {
        "status": "ok",
        "runs": runs,
        "min_s": times[0],
        "median_s": times[len(times) // 2],
        "max_s": times[-1],
    }


async def _verify(platform: Any, spec: dict[str, Any], post_id: uuid.UUID) -> str:
    """How many of a sample of followers' feeds hold the post (key layout ``feed:{user}``)."""
    sample = spec.get("verify_users", [])[:20]
    if platform.redis is None or not sample:
        return "n/a"
    prefix = spec.get("redis_prefix", "tsbench:")
    found = 0
    for user in sample:
        score = await platform.redis.zscore(f"{prefix}feed:{user}", str(post_id))
        found += score is not None
    return f"{found}/{len(sample)}"


COMMANDS: dict[str, Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "ceiling": ceiling,
    "rebuild": rebuild,
    "fanout": fanout,
}


def main() -> None:
    command, path = sys.argv[1], sys.argv[2]
    with open(path, "rb") as file:
        spec = json.load(file)
    result = uvloop.run(COMMANDS[command](spec))
    sys.stdout.write(json.dumps(result, default=str) + "\n")


if __name__ == "__main__":
    main()
