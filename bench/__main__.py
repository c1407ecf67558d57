"""``make bench`` (``python -m bench``): the whole benchmark of issue 4, start to finish.

1. dataset on a fresh PostgreSQL database (``bench.dataset``), tokens minted for its sessions;
2. the data ceiling: ``home_feed`` in-process (no HTTP), after making the viewers' feeds active;
3. the server as in production (``townsquare serve --workers N``), then for ``healthz`` (the
   framework ceiling) and each scenario a step search for the best rate at p99 <= SLO;
4. fan-out of one celebrity post to all followers' active feeds, several runs;
5. embedded mode: a smaller SQLite dataset, one worker, no Redis, the home feed scenario;
6. ``bench/results/<UTC stamp>.json`` and a summary table against the targets.

Settings come from ``BENCH_*`` variables (see ``bench/config.py`` and ``docs/performance.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.config import ROOT, BenchConfig, load_config
from bench.dataset import (
    DatasetSpec,
    Manifest,
    asyncpg_dsn,
    build_postgres,
    build_sqlite,
)
from bench.inprocess import feed_api, merge_ceilings
from bench.report import (
    add_ratios,
    check_targets,
    machine_info,
    service_versions,
    summary,
    write_results,
)
from bench.scenarios import Request, build, mint_tokens
from bench.search import StepRunner, step_search
from bench.server import Server, server_env, start_server


def banner(text: str) -> None:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n=== {text}   [load average {load}]", flush=True)


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def wait_until_quiet(limit_s: float) -> dict[str, Any]:
    """Wait (up to ``limit_s``) for the 1-minute load average to fall under 0.5: figures taken
    while something else keeps the cores busy are not this server's."""
    started = time.perf_counter()
    while limit_s > 0 and os.getloadavg()[0] > 0.5 and time.perf_counter() - started < limit_s:
        time.sleep(5)
    return {"waited_s": round(time.perf_counter() - started), "load_average": os.getloadavg()}


# --- helpers around subprocesses ------------------------------------------------------------------


