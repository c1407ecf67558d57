"""Email verification: expiry, resending, and changing the address."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, login, register, signed_in_user, verify_email
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    db_execute,
    error_fields,
    me,
    new_session,
)
from townsquare.kit.mail import OutgoingMail
from townsquare.modules.accounts.models import AccountToken, TokenPurpose


async def verify(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(f"{API}/auth/verify-email", json={"token": token})


async def change_email(
    client: httpx.AsyncClient, token: str, email: str, password: str = PASSWORD
) -> httpx.Response:
    return await client.patch(
        f"{API}/me",
        json={"email": email, "current_password": password},
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_expired_verification_token_is_refused_and_a_resend_works(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    first = await mailbox.wait_for(user.email, "Confirm your email")
    assert "48 hours" in first.text
    updated = await db_execute(
        app,
        update(AccountToken)
        .where(AccountToken.user_id == uuid.UUID(user.user_id))
        .where(AccountToken.purpose == TokenPurpose.VERIFY_EMAIL)
        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)),
    )
    assert updated == 1
    assert_problem(await verify(client, first.token), 400, "invalid_token")
    assert (await me(client, user.access_token)).json()["email_verified"] is False

    response = await client.post(f"{API}/auth/verify-email/resend", headers=user.headers)
    assert response.status_code == 202, response.text
    second = await mailbox.wait_for(user.email, "Confirm your email", count=2)
    assert second.token != first.token
    assert (await verify(client, second.token)).status_code == 204
    assert (await me(client, user.access_token)).json()["email_verified"] is True

    # Once verified, there is nothing to resend, and no mail goes out.
    response = await client.post(f"{API}/auth/verify-email/resend", headers=user.headers)
    assert_problem(response, 409, "email_already_verified")
    await app.state.platform.outbox.wait_idle()
    assert len(mailbox.to(user.email)) == 2


async def test_unknown_and_malformed_verification_tokens(client: httpx.AsyncClient) -> None:
    assert_problem(await verify(client, "z" * 43), 400, "invalid_token")
    assert_problem(await verify(client, "short"), 422, "validation_failed")
    assert_problem(await verify(client, "z" * 257), 422, "validation_failed")
    response = await client.post(f"{API}/auth/verify-email", json={"token": "z" * 43, "x": 1})
    assert error_fields(assert_problem(response, 422)) == {"body.x"}


async def test_reset_token_cannot_verify_and_verify_token_cannot_reset(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    verification = (await mailbox.wait_for(user.email, "Confirm your email")).token
    await client.post(f"{API}/auth/password/forgot", json={"email": user.email})
    reset = (await mailbox.wait_for(user.email, "Reset your password")).token

    assert_problem(await verify(client, reset), 400, "invalid_token")
    response = await client.post(
        f"{API}/auth/password/reset",
        json={"token": verification, "new_password": "a hijacked new password"},
    )
    assert_problem(response, 400, "invalid_token")
    # Each still works for its own purpose.
    assert (await verify(client, verification)).status_code == 204
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": reset, "new_password": "the real new one!"}
    )
    assert response.status_code == 204


async def test_changing_email_needs_verifying_the_new_address(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    other_device = await new_session(client, user)
    old_token = (await mailbox.wait_for(user.email, "Confirm your email")).token
    new_email = f"New.{user.username}@Example.net"

    response = await change_email(client, user.access_token, new_email)
    assert response.status_code == 200, response.text
    account = response.json()
    assert account["email"] == new_email.lower()
    assert account["email_verified"] is False

    mail = await mailbox.wait_for(new_email, "Confirm your email")
    assert mail.to == [new_email.lower()]
    # The token sent to the old address proves nothing about the new one.
    assert_problem(await verify(client, old_token), 400, "invalid_token")
    assert (await me(client, user.access_token)).json()["email_verified"] is False
    assert (await verify(client, mail.token)).status_code == 204
    assert (await me(client, user.access_token)).json()["email_verified"] is True
    # Changing the address did not end any session.
    assert (await me(client, other_device["access_token"])).status_code == 200

    assert_problem(await login(client, user.email), 401, "invalid_credentials")
    assert (await login(client, new_email.upper())).status_code == 200

    # The old address is free for someone else.
    await register(client, email=user.email)


async def test_reset_link_sent_to_an_old_address_stops_working(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    user = await signed_in_user(client)
    await client.post(f"{API}/auth/password/forgot", json={"email": user.email})
    stale = (await mailbox.wait_for(user.email, "Reset your password")).token
    response = await change_email(client, user.access_token, f"moved-{user.email}")
    assert response.status_code == 200, response.text
    response = await client.post(
        f"{API}/auth/password/reset", json={"token": stale, "new_password": "taken over at last"}
    )
    assert_problem(response, 400, "invalid_token")
    assert (await login(client, user.username)).status_code == 200


async def test_email_change_errors(client: httpx.AsyncClient, mailbox: Mailbox) -> None:
    user = await signed_in_user(client)
    await verify_email(client, mailbox, user.email)
    someone = await register(client)

    response = await change_email(client, user.access_token, "fresh@example.org", "wrong pass")
    body = assert_problem(response, 422, "validation_failed")
    assert error_fields(body) == {"body.current_password"}

    response = await change_email(client, user.access_token, someone["email"].upper())
    assert_problem(response, 409, "email_taken")

    response = await change_email(client, user.access_token, "not an address")
    assert error_fields(assert_problem(response, 422)) == {"body.email"}

    # None of this changed anything.
    account = (await me(client, user.access_token)).json()
    assert account["email"] == user.email
    assert account["email_verified"] is True

    # Setting the same address again (any case) is a no-op that keeps the verification.
    response = await change_email(client, user.access_token, user.email.upper())
    assert response.status_code == 200, response.text
    assert response.json()["email_verified"] is True


async def test_refused_verification_and_reset_mails_are_retried_and_arrive_once(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    """SMTP refuses the mails at first: they are not lost (the token was committed, the mail
    is queued), a later run sends each once, and its link works."""
    platform = app.state.platform
    mailbox.refuse(1)
    user = await signed_in_user(client)
    await platform.outbox.wait_idle()
    await mailbox.wait_for_data()
    assert mailbox.to(user.email) == []

    mailbox.refuse(1)
    response = await client.post(f"{API}/auth/password/forgot", json={"email": user.email})
    assert response.status_code == 202, response.text
    await platform.outbox.wait_idle()
    await mailbox.wait_for_data(2)
    assert mailbox.to(user.email) == []

    # Time passes: the retries come due and the periodic sender takes them.
    await db_execute(
        app, update(OutgoingMail).values(available_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    assert await platform.mail.send_due() == 2
    assert await platform.mail.send_due() == 0
    await platform.outbox.wait_idle()
    verification = await mailbox.wait_for(user.email, "Confirm your email")
    await mailbox.wait_for(user.email, "Reset your password")
    assert len(mailbox.to(user.email)) == 2
    assert (await verify(client, verification.token)).status_code == 204
