"""Passwords: change, forgotten-password resets, expiry of reset links, legacy bcrypt hashes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from pwdlib.hashers.bcrypt import BcryptHasher
from sqlalchemy import select, update

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, login, register, signed_in_user
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    bearer,
    db_execute,
    db_one,
    error_fields,
    me,
    new_session,
    without_request_identity,
)
from townsquare.modules.accounts.models import AccountToken, TokenPurpose, User

NEW_PASSWORD = "another long passphrase"


async def change_password(
    client: httpx.AsyncClient, token: str, current: str, new: str
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/password/change",
        json={"current_password": current, "new_password": new},
        headers=bearer(token),
    )


async def forgot(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(f"{API}/auth/password/forgot", json={"email": email})


async def reset(client: httpx.AsyncClient, token: str, new: str = NEW_PASSWORD) -> httpx.Response:
    return await client.post(
        f"{API}/auth/password/reset", json={"token": token, "new_password": new}
    )


async def test_change_password_with_wrong_current_password_is_422(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in_user(client)
    other = await new_session(client, user)
    response = await change_password(client, user.access_token, "not my password", NEW_PASSWORD)
    body = assert_problem(response, 422, "validation_failed")
    assert error_fields(body) == {"body.current_password"}
    assert body["errors"][0]["type"] == "wrong_password"
    # Nothing changed: the old password still works, no session was ended.
    assert (await login(client, user.username, PASSWORD)).status_code == 200
    assert_problem(await login(client, user.username, NEW_PASSWORD), 401, "invalid_credentials")
    assert (await me(client, other["access_token"])).status_code == 200


async def test_change_password_rejects_a_weak_new_password(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    response = await change_password(client, user.access_token, PASSWORD, "tooshort")
    body = assert_problem(response, 422, "validation_failed")
    assert error_fields(body) == {"body.new_password"}
    assert (await login(client, user.username, PASSWORD)).status_code == 200


async def test_change_password_ends_other_sessions_but_keeps_this_one(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in_user(client)
    phone = await new_session(client, user)
    tablet = await new_session(client, user)
    bystander = await signed_in_user(client)

    response = await change_password(client, user.access_token, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 204, response.text

    assert (await me(client, user.access_token)).status_code == 200
    for other in (phone, tablet):
        assert_problem(await me(client, other["access_token"]), 401, "invalid_token")
        response = await client.post(
            f"{API}/auth/refresh", json={"refresh_token": other["refresh_token"]}
        )
        assert_problem(response, 401, "invalid_refresh_token")
    # This session's refresh token still rotates.
    response = await client.post(f"{API}/auth/refresh", json={"refresh_token": user.refresh_token})
    assert response.status_code == 200, response.text
    assert (await me(client, bystander.access_token)).status_code == 200

    assert_problem(await login(client, user.username, PASSWORD), 401, "invalid_credentials")
    assert (await login(client, user.username, NEW_PASSWORD)).status_code == 200
    assert (await login(client, bystander.username, PASSWORD)).status_code == 200


async def test_forgot_password_answers_alike_and_mails_only_real_accounts(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    account = await register(client)
    await app.state.platform.outbox.wait_idle()
    mailbox.clear()  # drop the verification email
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.org"

    for_unknown = await forgot(client, unknown)
    for_known = await forgot(client, account["email"].upper())
    assert for_unknown.status_code == for_known.status_code == 202
    assert for_unknown.json() == for_known.json()
    assert for_unknown.json()["detail"]

    mail = await mailbox.wait_for(account["email"], "Reset your password")
    assert "reset-password?token=" in mail.text
    await app.state.platform.outbox.wait_idle()
    assert mailbox.to(unknown) == []
    assert [m.to for m in mailbox.messages] == [[account["email"]]]

    for_bad = await client.post(f"{API}/auth/password/forgot", json={"email": "not-an-address"})
    assert error_fields(assert_problem(for_bad, 422)) == {"body.email"}


async def test_reset_marks_the_address_verified_and_is_single_use(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    assert (await me(client, user.access_token)).json()["email_verified"] is False
    await forgot(client, user.email)
    token = (await mailbox.wait_for(user.email, "Reset your password")).token

    # A refused new password does not spend the link.
    body = assert_problem(await reset(client, token, "short"), 422)
    assert error_fields(body) == {"body.new_password"}
    assert (await reset(client, token)).status_code == 204
    assert_problem(await reset(client, token, "third passphrase!"), 400, "invalid_token")

    response = await login(client, user.username, NEW_PASSWORD)
    assert response.status_code == 200
    # The link reached the inbox, which proves the address.
    assert (await me(client, response.json()["access_token"])).json()["email_verified"] is True


async def test_a_newer_reset_link_spent_spends_the_older_ones(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    await forgot(client, user.email)
    older = (await mailbox.wait_for(user.email, "Reset your password", count=1)).token
    await forgot(client, user.email)
    newer = (await mailbox.wait_for(user.email, "Reset your password", count=2)).token
    assert older != newer
    assert (await reset(client, newer)).status_code == 204
    assert_problem(await reset(client, older, "sneaky passphrase"), 400, "invalid_token")
    assert (await login(client, user.username, NEW_PASSWORD)).status_code == 200


async def test_expired_reset_link_is_refused(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    await forgot(client, user.email)
    token = (await mailbox.wait_for(user.email, "Reset your password")).token
    row = await db_one(
        app,
        select(AccountToken.expires_at).where(
            AccountToken.user_id == uuid.UUID(user.user_id),
            AccountToken.purpose == TokenPurpose.RESET_PASSWORD,
        ),
    )
    lifetime = row.expires_at - datetime.now(UTC)
    assert timedelta(minutes=59) < lifetime <= timedelta(minutes=60)
    assert "60 minutes" in (await mailbox.wait_for(user.email, "Reset your password")).text

    updated = await db_execute(
        app,
        update(AccountToken)
        .where(AccountToken.user_id == uuid.UUID(user.user_id))
        .where(AccountToken.purpose == TokenPurpose.RESET_PASSWORD)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )
    assert updated == 1
    assert_problem(await reset(client, token), 400, "invalid_token")
    # Nothing changed: the old password works, the session lives.
    assert (await me(client, user.access_token)).status_code == 200
    assert (await login(client, user.username, PASSWORD)).status_code == 200

    # A fresh link works.
    await forgot(client, user.email)
    fresh = (await mailbox.wait_for(user.email, "Reset your password", count=2)).token
    assert (await reset(client, fresh)).status_code == 204


async def test_garbage_reset_tokens_are_refused(client: httpx.AsyncClient) -> None:
    first = await reset(client, "x" * 43)
    second = await reset(client, "y" * 43)
    assert without_request_identity(assert_problem(first, 400, "invalid_token")) == (
        without_request_identity(assert_problem(second, 400, "invalid_token"))
    )
    assert_problem(await reset(client, "short"), 422, "validation_failed")


async def test_legacy_bcrypt_hash_verifies_and_is_upgraded_to_argon2id(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    account = await register(client)
    legacy_password = "imported from the old system"
    legacy_hash = BcryptHasher(rounds=4).hash(legacy_password)
    assert legacy_hash.startswith("$2b$04$")
    user_id = uuid.UUID(account["id"])
    await db_execute(app, update(User).where(User.id == user_id).values(password_hash=legacy_hash))

    # A wrong password neither signs in nor touches the stored hash.
    assert_problem(await login(client, account["username"]), 401, "invalid_credentials")
    stored = await db_one(app, select(User.password_hash).where(User.id == user_id))
    assert stored.password_hash == legacy_hash

    response = await login(client, account["username"], legacy_password)
    assert response.status_code == 200, response.text
    stored = await db_one(app, select(User.password_hash).where(User.id == user_id))
    assert stored.password_hash.startswith("$argon2id$")

    # The upgraded hash keeps working, for the same password only.
    assert (await login(client, account["email"], legacy_password)).status_code == 200
    assert_problem(await login(client, account["email"], PASSWORD), 401, "invalid_credentials")
