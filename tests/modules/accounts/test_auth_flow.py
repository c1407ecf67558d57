"""The whole life of an account through HTTP, then the errors of registering and logging in."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
from fastapi import FastAPI

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, login, register, signed_in_user, unique_username
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    bearer,
    error_fields,
    me,
    without_request_identity,
)
from townsquare.config import Settings

NEW_PASSWORD = "a brand new passphrase 42"


async def test_account_story_from_registration_to_logout(
    client: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    username = unique_username("Story")
    email = f"{username}@Example.ORG"

    # Register: the address and the username are stored in lower case.
    response = await client.post(
        f"{API}/auth/register",
        json={
            "email": email,
            "username": username,
            "password": PASSWORD,
            "display_name": "Story Teller",
        },
    )
    assert response.status_code == 201, response.text
    account = response.json()
    assert account["email"] == email.lower()
    assert account["username"] == username.lower()
    assert account["email_verified"] is False
    assert account["status"] == "active"
    assert account["role"] == "user"
    assert account["login_count"] == 0
    assert "password" not in response.text.lower()

    # The verification email reaches the real SMTP server, with the token in both parts.
    mail = await mailbox.wait_for(email, "Confirm your email")
    assert [address.lower() for address in mail.to] == [email.lower()]
    assert mail.token in mail.part("text/html")
    assert PASSWORD not in mail.text

    # Log in by email (any case), unverified so far.
    response = await login(client, email.upper())
    assert response.status_code == 200, response.text
    first = response.json()
    assert first["token_type"] == "bearer"
    assert first["expires_in"] == 15 * 60
    assert timedelta(days=29) < timedelta(seconds=first["refresh_expires_in"]) <= timedelta(days=30)
    response = await me(client, first["access_token"])
    assert response.status_code == 200
    assert response.json()["email_verified"] is False
    assert response.json()["login_count"] == 1

    # Verify; the same token does not work twice.
    response = await client.post(f"{API}/auth/verify-email", json={"token": mail.token})
    assert response.status_code == 204, response.text
    response = await me(client, first["access_token"])
    assert response.json()["email_verified"] is True
    response = await client.post(f"{API}/auth/verify-email", json={"token": mail.token})
    assert_problem(response, 400, "invalid_token")

    # Log in by username (any case): a second, separate session.
    response = await login(client, f"  {username.upper()} ")
    assert response.status_code == 200, response.text
    by_username = response.json()
    assert by_username["session_id"] != first["session_id"]
    assert (await me(client, by_username["access_token"])).json()["login_count"] == 2

    # Refresh rotates the refresh token within the same session.
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert rotated["session_id"] == first["session_id"]
    assert (await me(client, first["access_token"])).status_code == 200  # valid until expiry
    assert (await me(client, rotated["access_token"])).status_code == 200

    # The old refresh token comes back: treated as stolen, the whole session ends.
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert_problem(response, 401, "refresh_token_reused")
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert_problem(response, 401, "invalid_refresh_token")
    assert_problem(await me(client, rotated["access_token"]), 401, "invalid_token")
    assert_problem(await me(client, first["access_token"]), 401, "invalid_token")
    # ... and only that session: the one opened by username lives on.
    assert (await me(client, by_username["access_token"])).status_code == 200

    # Two more sessions, from two devices.
    phone = (await login(client, username, **{"User-Agent": "PhoneApp/1.0"})).json()
    laptop = (await login(client, username, **{"User-Agent": "LaptopBrowser/2.0"})).json()

    response = await client.get(f"{API}/auth/sessions", headers=bearer(laptop["access_token"]))
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_cursor"] is None
    listed = [item["id"] for item in page["items"]]
    assert listed == [laptop["session_id"], phone["session_id"], by_username["session_id"]]
    assert [item["current"] for item in page["items"]] == [True, False, False]
    assert page["items"][1]["user_agent"] == "PhoneApp/1.0"
    assert page["items"][0]["ip_address"] == "203.0.113.7"

    # End one session by id.
    response = await client.delete(
        f"{API}/auth/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    assert response.status_code == 204, response.text
    assert_problem(await me(client, phone["access_token"]), 401, "invalid_token")
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": phone["refresh_token"]}
    )
    assert_problem(response, 401, "invalid_refresh_token")
    response = await client.delete(
        f"{API}/auth/sessions/{phone['session_id']}", headers=bearer(laptop["access_token"])
    )
    assert_problem(response, 404, "session_not_found")

    # End every other session.
    response = await client.delete(f"{API}/auth/sessions", headers=bearer(laptop["access_token"]))
    assert response.status_code == 200, response.text
    assert response.json() == {"revoked": 1}
    assert_problem(await me(client, by_username["access_token"]), 401, "invalid_token")
    assert (await me(client, laptop["access_token"])).status_code == 200
    response = await client.get(f"{API}/auth/sessions", headers=bearer(laptop["access_token"]))
    assert [item["id"] for item in response.json()["items"]] == [laptop["session_id"]]

    # Forgot password: the reset mail arrives; resetting ends every session.
    response = await client.post(f"{API}/auth/password/forgot", json={"email": email})
    assert response.status_code == 202, response.text
    reset_mail = await mailbox.wait_for(email, "Reset your password")
    assert reset_mail.token != mail.token
    response = await client.post(
        f"{API}/auth/password/reset",
        json={"token": reset_mail.token, "new_password": NEW_PASSWORD},
    )
    assert response.status_code == 204, response.text
    assert_problem(await me(client, laptop["access_token"]), 401, "invalid_token")
    assert_problem(await login(client, username, PASSWORD), 401, "invalid_credentials")
    response = await login(client, username, NEW_PASSWORD)
    assert response.status_code == 200, response.text
    final = response.json()
    response = await client.post(
        f"{API}/auth/password/reset",
        json={"token": reset_mail.token, "new_password": "yet another passphrase"},
    )
    assert_problem(response, 400, "invalid_token")
    assert (await login(client, username, NEW_PASSWORD)).status_code == 200

    # Log out: that token is done, and so is its refresh token.
    response = await client.post(f"{API}/auth/logout", headers=bearer(final["access_token"]))
    assert response.status_code == 204, response.text
    assert_problem(await me(client, final["access_token"]), 401, "invalid_token")
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": final["refresh_token"]}
    )
    assert_problem(response, 401, "invalid_refresh_token")


# --- registration errors


def _registration(username: str, **changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "email": f"{username}@example.org",
        "username": username,
        "password": PASSWORD,
        "display_name": "Someone",
    }
    body.update(changes)
    return body


async def test_register_duplicate_email_is_409_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    first = await register(client, email="Taken.Address@example.org")
    assert first["email"] == "taken.address@example.org"
    other = unique_username()
    response = await client.post(
        f"{API}/auth/register", json=_registration(other, email="TAKEN.address@EXAMPLE.org")
    )
    assert_problem(response, 409, "email_taken")
    # Nothing of the failed attempt stays behind: its username is still free.
    response = await client.post(f"{API}/auth/register", json=_registration(other))
    assert response.status_code == 201, response.text


async def test_register_duplicate_username_is_409_case_insensitively(
    client: httpx.AsyncClient,
) -> None:
    name = unique_username("Dup")
    await register(client, name)
    response = await client.post(
        f"{API}/auth/register", json=_registration(name.upper(), email="another@example.org")
    )
    assert_problem(response, 409, "username_taken")
    # The failed attempt's email address is still free.
    response = await client.post(
        f"{API}/auth/register", json=_registration(unique_username(), email="another@example.org")
    )
    assert response.status_code == 201, response.text


async def test_register_reserved_username_is_422(client: httpx.AsyncClient) -> None:
    for name in ("admin", "Admin", "SUPPORT", "root"):
        response = await client.post(
            f"{API}/auth/register", json=_registration(name, email="reserved@example.org")
        )
        body = assert_problem(response, 422, "validation_failed")
        assert error_fields(body) == {"body.username"}, name
        assert body["errors"][0]["type"] == "reserved"
    # An unreserved name that merely contains a reserved one is fine, with the same address.
    response = await client.post(
        f"{API}/auth/register", json=_registration("admin_fan", email="reserved@example.org")
    )
    assert response.status_code == 201, response.text


async def test_register_bad_username_is_422(client: httpx.AsyncClient) -> None:
    for name in ("ab", "a" * 31, "has-dash", "has space", "dot.name", "ünïcode", "", "emoji_🙂"):
        response = await client.post(
            f"{API}/auth/register", json=_registration(name, email="bad.name@example.org")
        )
        body = assert_problem(response, 422, "validation_failed")
        assert error_fields(body) == {"body.username"}, name


async def test_register_username_length_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    for name in ("abc", "z" * 30):
        response = await client.post(f"{API}/auth/register", json=_registration(name))
        assert response.status_code == 201, response.text
        assert response.json()["username"] == name


async def test_register_password_length_is_checked(client: httpx.AsyncClient) -> None:
    for password in ("", "Q7zkW", "123456789", "x" * 1025):
        name = unique_username()
        response = await client.post(
            f"{API}/auth/register", json=_registration(name, password=password)
        )
        body = assert_problem(response, 422, "validation_failed")
        assert error_fields(body) == {"body.password"}, len(password)
        if len(password) >= 5:
            assert password not in response.text  # never echoed back
        # Nothing was created: the same username and address register fine afterwards.
        response = await client.post(f"{API}/auth/register", json=_registration(name))
        assert response.status_code == 201, response.text


async def test_register_password_length_bounds_are_inclusive(client: httpx.AsyncClient) -> None:
    for password in ("x" * 10, "y" * 1024):
        name = unique_username()
        response = await client.post(
            f"{API}/auth/register", json=_registration(name, password=password)
        )
        assert response.status_code == 201, response.text
        assert (await login(client, name, password)).status_code == 200
        assert_problem(await login(client, name, password[:-1]), 401, "invalid_credentials")


async def test_register_rejects_unknown_fields_and_bad_values(client: httpx.AsyncClient) -> None:
    name = unique_username()
    response = await client.post(
        f"{API}/auth/register", json=_registration(name, role="admin", is_staff=True)
    )
    body = assert_problem(response, 422, "validation_failed")
    assert error_fields(body) == {"body.role", "body.is_staff"}

    response = await client.post(
        f"{API}/auth/register", json=_registration(name, email="not-an-email")
    )
    assert error_fields(assert_problem(response, 422)) == {"body.email"}

    response = await client.post(f"{API}/auth/register", json=_registration(name, display_name=" "))
    assert error_fields(assert_problem(response, 422)) == {"body.display_name"}

    response = await client.post(f"{API}/auth/register", json={"username": name})
    assert error_fields(assert_problem(response, 422)) == {
        "body.email",
        "body.password",
        "body.display_name",
    }

    # None of these left anything behind; the role field was never honoured.
    response = await client.post(f"{API}/auth/register", json=_registration(name))
    assert response.status_code == 201, response.text
    assert response.json()["role"] == "user"


async def test_concurrent_registrations_of_one_username_make_one_account(
    client: httpx.AsyncClient,
) -> None:
    name = unique_username("race")
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/auth/register",
                json=_registration(name, email=f"racer{i}-{name}@example.org"),
            )
            for i in range(4)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
            assert response.json()["code"] in {"username_taken", "conflict"}
    winner = next(r.json() for r in responses if r.status_code == 201)
    response = await login(client, name)
    assert response.status_code == 200
    assert (await me(client, response.json()["access_token"])).json()["id"] == winner["id"]


# --- login errors


async def test_wrong_password_and_unknown_user_look_the_same(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    wrong_password = await login(client, user.username, "not the right password")
    unknown_user = await login(client, "nobody_here_at_all", "not the right password")
    wrong_by_email = await login(client, user.email, "not the right password")
    unknown_email = await login(client, "nobody@example.org", "not the right password")
    bodies = [
        assert_problem(r, 401, "invalid_credentials")
        for r in (wrong_password, unknown_user, wrong_by_email, unknown_email)
    ]
    assert bodies[0]["request_id"] != bodies[1]["request_id"]
    stripped = [without_request_identity(body) for body in bodies]
    assert all(body == stripped[0] for body in stripped)
    for header in ("WWW-Authenticate", "Retry-After"):
        assert wrong_password.headers.get(header) == unknown_user.headers.get(header), header
    # The failures did not break the account.
    assert (await login(client, user.username)).status_code == 200


async def test_login_rejects_malformed_bodies(client: httpx.AsyncClient) -> None:
    for body, fields in (
        ({"identifier": "someone"}, {"body.password"}),
        ({"identifier": "   ", "password": "x" * 12}, {"body.identifier"}),
        ({"identifier": "someone", "password": ""}, {"body.password"}),
        ({"identifier": "someone", "password": "x" * 1025}, {"body.password"}),
        ({"identifier": "someone", "password": "x" * 12, "remember": True}, {"body.remember"}),
    ):
        response = await client.post(f"{API}/auth/login", json=body)
        assert error_fields(assert_problem(response, 422, "validation_failed")) == fields


async def test_login_counts_every_sign_in_exactly_under_concurrency(
    client: httpx.AsyncClient,
) -> None:
    user = await signed_in_user(client)  # one login already
    responses = await asyncio.gather(*(login(client, user.username) for _ in range(5)))
    assert [r.status_code for r in responses] == [200] * 5, [r.text for r in responses]
    assert len({r.json()["session_id"] for r in responses}) == 5
    account = (await me(client, user.access_token)).json()
    assert account["login_count"] == 6
    assert account["last_login_at"] is not None


# --- unauthenticated and forged access


PROTECTED = [
    ("GET", "/me", None),
    ("PATCH", "/me", {"email": "x@example.org", "current_password": PASSWORD}),
    ("DELETE", "/me", {"password": PASSWORD}),
    ("POST", "/me/deactivate", {"password": PASSWORD}),
    ("GET", "/auth/sessions", None),
    ("DELETE", "/auth/sessions", None),
    ("DELETE", f"/auth/sessions/{uuid.uuid4()}", None),
    ("POST", "/auth/logout", None),
    ("POST", "/auth/password/change", {"current_password": PASSWORD, "new_password": PASSWORD}),
    ("POST", "/auth/verify-email/resend", None),
    ("POST", f"/admin/users/{uuid.uuid4()}/status", {"status": "suspended"}),
]


async def test_protected_endpoints_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path, body in PROTECTED:
        response = await client.request(method, f"{API}{path}", json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert_problem(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"

        response = await client.request(
            method, f"{API}{path}", json=body, headers=bearer("garbage.not.a-jwt")
        )
        assert response.status_code == 401, (method, path, response.text)
        assert_problem(response, 401, "invalid_token")


def _forge(settings: Settings, **claims: object) -> str:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "iss": "townsquare",
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
    }
    base.update(claims)
    return jwt.encode({k: v for k, v in base.items() if v is not None}, settings.secret_key)


async def test_forged_and_stale_access_tokens_are_refused(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    user = await signed_in_user(client)
    other = await signed_in_user(client)
    sub, sid = user.user_id, user.session_id
    good = _forge(settings, sub=sub, sid=sid)
    assert (await me(client, good)).status_code == 200  # the forging itself is right

    past = datetime.now(UTC) - timedelta(minutes=30)
    forged = {
        "expired": _forge(settings, sub=sub, sid=sid, exp=int(past.timestamp())),
        "wrong key": jwt.encode(
            jwt.decode(good, options={"verify_signature": False}), "another-secret-key-" * 3
        ),
        "alg none": jwt.encode(
            jwt.decode(good, options={"verify_signature": False}), None, algorithm="none"
        ),
        "not access": _forge(settings, sub=sub, sid=sid, typ="refresh"),
        "other issuer": _forge(settings, sub=sub, sid=sid, iss="elsewhere"),
        "no session": _forge(settings, sub=sub, sid=None),
        "unknown session": _forge(settings, sub=sub, sid=str(uuid.uuid4())),
        "someone else's session": _forge(settings, sub=other.user_id, sid=sid),
        "bad uuid": _forge(settings, sub="not-a-uuid", sid=sid),
        "refresh token as bearer": user.refresh_token,
    }
    for name, token in forged.items():
        response = await me(client, token)
        assert response.status_code == 401, name
        assert_problem(response, 401, "invalid_token")
    # Those attempts did not disturb the real sessions.
    assert (await me(client, user.access_token)).status_code == 200
    assert (await me(client, other.access_token)).json()["id"] == other.user_id


async def test_non_staff_cannot_use_admin_endpoints(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    target = await signed_in_user(client)
    response = await client.post(
        f"{API}/admin/users/{target.user_id}/status",
        json={"status": "suspended"},
        headers=user.headers,
    )
    assert_problem(response, 403, "forbidden")
    assert (await me(client, target.access_token)).json()["status"] == "active"