def inprocess(command: str, spec: dict[str, Any], work: Path, parts: int = 1) -> list[Any]:
    """Run ``bench.inprocess COMMAND`` in ``parts`` processes side by side (spec per part)."""
    work.mkdir(parents=True, exist_ok=True)
    processes = []
    for index in range(parts):
        path = work / f"inprocess-{command}-{index}.json"
        part = dict(spec)
        if "users" in spec:
            part["users"] = spec["users"][index::parts]
        if "concurrency" in spec:
            part["concurrency"] = max(1, int(spec["concurrency"]) // parts)
        part["seed"] = index + 11
        path.write_text(json.dumps(part))
        processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "bench.inprocess", command, str(path)],
                cwd=work,
                env=_clean_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for process in processes:
        out, err = process.communicate(timeout=1800)
        if process.returncode != 0 or not out.strip():
            raise RuntimeError(f"bench.inprocess {command} failed: {err[-3000:]}")
        if err.strip():
            print("  " + err.strip()[-1500:].replace("\n", "\n  "), file=sys.stderr)
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNSQUARE_")}
    env["PYTHONPATH"] = str(ROOT) + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def probe(server: Server, request: Request) -> tuple[int, str]:
    conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        headers = {"Accept": "application/json"}
        body = None
        if request.token:
            headers["Authorization"] = f"Bearer {request.token}"
        if request.body is not None:
            body = json.dumps(request.body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(request.method, request.path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.read()[:500].decode("utf-8", "replace")
    finally:
        conn.close()


def wait_idle(server: Server, limit_s: float = 120.0) -> float:
    """Wait until the server answers ``/healthz`` quickly again (an overloaded step leaves a
    backlog that would otherwise bleed into the next one): five answers in a row under 10 ms,
    each on a new connection so that every worker gets asked. Returns the seconds waited."""
    started = time.perf_counter()
    fast = 0
    while fast < 5 and time.perf_counter() - started < limit_s:
        began = time.perf_counter()
        try:
            status, _ = probe(server, Request("GET", "/healthz"))
        except OSError:
            status = 0
        fast = fast + 1 if status == 200 and time.perf_counter() - began < 0.010 else 0
        if fast == 0:
            time.sleep(0.2)
    return round(time.perf_counter() - started, 1)


def clear_redis(url: str, prefix: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    removed = 0
    try:
        batch: list[bytes] = []
        for key in client.scan_iter(match=prefix + "*", count=2000):
            batch.append(key)
            if len(batch) >= 2000:
                removed += client.unlink(*batch)
                batch = []
        if batch:
            removed += client.unlink(*batch)
    finally:
        client.close()
    return removed


def outbox_pending(database_url: str, pg_url: str, database: str) -> int | None:
    if not database_url.startswith("postgresql"):
        return None
    import asyncpg

    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(pg_url, database))
        try:
            return int(
                await conn.fetchval(
                    "SELECT count(*) FROM outbox_events "
                    "WHERE dispatched_at IS NULL AND dead_at IS NULL"
                )
            )
        finally:
            await conn.close()

    return asyncio.run(count())


def wait_for_outbox(config: BenchConfig, database_url: str, limit_s: float = 60) -> dict[str, Any]:
    """After a writing step: what the outbox still had, and how long it took to drain."""
    pending = outbox_pending(database_url, config.pg_url, config.database)
    started = time.perf_counter()
    left = pending
    while left and time.perf_counter() - started < limit_s:
        time.sleep(0.5)
        left = outbox_pending(database_url, config.pg_url, config.database)
    return {
        "outbox_pending": pending,
        "outbox_drain_s": round(time.perf_counter() - started, 1),
        "outbox_left": left,
    }


def celebrity_followers(config: BenchConfig, celebrity_id: str) -> list[str]:
    import asyncpg

    async def fetch() -> list[str]:
        conn = await asyncpg.connect(asyncpg_dsn(config.pg_url, config.database))
        try:
            rows = await conn.fetch(
                "SELECT follower_id FROM follows WHERE followee_id = $1 AND status = 'active'",
                uuid.UUID(celebrity_id),
            )
            return [str(r["follower_id"]) for r in rows]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def apply_pg_settings(config: BenchConfig) -> dict[str, str]:
    """``ALTER DATABASE`` the bench database to ``BENCH_PG_SETTINGS`` (and nothing else)."""
    import asyncpg

    items = [item.strip() for item in config.pg_settings.split(";") if item.strip()]
    wanted = dict(item.split("=", 1) for item in items)

    async def apply() -> dict[str, str]:
        conn = await asyncpg.connect(asyncpg_dsn(config.pg_url))
        try:
            await conn.execute(f'ALTER DATABASE "{config.database}" RESET ALL')
            for name, value in wanted.items():
                if not name.replace("_", "").replace(".", "").isalnum():
                    raise ValueError(f"not a setting name: {name}")
                await conn.execute(
                    f'ALTER DATABASE "{config.database}" SET {name} = '
                    + "'"
                    + value.replace("'", "''")
                    + "'"
                )
        finally:
            await conn.close()
        return wanted

    return asyncio.run(apply())


def database_exists(config: BenchConfig) -> bool:
    import asyncpg

    async def check() -> bool:
        conn = await asyncpg.connect(asyncpg_dsn(config.pg_url))
        try:
            return bool(
                await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", config.database)
            )
        finally:
            await conn.close()

    return asyncio.run(check())


def settle_leftover_work(config: BenchConfig) -> dict[str, int]:
    """Mark the background work an earlier run left behind as done, and refresh the planner's
    statistics (a reused dataset only).

    A run stopped at saturation leaves outbox events and deliveries pending; the next run's
    worker would spend its time on them, and the figures would measure two runs at once. Runs
    add tens of thousands of rows, and this machine's PostgreSQL runs without autovacuum: with
    the statistics of the dataset's creation the planner picks bad plans (seen: 18 ms instead
    of 0.9 ms for the pending-email lookup of a chat message).
    """
    import asyncpg

    async def settle() -> dict[str, int]:
        conn = await asyncpg.connect(asyncpg_dsn(config.pg_url, config.database))
        try:
            deliveries = await conn.execute(
                "UPDATE event_deliveries SET done_at = now() "
                "WHERE done_at IS NULL AND dead_at IS NULL"
            )
            events = await conn.execute(
                "UPDATE outbox_events SET dispatched_at = now() WHERE dispatched_at IS NULL"
            )
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
        return {"deliveries": int(deliveries.split()[-1]), "events": int(events.split()[-1])}

    return asyncio.run(settle())


# --- phases ---------------------------------------------------------------------------------------


def _setting_default(name: str, fallback: Any) -> Any:
    from townsquare.config import Settings

    found = Settings.model_fields.get(name)
    return fallback if found is None else found.default


def dataset_spec(config: BenchConfig, *, sqlite: bool = False) -> DatasetSpec:
    users = config.sqlite_users if sqlite else config.users
    return DatasetSpec(
        users=users,
        posts=config.sqlite_posts if sqlite else config.posts,
        avg_follows=config.sqlite_avg_follows if sqlite else config.avg_follows,
        avg_friends=min(config.avg_friends, users // 10),
        avg_reactions=config.avg_reactions,
        avg_comments=config.avg_comments,
        days=config.days,
        load_users=min(config.load_users, users - 2),
        author_followers=min(config.author_followers, (users - 2) // (5 if sqlite else 1)),
        seed=config.seed,
    )


def dataset_facts(manifest: Manifest) -> dict[str, Any]:
    return {
        "spec": manifest.spec,
        "rows": manifest.rows,
        "generation_seconds": manifest.generation_seconds,
        "generated_at": manifest.generated_at,
        "celebrity_followers": manifest.celebrity_followers,
        "author_followers": manifest.author_followers,
        "load_users": len(manifest.load_users),
        "followers_distribution": manifest.follower_stats,
    }


def warm_up(server: Server, manifest: Manifest, tokens: dict[str, str], names: list[str]) -> None:
    """A few requests of every scenario before measuring anything (imports, pools, caches)."""
    for name in names:
        for request in build(name, manifest, tokens).requests[:20]:
            with contextlib.suppress(OSError):
                probe(server, request)
    wait_idle(server)


def run_scenarios(
    names: list[str],
    server: Server,
    manifest: Manifest,
    tokens: dict[str, str],
    config: BenchConfig,
    *,
    mode: str,
    before: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    found: dict[str, Any] = {}
    warm_up(server, manifest, tokens, [n for n in names if not build(n, manifest, tokens).writes])
    log_offset = 0
    for name in names:
        banner(f"{mode}: {name}")
        scenario = build(name, manifest, tokens)
        try:
            if before is not None:
                before(name)
            status, body = probe(server, scenario.requests[0])
            if status not in scenario.expect:
                print(f"  skipped: probe answered {status}: {body[:300]}")
                found[name] = {
                    "status": f"skipped: probe answered {status}",
                    "probe_body": body,
                    "description": scenario.description,
                }
                continue
            runner = StepRunner(scenario, server.host, server.port, config, config.work_dir)

            def between(writes: bool = scenario.writes) -> dict[str, Any]:
                found = wait_for_outbox(config, manifest.database_url) if writes else {}
                found["settle_s"] = wait_idle(server)
                return found

            result = step_search(runner, config, label=f"{mode}/{name}", between=between)
            result.update(status="ok", description=scenario.description)
            if (
                mode == "pg"
                and config.profile_seconds > 0
                and name == profiled_scenario(config)
                and result["best"]
            ):
                result["profile"] = profile_worker(server, runner, result["best"]["rate"], config)
        except Exception as exc:
            traceback.print_exc()
            result = {"status": f"error: {type(exc).__name__}: {exc}"}
        log_offset, problems, samples = server.log_problems(log_offset)
        if problems:
            result["server_log"] = {"counts": problems, "samples": samples}
            print(f"  server log: {problems}")
        found[name] = result
    return found


def profiled_scenario(config: BenchConfig) -> str:
    return "feed" if "feed" in config.scenarios else config.scenarios[0]


def profile_worker(
    server: Server, runner: StepRunner, best_rate: float, config: BenchConfig
) -> dict[str, Any]:
    """py-spy on one worker while the scenario runs at 80% of its best rate."""
    pid = server.worker_pids()[0]
    svg = config.results_dir / f"{config.stamp}-{runner.scenario.name}.svg"
    rate = round(best_rate * 0.8, 1)
    load: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: load.update(runner(rate, config.profile_seconds + 2)), daemon=True
    )
    thread.start()
    time.sleep(config.warmup_seconds + 1)
    command = [
        str(Path(sys.executable).parent / "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(int(config.profile_seconds)),
        "--rate",
        "200",
        "--nonblocking",
        "--output",
        str(svg),
    ]
    print(f"  profiling worker {pid} at {rate}/s: {' '.join(command)}", flush=True)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    thread.join()
    return {
        "worker_pid": pid,
        "rate": rate,
        "svg": _shown(svg) if svg.exists() else None,
        "py_spy_exit": done.returncode,
        "py_spy_output": (done.stdout + done.stderr)[-1500:],
        "load_during_profile": {k: load.get(k) for k in ("achieved_rps", "p50_ms", "p99_ms")},
    }


def data_ceiling(
    config: BenchConfig, common: dict[str, Any], viewers: list[str], order: str
) -> dict[str, Any]:
    levels = []
    for concurrency in config.ceiling_concurrency:
        spec = {
            **common,
            "viewers": viewers,
            "order": order,
            "concurrency": concurrency,
            "duration": config.ceiling_seconds,
            "warmup": min(3.0, config.ceiling_seconds / 2),
        }
        merged = merge_ceilings(inprocess("ceiling", spec, config.work_dir, config.workers))
        if merged.get("status") != "ok":
            return merged
        print(
            f"  home_feed {order:<13} x{concurrency:<3} {merged['ops_per_s']:>9.1f} ops/s  "
            f"p50 {merged['p50_ms']:>7.1f} ms  p99 {merged['p99_ms']:>7.1f} ms  "
            f"errors {merged['errors'] or 0}",
            flush=True,
        )
        levels.append(merged)
    best = max(levels, key=lambda level: level["ops_per_s"])
    return {**best, "levels": levels}


def rebuild_feeds(config: BenchConfig, common: dict[str, Any], users: list[str]) -> dict[str, Any]:
    spec = {**common, "users": users, "concurrency": config.rebuild_concurrency}
    parts = inprocess("rebuild", spec, config.work_dir, config.workers)
    if any(p.get("status") != "ok" for p in parts):
        return parts[0]
    seconds = max(p["seconds"] for p in parts)
    errors: dict[str, int] = {}
    for p in parts:
        for kind, count in p["errors"].items():
            errors[kind] = errors.get(kind, 0) + count
    return {
        "status": "ok",
        "users": len(users),
        "seconds": seconds,
        "feeds_per_s": round(len(users) / seconds, 1) if seconds else None,
        "items": sum(p["items"] for p in parts),
        "errors": errors,
    }


def run_postgres(config: BenchConfig, secret: str) -> dict[str, Any]:
    section: dict[str, Any] = {"workers": config.workers, "scenarios": {}}
    manifest_path = config.work_dir / "manifest-postgres.json"
    banner(f"dataset: {config.users:,} users, {config.posts:,} posts on PostgreSQL")
    reusable = None
    if config.reuse_data and manifest_path.exists() and database_exists(config):
        reusable = Manifest.load(manifest_path)
        if reusable.spec != asdict(dataset_spec(config)):
            print("  not reusing the last dataset: it was made with other BENCH_* sizes")
            reusable = None
    if reusable is not None:
        manifest = reusable
        print(f"  reusing {config.database} (BENCH_REUSE_DATA=1), made {manifest.generated_at}")
        section["dataset_reused"] = True
        section["settled_leftover_work"] = settled = settle_leftover_work(config)
        print(f"  settled what earlier runs left pending: {settled}")
    else:
        manifest = build_postgres(dataset_spec(config), config.pg_url, config.database)
        manifest.save(manifest_path)
        print(f"  dataset generated in {manifest.generation_seconds:.1f} s: {manifest.rows}")
    section["dataset"] = dataset_facts(manifest)
    section["pg_settings"] = apply_pg_settings(config)
    if section["pg_settings"]:
        print(f"  database settings: {section['pg_settings']}")
    tokens = mint_tokens(manifest, secret)
    print(f"  cleared {clear_redis(config.redis_url, config.redis_prefix)} old bench Redis keys")
    common = {
        "secret": secret,
        "database_url": manifest.database_url,
        "redis_url": config.redis_url,
        "redis_prefix": config.redis_prefix,
    }
    viewers = [u["id"] for u in manifest.load_users]
    api = feed_api()
    section["feed_module"] = api.problem or "present"
    feed_ready = api.home_feed is not None

    primed_at = [-1e9]
    feed_ttl = float(_setting_default("feed_ttl_seconds", 900))

    def prime(_: str = "") -> None:
        """Make the viewers' feeds active (steady state: people who read their feed have one);
        again only when half the feed TTL has passed (reads keep read feeds alive)."""
        if api.rebuild_home_feed is None or time.perf_counter() - primed_at[0] < feed_ttl / 2:
            return
        primed = rebuild_feeds(config, common, viewers)
        primed_at[0] = time.perf_counter()
        section.setdefault("prime", []).append(primed)
        print(f"  made {len(viewers)} viewers' feeds active: {primed}")

    banner("data ceiling: home_feed in-process, no HTTP")
    if feed_ready:
        prime()
        section["data_ceiling"] = {
            "chronological": data_ceiling(config, common, viewers, "chronological")
        }
        if "feed_ranked" in config.scenarios:
            section["data_ceiling"]["ranked"] = data_ceiling(config, common, viewers, "ranked")
    else:
        section["data_ceiling"] = {"chronological": {"status": "skipped", "reason": api.problem}}
        print(f"  skipped: {api.problem}")

    banner(f"server: townsquare serve --workers {config.workers} (production settings)")
    env = server_env(
        secret=secret,
        database_url=manifest.database_url,
        redis_url=config.redis_url,
        redis_prefix=config.redis_prefix,
    )
    server = start_server(
        env=env,
        host=config.host,
        port=config.port,
        workers=config.workers,
        log_path=config.work_dir / f"server-postgres-{config.stamp}.log",
        cwd=config.work_dir,
    )
    print(f"  ready: {server.base_url}, workers {server.worker_pids()}")

    def before(name: str) -> None:
        if name in ("feed", "feed_ranked") and feed_ready:
            prime()

    try:
        section["scenarios"] = run_scenarios(
            ["healthz", *config.scenarios],
            server,
            manifest,
            tokens,
            config,
            mode="pg",
            before=before,
        )
    finally:
        server.stop()

    banner(f"fan-out: one post by the celebrity to {manifest.celebrity_followers:,} followers")
    if config.fanout_runs <= 0:
        section["fanout"] = {"status": "skipped", "reason": "BENCH_FANOUT_RUNS=0"}
        print("  skipped (BENCH_FANOUT_RUNS=0)")
    elif api.fan_out_post is not None and api.rebuild_home_feed is not None:
        followers = celebrity_followers(config, manifest.celebrity["id"])
        activated = rebuild_feeds(config, common, followers)
        print(f"  activated {len(followers):,} feeds: {activated}")
        spec = {
            **common,
            "author_id": manifest.celebrity["id"],
            "runs": config.fanout_runs,
            "verify_users": followers[:20],
        }
        fan = inprocess("fanout", spec, config.work_dir)[0]
        fan["active_feeds"] = len(followers)
        fan["activation"] = activated
        section["fanout"] = fan
        for run in fan.get("runs", []):
            print(f"  fan_out_post: {run}")
    else:
        section["fanout"] = {"status": "skipped", "reason": api.problem or "feed functions missing"}
        print(f"  skipped: {section['fanout']['reason']}")

    clients = min(config.realtime_clients, len(manifest.load_users))
    banner(f"real time: {clients:,} WebSocket clients, direct messages at {config.realtime_rate}/s")
    if config.realtime:
        section["realtime"] = realtime_phase(config, secret, manifest, tokens, clients)
        print(f"  {section['realtime']}")
    else:
        section["realtime"] = {"status": "skipped", "reason": "BENCH_REALTIME=0"}
        print("  skipped (BENCH_REALTIME=0)")
    return section


def realtime_phase(
    config: BenchConfig, secret: str, manifest: Manifest, tokens: dict[str, str], clients: int
) -> dict[str, Any]:
    """Production shape: ``serve --workers N`` and one ``townsquare worker`` over a Redis job
    stream; ``bench.realtime`` (its own process) holds the sockets and sends the messages."""
    env = server_env(
        secret=secret,
        database_url=manifest.database_url,
        redis_url=config.redis_url,
        redis_prefix=config.redis_prefix,
    )
    env["TOWNSQUARE_JOB_BROKER_URL"] = config.redis_url
    worker_log = config.work_dir / f"worker-postgres-{config.stamp}.log"
    with open(worker_log, "ab") as log:
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "townsquare"), "worker"],
            env=env,
            cwd=config.work_dir,
            stdout=log,
            stderr=log,
        )
    server = start_server(
        env=env,
        host=config.host,
        port=config.port + 2,
        workers=config.workers,
        log_path=config.work_dir / f"server-realtime-{config.stamp}.log",
        cwd=config.work_dir,
    )
    chosen = [u for u in manifest.load_users if u["id"] in tokens][:clients]
    spec = {
        "host": config.host,
        "port": config.port + 2,
        "rate": config.realtime_rate,
        "duration": config.realtime_seconds,
        "warmup": config.warmup_seconds,
        "connections": config.connections,
        "clients": [
            {"id": u["id"], "username": u["username"], "token": tokens[u["id"]]} for u in chosen
        ],
    }
    path = config.work_dir / "realtime-spec.json"
    path.write_text(json.dumps(spec))
    try:
        done = subprocess.run(
            [sys.executable, "-m", "bench.realtime", str(path)],
            cwd=config.work_dir,
            env=_clean_env(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0 or not done.stdout.strip():
            return {"status": f"error: bench.realtime failed: {done.stderr[-2000:]}"}
        result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        result["server_log_problems"] = server.log_problems()[1]
        return result
    finally:
        server.stop()
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def run_sqlite(config: BenchConfig, secret: str) -> dict[str, Any]:
    section: dict[str, Any] = {"workers": 1, "scenarios": {}}
    spec = dataset_spec(config, sqlite=True)
    banner(f"embedded: {spec.users:,} users, {spec.posts:,} posts on SQLite")
    path = config.work_dir / "bench-embedded.db"
    manifest = build_sqlite(spec, path)
    manifest.save(config.work_dir / "manifest-sqlite.json")
    print(f"  dataset generated in {manifest.generation_seconds:.1f} s: {manifest.rows}")
    section["dataset"] = dataset_facts(manifest)
    tokens = mint_tokens(manifest, secret)
    env = server_env(
        secret=secret, database_url=manifest.database_url, redis_url=None, redis_prefix="unused:"
    )
    server = start_server(
        env=env,
        host=config.host,
        port=config.port + 1,
        workers=1,
        log_path=config.work_dir / f"server-sqlite-{config.stamp}.log",
        cwd=config.work_dir,
    )
    print(f"  ready: {server.base_url} (one worker, no Redis)")
    names = ["healthz", "feed"] + (["feed_ranked"] if "feed_ranked" in config.scenarios else [])
    try:
        section["scenarios"] = run_scenarios(names, server, manifest, tokens, config, mode="sqlite")
    finally:
        server.stop()
    return section


def main() -> int:
    config = load_config()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    config.stamp = stamp
    config.work_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    secret = secrets.token_hex(32)  # 64 characters, as production wants a long random key
    results: dict[str, Any] = {
        "stamp": stamp,
        "started_at": datetime.now(UTC).isoformat(),
        "config": config.to_json(),
        "machine": machine_info(),
        "services": service_versions(asyncpg_dsn(config.pg_url), config.redis_url),
    }
    print(f"bench {stamp}: {'QUICK smoke run' if config.quick else 'full run'}")
    results["quiet"] = wait_until_quiet(config.wait_quiet)
    if results["quiet"]["load_average"][0] > 0.5:
        print(f"  note: load average {results['quiet']['load_average']} before starting")
    print(
        f"  machine: {results['machine']['cpu_count']} CPUs, python {results['machine']['python']}"
    )
    for mode, phase in (("postgres", run_postgres), ("sqlite", run_sqlite)):
        if mode == "sqlite" and not config.sqlite:
            continue
        try:
            results[mode] = phase(config, secret)
        except Exception as exc:
            traceback.print_exc()
            results[mode] = {"status": f"error: {type(exc).__name__}: {exc}"}
    try:
        removed = clear_redis(config.redis_url, config.redis_prefix)
        print(f"\n  removed {removed} bench keys from Redis")
    except Exception as exc:
        print(f"  could not clean Redis: {exc}")
    add_ratios(results)
    results["targets"] = check_targets(results)
    results["total_seconds"] = round(time.perf_counter() - started, 1)
    path = write_results(results, config.results_dir, stamp)
    banner(f"summary ({results['total_seconds']:.0f} s in all)")
    print(summary(results))
    print(f"\nresults: {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
