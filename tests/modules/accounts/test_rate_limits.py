"""Rate limits of the accounts endpoints, per client IP and per account."""

from __future__ import annotations

import httpx

from tests.fixtures.mailbox import Mailbox
from tests.fixtures.users import PASSWORD, login, register, unique_username
from tests.modules.accounts.conftest import AppFactory, http_client
from tests.modules.accounts.helpers import API, assert_problem


def assert_rate_limited(response: httpx.Response, window_seconds: int = 60) -> None:
    body = assert_problem(response, 429, "rate_limited")
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= window_seconds
    assert body["retry_after"] == retry_after
    assert response.headers["RateLimit-Remaining"] == "0"


def rate_headers(response: httpx.Response) -> tuple[int, int, int]:
    return (
        int(response.headers["RateLimit-Limit"]),
        int(response.headers["RateLimit-Remaining"]),
        int(response.headers["RateLimit-Reset"]),
    )


async def test_login_is_limited_per_ip(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_login_per_ip="3/minute")
    account = await register(client)

    for remaining in (2, 1, 0):
        response = await login(client, account["username"])
        assert response.status_code == 200, response.text
        limit, left, reset = rate_headers(response)
        assert (limit, left) == (3, remaining)
        assert 0 <= reset <= 60

    response = await login(client, account["username"])
    assert_rate_limited(response)
    assert response.headers["RateLimit-Limit"] == "3"
    # Failed attempts are refused just the same, before any password check.
    assert_rate_limited(await login(client, account["username"], "wrong password!"))

    # Another client address has its own budget.
    async with http_client(app, "198.51.100.20") as elsewhere:
        response = await login(elsewhere, account["username"])
        assert response.status_code == 200, response.text
        assert rate_headers(response)[:2] == (3, 2)


async def test_failed_logins_lock_out_their_source_not_the_owner(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_login_failures_per_source="3/minute")
    target = await register(client)
    bystander = await register(client)

    for _ in range(3):
        assert_problem(await login(client, target["username"], "guessing wrong"), 401)
    # The guessing address may not try this account any more, even with the right password...
    assert_rate_limited(await login(client, target["username"]))
    assert_rate_limited(await login(client, target["email"]))
    # ...but may still sign in to others,
    assert (await login(client, bystander["username"])).status_code == 200
    # and the owner, from an address that has not been failing, signs in as usual.
    async with http_client(app, "198.51.100.30") as owner:
        assert (await login(owner, target["username"])).status_code == 200
        assert (await login(owner, target["email"])).status_code == 200


async def test_past_the_account_ceiling_failing_sources_are_refused(
    app_factory: AppFactory,
) -> None:
    """Guesses spread over many addresses: once the account's ceiling is reached, an address that
    failed on it is refused and a new one gets one try; the owner's clean address still works."""
    app, _ = await app_factory(
        rate_limit_login_failures_per_source="5/minute",
        rate_limit_login_failures_per_account="4/minute",
    )
    async with http_client(app, "198.51.100.50") as setup:
        target = await register(setup)
    async with http_client(app, "198.51.100.51") as one, http_client(app, "198.51.100.52") as two:
        for guesser in (one, two, one, two):
            assert_problem(await login(guesser, target["username"], "guessing wrong"), 401)
        assert_rate_limited(await login(one, target["username"]))
        assert_rate_limited(await login(two, target["username"], "guessing wrong"))
    async with http_client(app, "198.51.100.53") as three:
        assert_problem(await login(three, target["username"], "guessing wrong"), 401)
        assert_rate_limited(await login(three, target["username"], "guessing wrong"))
    async with http_client(app, "198.51.100.54") as owner:
        assert (await login(owner, target["username"])).status_code == 200


async def test_a_successful_login_clears_the_failure_count(app_factory: AppFactory) -> None:
    _, client = await app_factory(rate_limit_login_failures_per_source="3/minute")
    account = await register(client)
    for _ in range(3):
        for _ in range(2):
            assert_problem(await login(client, account["username"], "nope nope"), 401)
        assert (await login(client, account["username"])).status_code == 200


