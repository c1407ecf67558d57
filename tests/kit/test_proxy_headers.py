"""X-Forwarded-For / X-Forwarded-Proto are believed only from TOWNSQUARE_TRUSTED_PROXIES.

Through the application (any ASGI server): the client address the per-IP limits and the
sessions list see, and the scheme of absolute URLs. ``tests/kit/test_cli.py`` checks the same
through a real ``townsquare serve``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from tests.fixtures.users import PASSWORD, login, register, unique_username
from tests.kit.helpers import AppFactory

API = "/api/v1"


@asynccontextmanager
async def peer(app: FastAPI, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose TCP connection comes from ``address`` (a proxy or a client)."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def _register(http: httpx.AsyncClient, forwarded_for: str | None) -> httpx.Response:
    username = unique_username("fwd")
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return await http.post(
        f"{API}/auth/register",
        json={
            "email": f"{username}@example.org",
            "username": username,
            "password": PASSWORD,
            "display_name": username,
        },
        headers=headers,
    )


async def test_rotating_forwarded_for_from_an_untrusted_peer_does_not_escape_the_limit(
    app_factory: AppFactory,
) -> None:
    """The default trusts nobody, loopback included: a client on the same host that invents a
    new X-Forwarded-For for each request still spends its own address's budget."""
    app = await app_factory(rate_limit_register_per_ip="2/hour")
    async with peer(app, "127.0.0.1") as local, peer(app, "::1") as local6:
        answers = [await _register(local, f"198.51.100.{i}") for i in range(3)]
        answers += [await _register(local6, f"198.51.100.{i}") for i in range(10, 13)]
    assert [a.status_code for a in answers] == [201, 201, 429, 201, 201, 429], [
        a.text for a in answers
    ]
    assert answers[2].json()["code"] == "rate_limited"


async def test_a_trusted_proxy_forwards_the_client_address(app_factory: AppFactory) -> None:
    app = await app_factory(
        rate_limit_register_per_ip="2/hour", trusted_proxies=["10.0.0.0/8", "2001:db8::/32"]
    )
    async with peer(app, "10.1.2.3") as proxy, peer(app, "2001:db8::7") as proxy6:
        # Each forwarded client has its own budget...
        distinct = [await _register(proxy, f"198.51.100.{i}") for i in range(4)]
        distinct.append(await _register(proxy6, "198.51.100.9"))
        # ...and one client behind the proxy is limited like any other.
        same = [await _register(proxy, "192.0.2.50") for _ in range(3)]
        # A request without the header is the proxy's own.
        own = [await _register(proxy, None) for _ in range(3)]
    assert [a.status_code for a in distinct] == [201] * 5, [a.text for a in distinct]
    assert [a.status_code for a in same] == [201, 201, 429]
    assert [a.status_code for a in own] == [201, 201, 429]


async def test_the_client_is_the_nearest_untrusted_forwarded_address(
    app_factory: AppFactory,
) -> None:
    """Through a trusted proxy, a client's own X-Forwarded-For entries (left of the address
    the proxy appended) are not believed; from an untrusted peer the header is ignored."""
    app = await app_factory(trusted_proxies=["10.0.0.0/8"])
    setup = await app_factory()
    async with peer(setup, "192.0.2.1") as http:
        account = await register(http)
    async with peer(app, "10.0.0.5") as proxy, peer(app, "192.0.2.1") as direct:
        # The client claimed 198.51.100.66; the inner proxy 10.0.0.9 saw 203.0.113.50.
        chain = "198.51.100.66, 203.0.113.50, 10.0.0.9"
        via_proxy = await login(proxy, account["username"], **{"X-Forwarded-For": chain})
        assert via_proxy.status_code == 200, via_proxy.text
        spoofed = await login(direct, account["username"], **{"X-Forwarded-For": "198.51.100.66"})
        assert spoofed.status_code == 200, spoofed.text
        token = spoofed.json()["access_token"]
        sessions = await direct.get(
            f"{API}/auth/sessions", headers={"Authorization": f"Bearer {token}"}
        )
    assert sessions.status_code == 200, sessions.text
    addresses = sorted(s["ip_address"] for s in sessions.json()["items"])
    assert addresses == ["192.0.2.1", "203.0.113.50"]


async def test_forwarded_proto_is_believed_only_from_a_trusted_proxy(
    app_factory: AppFactory,
) -> None:
    """The scheme shows in absolute URLs the application builds (here a slash redirect)."""
    app = await app_factory(trusted_proxies=["10.0.0.1"])
    headers = {"X-Forwarded-Proto": "https"}
    async with peer(app, "10.0.0.1") as proxy, peer(app, "10.0.0.2") as other:
        trusted = await proxy.get("/healthz/", headers=headers)
        untrusted = await other.get("/healthz/", headers=headers)
    assert trusted.status_code == untrusted.status_code == 307
    assert trusted.headers["location"] == "https://testserver/healthz"
    assert untrusted.headers["location"] == "http://testserver/healthz"
