"""Account status: suspension by staff, deactivation, deletion with its grace period and purge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, SignedIn, login, register, signed_in_user
from tests.modules.accounts.helpers import (
    API,
    assert_problem,
    bearer,
    db_execute,
    db_one,
    error_fields,
    me,
    new_session,
)
from townsquare.config import Settings
from townsquare.kit.auth import Role
from townsquare.modules.accounts.admin import create_admin
from townsquare.modules.accounts.models import AccountToken, AuthSession, User
from townsquare.modules.accounts.tasks import purge_deleted_accounts
from townsquare.modules.profiles.models import Profile

ADMIN_PASSWORD = "the admin's own long passphrase"


async def sign_in_admin(client: httpx.AsyncClient, settings: Settings, name: str) -> SignedIn:
    user_id = await create_admin(
        settings, f"{name}@example.org", name, ADMIN_PASSWORD, name.title()
    )
    response = await login(client, name, ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    tokens = response.json()
    account = (await me(client, tokens["access_token"])).json()
    assert account["role"] == "admin"
    assert account["email_verified"] is True
    return SignedIn(
        str(user_id),
        name,
        f"{name}@example.org",
        ADMIN_PASSWORD,
        tokens["access_token"],
        tokens["refresh_token"],
        tokens["session_id"],
    )


async def set_status(
    client: httpx.AsyncClient, staff: SignedIn, user_id: str, status: str, reason: str | None = None
) -> httpx.Response:
    return await client.post(
        f"{API}/admin/users/{user_id}/status",
        json={"status": status, "reason": reason},
        headers=staff.headers,
    )


async def profile(client: httpx.AsyncClient, username: str, token: str | None = None) -> int:
    headers = bearer(token) if token else {}
    return (await client.get(f"{API}/users/{username}", headers=headers)).status_code


# --- suspension


async def test_suspended_account_is_locked_out_until_reinstated(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    admin = await sign_in_admin(client, settings, "chief_admin")
    target = await signed_in_user(client)
    second = await new_session(client, target)
    assert await profile(client, target.username) == 200

    response = await set_status(client, admin, target.user_id, "suspended", "Spamming")
    assert response.status_code == 204, response.text

    # Every session ends at once, refresh tokens too; the profile disappears.
    assert_problem(await me(client, target.access_token), 401, "invalid_token")
    assert_problem(await me(client, second["access_token"]), 401, "invalid_token")
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert_problem(response, 401, "invalid_refresh_token")
    assert await profile(client, target.username) == 404
    assert await profile(client, target.username, admin.access_token) == 404

    # The right password meets 403 with the reason; a wrong one learns nothing.
    body = assert_problem(await login(client, target.username), 403, "account_suspended")
    assert "Spamming" in body["detail"]
    assert_problem(await login(client, target.email), 403, "account_suspended")
    assert_problem(await login(client, target.username, "wrong password!"), 401)

    # Suspending twice changes nothing; reinstating restores access and the profile.
    assert (await set_status(client, admin, target.user_id, "suspended")).status_code == 204
    assert (await set_status(client, admin, target.user_id, "active")).status_code == 204
    response = await login(client, target.username)
    assert response.status_code == 200, response.text
    assert (await me(client, response.json()["access_token"])).json()["status"] == "active"
    assert await profile(client, target.username) == 200


async def test_staff_actions_are_checked(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    admin = await sign_in_admin(client, settings, "root_admin")
    target = await signed_in_user(client)

    body = assert_problem(
        await set_status(client, admin, admin.user_id, "suspended"), 403, "cannot_moderate"
    )
    assert "own" in body["detail"]
    assert_problem(
        await set_status(client, admin, str(uuid.uuid4()), "suspended"), 404, "user_not_found"
    )
    for status in ("deleted", "deactivated", "banned"):
        response = await set_status(client, admin, target.user_id, status)
        assert error_fields(assert_problem(response, 422)) == {"body.status"}
    response = await set_status(client, admin, target.user_id, "suspended", "x" * 501)
    assert error_fields(assert_problem(response, 422)) == {"body.reason"}
    assert (await me(client, target.access_token)).status_code == 200

    # A moderator acts on users, but not on staff.
    moderator = await signed_in_user(client)
    await db_execute(
        app,
        update(User).where(User.id == uuid.UUID(moderator.user_id)).values(role=Role.MODERATOR),
    )
    response = await set_status(client, moderator, admin.user_id, "suspended")
    assert_problem(response, 403, "cannot_moderate")
    assert (await me(client, admin.access_token)).status_code == 200
    assert (await set_status(client, moderator, target.user_id, "suspended")).status_code == 204
    assert_problem(await login(client, target.username), 403, "account_suspended")

    # Staff cannot "reinstate" an account its owner deactivated.
    owner = await signed_in_user(client)
    response = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=owner.headers
    )
    assert response.status_code == 204
    assert_problem(await set_status(client, admin, owner.user_id, "active"), 403, "cannot_moderate")


# --- deactivation


async def test_deactivation_hides_at_once_and_login_undoes_it(client: httpx.AsyncClient) -> None:
    user = await signed_in_user(client)
    other_device = await new_session(client, user)
    viewer = await signed_in_user(client)
    assert await profile(client, user.username) == 200
    assert await profile(client, user.username, viewer.access_token) == 200

    response = await client.post(
        f"{API}/me/deactivate", json={"password": "not my password"}, headers=user.headers
    )
    assert error_fields(assert_problem(response, 422, "validation_failed")) == {"body.password"}
    assert await profile(client, user.username) == 200

    response = await client.post(
        f"{API}/me/deactivate", json={"password": PASSWORD}, headers=user.headers
    )
    assert response.status_code == 204, response.text

    for token in (None, viewer.access_token):
        response = await client.get(
            f"{API}/users/{user.username}", headers=bearer(token) if token else {}
        )
        assert_problem(response, 404, "profile_not_found")
    # ... exactly like a name nobody has.
    missing = await client.get(f"{API}/users/nobody_by_this_name")
    assert_problem(missing, 404, "profile_not_found")
    for token in (user.access_token, other_device["access_token"]):
        assert_problem(await me(client, token), 401, "invalid_token")
    response = await client.post(f"{API}/auth/refresh", json={"refresh_token": user.refresh_token})
    assert_problem(response, 401, "invalid_refresh_token")

    # Logging in reactivates.
    response = await login(client, user.email)
    assert response.status_code == 200, response.text
    account = (await me(client, response.json()["access_token"])).json()
    assert account["status"] == "active"
    assert await profile(client, user.username) == 200
    assert await profile(client, user.username, viewer.access_token) == 200


# --- deletion and purge


async def delete_me(client: httpx.AsyncClient, user: SignedIn, password: str) -> httpx.Response:
    return await client.request(
        "DELETE", f"{API}/me", json={"password": password}, headers=user.headers
    )


async def test_deletion_within_grace_is_undone_by_logging_in(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    user = await signed_in_user(client)

    response = await delete_me(client, user, "not my password")
    assert error_fields(assert_problem(response, 422)) == {"body.password"}
    assert (await me(client, user.access_token)).json()["status"] == "active"

    before = datetime.now(UTC)
    response = await delete_me(client, user, PASSWORD)
    assert response.status_code == 202, response.text
    scheduled = response.json()
    assert scheduled["status"] == "deleted"
    purge_after = datetime.fromisoformat(scheduled["purge_after"])
    assert before + timedelta(days=30) <= purge_after <= datetime.now(UTC) + timedelta(days=30)

    assert_problem(await me(client, user.access_token), 401, "invalid_token")
    assert await profile(client, user.username) == 404

    response = await login(client, user.username)
    assert response.status_code == 200, response.text
    account = (await me(client, response.json()["access_token"])).json()
    assert account["status"] == "active"
    assert await profile(client, user.username) == 200
    row = await db_one(
        app,
        select(User.deleted_at, User.purge_after).where(User.id == uuid.UUID(user.user_id)),
    )
    assert row.deleted_at is None
    assert row.purge_after is None
    # Nothing is purged for an account that came back, even with an old deadline.
    await db_execute(
        app,
        update(User)
        .where(User.id == uuid.UUID(user.user_id))
        .values(purge_after=datetime.now(UTC) - timedelta(days=1)),
    )
    assert await purge_deleted_accounts(app.state.platform) == 0


async def test_purge_after_grace_erases_personal_data(
    client: httpx.AsyncClient, app: FastAPI, mailbox: Mailbox
) -> None:
    gone = await signed_in_user(client)
    patch = await client.patch(
        f"{API}/me/profile",
        json={"bio": "my personal story", "location": "Springfield"},
        headers=gone.headers,
    )
    assert patch.status_code == 200, patch.text
    waiting = await signed_in_user(client)  # deleted too, still inside the grace period
    bystander = await signed_in_user(client)
    for user in (gone, waiting):
        assert (await delete_me(client, user, PASSWORD)).status_code == 202

    gone_id = uuid.UUID(gone.user_id)
    past = datetime.now(UTC) - timedelta(minutes=1)
    assert await db_execute(app, update(User).where(User.id == gone_id).values(purge_after=past))

    # Past the grace period, logging in no longer brings the account back.
    assert_problem(await login(client, gone.username), 401, "invalid_credentials")

    assert await purge_deleted_accounts(app.state.platform) == 1
    assert await purge_deleted_accounts(app.state.platform) == 0  # nothing left to do

    for identifier in (gone.username, gone.email):
        assert_problem(await login(client, identifier), 401, "invalid_credentials")
    assert await profile(client, gone.username) == 404

    user_row = await db_one(
        app,
        select(User.email, User.password_hash, User.purged_at, User.status).where(
            User.id == gone_id
        ),
    )
    assert user_row.email == f"deleted-{gone_id.hex}@deleted.invalid"
    assert user_row.password_hash is None
    assert user_row.purged_at is not None
    assert user_row.status == "deleted"
    profile_row = await db_one(
        app,
        select(
            Profile.username, Profile.display_name, Profile.bio, Profile.location, Profile.is_hidden
        ).where(Profile.user_id == gone_id),
    )
    assert profile_row.username != gone.username
    assert profile_row.display_name == "Deleted user"
    assert (profile_row.bio, profile_row.location) == (None, None)
    assert profile_row.is_hidden is True
    for model in (AuthSession, AccountToken):
        count = await db_one(
            app, select(func.count()).select_from(model).where(model.user_id == gone_id)
        )
        assert count[0] == 0, model

    # No reset mail for the erased address.
    await app.state.platform.outbox.wait_idle()
    mailbox.clear()
    response = await client.post(f"{API}/auth/password/forgot", json={"email": gone.email})
    assert response.status_code == 202
    await app.state.platform.outbox.wait_idle()
    assert mailbox.to(gone.email) == []

    # The username and the address are free again.
    again = await register(client, gone.username, email=gone.email)
    assert again["id"] != gone.user_id

    # The account still in its grace period was left alone and can come back.
    response = await login(client, waiting.username)
    assert response.status_code == 200, response.text
    assert (await me(client, bystander.access_token)).status_code == 200


async def test_staff_cannot_suspend_an_account_being_deleted(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    admin = await sign_in_admin(client, settings, "deletion_admin")
    target = await signed_in_user(client)
    deleted = await client.request(
        "DELETE", "/api/v1/me", json={"password": target.password}, headers=target.headers
    )
    assert deleted.status_code == 202
    assert_problem(
        await set_status(client, admin, target.user_id, "suspended"), 403, "cannot_moderate"
    )
    # The deletion still stands: logging in within the grace period restores the account.
    assert (await login(client, target.username)).status_code == 200
