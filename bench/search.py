"""Step search: the highest fixed arrival rate at which a scenario keeps p99 under the SLO.

Start low, multiply the rate by ``growth`` while the step passes, then bisect (geometric mean)
between the last passing and the first failing rate. A step passes when its p99 (counted from
each request's scheduled start) is within the SLO and its errors stay under the allowed ratio.
Every step runs the open-loop generator (``bench.load``) in its own process.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.config import ROOT, BenchConfig
from bench.scenarios import Scenario


def passes(step: dict[str, Any], config: BenchConfig) -> bool:
    if not step.get("scheduled"):
        return False
    allowed = config.max_error_ratio * step["scheduled"]
    return bool(step["p99_ms"] <= config.slo_p99_ms and step["errors"] <= allowed)


class StepRunner:
    """Runs one step of a scenario against a server: writes the spec, spawns ``bench.load``."""

    def __init__(
        self, scenario: Scenario, host: str, port: int, config: BenchConfig, work: Path
    ) -> None:
        self.scenario = scenario
        self.config = config
        self.host, self.port = host, port
        work.mkdir(parents=True, exist_ok=True)
        self.requests_path = work / f"requests-{scenario.name}-{port}.json"
        rendered = [r.render(f"{host}:{port}") for r in scenario.requests]
        self.requests_path.write_text(json.dumps(rendered))
        self.work = work

    def __call__(self, rate: float, duration: float | None = None) -> dict[str, Any]:
        config = self.config
        duration = duration or config.step_seconds
        spec = {
            "host": self.host,
            "port": self.port,
            "rate": rate,
            "warmup": config.warmup_seconds,
            "duration": duration,
            "connections": config.connections,
            "timeout": 10.0,
            "requests_path": str(self.requests_path),
            "expect": self.scenario.expect,
            "seed": int(rate * 1000) % 100_000,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.work, delete=False) as file:
            json.dump(spec, file)
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bench.load", file.name],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=config.warmup_seconds + duration + 60,
                check=False,
            )
        finally:
            Path(file.name).unlink(missing_ok=True)
        if done.returncode != 0 or not done.stdout.strip():
            raise RuntimeError(f"bench.load failed ({done.returncode}): {done.stderr[-2000:]}")
        step: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return step


def step_search(
    run: Callable[[float], dict[str, Any]],
    config: BenchConfig,
    *,
    label: str,
    between: Callable[[], dict[str, Any] | None] | None = None,
) -> dict[str, Any]:
    """The best passing step (``best``), the first failing one, and every step run."""
    steps: list[dict[str, Any]] = []

    def attempt(rate: float) -> dict[str, Any]:
        step = run(round(rate, 1))
        step["passed"] = passes(step, config)
        if between is not None:
            extra = between()
            if extra:
                step.update(extra)
        steps.append(step)
        print(_line(label, step, config), flush=True)
        time.sleep(config.pause_seconds)
        return step

    good: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None
    rate = config.start_rate
    while True:
        step = attempt(rate)
        if not step["passed"] and not steps[:-1] and _marginal(step, config):
            step = attempt(rate)  # the very first step again: a transient must not decide
        if not step["passed"]:
            bad = step
            break
        good = step
        if rate * config.growth > config.max_rate:
            break
        rate *= config.growth
    while good is None and rate / config.growth >= 1:
        # Down again; far down at once if the server could serve much less than was sent.
        rate = min(rate / config.growth, max(1.0, 0.7 * step["achieved_rps"]))
        step = attempt(rate)
        if step["passed"]:
            good = step
        else:
            bad = step
    for _ in range(config.bisect_steps):
        if good is None or bad is None or bad["rate"] / good["rate"] < 1.08:
            break
        step = attempt(math.sqrt(good["rate"] * bad["rate"]))
        if step["passed"]:
            good = step
        else:
            bad = step
    return {
        "best": good,
        "first_failing": bad,
        "saturation_rps": max((s["achieved_rps"] for s in steps), default=None),
        "steps": steps,
    }


def _marginal(step: dict[str, Any], config: BenchConfig) -> bool:
    """A failure that a transient could explain: the median was fine, the server kept up."""
    return bool(
        step["p50_ms"] <= config.slo_p99_ms / 2 and step["achieved_rps"] >= 0.95 * step["rate"]
    )


def _line(label: str, step: dict[str, Any], config: BenchConfig) -> str:
    verdict = "ok  " if step["passed"] else "FAIL"
    extra = ""
    if step["errors"]:
        extra += f" errors={step['errors']} {step['error_kinds']}"
    if step.get("outbox_pending") is not None:
        extra += f" outbox_pending={step['outbox_pending']}"
    if not step["passed"] and _marginal(step, config):
        extra += f" slowest per second (ms): {step.get('per_second_max_ms')}"
    if step.get("client_cpu") is not None and step["client_cpu"] > 0.9:
        extra += f" (load generator at {step['client_cpu']:.0%} CPU)"
    return (
        f"  {label:<22} {verdict} {step['rate']:>8.1f}/s -> {step['achieved_rps']:>8.1f}/s  "
        f"p50 {step['p50_ms']:>8.1f} ms  p99 {step['p99_ms']:>8.1f} ms{extra}"
    )
