"""What a bench run does, read from ``BENCH_*`` environment variables (``make bench`` passes them).

Every knob has a default for the full run; ``BENCH_QUICK=1`` swaps in a small, fast smoke run
(about two minutes) and any variable set explicitly still wins over both.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"

ALL_SCENARIOS = ("feed", "feed_ranked", "profile", "post_create", "reaction", "comment")


@dataclass
class BenchConfig:
    # --- dataset (PostgreSQL)
    users: int = 10_000
    posts: int = 200_000
    avg_follows: int = 200
    avg_friends: int = 20
    avg_reactions: float = 5.0
    avg_comments: float = 1.0
    days: int = 30
    load_users: int = 2_000
    author_followers: int = 1_000
    seed: int = 20261121
    reuse_data: bool = False

    # --- services
    pg_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    database: str = "townsquare_bench"
    #: PostgreSQL settings for the bench database (``ALTER DATABASE ... SET``), separated by
    #: ";", e.g. "jit=off" or "log_min_duration_statement=50"; empty: the server's own
    #: configuration, as a stock production install has it.
    pg_settings: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "tsbench:"
    host: str = "127.0.0.1"
    port: int = 18_431
    workers: int = 2

    # --- load and step search
    scenarios: list[str] = field(default_factory=lambda: list(ALL_SCENARIOS))
    step_seconds: float = 8.0
    warmup_seconds: float = 2.0
    slo_p99_ms: float = 50.0
    max_error_ratio: float = 0.001
    start_rate: float = 100.0
    max_rate: float = 20_000.0
    growth: float = 2.0
    bisect_steps: int = 3
    connections: int = 256
    pause_seconds: float = 1.0

    # --- in-process measurements
    ceiling_concurrency: list[int] = field(default_factory=lambda: [8, 16, 32])
    ceiling_seconds: float = 8.0
    fanout_runs: int = 5
    rebuild_concurrency: int = 16

    # --- real time: message send -> WebSocket delivery (PostgreSQL + Redis + a worker)
    realtime: bool = True
    realtime_clients: int = 1_000
    realtime_rate: float = 200.0
    realtime_seconds: float = 30.0

    # --- embedded mode (SQLite)
    sqlite: bool = True
    sqlite_users: int = 1_500
    sqlite_posts: int = 20_000
    sqlite_avg_follows: int = 100

    # --- profiling (make bench-profile)
    profile_seconds: float = 0.0

    #: Seconds to wait at the start for the machine to go quiet (load average < 0.5).
    wait_quiet: float = 0.0
    quick: bool = False
    #: UTC stamp of the run (names the results file); set at start.
    stamp: str = ""
    work_dir: Path = BENCH_DIR / ".work"
    results_dir: Path = BENCH_DIR / "results"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["work_dir"] = str(self.work_dir)
        data["results_dir"] = str(self.results_dir)
        return data


QUICK: dict[str, Any] = {
    "users": 1_000,
    "posts": 10_000,
    "avg_follows": 50,
    "avg_friends": 10,
    "load_users": 300,
    "author_followers": 200,
    "step_seconds": 1.5,
    "warmup_seconds": 0.5,
    "start_rate": 50.0,
    "growth": 3.0,
    "bisect_steps": 1,
    "pause_seconds": 0.2,
    "scenarios": ["feed", "profile", "post_create", "reaction", "comment"],
    "ceiling_concurrency": [16],
    "ceiling_seconds": 3.0,
    "fanout_runs": 3,
    "realtime_clients": 200,
    "realtime_rate": 50.0,
    "realtime_seconds": 5.0,
    "sqlite_users": 300,
    "sqlite_posts": 3_000,
    "sqlite_avg_follows": 30,
}


def _parse(kind: Any, raw: str) -> Any:
    if kind in (bool, "bool"):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind in (int, "int"):
        return int(raw.replace("_", ""))
    if kind in (float, "float"):
        return float(raw)
    if kind in ("list[str]",):
        return [item.strip() for item in raw.split(",") if item.strip()]
    if kind in ("list[int]",):
        return [int(item) for item in raw.split(",") if item.strip()]
    if kind in ("Path",):
        return Path(raw)
    return raw


def load_config(environ: dict[str, str] | None = None) -> BenchConfig:
    """Defaults, then the quick preset if ``BENCH_QUICK``, then each ``BENCH_<FIELD>`` set."""
    env = dict(os.environ if environ is None else environ)
    config = BenchConfig()
    if _parse(bool, env.get("BENCH_QUICK", "0")):
        for key, value in QUICK.items():
            setattr(config, key, value)
        config.quick = True
    for f in fields(BenchConfig):
        raw = env.get("BENCH_" + f.name.upper())
        if raw is not None and raw != "":
            setattr(config, f.name, _parse(f.type, raw))
    unknown = [name for name in config.scenarios if name not in ALL_SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown BENCH_SCENARIOS: {unknown}; known: {list(ALL_SCENARIOS)}")
    return config
