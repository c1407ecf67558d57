"""The ``townsquare`` command, run as a user would run it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import REDIS_URL, RUN_ID, Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.fixtures.servers import print_logs, start_townsquare, stop_processes, wait_ready
from tests.fixtures.users import PASSWORD, login, unique_username
from tests.kit.helpers import AppFactory, running
from townsquare.main import create_app

ROOT = Path(__file__).resolve().parents[2]
TOWNSQUARE = str(ROOT / ".venv" / "bin" / "townsquare")
ADMIN_PASSWORD = "a long and careful admin passphrase"


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOWNSQUARE_")}
    # Cheap hashing keeps these tests fast; the hash records its own parameters.
    env.update(
        TOWNSQUARE_PASSWORD_ARGON2_TIME_COST="1", TOWNSQUARE_PASSWORD_ARGON2_MEMORY_KIB="1024"
    )
    env.update(values)
    return env


def _run(
    *args: str, cwd: Path, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [TOWNSQUARE, *args],
        cwd=cwd,
        env=_env(**env),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        check=False,
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_help_pages(tmp_path: Path) -> None:
    commands = {
        (): ["serve", "db", "users"],
        ("serve",): ["--host", "--port", "--workers"],
        ("db", "upgrade"): ["REVISION"],
        ("users", "create-admin"): ["--email", "--username", "--password"],
    }
    running_ = {
        args: subprocess.Popen(
            [TOWNSQUARE, *args, "--help"],
            cwd=tmp_path,
            env=_env(COLUMNS="200"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for args in commands
    }
    for args, process in running_.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (args, err)
        for word in commands[args]:
            assert word in out, (args, word, out)


def test_serve_refuses_unsafe_production_settings(tmp_path: Path) -> None:
    port = _free_port()
    result = _run(
        "serve", "--port", str(port), cwd=tmp_path, timeout=30, TOWNSQUARE_ENV="production"
    )
    assert result.returncode != 0
    assert "TOWNSQUARE_SECRET_KEY" in result.stderr
    assert "Uvicorn running" not in result.stderr + result.stdout
    # Nothing is listening.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


async def test_create_admin_who_can_sign_in(tmp_path: Path, mailbox: Mailbox) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'admin.db'}"
    upgraded = _run("db", "upgrade", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr

    options = ["--email", "Boss@Example.org", "--username", "site_boss"]
    created = _run(
        "users",
        "create-admin",
        *options,
        "--display-name",
        "The Boss",
        cwd=tmp_path,
        TOWNSQUARE_DATABASE_URL=url,
        TOWNSQUARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    assert created.returncode == 0, created.stderr
    assert "Created admin site_boss" in created.stdout

    again = _run(
        "users",
        "create-admin",
        *options,
        cwd=tmp_path,
        TOWNSQUARE_DATABASE_URL=url,
        TOWNSQUARE_ADMIN_PASSWORD=ADMIN_PASSWORD,
    )
    assert again.returncode == 1
    assert again.stderr.strip()
    assert "Traceback" not in again.stderr

    invalid = _run(
        "users",
        "create-admin",
        "--email",
        "not-an-email",
        "--username",
        "x",
        "--password",
        "short",
        cwd=tmp_path,
        TOWNSQUARE_DATABASE_URL=url,
    )
    assert invalid.returncode == 1
    assert "Traceback" not in invalid.stderr

    settings = make_settings(Backend("sqlite", url, None), mailbox)
    async with running(create_app(settings)) as http:
        response = await login(http, "site_boss", ADMIN_PASSWORD)
        assert response.status_code == 200, response.text
        token = response.json()["access_token"]
        me = await http.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        by_email = await login(http, "boss@example.org", ADMIN_PASSWORD)
    assert me.status_code == 200, me.text
    account = me.json()
    assert account["role"] == "admin"
    assert account["email_verified"] is True
    assert account["email"] == "boss@example.org"
    assert account["display_name"] == "The Boss"
    assert by_email.status_code == 200


def _run_bounded(
    args: list[str], cwd: Path, env: dict[str, str], timeout: float = 30
) -> tuple[int | None, str]:
    """``townsquare *args``: (exit code, stderr), or (None, stderr) if it was still running after
    ``timeout`` seconds (it, and any worker processes it started, are then killed)."""
    process = subprocess.Popen(
        [TOWNSQUARE, *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate(timeout=10)
        return None, err
    return process.returncode, err


def test_several_processes_without_redis_are_refused(tmp_path: Path) -> None:
    """Without Redis each process would keep its own session cache, rate-limit windows and
    real-time hub: refused, clearly, before anything listens."""
    port = _free_port()
    broker = "redis://127.0.0.1:6379/0"
    url = f"sqlite+aiosqlite:///{tmp_path / 'refused.db'}"
    shapes = {
        "workers": (["serve", "--port", str(port), "--workers", "2"], {}),
        "broker": (["serve", "--port", str(port)], {"TOWNSQUARE_JOB_BROKER_URL": broker}),
        "worker": (["worker"], {"TOWNSQUARE_JOB_BROKER_URL": broker}),
    }
    for name, (args, extra) in shapes.items():
        code, err = _run_bounded(args, tmp_path, _env(TOWNSQUARE_DATABASE_URL=url, **extra))
        assert code == 2, (name, code, err)
        assert "TOWNSQUARE_REDIS_URL" in err, (name, err)
        assert "Traceback" not in err, (name, err)
        assert "Uvicorn running" not in err, (name, err)
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.skipif(not REDIS_URL, reason="needs TOWNSQUARE_TEST_REDIS_URL")
async def test_several_workers_with_redis_serve(tmp_path: Path) -> None:
    assert REDIS_URL
    url = f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}"
    upgraded = _run("db", "upgrade", cwd=tmp_path, TOWNSQUARE_DATABASE_URL=url)
    assert upgraded.returncode == 0, upgraded.stderr
    port = _free_port()
    env = _env(
        TOWNSQUARE_DATABASE_URL=url,
        TOWNSQUARE_REDIS_URL=REDIS_URL,
        TOWNSQUARE_REDIS_KEY_PREFIX=f"ts-test-{RUN_ID}-workers:",
        TOWNSQUARE_RUN_PERIODIC_JOBS="false",
        TOWNSQUARE_LOG_LEVEL="WARNING",
    )
    log = tmp_path / "serve.log"
    process = start_townsquare(["serve", "--port", str(port), "--workers", "2"], env, log)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", process, 90)
    except BaseException:
        print_logs([log])
        raise
    finally:
        stop_processes([process])


async def test_serve_believes_forwarded_headers_from_trusted_proxies_only(
    tmp_path: Path, backend: Backend, app_factory: AppFactory
) -> None:
    """Through a real ``townsquare serve`` (uvicorn trusts loopback's X-Forwarded-For unless
    told otherwise): by default a client on the same host cannot rotate the header to escape
    the per-IP register limit; with TOWNSQUARE_TRUSTED_PROXIES=127.0.0.1 the header is the
    client. Both servers run in production, where /metrics needs its token."""
    await app_factory()  # this backend's tables and Redis keys are emptied after the test
    common = {
        "TOWNSQUARE_ENV": "production",
        "TOWNSQUARE_SECRET_KEY": "s" * 40,
        "TOWNSQUARE_DATABASE_URL": backend.database_url,
        "TOWNSQUARE_REDIS_KEY_PREFIX": f"ts-test-{RUN_ID}:",
        "TOWNSQUARE_RATE_LIMIT_REGISTER_PER_IP": "2/hour",
        "TOWNSQUARE_LOG_LEVEL": "WARNING",
        "TOWNSQUARE_RUN_PERIODIC_JOBS": "false",
        **({"TOWNSQUARE_REDIS_URL": backend.redis_url} if backend.redis_url else {}),
    }
    token = "t" * 32
    ports = {"default": _free_port(), "trusting": _free_port()}
    envs = {
        "default": _env(**common),
        "trusting": _env(
            **common, TOWNSQUARE_TRUSTED_PROXIES="127.0.0.1", TOWNSQUARE_METRICS_TOKEN=token
        ),
    }
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    processes = {
        name: start_townsquare(["serve", "--port", str(ports[name])], envs[name], logs[name])
        for name in ports
    }
    try:
        for name, process in processes.items():
            await wait_ready(f"http://127.0.0.1:{ports[name]}", process, 90)
        answers: dict[str, list[int]] = {}
        for name, port in ports.items():
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
                statuses = []
                for i in range(3):
                    username = unique_username(f"xff_{name[0]}")
                    response = await http.post(
                        "/api/v1/auth/register",
                        json={
                            "email": f"{username}@example.org",
                            "username": username,
                            "password": PASSWORD,
                            "display_name": username,
                        },
                        headers={
                            "X-Forwarded-For": f"198.51.{100 if name == 'default' else 101}.{i}"
                        },
                    )
                    statuses.append(response.status_code)
                answers[name] = statuses
                metrics = await http.get("/metrics")
                with_token = await http.get(
                    "/metrics", headers={"Authorization": f"Bearer {token}"}
                )
                answers[f"{name} metrics"] = [metrics.status_code, with_token.status_code]
    except BaseException:
        print_logs(list(logs.values()))
        raise
    finally:
        stop_processes(list(processes.values()))
    assert answers == {
        "default": [201, 201, 429],
        "trusting": [201, 201, 201],
        "default metrics": [404, 404],
        "trusting metrics": [404, 200],
    }, answers
    # The production server without metrics settings says so when it starts.
    assert "metrics_not_served" in logs["default"].read_text()
    assert "metrics_not_served" not in logs["trusting"].read_text()
