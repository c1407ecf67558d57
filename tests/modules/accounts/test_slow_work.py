"""No slow work inside a writing unit of work: argon2 and the failed-login delay hold no
transaction, so SQLite's write lock and PostgreSQL's pooled connections stay free for others."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, SignedIn, login, register, signed_in_user
from tests.modules.accounts.conftest import AppFactory
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    bearer,
    db_execute,
    db_one,
    error_fields,
    new_session,
)
from townsquare.modules.accounts.models import User
from townsquare.modules.accounts.passwords import PasswordHasher
from townsquare.modules.accounts.service import hasher


@pytest.mark.parametrize("pool_size", [10, 1], ids=["pool-10", "pool-1"])
async def test_a_delayed_login_does_not_hold_up_other_users_writes(
    app_factory: AppFactory, pool_size: int
) -> None:
    """The issue's case: a throttled login waits out its delay while another user posts.

    With the default pool this shows SQLite's write lock is free during the delay; with a pool
    of one connection, that no connection is held either (the PostgreSQL side of it).
    """
    _, client = await app_factory(
        login_failure_delay_ms=3000,
        login_failure_delay_max_ms=3000,
        database_pool_size=pool_size,
        database_max_overflow=0,
        database_pool_timeout_seconds=30,
    )
    writer = await signed_in_user(client)
    first = await client.post(f"{API}/posts", json={"content": "warm"}, headers=writer.headers)
    assert first.status_code == 201, first.text
    for _ in range(3):  # three failures are answered at once; the fourth waits 3 s
        assert_problem(await login(client, "nobody_by_that_name", "wrong password!"), 401)

    delayed = asyncio.create_task(login(client, "nobody_by_that_name", "wrong password!"))
    await asyncio.sleep(0.5)  # it has looked the name up, checked the password, and now waits
    assert not delayed.done()
    response = await client.post(
        f"{API}/posts", json={"content": "not held up"}, headers=writer.headers
    )
    assert response.status_code == 201, response.text
    # The write did not queue behind the delayed login: that login is still waiting.
    assert not delayed.done()
    assert_problem(await delayed, 401, "invalid_credentials")


async def test_passwords_are_hashed_and_checked_with_no_connection_in_use(
    app_factory: AppFactory, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every argon2 call of every use case runs while no connection is checked out of the pool:
    no write transaction (nor any other) is open around it. Each authenticated call comes from
    a fresh session, so its session lookup misses the cache and reads the database first."""
    app, client = await app_factory()
    pool = app.state.platform.database.engine.pool
    seen: list[tuple[str, int]] = []
    original_hash, original_verify = PasswordHasher.hash, PasswordHasher.verify

    async def spy_hash(self: PasswordHasher, password: str) -> str:
        seen.append(("hash", pool.checkedout()))
        return await original_hash(self, password)

    async def spy_verify(
        self: PasswordHasher, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        seen.append(("verify", pool.checkedout()))
        return await original_verify(self, password, password_hash)

    monkeypatch.setattr(PasswordHasher, "hash", spy_hash)
    monkeypatch.setattr(PasswordHasher, "verify", spy_verify)
    outbox = app.state.platform.outbox

    async def fresh_token() -> str:
        await outbox.wait_idle()
        body = await new_session(client, user)
        await outbox.wait_idle()
        token: str = body["access_token"]
        return token

    async def send(method: str, path: str, body: dict[str, Any], status: int) -> None:
        token = await fresh_token()
        response = await client.request(method, f"{API}{path}", json=body, headers=bearer(token))
        assert response.status_code == status, response.text

    # The outbox relay works after each commit, with connections of its own: it is let finish
    # before each call, so that the count is the request's alone.
    account = await register(client)
    await outbox.wait_idle()
    response = await login(client, account["username"])
    assert response.status_code == 200, response.text
    user = SignedIn(
        user_id=account["id"],
        username=account["username"],
        email=account["email"],
        password=PASSWORD,
        access_token="",
        refresh_token="",
        session_id="",
    )
    assert_problem(await login(client, user.username, "wrong password!"), 401)
    assert_problem(await login(client, "nobody_by_that_name", "wrong password!"), 401)
    new_password = "another long passphrase"
    await send(
        "POST",
        "/auth/password/change",
        {"current_password": PASSWORD, "new_password": new_password},
        204,
    )
    user.password = new_password
    await send(
        "POST",
        "/auth/password/change",
        {"current_password": "not the password", "new_password": PASSWORD},
        422,
    )
    await send(
        "PATCH",
        "/me",
        {"email": f"new-{user.email}", "current_password": new_password},
        200,
    )
    user.email = f"new-{user.email}"
    await send("POST", "/me/deactivate", {"password": new_password}, 204)
    await send("DELETE", "/me", {"password": new_password}, 202)  # the login reactivated it

    await outbox.wait_idle()
    other = await register(client)
    await outbox.wait_idle()
    response = await client.post(f"{API}/auth/password/forgot", json={"email": other["email"]})
    assert response.status_code == 202, response.text
    token = (await mailbox.wait_for(other["email"], "Reset your password")).token
    await outbox.wait_idle()
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": PASSWORD + "!"}
    )
    assert response.status_code == 204, response.text

    kinds = [kind for kind, _ in seen]
    assert kinds.count("hash") >= 4  # two registrations, a change, a reset
    assert kinds.count("verify") >= 10
    assert [entry for entry in seen if entry[1] != 0] == [], seen


async def test_a_password_changed_while_it_was_checked_proves_nothing(
    app_factory: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check runs apart from the write, so the row is re-read before writing: if the password
    changed in between (another session's change, a reset), the answer is a wrong password's."""
    app, client = await app_factory()
    user = await signed_in_user(client)
    user_id = uuid.UUID(user.user_id)
    password_hasher = hasher(app.state.platform)
    original_hash = await password_hasher.hash(PASSWORD)
    meanwhile_hash = await password_hasher.hash("changed meanwhile, elsewhere")
    original_verify = PasswordHasher.verify
    change_during_next_check = False

    async def verify_while_it_changes(
        self: PasswordHasher, password: str, password_hash: str | None
    ) -> tuple[bool, str | None]:
        nonlocal change_during_next_check
        result = await original_verify(self, password, password_hash)
        if change_during_next_check:
            change_during_next_check = False
            await db_execute(
                app, update(User).where(User.id == user_id).values(password_hash=meanwhile_hash)
            )
        return result

    monkeypatch.setattr(PasswordHasher, "verify", verify_while_it_changes)

    change_during_next_check = True
    assert_problem(await login(client, user.username), 401, "invalid_credentials")

    restore = update(User).where(User.id == user_id).values(password_hash=original_hash)
    await db_execute(app, restore)
    token = (await new_session(client, user))["access_token"]
    change_during_next_check = True
    response = await client.post(
        f"{API}/auth/password/change",
        json={"current_password": PASSWORD, "new_password": "mine, I thought"},
        headers=bearer(token),
    )
    assert error_fields(assert_problem(response, 422)) == {"body.current_password"}
    # What was written meanwhile stands.
    row = await db_one(app, select(User.password_hash).where(User.id == user_id))
    assert row.password_hash == meanwhile_hash