async def test_unknown_accounts_are_limited_like_real_ones(app_factory: AppFactory) -> None:
    """Otherwise the absence of a 429 would tell which names exist."""
    app, client = await app_factory(rate_limit_login_failures_per_source="3/minute")
    for _ in range(3):
        assert_problem(await login(client, "ghost_user", "any password"), 401)
    assert_rate_limited(await login(client, "ghost_user", "any password"))
    assert_rate_limited(await login(client, "GHOST_USER", "any password"))
    async with http_client(app, "198.51.100.60") as elsewhere:
        assert_problem(await login(elsewhere, "ghost_user", "any password"), 401)


async def test_registration_is_limited_per_ip(app_factory: AppFactory) -> None:
    app, client = await app_factory(rate_limit_register_per_ip="2/minute")
    for remaining in (1, 0):
        response = await client.post(
            f"{API}/auth/register",
            json={
                "email": f"{unique_username()}@example.org",
                "username": unique_username(),
                "password": PASSWORD,
                "display_name": "Someone",
            },
        )
        assert response.status_code == 201, response.text
        assert rate_headers(response)[:2] == (2, remaining)

    name = unique_username()
    body = {
        "email": f"{name}@example.org",
        "username": name,
        "password": PASSWORD,
        "display_name": "Late",
    }
    assert_rate_limited(await client.post(f"{API}/auth/register", json=body))
    # Refused means not created: from another address the same registration succeeds.
    async with http_client(app, "198.51.100.40") as elsewhere:
        response = await elsewhere.post(f"{API}/auth/register", json=body)
        assert response.status_code == 201, response.text


async def test_password_reset_requests_are_limited_per_address_alike(
    app_factory: AppFactory, mailbox: Mailbox
) -> None:
    app, client = await app_factory(rate_limit_password_per_account="2/minute")
    account = await register(client)
    for email in (account["email"], "unknown-person@example.org"):
        for _ in range(2):
            response = await client.post(f"{API}/auth/password/forgot", json={"email": email})
            assert response.status_code == 202, response.text
        response = await client.post(f"{API}/auth/password/forgot", json={"email": email.upper()})
        assert_rate_limited(response)
    await app.state.platform.outbox.wait_idle()
    resets = [m for m in mailbox.to(account["email"]) if "Reset your password" in m.subject]
    assert len(resets) == 2


async def test_a_strangers_reset_requests_do_not_block_the_owners(
    app_factory: AppFactory, mailbox: Mailbox
) -> None:
    app, client = await app_factory(rate_limit_password_per_account="2/minute")
    account = await register(client)
    async with http_client(app, "198.51.100.70") as stranger:
        for _ in range(2):
            response = await stranger.post(
                f"{API}/auth/password/forgot", json={"email": account["email"]}
            )
            assert response.status_code == 202, response.text
        assert_rate_limited(
            await stranger.post(f"{API}/auth/password/forgot", json={"email": account["email"]})
        )
    await app.state.platform.outbox.wait_idle()
    mailbox.clear()
    # The owner asks from their own address: the link is sent.
    response = await client.post(f"{API}/auth/password/forgot", json={"email": account["email"]})
    assert response.status_code == 202, response.text
    mail = await mailbox.wait_for(account["email"], "Reset your password")
    assert mail.token


async def test_reset_requests_are_limited_per_source(app_factory: AppFactory) -> None:
    """One address asking for many accounts' resets meets the per-IP limit."""
    _, client = await app_factory(rate_limit_password_per_ip="3/minute")
    for n in range(3):
        response = await client.post(
            f"{API}/auth/password/forgot", json={"email": f"someone-{n}@example.org"}
        )
        assert response.status_code == 202, response.text
    assert_rate_limited(
        await client.post(f"{API}/auth/password/forgot", json={"email": "someone-9@example.org"})
    )


async def test_refresh_is_limited_per_ip(app_factory: AppFactory) -> None:
    _, client = await app_factory(rate_limit_login_per_ip="2/minute")
    account = await register(client)
    tokens = (await login(client, account["username"])).json()
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    rotated = response.json()
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"{API}/auth/refresh", json={"refresh_token": response.json()["refresh_token"]}
    )
    assert_rate_limited(response)
