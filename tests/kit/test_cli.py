"""The ``townsquare`` command, run as a user would run it."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

from tests.conftest import Backend, make_settings
from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import login
from tests.kit.helpers import running
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
