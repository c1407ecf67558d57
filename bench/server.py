"""The server under test, started as in production: ``townsquare serve --workers N``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def server_env(
    *, secret: str, database_url: str, redis_url: str | None, redis_prefix: str
) -> dict[str, str]:
    """The production settings of the bench server (on top of a cleaned environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNSQUARE_")}
    env.update(
        {
            "TOWNSQUARE_ENV": "production",
            "TOWNSQUARE_SECRET_KEY": secret,
            "TOWNSQUARE_DATABASE_URL": database_url,
            "TOWNSQUARE_REDIS_KEY_PREFIX": redis_prefix,
            "TOWNSQUARE_RATE_LIMIT_ENABLED": "false",
            # Production serves /metrics only to a token or addresses (else a start-up warning).
            "TOWNSQUARE_METRICS_ALLOWED_IPS": "127.0.0.1",
            "TOWNSQUARE_LOG_LEVEL": "WARNING",
            "TOWNSQUARE_LOG_JSON": "true",
        }
    )
    if redis_url:
        env["TOWNSQUARE_REDIS_URL"] = redis_url
    return env


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    host: str
    port: int
    log_path: Path
    workers: int

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def worker_pids(self) -> list[int]:
        """The uvicorn worker processes (children of ``serve``; itself when one worker)."""
        # uvicorn's supervisor spawns its workers with multiprocessing (which may also start a
        # resource tracker: not a worker); a single worker serves in the process itself.
        workers = [pid for pid in _children(self.process.pid) if "spawn_main" in _cmdline(pid)]
        return workers or [self.process.pid]

    def log_problems(self, since: int = 0) -> tuple[int, dict[str, int], list[str]]:
        """(new offset, counts of error/warning events, a few samples) in the log past ``since``."""
        counts: Counter[str] = Counter()
        samples: list[str] = []
        with open(self.log_path, "rb") as log:
            log.seek(since)
            data = log.read()
            offset = since + len(data)
        for raw in data.splitlines():
            line = raw.decode("utf-8", "replace")
            try:
                entry = json.loads(line)
                level = str(entry.get("level", "")).lower()
                event = str(entry.get("event", ""))
            except ValueError:
                level = "error" if ("Error" in line or "Traceback" in line) else "other"
                event = line[:160]
            if level in ("error", "critical", "warning", "exception"):
                key = f"{level}: {event[:160]}"
                counts[key] += 1
                if len(samples) < 5 and counts[key] == 1:
                    samples.append(line[:2000])
        return offset, dict(counts), samples

    def stop(self) -> None:
        workers = self.worker_pids() if self.process.poll() is None and self.workers > 1 else []
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=40)  # the server's shutdown grace is 30 s
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        # A worker that outlived its supervisor would go on relaying and running jobs in the
        # bench database during the next phases, and skew their figures.
        for pid in workers:
            if "spawn_main" in _cmdline(pid):
                print(f"  warning: server worker {pid} outlived its supervisor; killed")
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in (task / "children").read_text().split()]
    return found


def start_server(
    *, env: dict[str, str], host: str, port: int, workers: int, log_path: Path, cwd: Path
) -> Server:
    """``townsquare serve`` in the background; returns once ``/readyz`` answers 200."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "townsquare"),
        "serve",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    cwd.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, env=env, cwd=cwd, stdout=log, stderr=log)
    server = Server(process, host, port, log_path, workers)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"server exited with {process.returncode}; see {log_path}:\n"
                    + log_path.read_text()[-3000:]
                )
            if _ready(server.base_url) and (workers == 1 or len(server.worker_pids()) >= workers):
                # Every worker must be up: probe until each has answered at least once.
                time.sleep(0.5)
                return server
            time.sleep(0.3)
    except BaseException:
        # Interrupted while waiting (Ctrl-C, SIGTERM): the caller has no handle to stop it.
        server.stop()
        raise
    server.stop()
    raise RuntimeError(f"server not ready after 60 s; see {log_path}")


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url + "/readyz", timeout=2) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def get_json(url: str, token: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    request = urllib.request.Request(url)  # noqa: S310
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
            return answer.status, json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body)
        except ValueError:
            return exc.code, body.decode("utf-8", "replace")
